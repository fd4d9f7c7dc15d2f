"""Compute-optimal allocation: the params/tokens split that maximises a target at fixed FLOPs.

For a training budget of ``C`` FLOPs, ``C = 6·N·D`` (N parameters, D training tokens; the
usual dense-transformer approximation).  With ``params_b`` in billions and ``tokens_t`` in
trillions this is ``C = 6e21 · params_b · tokens_t``.  Along each iso-FLOP line we evaluate the
target on a grid of splits *for every posterior draw* and take the argmax per draw, so the
result is a posterior distribution of the optimal split, not a point estimate.

The grid is restricted to the training data's range of params **and** tokens (the translog
surface is a quadratic in the logs and says nothing trustworthy outside it); budgets whose
iso-FLOP line does not cross that box are returned as NaN, and draws whose optimum sits on
the edge of the box are flagged (``at_edge``): there the true optimum may lie outside the
data.  The box is the product of the two ranges, so its corners pair sizes and token counts
that no training model has (on the bundled data, e.g. a 150B model on 0.15T tokens, under
one token per parameter where the lowest model ratio is ~2): an optimum there, edge-flagged
or not, is an extrapolation in the tokens-per-parameter ratio.  Read it with that caveat.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from scaling_bayes.model import link_mean, lower_asymptote
from scaling_bayes.prediction import benchmark_deviations, family_effects

__all__ = [
    "FLOPS_PER_PARAM_TOKEN",
    "compute_optimal_split",
    "data_box",
    "summarize_split",
    "default_budgets",
    "flops",
]

#: ``C = 6 · N · D`` with N in units of 1e9 parameters and D in units of 1e12 tokens.
FLOPS_PER_PARAM_TOKEN = 6e21

#: Family name used for "a family never seen" (a draw from the population of families).
UNSEEN_FAMILY = "unseen family"


def flops(params_b: np.ndarray | float, tokens_t: np.ndarray | float) -> np.ndarray:
    """Training compute ``C = 6 N D`` in FLOPs (``params_b`` in 1e9, ``tokens_t`` in 1e12)."""
    return FLOPS_PER_PARAM_TOKEN * np.asarray(params_b, float) * np.asarray(tokens_t, float)


def data_box(model) -> tuple[tuple[float, float], tuple[float, float]]:
    """Training range ``((params_min, params_max), (tokens_min, tokens_max))`` of a fitted model,
    in billions of parameters and trillions of tokens."""
    transform = model.design.transform
    return (
        tuple(float(v) for v in np.exp(transform.log_params_range)),  # type: ignore[return-value]
        tuple(float(v) for v in np.exp(transform.log_tokens_range)),
    )


def default_budgets(model, n: int = 7) -> np.ndarray:
    """``n`` budgets (FLOPs) log-spaced over the training models' compute, trimmed by a
    quarter decade at each end so every iso-FLOP line crosses the data box in a segment."""
    models = model.design.data.models
    c = flops(models["params_b"], models["tokens_t"])
    lo, hi = np.log10(c.min()) + 0.25, np.log10(c.max()) - 0.25
    return np.logspace(lo, hi, n)


def _target_values(
    theta: xr.DataArray, posterior: xr.Dataset, floors: xr.DataArray, target: str,
    deviation: xr.DataArray | float = 0.0,
) -> tuple[xr.DataArray, str]:
    """The target per draw and request (dims chain, draw, model) and its unit label;
    ``deviation`` (chain, draw, model, benchmark) is added to each benchmark's linear predictor
    (:func:`~scaling_bayes.prediction.benchmark_deviations`)."""
    skills = [str(s) for s in posterior["skill"].values]
    benchmarks = [str(b) for b in posterior["benchmark"].values]
    if target.startswith("skill:"):
        name = target.removeprefix("skill:")
        if name.isdigit() and name not in skills:
            name = skills[int(name)]
        if name not in skills:
            raise ValueError(f"target={target!r}: unknown skill; skills are {skills} (use 'skill:<name>').")
        return theta.sel(skill=name, drop=True), f"{name}-anchored skill θ (logit units)"
    z = xr.dot(theta, posterior["loadings"], dim="skill") + posterior["intercept"] + deviation
    nu = posterior["nu"] if "nu" in posterior else 1.0
    mu = link_mean(z, lower_asymptote(posterior, floors), nu)
    if target == "average":
        return mu.mean("benchmark"), "mean latent score over benchmarks (fraction)"
    if target in benchmarks:
        return mu.sel(benchmark=target, drop=True), f"{target} latent mean score (fraction)"
    raise ValueError(
        f"target={target!r}: use 'average', a benchmark ({benchmarks}) or 'skill:<name>' "
        f"with a skill among {skills}."
    )


def compute_optimal_split(
    model,
    budgets: Sequence[float] | np.ndarray | None = None,
    *,
    family: str | None = None,
    target: str = "average",
    n_grid: int = 60,
    random_seed: int = 0,
) -> xr.Dataset:
    """Posterior distribution of the compute-optimal params/tokens split per FLOPs budget.

    Parameters
    ----------
    model : LatentSkillModel
        A fitted model (translog covariates: with ``covariates="flops"`` every split of a
        budget predicts the same, so there is no optimum to find).
    budgets : sequence of float, optional
        Training budgets in FLOPs (default :func:`default_budgets`).
    family : str, optional
        Variant family whose skills to use (its posterior family effect), or ``None`` for a
        family never seen (a fresh draw from the population of families per posterior draw).
        Only the level of the target depends on it for ``"skill:…"`` and single-benchmark
        targets (the family effect is additive in the skills and the link is monotone), but
        it moves the optimum of ``"average"``.  A fit with variant × benchmark deviations
        (``benchmark_effects=True``) adds the family's own; per-model deviations
        (``model_effects=True``) are left out: the split is that of the family's line.
    target : str
        ``"average"`` (mean latent score over all benchmarks, default), a benchmark name (its
        latent mean score μ, without Beta observation noise) or ``"skill:<name>"`` (a skill
        θ, named by its anchor benchmark).
    n_grid : int
        Splits per budget, log-spaced in params over the part of the iso-FLOP line inside the
        training range of params and tokens.
    random_seed : int
        Seed of the family-effect (and benchmark-deviation) draws of new families / variants.

    Returns
    -------
    xr.Dataset
        Dims ``(budget, chain, draw)`` for ``params_b``, ``tokens_t`` (the optimal split),
        ``tokens_per_param`` (D/N), ``value`` (the target at the optimum) and ``at_edge``
        (optimum on the edge of the data range); ``value_grid`` has dims ``(budget, grid,
        chain, draw)`` with coordinate ``grid_params_b`` (budget, grid).  Budgets whose
        iso-FLOP line misses the data range are NaN.  Attributes record the target, family,
        data range and FLOPs convention.
    """
    design = model.design
    posterior = model.posterior
    if design is None:
        raise ValueError("compute_optimal_split needs a fitted model: call fit() or load() first.")
    form = getattr(design.transform, "form", "translog")
    if form == "flops":
        raise ValueError(
            f"this model uses covariates={form!r}: its predictions depend on params and tokens only "
            "through their product (compute), so every split of a budget predicts the same. "
            "Fit with covariates='translog_sq' (the default) or 'translog' to ask for a "
            "compute-optimal split."
        )
    if n_grid < 3:
        raise ValueError(f"n_grid={n_grid}: use at least 3 grid points per budget.")
    budgets = default_budgets(model) if budgets is None else np.atleast_1d(np.asarray(budgets, float))
    if np.any(~np.isfinite(budgets)) or np.any(budgets <= 0):
        raise ValueError(f"budgets must be positive FLOPs, got {budgets}.")
    (p_lo, p_hi), (t_lo, t_hi) = data_box(model)

    # the part of each iso-FLOP line inside the box, log-spaced in params
    pt = budgets / FLOPS_PER_PARAM_TOKEN  # params_b * tokens_t
    lo = np.maximum(p_lo, pt / t_hi)
    hi = np.minimum(p_hi, pt / t_lo)
    feasible = lo <= hi * (1 + 1e-12)
    frac = np.linspace(0.0, 1.0, n_grid)
    grid = np.exp(np.log(lo)[:, None] + frac[None, :] * (np.log(np.maximum(hi, lo)) - np.log(lo))[:, None])
    grid = np.where(feasible[:, None], grid, np.nan)

    # family of the requests
    families = design.families
    if family is None:
        fam, base, instruct = UNSEEN_FAMILY, UNSEEN_FAMILY, False
    elif family in families.variants:
        i = families.variants.index(family)
        fam, base, instruct = family, families.family_of_variant[i], families.instruct_of_variant[i]
    elif family in families.families:
        fam, base, instruct = family, family, False
    else:
        fam, base, instruct = family, family, False  # never seen: a population draw

    ok_b = np.flatnonzero(feasible)
    names = [f"b{b}g{g}" for b in ok_b for g in range(n_grid)]
    params = grid[ok_b].ravel()
    requests = pd.DataFrame(
        {
            "family": fam,
            "base_family": base,
            "instruct": bool(instruct),
            "params_b": params,
            "tokens_t": np.repeat(pt[ok_b], n_grid) / params,
        },
        index=pd.Index(names, name="model"),
    )

    sizes = (posterior.sizes["chain"], posterior.sizes["draw"])
    value_grid = np.full((len(budgets), n_grid, *sizes), np.nan)
    unit = ""
    if len(requests):
        rng = np.random.default_rng(random_seed)
        covariates = design.transform(requests)
        alpha = family_effects(posterior, families, requests, rng, covariates)
        theta = xr.dot(covariates, posterior["slopes"], dim="covariate") + alpha
        # a fit with variant × benchmark deviations: the family's own (or, for a family it has
        # not seen, one draw per posterior draw, shared by the grid); 0 without them
        deviation = benchmark_deviations(posterior, families, requests, rng)
        values, unit = _target_values(theta, posterior, design.floors, target, deviation)
        values = values.transpose("model", "chain", "draw").values.reshape(len(ok_b), n_grid, *sizes)
        value_grid[ok_b] = values
    else:
        _, unit = _target_values(
            xr.DataArray(np.zeros((*sizes, 0, posterior.sizes["skill"])),
                         dims=("chain", "draw", "model", "skill"),
                         coords={"skill": posterior["skill"].values}),
            posterior, design.floors, target,
        )

    idx = np.argmax(np.where(np.isnan(value_grid), -np.inf, value_grid), axis=1)  # (budget, chain, draw)
    opt_params = np.take_along_axis(
        np.broadcast_to(grid[:, :, None, None], value_grid.shape), idx[:, None], axis=1
    )[:, 0]
    opt_value = np.take_along_axis(value_grid, idx[:, None], axis=1)[:, 0]
    opt_params = np.where(feasible[:, None, None], opt_params, np.nan)
    opt_tokens = pt[:, None, None] / opt_params
    at_edge = ((idx == 0) | (idx == n_grid - 1)) & feasible[:, None, None]

    dims = ("budget", "chain", "draw")
    coords = {
        "budget": budgets,
        "chain": posterior["chain"].values,
        "draw": posterior["draw"].values,
        "grid": np.arange(n_grid),
    }
    out = xr.Dataset(
        {
            "params_b": (dims, opt_params),
            "tokens_t": (dims, opt_tokens),
            "tokens_per_param": (dims, 1000.0 * opt_tokens / opt_params),
            "value": (dims, opt_value),
            "at_edge": (dims, at_edge),
            "value_grid": (("budget", "grid", "chain", "draw"), value_grid),
            "feasible": (("budget",), feasible),
        },
        coords={**coords, "grid_params_b": (("budget", "grid"), grid)},
        attrs={
            "target": target,
            "target_unit": unit,
            "family": fam if family is not None else f"{UNSEEN_FAMILY} (population draw)",
            "params_range_b": [p_lo, p_hi],
            "tokens_range_t": [t_lo, t_hi],
            "flops_convention": "C = 6 N D = 6e21 * params_b * tokens_t",
        },
    )
    out["params_b"].attrs["units"] = "billions of parameters"
    out["tokens_t"].attrs["units"] = "trillions of tokens"
    out["tokens_per_param"].attrs["units"] = "training tokens per parameter"
    out["budget"].attrs["units"] = "FLOPs"
    return out


def summarize_split(split: xr.Dataset, prob: float = 0.9) -> pd.DataFrame:
    """One row per budget: posterior median and equal-tailed ``prob`` interval of the optimal
    params (B), tokens (T) and tokens per parameter, and the share of draws whose optimum
    lies on the edge of the data range."""
    lo_q, hi_q = (1 - prob) / 2, (1 + prob) / 2
    rows = {"budget_flops": split["budget"].values}
    for var in ("params_b", "tokens_t", "tokens_per_param", "value"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # budgets outside the data: all NaN
            q = split[var].quantile([lo_q, 0.5, hi_q], dim=("chain", "draw"))
        q = q.transpose("budget", "quantile").values
        rows[f"{var}_median"] = q[:, 1]
        rows[f"{var}_lower"] = q[:, 0]
        rows[f"{var}_upper"] = q[:, 2]
    rows["share_at_edge"] = split["at_edge"].mean(("chain", "draw")).values
    table = pd.DataFrame(rows)
    table.loc[~split["feasible"].values, "share_at_edge"] = np.nan
    return table
