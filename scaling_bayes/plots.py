"""Plots: figures built from a fitted model or an evaluation result.

Step 7 of the data flow.  Plotting lives here, never in notebook cells.  Every function
returns a matplotlib :class:`~matplotlib.figure.Figure` with labelled axes (scores in %,
skills and family effects in logit units of the skill's anchor benchmark, compute in FLOPs)
and uses the Okabe-Ito colour-blind-safe palette.

Groups:

* diagnostics — :func:`plot_trace`, :func:`plot_energy`, :func:`plot_rhat_ess`,
  :func:`plot_ppc`, :func:`plot_loo_pit`;
* skills — :func:`plot_loadings`, :func:`plot_skill_correlation`,
  :func:`plot_family_efficiency`, :func:`plot_known_vs_unseen`,
  :func:`plot_scaling_curves`;
* evaluation (an :class:`~scaling_bayes.evaluation.EvaluationResult`) —
  :func:`plot_mae_heatmap`, :func:`plot_calibration`, :func:`plot_interval_width`;
* compute-optimal — :func:`plot_compute_optimal` (the numbers come from
  :func:`~scaling_bayes.compute_optimal.compute_optimal_split`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import matplotlib

matplotlib.use("Agg", force=False)
import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats  # noqa: E402

from scaling_bayes.compute_optimal import (  # noqa: E402
    FLOPS_PER_PARAM_TOKEN,
    UNSEEN_FAMILY,
    compute_optimal_split,
    data_box,
)
from scaling_bayes.skill_model import LatentSkillModel  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from scaling_bayes.evaluation import EvaluationResult

__all__ = [
    "PALETTE",
    "compute_optimal_split",
    "curve_requests",
    "pit_values",
    "plot_calibration",
    "plot_compute_optimal",
    "plot_energy",
    "plot_family_efficiency",
    "plot_interval_width",
    "plot_known_vs_unseen",
    "plot_loadings",
    "plot_loo_pit",
    "plot_mae_heatmap",
    "plot_ppc",
    "plot_prior_predictive",
    "plot_rhat_ess",
    "plot_scaling_curves",
    "plot_skill_correlation",
    "plot_trace",
]

#: Okabe-Ito (colour-blind safe): blue, vermillion, green, reddish purple, orange, sky blue,
#: yellow, black.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
GREY = "#7f7f7f"
SAMPLE_DIMS = ("chain", "draw")
#: Global (non-hierarchical-leaf) parameters shown by :func:`plot_trace` by default.
TRACE_VARS = ("slopes", "skill_mean", "family_sd", "instruct_offset", "variant_sd")
UNITS = {
    "slopes": "logit units per covariate sd",
    "skill_mean": "logit units",
    "family_sd": "logit units",
    "instruct_offset": "logit units",
    "variant_sd": "logit units",
    "alpha_family": "logit units",
    "alpha_variant": "logit units",
    "theta": "logit units",
    "loadings": "per unit skill",
    "intercept": "logit units",
    "nu": "Richards exponent",
    "phi": "Beta precision",
    "skill_corr": "correlation",
}
SHORT_UNITS = {"slopes": "logit/sd", "loadings": "logit/logit", "nu": "exponent", "phi": "precision",
               "skill_corr": "corr."}
SHORT_UNITS.update({k: "logit" for k, v in UNITS.items() if v == "logit units"})


# ---------------------------------------------------------------------------------- helpers
def _fitted(model: LatentSkillModel, what: str):
    if model.design is None or model.idata is None:
        raise ValueError(f"{what} needs a fitted model: call fit() or load() first.")
    return model.design, model.posterior


def _skill_label(skill: str) -> str:
    """Skills are named by their anchor benchmark."""
    return f"{skill} skill"


def _eti(da: xr.DataArray, prob: float, dims=SAMPLE_DIMS) -> tuple[xr.DataArray, xr.DataArray]:
    q = da.quantile([(1 - prob) / 2, (1 + prob) / 2], dim=list(dims))
    return q.isel(quantile=0, drop=True), q.isel(quantile=1, drop=True)


def _pct(prob: float) -> str:
    return f"{100 * prob:g}%"


def _text_colour(rgba) -> str:
    r, g, b = mcolors.to_rgb(rgba)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.4 else "white"


def _grid(n: int, ncols: int) -> tuple[int, int]:
    """(rows, cols) for ``n`` panels with at most ``ncols`` columns, rows filled evenly."""
    nrows = int(np.ceil(n / max(1, min(ncols, n))))
    return nrows, int(np.ceil(n / nrows))


def _from_collection(pc) -> Figure:
    """The matplotlib Figure of an arviz-plots PlotCollection."""
    return pc.viz["figure"].item()


# ------------------------------------------------------------------------- scaling curves
def curve_requests(
    families: pd.DataFrame, params_grid: np.ndarray
) -> pd.DataFrame:
    """New-model rows along a params grid, one curve per row of ``families``
    (columns ``family, base_family, instruct, tokens_t``); models are named
    ``<family>@<params>B``."""
    rows = [
        {
            "model": f"{f.family}@{p:.4g}B",
            "family": f.family,
            "base_family": f.base_family,
            "instruct": bool(f.instruct),
            "params_b": float(p),
            "tokens_t": float(f.tokens_t),
        }
        for f in families.itertuples()
        for p in params_grid
    ]
    return pd.DataFrame(rows)


def plot_scaling_curves(
    model: LatentSkillModel,
    families: pd.DataFrame,
    *,
    benchmarks: Sequence[str] | None = None,
    params_range: tuple[float, float] | None = None,
    n_grid: int = 25,
    observed: pd.DataFrame | None = None,
    random_seed: int = 0,
    ncols: int = 4,
) -> Figure:
    """Predicted score vs parameters at fixed tokens, one panel per benchmark.

    Each curve (one per row of ``families``: ``family, base_family, instruct,
    tokens_t`` and an optional ``label``) shows the posterior-predictive median with
    50% and 90% bands.  ``observed`` (a wide table with ``family, params_b`` and the
    benchmark columns) is overlaid as points in the curve's colour.
    """
    design = model.design
    if design is None:
        raise ValueError("plot_scaling_curves needs a fitted model: call fit() or load() first.")
    benchmarks = list(benchmarks or design.benchmarks)
    lo, hi = params_range or (
        float(design.data.models["params_b"].min()),
        float(design.data.models["params_b"].max()),
    )
    grid = np.geomspace(lo, hi, n_grid)
    requests = curve_requests(families, grid)
    draws = model.predictive_draws(requests, random_seed=random_seed, warn_extrapolation=False)
    score = draws["score"].sel(benchmark=benchmarks)
    q = score.quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim=("chain", "draw"))

    nrows, ncols = _grid(len(benchmarks), ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows + 0.8), squeeze=False,
        constrained_layout=True,
    )
    labels = families.get("label", families["family"]).tolist()
    for ax, bench in zip(axes.flat, benchmarks):
        for i, fam in enumerate(families.itertuples()):
            colour = PALETTE[i % len(PALETTE)]
            names = [f"{fam.family}@{p:.4g}B" for p in grid]
            qb = q.sel(benchmark=bench, model=names).values  # (quantile, grid)
            ax.fill_between(grid, 100 * qb[0], 100 * qb[4], color=colour, alpha=0.15, lw=0)
            ax.fill_between(grid, 100 * qb[1], 100 * qb[3], color=colour, alpha=0.3, lw=0)
            ax.plot(grid, 100 * qb[2], color=colour, lw=1.5, label=labels[i])
            if observed is not None and bench in observed:
                obs = observed[observed["family"] == fam.family]
                ax.scatter(
                    obs["params_b"], 100 * obs[bench], color=colour, edgecolor="black",
                    s=22, zorder=3,
                )
        ax.set_xscale("log")
        ax.set_title(bench, fontsize=10)
        ax.set_xlabel("parameters (billions, log scale)")
        ax.set_ylabel("score (%)")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(benchmarks):]:
        ax.set_visible(False)
    handles, texts = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, texts, loc="outside lower center", ncols=min(len(texts), 4), frameon=False)
    fig.suptitle("Posterior-predictive scaling curves (median, 50% and 90% bands; dots = observed)")
    return fig


# ----------------------------------------------------------------------------- diagnostics
def plot_trace(
    model: LatentSkillModel,
    var_names: Sequence[str] | None = None,
    *,
    kind: Literal["trace", "rank"] = "trace",
) -> Figure:
    """Per-chain marginal densities and traces (``kind="trace"``, ArviZ ``plot_trace_dist``)
    or rank ECDFs (``kind="rank"``, ``plot_rank_dist``) of the global parameters.

    ``var_names`` defaults to the slopes, skill means, between-family sds, instruct offsets
    and variant sds.  All coordinates of a variable share a panel; colour encodes the
    chain, so well-mixed chains overlap.
    """
    if kind not in ("trace", "rank"):
        raise ValueError(f"kind={kind!r}: use 'trace' or 'rank'.")
    _, posterior = _fitted(model, "plot_trace")
    if var_names is None:
        var_names = [v for v in TRACE_VARS if v in posterior]
    unknown = [v for v in var_names if v not in posterior]
    if unknown or not var_names:
        raise ValueError(f"var_names {unknown} are not posterior variables ({sorted(posterior.data_vars)}).")
    n_chains = posterior.sizes["chain"]
    pc_kwargs = {
        "aes": {"color": ["chain"], "overlay": ["__variable__", "chain", *_extra_dims(posterior, var_names)]},
        "color": list(PALETTE[:max(n_chains, 3)]),
        "figure_kwargs": {"figsize": (11, 1.9 * len(var_names) + 0.6), "layout": "constrained"},
    }
    plotter = az.plot_trace_dist if kind == "trace" else az.plot_rank_dist
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Your data appears to have a single value")  # fixed elements
        pc = plotter(model.idata, var_names=list(var_names), kind="kde", backend="matplotlib", **pc_kwargs)
    fig = _from_collection(pc)
    plot = pc.viz["plot"]
    right = "trace" if kind == "trace" else "rank"
    for var in var_names:
        unit = UNITS.get(var, "")
        left_ax, right_ax = plot[var].sel(column="dist").item(), plot[var].sel(column=right).item()
        left_ax.set_xlabel(f"{var} ({unit})" if unit else var, fontsize=9)
        left_ax.set_ylabel("density", fontsize=9)
        if kind == "trace":
            right_ax.set_xlabel("draw (iteration after tuning)", fontsize=9)
            short = SHORT_UNITS.get(var, "")
            right_ax.set_ylabel(f"{var}\n({short})" if short else var, fontsize=9)
        else:
            right_ax.set_xlabel("fractional rank of the draw", fontsize=9)
            right_ax.set_ylabel("ECDF − uniform", fontsize=9)
    chains = ", ".join(f"chain {c}" for c in posterior["chain"].values)
    title = "Trace plots" if kind == "trace" else "Rank plots"
    note = "" if kind == "trace" else "; black: outside the simultaneous envelope"
    fig.suptitle(f"{title} of the global parameters (colour = chain: {chains}{note})", fontsize=11)
    return fig


def _extra_dims(posterior: xr.Dataset, var_names: Sequence[str]) -> list[str]:
    dims: list[str] = []
    for v in var_names:
        dims += [d for d in posterior[v].dims if d not in SAMPLE_DIMS and d not in dims]
    return dims


def plot_energy(model: LatentSkillModel) -> Figure:
    """NUTS energy diagnostic (ArviZ ``plot_energy``): marginal energy vs energy transition
    densities, with the per-chain BFMI (values below 0.3 signal poor exploration)."""
    _fitted(model, "plot_energy")
    pc = az.plot_energy(
        model.idata, backend="matplotlib", color=[PALETTE[0], PALETTE[1]],
        figure_kwargs={"figsize": (10, 3.6), "layout": "constrained"},
    )
    fig = _from_collection(pc)
    bfmi_ax, dist_ax = None, None
    for ax in fig.axes:
        if ax.get_title() == "BFMI":
            bfmi_ax = ax
        else:
            dist_ax = ax
    if bfmi_ax is not None:
        bfmi_ax.set_xlabel("BFMI (dashed: 0.3 threshold)")
        bfmi_ax.set_ylabel("chain")
        bfmi_ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if dist_ax is not None:
        dist_ax.set_xlabel("energy − mean energy (nats)")
        dist_ax.set_ylabel("density")
        dist_ax.spines["left"].set_visible(True)
        dist_ax.tick_params(left=True, labelleft=True)
    fig.suptitle("NUTS energy: marginal vs transition (similar widths = good exploration)", fontsize=11)
    return fig


def _diagnostic_table(posterior: xr.Dataset, var_names: Sequence[str] | None) -> pd.DataFrame:
    """R-hat and bulk/tail ESS of every free scalar element of the posterior variables
    (constants such as anchor loadings, and the redundant upper triangle and diagonal of
    the correlation matrix, are left out)."""
    skip = ("_free", "_centre", "_raw", "_chol", "_chol_corr", "_chol_stds")
    var_names = list(var_names) if var_names else [
        v for v in posterior.data_vars if not v.endswith(skip) and v not in ("log_nu", "log_phi")
    ]
    post = posterior[var_names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant elements: 0/0
        diagnostics = {
            "rhat": az.rhat(post),
            "ess_bulk": az.ess(post, method="bulk"),
            "ess_tail": az.ess(post, method="tail"),
        }
    spread = post.std(SAMPLE_DIMS)
    frames = []
    for v in var_names:
        keep = spread[v] > 0
        if v == "skill_corr":
            i = xr.DataArray(np.arange(post.sizes["skill"]), dims="skill")
            j = xr.DataArray(np.arange(post.sizes["skill_"]), dims="skill_")
            keep = keep & (i > j)
        keep = np.ravel(keep.values)
        frame = pd.DataFrame({k: np.ravel(d[v].values)[keep] for k, d in diagnostics.items()})
        frame["variable"] = v
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).dropna(subset=["rhat", "ess_bulk"])


def plot_rhat_ess(
    model: LatentSkillModel,
    var_names: Sequence[str] | None = None,
    *,
    rhat_max: float = 1.01,
    ess_min: float = 400,
) -> Figure:
    """R-hat and effective sample sizes of every scalar parameter, one row per variable.

    Each dot is one element (e.g. one family × skill); dashed lines mark R-hat ``rhat_max``
    and ESS ``ess_min``.  Constant elements (anchor loadings fixed at 1, the correlation
    diagonal) are left out.
    """
    _, posterior = _fitted(model, "plot_rhat_ess")
    table = _diagnostic_table(posterior, var_names)
    order = list(dict.fromkeys(table["variable"]))
    ypos = {v: i for i, v in enumerate(order)}
    rng = np.random.default_rng(0)
    row = table["variable"].map(ypos).to_numpy()
    y = row + rng.uniform(-0.28, 0.28, len(table))
    y_half = row + rng.uniform(0.04, 0.3, len(table))  # ESS: bulk above, tail below the row line
    n_draws = posterior.sizes["chain"] * posterior.sizes["draw"]

    fig, (ax_r, ax_e) = plt.subplots(
        1, 2, figsize=(11, 0.42 * len(order) + 1.8), sharey=True, constrained_layout=True
    )
    bad = table["rhat"] > rhat_max
    ax_r.scatter(table["rhat"][~bad], y[~bad], s=9, color=PALETTE[0], alpha=0.6, lw=0, label="ok")
    ax_r.scatter(table["rhat"][bad], y[bad], s=14, color=PALETTE[1], alpha=0.9, lw=0, label="high")
    ax_r.axvline(rhat_max, color="black", ls="--", lw=1)
    ax_r.set_xlabel("rank-normalised split R-hat (dimensionless; ideal 1)")
    ax_r.set_title(f"R-hat: max {table['rhat'].max():.3f}, {int(bad.sum())} of {len(table)} above {rhat_max}",
                   fontsize=10)

    ax_e.scatter(table["ess_bulk"], 2 * row - y_half, s=9, color=PALETTE[2], alpha=0.6, lw=0,
                 marker="s", label="bulk ESS (upper half of the row)")
    ax_e.scatter(table["ess_tail"], y_half, s=9, color=PALETTE[4], alpha=0.7, lw=0, marker="D",
                 label="tail ESS (lower half)")
    ax_e.axvline(ess_min, color="black", ls="--", lw=1)
    ax_e.set_xscale("log")
    ax_e.set_xlabel(f"effective sample size (draws, log scale; {n_draws} draws in total)")
    ax_e.set_title(
        f"ESS: min bulk {table['ess_bulk'].min():.0f}, min tail {table['ess_tail'].min():.0f} "
        f"(dashed: {ess_min:g})", fontsize=10,
    )

    ax_r.set_yticks(range(len(order)), [f"{v} ({(table['variable'] == v).sum()})" for v in order])
    ax_r.set_ylabel("parameter (number of elements)")
    ax_r.set_ylim(len(order) - 0.5, -0.5)
    for ax in (ax_r, ax_e):
        ax.grid(alpha=0.3, axis="x")
    handles = [*ax_r.get_legend_handles_labels()[0], *ax_e.get_legend_handles_labels()[0]]
    labels = ["R-hat ≤ %g" % rhat_max, "R-hat > %g" % rhat_max, *ax_e.get_legend_handles_labels()[1]]
    fig.legend(handles, labels, loc="outside lower center", ncols=4, frameon=False, fontsize=8.5,
               markerscale=1.6)
    fig.suptitle("Convergence diagnostics for every parameter element", fontsize=11)
    return fig


def _insample(model: LatentSkillModel, random_seed: int) -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    """In-sample draws of the training models from their own posterior skills
    (:meth:`LatentSkillModel.insample_draws`), and their observed cells (model, benchmark
    indices into the draws' coords)."""
    design = model.design
    draws = model.insample_draws(random_seed=random_seed)
    draws = draws.sel(model=list(design.data.models.index), benchmark=design.benchmarks)
    return draws, design.cell_model, design.cell_benchmark


def plot_ppc(
    model: LatentSkillModel,
    *,
    n_replicates: int = 50,
    random_seed: int = 0,
    ncols: int = 4,
) -> Figure:
    """Posterior-predictive check per benchmark: density of the observed scores (training
    cells) against ``n_replicates`` replicated data sets drawn from the posterior predictive
    for the same models (in-sample)."""
    design, _ = _fitted(model, "plot_ppc")
    draws, cm, cb = _insample(model, random_seed)
    score = draws["score"].stack(sample=SAMPLE_DIMS).transpose("sample", "model", "benchmark").values
    rng = np.random.default_rng(random_seed)
    picks = rng.choice(score.shape[0], size=min(n_replicates, score.shape[0]), replace=False)
    benchmarks = design.benchmarks
    nrows, ncols = _grid(len(benchmarks), ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows + 0.8), squeeze=False, constrained_layout=True
    )
    grid = np.linspace(0, 100, 201)
    for j, (ax, bench) in enumerate(zip(axes.flat, benchmarks)):
        cells = cb == j
        obs = 100 * design.y[cells]
        rep = 100 * score[picks][:, cm[cells], j]
        ax.plot(grid, _kde(rep, grid).T, color=PALETTE[5], lw=0.6, alpha=0.35)
        ax.plot(grid, _kde(obs, grid)[0], color="black", lw=1.8)
        ax.set_title(f"{bench} (n = {cells.sum()})", fontsize=10)
    _style_score_panels(axes, len(benchmarks))
    handles = [
        plt.Line2D([], [], color="black", lw=1.8, label="observed scores"),
        plt.Line2D([], [], color=PALETTE[5], lw=1, label=f"replicated ({len(picks)} posterior draws)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle("Posterior-predictive check (in-sample, training models)", fontsize=11)
    return fig


def plot_prior_predictive(prior: xr.DataTree, *, ncols: int = 4, edge: float = 0.02) -> Figure:
    """Prior predictive check per benchmark: the scores the priors imply at the observed
    cells (all draws pooled) against the observed scores, with the guessing floor.

    ``prior`` is :meth:`LatentSkillModel.prior_predictive`'s output.  Weakly informative
    priors should cover the observed range without piling mass at the floor or at 100%;
    each panel's title gives the prior mass within ``edge`` of 1
    (:func:`~scaling_bayes.inference.prior_predictive_summary`).
    """
    from scaling_bayes.inference import prior_predictive_summary

    summary = prior_predictive_summary(prior, edge=edge)
    draws = prior["prior_predictive"]["score"]
    observed = prior["observed_data"]["score"]
    nrows, ncols = _grid(len(summary), ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows + 0.8), squeeze=False, constrained_layout=True
    )
    bins = np.linspace(0, 100, 51)
    for ax, (bench, row) in zip(axes.flat, summary.iterrows()):
        at = np.flatnonzero(observed["benchmark"].values == bench)
        ax.hist(100 * draws.isel(cell=at).values.ravel(), bins=bins, density=True, color=PALETTE[5],
                alpha=0.55, label="prior predictive")
        ax.hist(100 * observed.values[at], bins=bins, density=True, histtype="step", color="black", lw=1.6,
                label="observed")
        ax.axvline(100 * row["floor"], color=PALETTE[1], ls=":", lw=1.2, label="guessing floor")
        ax.set_title(f"{bench}: {row['prior_at_ceiling']:.0%} of prior ≥ {100 * (1 - edge):g}%", fontsize=9)
    _style_score_panels(axes, len(summary))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
    n_draws = draws.sizes["chain"] * draws.sizes["draw"]
    fig.suptitle(f"Prior predictive check ({n_draws} prior draws at the {observed.sizes['cell']} observed cells)",
                 fontsize=11)
    return fig


def _style_score_panels(axes: np.ndarray, n_used: int) -> None:
    """Score-density panels, one per benchmark: labels, a 0–100% axis and a grid on the
    first ``n_used`` axes; the rest of the grid hidden."""
    for ax in axes.flat[:n_used]:
        ax.set_xlabel("score (%)")
        ax.set_ylabel("density (per %)")
        ax.set_xlim(0, 100)
        ax.grid(alpha=0.3)
    for ax in axes.flat[n_used:]:
        ax.set_visible(False)


def _kde(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE (Scott's bandwidth) of each row of ``values`` on ``grid``."""
    values = np.atleast_2d(values)
    n = values.shape[1]
    h = 1.06 * values.std(axis=1, keepdims=True) * n ** (-1 / 5)
    h = np.where(h > 0, h, 1.0)
    z = (grid[None, None, :] - values[:, :, None]) / h[:, :, None]
    return np.exp(-0.5 * z**2).sum(axis=1) / (n * h * np.sqrt(2 * np.pi))


def pit_values(model: LatentSkillModel, *, random_seed: int = 0) -> pd.DataFrame:
    """LOO-PIT of every observed training cell.

    The pointwise log likelihood is the model's Beta density at the observed (continuity
    corrected) score, evaluated exactly from the posterior draws of the latent mean and
    precision (no PyMC recompilation); ArviZ's PSIS ``loo_pit`` then weights the in-sample
    posterior-predictive draws.  Returns ``model, benchmark, observed, pit, pit_insample``
    (``pit`` is NaN where PSIS fails, e.g. on stuck chains; ``pit_insample`` is the plain
    in-sample PIT, the share of predictive draws at or below the observed score).
    """
    design, posterior = _fitted(model, "pit_values")
    draws, cm, cb = _insample(model, random_seed)
    mu = draws["mu"].transpose(*SAMPLE_DIMS, "model", "benchmark").values[:, :, cm, cb]
    phi = draws["phi"].broadcast_like(draws["mu"]).transpose(*SAMPLE_DIMS, "model", "benchmark").values[:, :, cm, cb]
    rep = draws["score"].transpose(*SAMPLE_DIMS, "model", "benchmark").values[:, :, cm, cb]
    loglik = stats.beta.logpdf(design.y, mu * phi, (1 - mu) * phi)
    tree = xr.DataTree.from_dict(
        {
            "posterior": posterior[["slopes", "loadings", "phi"]],
            "posterior_predictive": xr.Dataset({"score": (("chain", "draw", "cell"), rep)}),
            "log_likelihood": xr.Dataset({"score": (("chain", "draw", "cell"), loglik)}),
            "observed_data": xr.Dataset({"score": (("cell",), design.y)}),
        }
    )
    insample = (rep <= design.y).mean(axis=(0, 1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pareto-k warnings: the PIT is still informative
            pit = np.clip(az.loo_pit(tree, random_state=random_seed)["score"].values, 0.0, 1.0)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        pit = np.full_like(insample, np.nan)  # PSIS fails on degenerate (e.g. stuck) chains
    return pd.DataFrame(
        {
            "model": np.asarray(design.data.models.index)[cm],
            "benchmark": np.asarray(design.benchmarks)[cb],
            "observed": design.y,
            "pit": pit,
            "pit_insample": insample,
        }
    )


def plot_loo_pit(
    model: LatentSkillModel,
    *,
    n_bins: int = 10,
    random_seed: int = 0,
    ncols: int = 5,
) -> Figure:
    """LOO-PIT histograms per benchmark and pooled (see :func:`pit_values`).

    A calibrated model gives uniform PIT values; the dashed lines (grey band) are the 95%
    range of one bin's height under uniformity.  A U shape means over-confident, a hump under-confident, a
    slope biased predictions.
    """
    design, _ = _fitted(model, "plot_loo_pit")
    table = pit_values(model, random_seed=random_seed)
    column, kind = "pit", "LOO-PIT"
    if table["pit"].isna().all():
        column, kind = "pit_insample", "in-sample PIT (PSIS-LOO failed on this posterior)"
    panels = [("all benchmarks", table)] + [
        (b, table[table["benchmark"] == b]) for b in design.benchmarks
    ]
    nrows, ncols = _grid(len(panels), ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows + 0.8), squeeze=False, constrained_layout=True
    )
    edges = np.linspace(0, 1, n_bins + 1)
    for ax, (name, frame) in zip(axes.flat, panels):
        n = len(frame)
        lo, hi = stats.binom.ppf([0.025, 0.975], n, 1 / n_bins) * n_bins / max(n, 1)
        colour = PALETTE[0] if name != "all benchmarks" else PALETTE[2]
        ax.axhspan(lo, hi, color=GREY, alpha=0.2, lw=0, zorder=0)
        ax.hist(frame[column], bins=edges, density=True, color=colour, alpha=0.55, zorder=1)
        ax.hist(frame[column], bins=edges, density=True, histtype="step", color=colour, lw=1.2, zorder=2)
        for level in (lo, hi):
            ax.axhline(level, color="black", ls="--", lw=0.8, zorder=3)
        ax.axhline(1.0, color="black", lw=0.8, zorder=3)
        ax.set_xlim(0, 1)
        ax.set_title(f"{name} (n = {n})", fontsize=10)
        ax.set_xlabel(f"{kind.split(' (')[0]} (probability)")
        ax.set_ylabel("density")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(
        f"{kind} of the training scores (uniform = calibrated; dashed: 95% range of a bin under uniformity)",
        fontsize=11,
    )
    return fig


# ---------------------------------------------------------------------------------- skills
def plot_loadings(model: LatentSkillModel, *, prob: float = 0.9) -> Figure:
    """Loadings λ (benchmark × skill): posterior median as a heatmap, annotated with the
    ``prob`` equal-tailed interval.  Anchor loadings are fixed at 1 (marked ``anchor``)."""
    design, posterior = _fitted(model, "plot_loadings")
    lam = posterior["loadings"].sel(benchmark=design.benchmarks)
    med = lam.median(SAMPLE_DIMS)
    lo, hi = _eti(lam, prob)
    skills = [str(s) for s in lam["skill"].values]
    benchmarks = design.benchmarks
    fig, ax = plt.subplots(
        figsize=(2.0 * len(skills) + 3.4, 0.55 * len(benchmarks) + 1.6), constrained_layout=True
    )
    vmax = max(float(hi.max()), 1.0)
    im = ax.imshow(med.values, cmap="Blues", vmin=0, vmax=vmax, aspect="auto")
    for i, bench in enumerate(benchmarks):
        for k, skill in enumerate(skills):
            value = float(med.values[i, k])
            colour = _text_colour(im.cmap(im.norm(value)))
            if bench == skill:
                text = "1\n(anchor)"
            elif float(hi.values[i, k]) - float(lo.values[i, k]) == 0:
                text = f"{value:g}\n(fixed)"
            else:
                text = f"{value:.2f}\n[{float(lo.values[i, k]):.2f}, {float(hi.values[i, k]):.2f}]"
            ax.text(k, i, text, ha="center", va="center", fontsize=8.5, color=colour)
    ax.set_xticks(range(len(skills)), [_skill_label(s) for s in skills])
    ax.set_yticks(range(len(benchmarks)), benchmarks)
    ax.set_xlabel("latent skill (named by its anchor benchmark)")
    ax.set_ylabel("benchmark")
    cbar = fig.colorbar(im, ax=ax, shrink=0.85)
    cbar.set_label("loading λ (logits of the benchmark per logit of skill)")
    ax.set_title(f"Benchmark loadings: posterior median [{_pct(prob)} interval]", fontsize=11)
    return fig


def plot_skill_correlation(model: LatentSkillModel, *, prob: float = 0.9) -> Figure:
    """Correlation R of the family effects between skills (the LKJ-distributed ``skill_corr``):
    posterior median heatmap annotated with the ``prob`` interval."""
    _, posterior = _fitted(model, "plot_skill_correlation")
    if "skill_corr" not in posterior:
        raise ValueError("the model has a single skill: there is no skill correlation to plot.")
    corr = posterior["skill_corr"]
    med = corr.median(SAMPLE_DIMS)
    lo, hi = _eti(corr, prob)
    skills = [str(s) for s in corr["skill"].values]
    k = len(skills)
    fig, ax = plt.subplots(figsize=(1.9 * k + 2.8, 1.5 * k + 1.6), constrained_layout=True)
    im = ax.imshow(med.values, cmap="PuOr_r", vmin=-1, vmax=1)
    for i in range(k):
        for j in range(k):
            value = float(med.values[i, j])
            colour = _text_colour(im.cmap(im.norm(value)))
            text = "1" if i == j else f"{value:.2f}\n[{float(lo.values[i, j]):.2f}, {float(hi.values[i, j]):.2f}]"
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5, color=colour)
    labels = [_skill_label(s) for s in skills]
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("skill")
    ax.set_ylabel("skill")
    cbar = fig.colorbar(im, ax=ax, shrink=0.85)
    cbar.set_label("correlation of family effects (−1 to 1)")
    ax.set_title(f"Between-family skill correlation: median [{_pct(prob)} interval]", fontsize=11)
    return fig


def plot_family_efficiency(
    model: LatentSkillModel,
    level: Literal["family", "variant"] = "family",
    *,
    prob: float = 0.9,
) -> Figure:
    """Forest plot of the family effects α per skill: the skill a family reaches at the
    training data's mean (standardised) params and tokens, relative to other families.

    ``level="family"``: base families (``alpha_family``); ``"variant"``: variant families,
    e.g. instruct lines (``alpha_variant``).  Dots: posterior medians; thick bars: 50%;
    thin bars: ``prob`` intervals.  Rows are sorted by the first skill's median; the dashed
    line is the population mean (``skill_mean``).
    """
    if level not in ("family", "variant"):
        raise ValueError(f"level={level!r}: use 'family' or 'variant'.")
    _, posterior = _fitted(model, "plot_family_efficiency")
    alpha = posterior["alpha_family" if level == "family" else "alpha_variant"]
    skills = [str(s) for s in alpha["skill"].values]
    med = alpha.median(SAMPLE_DIMS)
    lo, hi = _eti(alpha, prob)
    lo50, hi50 = _eti(alpha, 0.5)
    order = med.isel(skill=0).to_series().sort_values().index.tolist()
    n = len(order)
    fig, axes = plt.subplots(
        1, len(skills), figsize=(3.4 * len(skills) + 1.6, 0.2 * n + 1.8), sharey=True,
        squeeze=False, constrained_layout=True,
    )
    y = np.arange(n)
    for k, (ax, skill) in enumerate(zip(axes[0], skills)):
        colour = PALETTE[k % len(PALETTE)]
        sel = {level: order, "skill": skill}
        ax.hlines(y, lo.sel(sel).values, hi.sel(sel).values, color=colour, lw=1)
        ax.hlines(y, lo50.sel(sel).values, hi50.sel(sel).values, color=colour, lw=3)
        ax.plot(med.sel(sel).values, y, "o", color="white", mec=colour, ms=4)
        ax.axvline(float(posterior["skill_mean"].sel(skill=skill).median()), color=GREY, ls="--", lw=1)
        ax.set_title(_skill_label(skill), fontsize=10)
        ax.set_xlabel("family effect α (logit units)")
        ax.grid(alpha=0.3, axis="x")
        ax.grid(alpha=0.12, axis="y")
    axes[0, 0].set_yticks(y, order, fontsize=8 if n <= 40 else 6.5)
    axes[0, 0].set_ylim(n - 0.5, -0.5)
    axes[0, 0].set_ylabel("base family" if level == "family" else "variant family")
    fig.suptitle(
        "Family efficiency: each family's skill at the data's mean params and tokens\n"
        f"(median, 50% and {_pct(prob)} intervals; dashed: population mean)",
        fontsize=11,
    )
    return fig


def plot_known_vs_unseen(
    model: LatentSkillModel,
    family: str,
    params_b: float,
    tokens_t: float,
    *,
    benchmarks: Sequence[str] | None = None,
    random_seed: int = 0,
) -> Figure:
    """Predictive bands for one (params, tokens) in a known family next to the same size in
    a family never seen: what knowing the family is worth.

    Per benchmark: posterior-predictive median (dot), 50% (thick) and 90% (thin) intervals
    for the known family (``family``, a variant family of the training data) and for an
    unseen family (a population draw of the family effect, same instruct flag).  Observed
    training scores of ``family`` at exactly this size, if any, are marked ×.
    """
    design, _ = _fitted(model, "plot_known_vs_unseen")
    fams = design.families
    if family not in fams.variants:
        raise ValueError(
            f"family={family!r} is not a variant family of the training data; choose one of "
            f"{fams.variants}."
        )
    i = fams.variants.index(family)
    base, instruct = fams.family_of_variant[i], fams.instruct_of_variant[i]
    known_name, unseen_name = f"{family} (known family)", "unseen family"
    requests = pd.DataFrame(
        [
            {"model": known_name, "family": family, "base_family": base, "instruct": instruct,
             "params_b": params_b, "tokens_t": tokens_t},
            {"model": unseen_name, "family": UNSEEN_FAMILY, "base_family": UNSEEN_FAMILY,
             "instruct": instruct, "params_b": params_b, "tokens_t": tokens_t},
        ]
    )
    benchmarks = list(benchmarks or design.benchmarks)
    draws = model.predictive_draws(requests, random_seed=random_seed, warn_extrapolation=False)
    score = 100 * draws["score"].sel(benchmark=benchmarks)
    q = score.quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim=SAMPLE_DIMS)

    models = design.data.models
    match = models[
        (models["family"] == family)
        & np.isclose(models["params_b"], params_b, rtol=0.02)
        & np.isclose(models["tokens_t"], tokens_t, rtol=0.02)
    ]
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(benchmarks) + 1.9), constrained_layout=True)
    y = np.arange(len(benchmarks))
    for offset, name, colour, label in (
        (-0.17, known_name, PALETTE[0], f"known family: {family}"),
        (0.17, unseen_name, PALETTE[1], "unseen family (population draw)"),
    ):
        qm = q.sel(model=name).transpose("quantile", "benchmark").values
        ax.hlines(y + offset, qm[0], qm[4], color=colour, lw=1.2)
        ax.hlines(y + offset, qm[1], qm[3], color=colour, lw=4, label=label)
        ax.plot(qm[2], y + offset, "o", color="white", mec=colour, ms=5)
    if len(match):
        obs = 100 * design.data.scores.loc[match.index[0], benchmarks].to_numpy(float)
        ax.plot(obs, y - 0.17, "x", color="black", ms=7, mew=1.6,
                label=f"observed (a training model): {match.index[0]}")
    ax.set_yticks(y, benchmarks)
    ax.set_ylim(len(benchmarks) - 0.5, -0.6)
    ax.set_xlabel("predicted score (%)")
    ax.set_ylabel("benchmark")
    ax.set_xlim(-1.5, 101.5)
    ax.grid(alpha=0.3, axis="x")
    fig.legend(loc="outside lower center", ncols=3, frameon=False, fontsize=8.5)
    ax.set_title(
        f"{params_b:g}B parameters, {tokens_t:g}T tokens: known vs unseen family\n"
        "(posterior predictive: dot = median, thick = 50%, thin = 90% interval)",
        fontsize=10.5,
    )
    return fig


