"""Plots: figures built from a fitted model.  Each function returns a matplotlib Figure.

Step 7 of the data flow.  Plotting lives here, never in notebook cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from scaling_bayes.skill_model import LatentSkillModel  # noqa: E402

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")  # Okabe-Ito


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

    nrows = int(np.ceil(len(benchmarks) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), squeeze=False, constrained_layout=True
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
