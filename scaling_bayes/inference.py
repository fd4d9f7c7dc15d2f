"""Inference: NUTS sampling and convergence diagnostics.

Step 4 of the data flow (… → model → **inference** → prediction).

:func:`sample` runs NUTS (PyMC's own sampler by default: measured fastest for models
of this size, see ``benchmarks/fit_timing.py``) from a multi-start MAP initialisation,
and returns an ArviZ ``DataTree``.  :func:`diagnose` computes max R-hat, min bulk/tail
ESS and the divergence count with ArviZ and :func:`warn_on_problems` warns loudly,
with advice, when any of them is bad.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import xarray as xr
from scipy import optimize, special


SamplerName = Literal["pymc", "nutpie", "numpyro", "blackjax"]

#: Thresholds above/below which :func:`warn_on_problems` warns.
RHAT_MAX = 1.01
ESS_MIN = 400
#: A chain with at least this share of divergent draws is reported as stuck.
STUCK_FRACTION = 0.5
#: Random stream of the per-chain MAP starts of ``init="modes"`` (``[random_seed, MODES_STREAM]``).
MODES_STREAM = 104729


class ConvergenceWarning(UserWarning):
    """The posterior sample may not be trustworthy (R-hat, ESS or divergences)."""


@dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings.

    Default 4 chains × 1500 draws after 1000 tuning steps, the shortest run whose default fit
    passes this module's own checks.  Measured on the bundled data (all 12 benchmarks, K=4,
    2 cores): at 1500 draws (the demo's fit, the data minus its two hold-outs) max R-hat
    1.005, min bulk ESS 446, 0 divergences in 210 s; at 1000 draws (whole data,
    ``benchmarks/fit_timing.py``) R-hat 1.012, ESS 332; at 500 draws R-hat 1.033, ESS 146.
    The slowest direction is the instruction-following skill (IFEval's Beta precision,
    TruthfulQA's intercept, Meta-Llama-3-Instruct's IFEval effect).

    ``init="mode"`` (default) starts every chain from the best of ``mode_starts``
    jittered MAP optimisations (see :func:`_mode_start`).  Factor
    models have poor local modes; from PyMC's plain jittered start (``init="jitter"``)
    one chain in four settled in one on the bundled data (R-hat 2.4, measured).  The
    price: R-hat can then no longer detect a second mode that the starts all missed.
    ``init="modes"`` starts each chain from its own jittered MAP optimisation instead, so
    chains that land in different modes disagree and R-hat says so; their mixture can then be
    weighted by :func:`chain_stacking_weights` (``LatentSkillModel.stack_chains``).  Measured
    on a protocol fold (all12, n=1, falcon held out; 4 chains × 300 draws after 500 tuning
    steps from PyMC's jittered start): K=3 skills split into three modes, forecasting
    falcon-40b's MMLU at 0.65 or 0.32 and its GSM8K at 0.10 or 0.46 by chain, where K=4's four
    chains agreed; from one shared MAP start, two runs of that fold had landed in different
    modes, each with agreeing chains (``docs/findings.md``).
    ``mass_matrix="full"`` asks PyMC for a dense mass matrix; on the bundled data it
    mixed worse than the diagonal default (R-hat 1.8 vs 1.2 at 2 × 300 draws).

    ``fastmath=False`` (default) compiles the log density without Numba's fastmath (see
    :func:`reproducible_compilation`): with it, the same seed gave a different posterior on
    a cold compile cache than on a warm one.  Reproducibility wins over the speed-up.

    ``stack_chains`` (default False): after sampling, replace the posterior by the
    stacking-weighted mixture of the chains (``LatentSkillModel.stack_chains``), the
    combination for chains started in separate modes (``init="modes"``).

    ``stuck_retries`` (default 1): when a chain comes back *stuck* (at least
    :data:`STUCK_FRACTION` of its draws divergent: its step size collapsed during tuning),
    sample again with a seed derived from ``random_seed``, up to this many times.  A stuck
    chain is an adaptation failure, not a posterior mode.  Measured on the protocol folds: the
    gemma fold whose chain was stuck gave 0 divergences when refitted along another random
    path, and the one fold of the baseline's n=2 run that got stuck (pythia, leaderboard_v1)
    had no stuck chain after its retry (21 divergences, R-hat 1.07 at 2 × 300 draws).  The
    retry is deterministic in the seed and is reported (``Diagnostics.resampled``), never
    silent.
    """

    chains: int = 4
    draws: int = 1500
    tune: int = 1000
    target_accept: float = 0.9
    sampler: SamplerName = "pymc"
    init: Literal["mode", "modes", "jitter"] = "mode"
    mode_starts: int = 4
    mass_matrix: Literal["diag", "full"] = "diag"
    cores: int | None = None
    fastmath: bool = False
    stuck_retries: int = 1
    stack_chains: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Every field; ``stack_chains`` only when set: a field added since the protocol's
        fold caches were keyed on these settings, which at its default changes nothing, so
        those caches still serve."""
        out = asdict(self)
        if not self.stack_chains:
            del out["stack_chains"]
        return out


@dataclass(frozen=True)
class Diagnostics:
    """Convergence summary of a posterior sample."""

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    n_samples: int
    fit_seconds: float = float("nan")
    stuck_chains: tuple[int, ...] = ()
    resampled: int = 0
    #: The elements that fail a check, worst first, each with its R-hat and bulk ESS,
    #: e.g. ``"log_nu[MATH Lvl 5]: R-hat 1.295, bulk ESS 11"`` (:func:`slowest_elements`).
    slowest: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # JSON round trips give lists
        object.__setattr__(self, "stuck_chains", tuple(int(c) for c in self.stuck_chains))
        object.__setattr__(self, "slowest", tuple(str(e) for e in self.slowest))

    @property
    def ok(self) -> bool:
        """No problem found: R-hat, bulk and tail ESS, divergences and stuck chains all pass."""
        return not self.problems()

    def problems(self) -> list[str]:
        """Human-readable problems, each with advice; empty when all is well."""
        out = []
        where = f" Slowest: {'; '.join(self.slowest)}." if self.slowest else ""
        if any(e.startswith("log_nu[") for e in self.slowest):
            where += (
                " A benchmark's Richards exponent (log_nu) is weakly identified where many of its "
                "scores sit at the guessing floor; link='logistic' (CLI --link logistic) with "
                "target_accept=0.95 mixed where it did not (docs/findings.md, the LVF v2 table)."
            )
        if not self.max_rhat <= RHAT_MAX:
            out.append(
                f"max R-hat = {self.max_rhat:.3f} > {RHAT_MAX}: chains disagree (possibly "
                f"different modes). Run more tune/draws, more chains, or check the anchors.{where}"
            )
            where = ""  # said once
        if not self.min_ess_bulk >= ESS_MIN or not self.min_ess_tail >= ESS_MIN:
            out.append(
                f"min ESS (bulk {self.min_ess_bulk:.0f}, tail {self.min_ess_tail:.0f}) < "
                f"{ESS_MIN}: intervals are noisy. Increase draws or chains.{where}"
            )
        if self.stuck_chains:
            out.append(
                f"chain(s) {list(self.stuck_chains)} stuck: at least {STUCK_FRACTION:.0%} of their "
                "draws diverged (their step size collapsed during tuning), so they are not "
                "posterior draws. Refit with another random_seed or more tuning steps."
            )
        if self.divergences:
            out.append(
                f"{self.divergences} divergent transitions: the posterior geometry is hard "
                "for NUTS and estimates may be biased. Raise target_accept (e.g. 0.95) "
                "or simplify the model."
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        status = "OK" if self.ok else "PROBLEMS"
        retry = f", resampled {self.resampled}x after stuck chains" if self.resampled else ""
        return (
            f"{status}: max R-hat {self.max_rhat:.3f}, min ESS bulk {self.min_ess_bulk:.0f} / "
            f"tail {self.min_ess_tail:.0f}, divergences {self.divergences} "
            f"({self.n_samples} draws{retry})"
        )


def available_cores() -> int:
    """CPU cores this process may use (PyMC's own default halves the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _mode_start(
    model: pm.Model, n_starts: int, seed: int, hold_fixed: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """Best of ``n_starts`` jittered MAP optimisations, as initial values by name.

    The variables named in ``hold_fixed`` (the hierarchical scales) stay at their
    jittered starting values: the joint mode of a centred hierarchical model sits at
    zero group variance (each of the ~70 variant effects adds −ln τ to the log density),
    a degenerate start from which NUTS cannot adapt.

    Several starts are compared on the Jacobian-adjusted log density (the density NUTS
    samples), which takes a whole-model compile of its own (~8 s on a fresh compile cache
    for a small model, measured).  A single start needs no comparison, so it is only
    checked to be finite; ``pm.sample`` checks its log density again before sampling.
    """
    free = [v for v in model.value_vars if model.values_to_rvs[v].name not in hold_fixed]
    rng = np.random.default_rng(seed)
    if n_starts == 1:
        point = _map_point(model, free, rng)
        if not all(np.isfinite(np.asarray(point[v.name])).all() for v in model.value_vars):
            raise RuntimeError("every optimisation start failed; check the data or use init='jitter'")
        return {rv.name: point[rv.name] for rv in model.free_RVs}
    logp = model.compile_logp()
    best, best_lp = None, -np.inf
    for _ in range(n_starts):
        point = _map_point(model, free, rng)
        lp = float(logp({v.name: point[v.name] for v in model.value_vars}))
        if np.isfinite(lp) and lp > best_lp:
            best, best_lp = point, lp
    if best is None:
        raise RuntimeError("every optimisation start failed; check the data or use init='jitter'")
    return {rv.name: best[rv.name] for rv in model.free_RVs}


def _map_point(model: pm.Model, free: Sequence[Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One jittered L-BFGS-B MAP optimisation over the value variables ``free`` (PyMC's
    ``find_MAP``, at most 5000 evaluations), seeded by the next draw of ``rng``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm.find_MAP(
            model=model,
            vars=free,
            jitter=True,
            random_seed=int(rng.integers(2**31)),
            progressbar=False,
            maxeval=5000,
        )


def reproducible_compilation(fastmath: bool = False) -> AbstractContextManager[Any]:
    """The PyTensor compile settings every sampler call in this package runs under.

    Numba's fastmath is off by default: with it, a freshly compiled function and the one
    PyTensor later loads from its cache differed in the last bits, so the same seed gave
    different draws (measured: NUTS posteriors, max |Δ slopes| 0.82 over 2 × 30 draws on a
    cold vs a warm cache; prior-predictive worlds from a long-used vs a fresh cache, which
    changed a parameter-recovery refit's R-hat from 1.06 to 1.25).  Used by
    :func:`sample`, :func:`sample_prior_predictive` and :func:`compute_log_likelihood`."""
    return pytensor.config.change_flags(numba__fastmath=fastmath)


def sample_prior_predictive(model: pm.Model, *, draws: int, random_seed: int) -> xr.DataTree:
    """``pm.sample_prior_predictive`` under :func:`reproducible_compilation`."""
    with reproducible_compilation(), model:
        return pm.sample_prior_predictive(draws=draws, random_seed=random_seed)


def compute_log_likelihood(model: pm.Model, idata: xr.DataTree) -> xr.DataTree:
    """Add the pointwise ``log_likelihood`` group to ``idata`` (for PSIS-LOO), computed
    under :func:`reproducible_compilation`; returns ``idata``."""
    with reproducible_compilation(), model:
        pm.compute_log_likelihood(idata, progressbar=False)
    return idata


def sample(
    model: pm.Model,
    config: SamplerConfig = SamplerConfig(),
    *,
    random_seed: int = 0,
    progressbar: bool = True,
    hold_fixed_in_init: Sequence[str] = (),
) -> xr.DataTree:
    """Run NUTS on ``model``; returns a DataTree with posterior and sample_stats.

    ``hold_fixed_in_init``: variables the initial optimisation must not move (the
    hierarchical scales, see :func:`_mode_start`).
    """
    with reproducible_compilation(config.fastmath):
        return resample_stuck(
            lambda seed: _sample(model, config, seed, progressbar, hold_fixed_in_init),
            random_seed,
            config.stuck_retries,
        )


def stuck_chains(idata: xr.DataTree) -> tuple[int, ...]:
    """Chains with at least :data:`STUCK_FRACTION` of their draws divergent."""
    if "sample_stats" not in idata:
        return ()
    share = idata["sample_stats"]["diverging"].mean("draw").values
    return tuple(int(c) for c in np.flatnonzero(share >= STUCK_FRACTION))


def resample_stuck(
    draw: Callable[[int], xr.DataTree], random_seed: int, retries: int
) -> xr.DataTree:
    """``draw(random_seed)``, repeated with derived seeds while a chain comes back stuck
    (at most ``retries`` more times).  The number of repeats is stored in the result's
    ``sample_stats`` attribute ``resampled``; each one is announced with a
    :class:`ConvergenceWarning`."""
    seeds = np.random.SeedSequence(random_seed).generate_state(retries + 1)
    idata = draw(random_seed)
    attempt = 0
    while (stuck := stuck_chains(idata)) and attempt < retries:
        attempt += 1
        warnings.warn(
            f"chain(s) {list(stuck)} stuck (step size collapsed during tuning); sampling "
            f"again with a derived seed (retry {attempt} of {retries}).",
            ConvergenceWarning,
            stacklevel=3,
        )
        idata = draw(int(seeds[attempt]))
    if "sample_stats" in idata:
        idata["sample_stats"].attrs["resampled"] = attempt
    return idata


def _sample(
    model: pm.Model,
    config: SamplerConfig,
    random_seed: int,
    progressbar: bool,
    hold_fixed_in_init: Sequence[str],
) -> xr.DataTree:
    kwargs: dict[str, Any] = {}
    starts: list[dict[str, np.ndarray]] | None = None
    if config.init == "mode":
        starts = [_mode_start(model, config.mode_starts, random_seed, hold_fixed_in_init)] * config.chains
    elif config.init == "modes":
        if config.sampler != "pymc":
            raise ValueError(
                f"init='modes' (one start per chain) needs sampler='pymc'; {config.sampler!r} takes "
                "one start for all chains. Use init='mode' with it, or sampler='pymc'."
            )
        seeds = np.random.SeedSequence([random_seed, MODES_STREAM]).generate_state(config.chains)
        starts = [_mode_start(model, 1, int(seed), hold_fixed_in_init) for seed in seeds]
    if config.sampler == "pymc":
        kwargs["init"] = f"{'adapt' if starts else 'jitter+adapt'}_{config.mass_matrix}"
        if starts is not None:
            kwargs["initvals"] = starts
    elif starts is not None:  # external samplers take one start for all chains
        kwargs["initvals"] = starts[0]
    with model:
        return pm.sample(
            draws=config.draws,
            tune=config.tune,
            chains=config.chains,
            cores=config.cores or min(config.chains, available_cores()),
            random_seed=random_seed,
            nuts_sampler=config.sampler,
            nuts={"target_accept": config.target_accept},
            progressbar=progressbar,
            compute_convergence_checks=False,
            **kwargs,
        )


def diagnose(idata: xr.DataTree, var_names: list[str] | None = None) -> Diagnostics:
    """Max R-hat (rank-normalised), min bulk/tail ESS over ``var_names`` (default: every
    posterior variable) and the number of divergent transitions."""
    post = idata["posterior"].to_dataset()
    if var_names is not None:
        post = post[var_names]
    with warnings.catch_warnings():
        # entries constant by construction (anchor loadings and intercepts, the unit
        # diagonal of correlation matrices) have no R-hat: NaN, dropped in _reduce below
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        rhat = az.rhat(post)
        ess_bulk = az.ess(post, method="bulk")
        ess_tail = az.ess(post, method="tail")

    def _reduce(ds: xr.Dataset, fn) -> float:
        vals = np.concatenate([np.ravel(v.values) for v in ds.data_vars.values()])
        vals = vals[np.isfinite(vals)]
        return float(fn(vals)) if vals.size else float("nan")

    n = int(post.sizes["chain"] * post.sizes["draw"])
    div, resampled = 0, 0
    if "sample_stats" in idata:
        div = int(idata["sample_stats"]["diverging"].sum())
        resampled = int(idata["sample_stats"].attrs.get("resampled", 0))
    return Diagnostics(
        max_rhat=_reduce(rhat, np.max),
        min_ess_bulk=_reduce(ess_bulk, np.min),
        min_ess_tail=_reduce(ess_tail, np.min),
        divergences=div,
        n_samples=n,
        stuck_chains=stuck_chains(idata),
        resampled=resampled,
        slowest=slowest_elements(rhat, ess_bulk),
    )


def slowest_elements(rhat: xr.Dataset, ess_bulk: xr.Dataset, n: int = 3) -> tuple[str, ...]:
    """Up to ``n`` elements that fail a check, worst first, as ``"name[label, …]: R-hat r,
    bulk ESS e"`` (labels: the element's coordinates): those with R-hat above
    :data:`RHAT_MAX`, highest first; if there are none, those with bulk ESS below
    :data:`ESS_MIN`, lowest first; empty when every element passes.

    ``rhat`` and ``ess_bulk`` are ArviZ's per-element results (one variable per posterior
    variable, without chain and draw).  A variable ``x`` that is the exponential of a
    ``log_x`` beside it has the same rank-normalised R-hat and ESS, so only ``log_x`` is
    named.  Elements constant by construction (NaN R-hat) are skipped.
    """
    failing = []  # (R-hat, ESS, name, flat index) of every failing element; labelled below
    for name, values in rhat.data_vars.items():
        if f"log_{name}" in rhat.data_vars:
            continue
        r, e = np.ravel(values.values), np.ravel(ess_bulk[name].transpose(*values.dims).values)
        for flat in np.flatnonzero(np.isfinite(r) & ((r > RHAT_MAX) | (e < ESS_MIN))):
            failing.append((float(r[flat]), float(e[flat]), name, int(flat)))
    high_rhat = sorted((row for row in failing if row[0] > RHAT_MAX), key=lambda row: -row[0])
    chosen = (high_rhat or sorted(failing, key=lambda row: row[1]))[:n]

    def label(name: str, flat: int) -> str:  # "name[coord, …]" of one element
        values = rhat[name]
        index = np.unravel_index(flat, values.shape)
        labels = [str(values[dim].values[i]) if dim in values.coords else str(i) for dim, i in zip(values.dims, index)]
        return f"{name}[{', '.join(labels)}]" if labels else name

    return tuple(f"{label(name, flat)}: R-hat {r:.3f}, bulk ESS {e:.0f}" for r, e, name, flat in chosen)


def chain_elpd(idata: xr.DataTree, var_name: str) -> pd.DataFrame:
    """Pointwise PSIS-LOO elpd of each chain on its own (ArviZ ``loo``), cells × chains.

    ``idata`` needs a ``log_likelihood`` group holding ``var_name`` (dims chain, draw, and the
    observed cells).  Each column is ``log p(y_i | y_-i)`` estimated from one chain's draws:
    what :func:`chain_stacking_weights` stacks.  ``attrs["high_pareto_k"]`` counts, per chain,
    the cells whose Pareto k̂ exceeds ArviZ's threshold (unreliable PSIS estimates)."""
    columns, high_k = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ArviZ's Pareto-k warning: counted in attrs instead
        for chain in idata["posterior"]["chain"].values:
            loo = az.loo(idata.sel(chain=[chain]), var_name=var_name, pointwise=True)
            columns[int(chain)] = np.ravel(loo.elpd_i.values)
            high_k[int(chain)] = int((np.ravel(loo.pareto_k.values) > loo.good_k).sum())
    frame = pd.DataFrame(columns).rename_axis(columns="chain")
    frame.attrs["high_pareto_k"] = high_k
    return frame


def dirichlet_stacking_weights(lpd: np.ndarray, concentration: float = 2.0) -> np.ndarray:
    """Stacking weights with a symmetric Dirichlet(``concentration``) prior, (chains,).

    Maximises ``Σ_i log Σ_c w_c exp(lpd_ic) + (concentration − 1) Σ_c log w_c`` over the
    simplex (``lpd``: cells × chains).  Plain stacking (``concentration = 1``, ArviZ's
    ``method="stacking"``) is not identified between chains that sample the same mode: any
    split of their weight scores the same, and the optimiser returns one of them.  The prior
    splits it evenly among them, so the mixture keeps all their draws, while a chain that
    predicts far worse keeps a weight of order ``(concentration − 1) / n_cells``.
    """
    lpd = np.asarray(lpd, dtype=float)
    if lpd.ndim != 2 or lpd.shape[1] < 1 or not np.isfinite(lpd).all():
        raise ValueError(f"lpd must be a finite (cells, chains) array; got shape {lpd.shape}")
    if concentration < 1:
        raise ValueError(f"concentration={concentration} must be ≥ 1 (1: plain stacking)")
    n_chains = lpd.shape[1]

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        log_w = z - special.logsumexp(z)  # softmax parameterisation of the simplex
        mix = special.logsumexp(lpd + log_w, axis=1)  # (cells,)
        resp = np.exp(lpd + log_w - mix[:, None])  # responsibilities, (cells, chains)
        value = mix.sum() + (concentration - 1.0) * log_w.sum()
        grad_w = resp.sum(axis=0) + (concentration - 1.0)  # d value / d log w_c
        grad = grad_w - np.exp(log_w) * grad_w.sum()
        return -value, -grad

    result = optimize.minimize(objective, np.zeros(n_chains), jac=True, method="L-BFGS-B")
    return np.exp(result.x - special.logsumexp(result.x))


def chain_stacking_weights(idata: xr.DataTree, var_name: str, concentration: float = 2.0) -> xr.DataArray:
    """Stacking weights of the chains (dims ``chain``): Yao, Vehtari & Gelman (2022), "Stacking
    for non-mixing Bayesian computations", *JMLR* 23(79).

    Chains that did not mix (separate modes) are each an approximation to the posterior; the
    mixture of chains whose weights maximise the PSIS-LOO log score of the observed cells
    (:func:`chain_elpd`) predicts better than the equal-weight one.  Regularised by a
    Dirichlet prior so that chains in one mode share their weight
    (:func:`dirichlet_stacking_weights`).  The attributes hold each chain's own PSIS-LOO elpd
    (``elpd_loo``, summed over cells) and its number of cells with a high Pareto k̂
    (``high_pareto_k``); a :class:`ConvergenceWarning` names the chains that have any.
    """
    elpd = chain_elpd(idata, var_name)
    weights = dirichlet_stacking_weights(elpd.to_numpy(), concentration)
    chains = idata["posterior"]["chain"].values
    high_k = [elpd.attrs["high_pareto_k"][int(c)] for c in chains]
    if any(high_k):
        warnings.warn(
            f"chain stacking: per-chain PSIS-LOO has cells with high Pareto k (chain: cells "
            f"{dict(zip(chains.tolist(), high_k))} of {len(elpd)}), so those chains' weights rest on "
            "noisy estimates. Run more draws per chain.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return xr.DataArray(weights, dims="chain", coords={"chain": chains}, name="chain_weight",
                        attrs={"elpd_loo": elpd.sum().to_numpy().tolist(), "high_pareto_k": high_k,
                               "concentration": concentration})


def largest_remainder_counts(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total``, proportional to ``weights`` (largest-remainder rounding)."""
    exact = np.asarray(weights, dtype=float) * total
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def evenly_spaced(count: int, n_draws: int) -> np.ndarray:
    """``count`` draw positions spread evenly over ``0 … n_draws − 1`` (distinct when
    ``count ≤ n_draws``, repeated beyond)."""
    return np.linspace(0, n_draws - 1, count).round().astype(int)


def mix_chains(posterior: xr.Dataset, weights: xr.DataArray) -> xr.Dataset:
    """The mixture of ``posterior``'s chains with ``weights`` (dims chain), as one chain.

    The result has dims (chain=1, draw=C·D): chain ``c`` contributes ``n_c`` draws, the
    largest-remainder rounding of ``w_c·C·D``, evenly spaced along its own draws (repeated
    where ``n_c > D``; deterministic, no random numbers).  Means, quantiles and posterior
    predictive draws computed from it are those of the weighted mixture."""
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    w = weights.reindex(chain=posterior["chain"].values).to_numpy()
    counts = largest_remainder_counts(w / w.sum(), n_chains * n_draws)
    pieces = []
    for position, count in enumerate(counts):
        if count:
            pieces.append(posterior.isel(chain=position, draw=evenly_spaced(count, n_draws), drop=True).drop_vars("draw", errors="ignore"))
    mixed = xr.concat(pieces, dim="draw").assign_coords(draw=np.arange(n_chains * n_draws))
    return mixed.expand_dims(chain=[0]).transpose("chain", "draw", ...)


def prior_predictive_summary(prior: xr.DataTree, *, prob: float = 0.9, edge: float = 0.02) -> pd.DataFrame:
    """Per-benchmark summary of a prior predictive check
    (:meth:`~scaling_bayes.skill_model.LatentSkillModel.prior_predictive`).

    Parameters
    ----------
    prior : DataTree
        With ``prior_predictive`` and ``observed_data`` groups whose ``score`` (dim ``cell``)
        carries ``benchmark`` and ``floor`` coordinates.
    prob : float
        Probability of the prior predictive interval (equal-tailed, :func:`arviz.eti`).
    edge : float
        Width of the bands at the floor and at 1 counted as "at the edge".

    Returns
    -------
    DataFrame
        Index ``benchmark``; columns ``floor``, ``prior_median``, ``prior_lower``,
        ``prior_upper`` (the ``prob`` interval of all draws at the benchmark's cells),
        ``observed_median``, ``observed_min``, ``observed_max``, ``observed_in_interval``
        (share of observed scores inside the prior interval), ``prior_at_floor`` and
        ``prior_at_ceiling`` (prior predictive mass within ``edge`` of the floor / of 1).
    """
    draws = prior["prior_predictive"]["score"]
    observed = prior["observed_data"]["score"]
    rows = {}
    for name in dict.fromkeys(observed["benchmark"].values.tolist()):
        at = observed["benchmark"].values == name
        sims = draws.isel(cell=np.flatnonzero(at))
        floor = float(observed["floor"].values[at][0])
        interval = az.eti(sims.stack(sample=[*sims.dims]).values, prob=prob)
        obs = observed.values[at]
        values = sims.values.ravel()
        rows[name] = {
            "floor": floor,
            "prior_median": float(np.median(values)),
            "prior_lower": float(interval[0]),
            "prior_upper": float(interval[1]),
            "observed_median": float(np.median(obs)),
            "observed_min": float(obs.min()),
            "observed_max": float(obs.max()),
            "observed_in_interval": float(np.mean((obs >= interval[0]) & (obs <= interval[1]))),
            "prior_at_floor": float(np.mean(values < floor + edge)),
            "prior_at_ceiling": float(np.mean(values > 1.0 - edge)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("benchmark")


def prior_posterior_conflict(posterior: xr.Dataset, priors: Mapping[str, tuple[float, float]], *, z_max: float = 2.0) -> pd.DataFrame:
    """Posterior z-scores and contractions of Normal-prior parameters (Betancourt 2018; Schad,
    Betancourt & Vasishth 2021).

    For each element with prior ``N(m, s)``: ``z = (posterior mean − m) / s`` and
    ``contraction = 1 − posterior var / s²``.  A large ``|z|`` says the data pull the
    parameter into its prior's tail; with a contraction well below 1 the prior is still
    informative there, so it is holding the parameter back (a prior–data conflict).

    Parameters
    ----------
    posterior : Dataset
        Posterior draws, dims (chain, draw, ...).
    priors : mapping
        ``{variable: (prior mean, prior sd)}``, e.g. :func:`scaling_bayes.model.normal_priors`;
        each a number or a DataArray over some of the variable's dims (a prior sd per
        covariate); variables absent from ``posterior`` are skipped.
    z_max : float
        ``conflict`` flags elements with ``|z| > z_max``.

    Returns
    -------
    DataFrame
        One row per element: ``variable``, ``element`` (its coordinate labels joined with
        ", "), ``prior_mean``, ``prior_sd``, ``posterior_mean``, ``posterior_sd``, ``z``,
        ``contraction``, ``conflict``; sorted by ``|z|``, largest first.
    """
    rows = []
    for name, (mean, sd) in priors.items():
        if name not in posterior:
            continue
        draws = posterior[name]
        stats = xr.Dataset({"posterior_mean": draws.mean(("chain", "draw")), "posterior_sd": draws.std(("chain", "draw"))})
        # a prior mean or sd may vary along the variable's dims (a DataArray), or be one number
        stats["prior_mean"] = xr.DataArray(mean).broadcast_like(stats["posterior_mean"])
        stats["prior_sd"] = xr.DataArray(sd).broadcast_like(stats["posterior_mean"])
        keys = ["posterior_mean", "posterior_sd", "prior_mean", "prior_sd"]
        if stats["posterior_mean"].ndim == 0:
            table = pd.DataFrame({k: [float(stats[k])] for k in keys}, index=pd.Index([""]))
        else:
            table = stats[keys].to_dataframe()[keys]
        labels = [", ".join(map(str, ix)) if isinstance(ix, tuple) else str(ix) for ix in table.index]
        rows.append(table.reset_index(drop=True).assign(variable=name, element=labels))
    out = pd.concat(rows, ignore_index=True)
    out["z"] = (out["posterior_mean"] - out["prior_mean"]) / out["prior_sd"]
    out["contraction"] = 1.0 - (out["posterior_sd"] / out["prior_sd"]) ** 2
    out["conflict"] = out["z"].abs() > z_max
    columns = ["variable", "element", "prior_mean", "prior_sd", "posterior_mean", "posterior_sd", "z", "contraction", "conflict"]
    return out[columns].sort_values("z", key=np.abs, ascending=False, ignore_index=True)


def warn_on_problems(diagnostics: Diagnostics) -> None:
    """Emit one :class:`ConvergenceWarning` per problem found."""
    for problem in diagnostics.problems():
        warnings.warn(problem, ConvergenceWarning, stacklevel=3)