# ------------------------------------------------------------------------------ evaluation
def _setting_label(bset: str, n: int) -> str:
    return f"{bset}, n={int(n)}"


def _settings(table: pd.DataFrame) -> list[tuple[str, int]]:
    idx = table.index.droplevel("benchmark")
    return list(dict.fromkeys((str(b), int(n)) for b, n in idx))


def _benchmark_columns(table: pd.DataFrame) -> list[str]:
    from scaling_bayes.evaluation import load_protocol

    present = list(dict.fromkeys(str(b) for b in table.index.get_level_values("benchmark")))
    order = [b for b in load_protocol().benchmark_sets.get("all12", ()) if b in present]
    order += [b for b in present if b not in order and b != "Average"]
    return order + (["Average"] if "Average" in present else [])


def plot_mae_heatmap(result: EvaluationResult) -> Figure:
    """Family-macro MAE (pp) per setting × benchmark: ours, Sloth at its best K, and the
    difference (negative = ours more accurate), all on the same matched test rows."""
    comp = result.comparison
    if comp is None or not len(comp):
        raise ValueError("the evaluation result has no comparison with Sloth (no matched rows).")
    settings = _settings(comp)
    columns = _benchmark_columns(comp)

    def matrix(column: str) -> np.ndarray:
        out = np.full((len(settings), len(columns)), np.nan)
        for r, (bset, n) in enumerate(settings):
            for c, bench in enumerate(columns):
                key = (bset, n, bench)
                if key in comp.index:
                    out[r, c] = 100 * float(comp.loc[key, column])
        return out

    ours, sloth = matrix("ours"), matrix("sloth_best")
    diff = ours - sloth
    best_k = comp.xs("Average", level="benchmark")["sloth_best_k"] if "Average" in columns else None
    vmax = np.nanmax(np.r_[ours.ravel(), sloth.ravel()])
    dmax = max(np.nanmax(np.abs(diff)), 0.5)
    fig, axes = plt.subplots(
        3, 1, figsize=(0.85 * len(columns) + 3.6, 3 * max(1.8, 0.45 * len(settings) + 0.9) + 0.8),
        constrained_layout=True,
    )
    plain = [_setting_label(bset, n) for bset, n in settings]
    with_k = []
    for (bset, n), label in zip(settings, plain):
        if best_k is not None and (bset, n) in best_k.index and pd.notna(best_k.loc[(bset, n)]):
            label += f" (K={int(best_k.loc[(bset, n)])})"
        with_k.append(label)
    panels = (
        (ours, "ours: posterior mean", "Blues", mcolors.Normalize(0, vmax), "MAE (pp)", plain),
        (sloth, "Sloth at its best K (lowest average MAE on these rows)", "Blues",
         mcolors.Normalize(0, vmax), "MAE (pp)", with_k),
        (diff, "ours − Sloth best (negative: ours more accurate)", "PuOr_r",
         mcolors.TwoSlopeNorm(0, -dmax, dmax), "MAE difference (pp)", plain),
    )
    for ax, (values, title, cmap, norm, clabel, row_labels) in zip(axes, panels):
        cm = plt.get_cmap(cmap).with_extremes(bad="#eeeeee")
        im = ax.imshow(np.ma.masked_invalid(values), cmap=cm, norm=norm, aspect="auto")
        for r in range(values.shape[0]):
            for c in range(values.shape[1]):
                if np.isfinite(values[r, c]):
                    ax.text(c, r, f"{values[r, c]:.1f}", ha="center", va="center", fontsize=8.5,
                            color=_text_colour(cm(norm(values[r, c]))))
        ax.set_xticks(range(len(columns)), columns, rotation=35, ha="right", fontsize=8.5)
        ax.set_yticks(range(len(settings)), row_labels, fontsize=8.5)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("setting")
        if "Average" in columns:
            ax.axvline(len(columns) - 1.5, color="black", lw=1.5)
        fig.colorbar(im, ax=ax, shrink=0.9, pad=0.01).set_label(clabel)
    axes[-1].set_xlabel("benchmark")
    fig.suptitle("Leave-family-out accuracy: family-macro MAE in percentage points", fontsize=11)
    return fig


def plot_calibration(result: EvaluationResult) -> Figure:
    """Empirical vs nominal coverage of the central posterior-predictive intervals
    (50/80/90/95%), one line per setting (pooled over benchmarks), with each benchmark's
    coverage as faint dots.  On the diagonal = calibrated; below = over-confident."""
    metrics = result.metrics
    probs = sorted(float(c.removeprefix("coverage_")) for c in metrics.columns if str(c).startswith("coverage_"))
    if not probs:
        raise ValueError("the evaluation metrics have no coverage_XX columns.")
    settings = _settings(metrics)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), constrained_layout=True)
    ax.plot([0, 100], [0, 100], color=GREY, ls="--", lw=1, label="ideal (nominal = empirical)")
    averages = metrics.xs("Average", level="benchmark") if "Average" in metrics.index.get_level_values(
        "benchmark") else None
    if averages is not None and len(averages):
        n_min = int(averages["n_rows"].min())
        nominal = np.linspace(min(probs) - 8, 100, 60) / 100
        half = 1.96 * np.sqrt(nominal * (1 - nominal) / n_min)
        lo, hi = 100 * np.clip(nominal - half, 0, 1), 100 * np.clip(nominal + half, 0, 1)
        ax.fill_between(100 * nominal, lo, hi, color=GREY, alpha=0.18, lw=0,
                        label=f"95% binomial range if calibrated, {n_min} scores taken as "
                        "independent (a lower bound on the noise: a test group's scores are not)")
    for i, (bset, n) in enumerate(settings):
        colour = PALETTE[i % len(PALETTE)]
        block = metrics.xs((bset, n), level=("benchmark_set", "n_train_per_family"))
        per_bench = block.drop(index="Average", errors="ignore")
        for p in probs:
            vals = 100 * per_bench[f"coverage_{p:g}"].to_numpy(float)
            xj = p + (i - (len(settings) - 1) / 2) * 0.8
            ax.scatter(np.full(len(vals), xj), vals, s=13, color=colour, alpha=0.4, lw=0, clip_on=False)
        if "Average" in block.index:
            avg = block.loc["Average"]
            ax.plot(probs, [100 * avg[f"coverage_{p:g}"] for p in probs], "o-", color=colour, lw=1.8,
                    label=f"{_setting_label(bset, n)} ({int(avg['n_rows'])} test scores)")
    shown = [100 * metrics[f"coverage_{p:g}"].to_numpy(float) for p in probs]
    lowest = min(float(np.nanmin(np.concatenate(shown))), min(probs) - 8)
    ax.set_xlim(min(probs) - 8, 100)
    ax.set_ylim(max(0.0, 10 * np.floor(lowest / 10) - 5), 101)
    ax.set_xticks(probs)
    ax.set_xlabel("nominal coverage of the central interval (%)")
    ax.set_ylabel("empirical coverage on held-out families (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_title("Calibration of the predictive intervals\n(lines: pooled over benchmarks; dots: per benchmark)",
                 fontsize=10.5)
    return fig


def plot_interval_width(result: EvaluationResult) -> Figure:
    """Sharpness: mean width of the predictive intervals (pp) per nominal level and setting
    (left), and of the 90% interval per benchmark next to the MAE (right)."""
    metrics = result.metrics
    probs = sorted(float(c.removeprefix("width_")) for c in metrics.columns if str(c).startswith("width_"))
    if not probs:
        raise ValueError("the evaluation metrics have no width_XX columns.")
    ref = 90.0 if 90.0 in probs else probs[-1]
    settings = _settings(metrics)
    benches = [b for b in _benchmark_columns(metrics) if b != "Average"]
    fig, (ax_l, ax_r) = plt.subplots(
        1, 2, figsize=(12, max(4.2, 0.32 * len(benches) + 1.8)), constrained_layout=True,
        gridspec_kw={"width_ratios": [1, 1.3]},
    )
    for i, (bset, n) in enumerate(settings):
        colour = PALETTE[i % len(PALETTE)]
        block = metrics.xs((bset, n), level=("benchmark_set", "n_train_per_family"))
        if "Average" in block.index:
            avg = block.loc["Average"]
            ax_l.plot(probs, [100 * avg[f"width_{p:g}"] for p in probs], "o-", color=colour,
                      label=_setting_label(bset, n))
        offset = (i - (len(settings) - 1) / 2) * 0.8 / max(len(settings), 1)
        rows = [b for b in benches if b in block.index]
        y = np.array([benches.index(b) for b in rows]) + offset
        ax_r.hlines(y, 100 * block.loc[rows, "mae_family_macro"], 100 * block.loc[rows, f"width_{ref:g}"],
                    color=colour, lw=0.8, alpha=0.6)
        ax_r.plot(100 * block.loc[rows, f"width_{ref:g}"], y, "o", color=colour, ms=5,
                  label=f"{_setting_label(bset, n)}: {ref:g}% width")
        ax_r.plot(100 * block.loc[rows, "mae_family_macro"], y, "|", color=colour, ms=9, mew=2,
                  label=f"{_setting_label(bset, n)}: MAE")
    ax_l.set_xticks(probs)
    ax_l.set_xlabel("nominal coverage of the central interval (%)")
    ax_l.set_ylabel("mean interval width (pp)")
    ax_l.set_title("Interval width vs level (pooled over benchmarks)", fontsize=10)
    ax_l.grid(alpha=0.3)
    ax_l.legend(fontsize=8, frameon=False)
    ax_r.set_yticks(range(len(benches)), benches)
    ax_r.set_ylim(len(benches) - 0.5, -0.5)
    ax_r.set_xlabel("percentage points")
    ax_r.set_ylabel("benchmark")
    ax_r.set_title(f"{ref:g}% interval width (dots) and MAE (bars) per benchmark", fontsize=10)
    ax_r.grid(alpha=0.3, axis="x")
    ax_r.set_xlim(left=0)
    fig.legend(*ax_r.get_legend_handles_labels(), fontsize=8, frameon=False, loc="outside lower center",
               ncols=min(4, 2 * len(settings)))
    fig.suptitle("Sharpness of the predictive intervals on held-out families", fontsize=11)
    return fig


# ------------------------------------------------------------------------- compute-optimal
def plot_compute_optimal(
    model: LatentSkillModel,
    budgets: Sequence[float] | np.ndarray | None = None,
    *,
    target: str = "average",
    family: str | None = None,
    n_grid: int = 60,
    random_seed: int = 0,
    split: xr.Dataset | None = None,
) -> Figure:
    """Compute-optimal allocation within the data range (see
    :func:`~scaling_bayes.compute_optimal.compute_optimal_split`).

    Left: iso-FLOP profiles — the target's posterior median along each budget's line of
    splits, with the optimum's median marked.  Middle: the optimal parameter count per
    budget (median, 50% and 90% bands) over the training models (grey dots).  Right:
    optimal training tokens per parameter.  Pass a precomputed ``split`` to skip the
    computation.
    """
    design, _ = _fitted(model, "plot_compute_optimal")
    if split is None:
        split = compute_optimal_split(
            model, budgets, family=family, target=target, n_grid=n_grid, random_seed=random_seed
        )
    ok = split["feasible"].values
    if not ok.any():
        raise ValueError("no budget's iso-FLOP line crosses the training data range.")
    split = split.isel(budget=np.flatnonzero(ok))
    budgets = split["budget"].values
    q = split[["params_b", "tokens_per_param"]].quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim=SAMPLE_DIMS)
    (p_lo, p_hi), (t_lo, t_hi) = data_box(model)
    edge = split["at_edge"].mean(SAMPLE_DIMS).values

    fig, axes = plt.subplots(1, 3, figsize=(15, 5.3), constrained_layout=True)
    ax_iso, ax_n, ax_r = axes
    cmap = plt.get_cmap("viridis")
    curve = split["value_grid"].median(SAMPLE_DIMS)
    scale = 100.0 if "fraction" in split.attrs.get("target_unit", "") else 1.0
    for b, budget in enumerate(budgets):
        colour = cmap(b / max(len(budgets) - 1, 1))
        gp = split["grid_params_b"].values[b]
        ax_iso.plot(gp, scale * curve.values[b], color=colour, lw=1.5)
        opt = float(q["params_b"].sel(quantile=0.5).values[b])
        j = int(np.argmin(np.abs(np.log(gp) - np.log(opt))))
        ax_iso.plot(gp[j], scale * curve.values[b, j], "o", color=colour, mec="black", ms=6, zorder=3)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=mcolors.LogNorm(budgets.min(), budgets.max()))
    fig.colorbar(sm, ax=ax_iso, pad=0.01).set_label("training compute C (FLOPs)")
    ax_iso.set_xscale("log")
    ax_iso.set_xlabel("parameters N (billions, log scale)")
    unit = split.attrs.get("target_unit", "")
    ax_iso.set_ylabel(unit.replace("(fraction)", "(%)") if scale == 100 else unit)
    ax_iso.set_title("Iso-FLOP profiles (posterior median; dot: median optimal size)", fontsize=10)
    ax_iso.grid(alpha=0.3)

    models = design.data.models
    c_models = FLOPS_PER_PARAM_TOKEN * models["params_b"] * models["tokens_t"]
    ax_n.scatter(c_models, models["params_b"], s=10, color=GREY, alpha=0.5, lw=0, label="training models")
    ax_r.scatter(c_models, 1000 * models["tokens_t"] / models["params_b"], s=10, color=GREY, alpha=0.5,
                 lw=0, label="training models")
    grid_p = split["grid_params_b"].values
    search = {"params_b": (grid_p[:, 0], grid_p[:, -1])}
    pt = budgets / FLOPS_PER_PARAM_TOKEN
    search["tokens_per_param"] = (1000 * pt / grid_p[:, 0] ** 2, 1000 * pt / grid_p[:, -1] ** 2)
    on_edge = edge > 0.5
    for ax, var, colour in ((ax_n, "params_b", PALETTE[0]), (ax_r, "tokens_per_param", PALETTE[0])):
        qv = q[var].transpose("quantile", "budget").values
        ax.fill_between(budgets, qv[0], qv[4], color=colour, alpha=0.18, lw=0, label="90% interval")
        ax.fill_between(budgets, qv[1], qv[3], color=colour, alpha=0.35, lw=0, label="50% interval")
        ax.plot(budgets, qv[2], "-", color=colour, lw=1.8)
        ax.plot(budgets[~on_edge], qv[2][~on_edge], "o", color=colour, ms=5, label="posterior median")
        ax.plot(budgets[on_edge], qv[2][on_edge], "o", mfc="white", mec=colour, mew=1.5, ms=6,
                label="median, optimum on the range edge")
        for k, bound in enumerate(search[var]):
            ax.plot(budgets, bound, ls="--", color="#555555", lw=1.0,
                    label="search range (data box)" if k == 0 else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training compute C = 6ND (FLOPs, log scale)")
        ax.grid(alpha=0.3, which="major")
    ax_n.set_ylabel("compute-optimal parameters N (billions, log scale)")
    ax_n.set_title("Optimal model size", fontsize=10)
    ax_r.axhline(20, color=PALETTE[2], ls=":", lw=1.5, label="20 tokens/param (Chinchilla)")
    ax_r.set_ylabel("compute-optimal tokens per parameter D/N (log scale)")
    ax_r.set_title("Optimal data-to-model ratio", fontsize=10)
    handles, labels = ax_n.get_legend_handles_labels()
    extra = ax_r.get_legend_handles_labels()
    fig.legend([*handles, extra[0][-1]], [*labels, extra[1][-1]], loc="outside lower center",
               ncols=7, frameon=False, fontsize=8.5)
    target_label = split.attrs.get("target", target)
    fig.suptitle(
        f"Compute-optimal split for target '{target_label}', family: {split.attrs.get('family')}. "
        f"Searched only inside the training data range,\n{p_lo:g}–{p_hi:g}B parameters × "
        f"{t_lo:g}–{t_hi:g}T tokens (dashed: the search range per budget); hollow markers: the "
        f"optimum sits on that edge in most draws, so the unrestricted optimum may lie outside the data.",
        fontsize=10,
    )
    return fig
