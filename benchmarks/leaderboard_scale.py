"""The skill factor model at the leaderboard's scale: fit, convergence, wall time, and forecasts
of masked cells.

Usage::

    python benchmarks/leaderboard_scale.py [--n-models 6812] [--mask 0.1] [--n-skills 2] \\
        [--draws 1000] [--tune 1000] [--out benchmarks/results/leaderboard_scale]

Loads the bundled leaderboard's models on leaderboard_v1 (:func:`scaling_bayes.load_leaderboard_scores`,
6,812 models without params or tokens; ``--n-models`` takes a seeded sample), masks a random
``--mask`` share of the observed cells (seed ``--seed``), fits :class:`scaling_bayes.SkillFactorModel`
to the rest (anchors from ``model.FACTOR_ANCHOR_PREFERENCE``: MMLU and HellaSwag at K=2) and
forecasts the masked cells from each model's other
scores.  Prints and writes ``OUT/summary.json`` (sizes, wall time, diagnostics, pooled and
per-benchmark MAE, 50/90% coverage and width of the masked cells, and a baseline: each
benchmark's mean over the fitted cells), ``OUT/masked_cells.csv`` (one row per masked cell) and
``OUT/benchmarks.csv`` (posterior mean and 90% interval of each benchmark's loadings, intercept
and Beta precision).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from scaling_bayes import SkillFactorModel, load_leaderboard_scores
from scaling_bayes.inference import available_cores

RESULTS = Path(__file__).parent / "results"


def masked_cells(scores: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """``scores`` with a random ``share`` of its observed cells set to NaN (models left with no
    score dropped), and the masked cells' true scores (index model, benchmark)."""
    hide = (np.random.default_rng(seed).uniform(size=scores.shape) < share) & scores.notna().to_numpy()
    masked = scores.mask(hide)
    keep = masked.notna().any(axis=1)
    truth = scores.where(hide).loc[keep].stack().dropna().rename("observed")
    return masked.loc[keep], truth


def score_masked(table: pd.DataFrame, truth: pd.Series, baseline: pd.Series) -> pd.DataFrame:
    """One row per masked cell: the truth, the forecast's mean and 50/90% intervals, and the
    baseline (the benchmark's mean over the fitted cells)."""
    rows = table.set_index(["model", "benchmark"]).reindex(truth.index)
    return rows.drop(columns="observed").assign(
        observed=truth, baseline=truth.index.get_level_values("benchmark").map(baseline).to_numpy()
    )


def metrics(cells: pd.DataFrame) -> dict[str, float]:
    """Pooled MAE (pp) of the forecast's mean and of the baseline, and 50/90% coverage (%) and width (pp)."""
    inside = lambda p: cells["observed"].between(cells[f"lower_{p}"], cells[f"upper_{p}"]).mean()  # noqa: E731
    return {
        "cells": len(cells),
        "mae_pp": float(100 * (cells["mean"] - cells["observed"]).abs().mean()),
        "mae_baseline_pp": float(100 * (cells["baseline"] - cells["observed"]).abs().mean()),
        "coverage_50": float(100 * inside(50)),
        "coverage_90": float(100 * inside(90)),
        "width_90_pp": float(100 * (cells["upper_90"] - cells["lower_90"]).mean()),
    }


def benchmark_parameters(post) -> pd.DataFrame:
    """Long table of each benchmark's ``loadings`` (one row per skill), ``intercept`` and ``phi``:
    posterior mean and 90% equal-tailed interval."""
    interval = az.eti(post[["loadings", "intercept", "phi"]], prob=0.9)
    frames = []
    for name in ("loadings", "intercept", "phi"):
        frame = pd.DataFrame({
            "mean": post[name].mean(("chain", "draw")).to_series(),
            "lower_90": interval[name].isel(ci_bound=0, drop=True).to_series(),
            "upper_90": interval[name].isel(ci_bound=1, drop=True).to_series(),
        }).reset_index()
        frames.append(frame.assign(variable=name))
    columns = ["variable", "benchmark", "skill", "mean", "lower_90", "upper_90"]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-models", type=int, default=None, help="a seeded sample of the models (default: all)")
    p.add_argument("--mask", type=float, default=0.1, help="share of the observed cells to mask, in (0, 1)")
    p.add_argument("--n-skills", type=int, default=2)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS / "leaderboard_scale")
    args = p.parse_args(argv)
    if not 0 < args.mask < 1:
        p.error(f"--mask {args.mask}: give a share in (0, 1) of the observed cells to forecast")

    scores = load_leaderboard_scores("leaderboard_v1")
    if args.n_models is not None:
        scores = scores.sample(n=min(args.n_models, len(scores)), random_state=args.seed)
    masked, truth = masked_cells(scores, args.mask, args.seed)
    print(f"{len(masked)} models, {int(masked.notna().sum().sum())} fitted cells, {len(truth)} masked", flush=True)
    model = SkillFactorModel(n_skills=args.n_skills)  # anchors: the factor model's preference
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(masked, random_seed=args.seed, chains=args.chains, draws=args.draws, tune=args.tune,
                  progressbar=False)
    wall = time.perf_counter() - start
    for w in caught:
        print(f"warning: {w.message}")
    tables = {p_: model.predict(prob=p_ / 100, random_seed=args.seed).table for p_ in (50, 90)}
    table = tables[90].rename(columns={"lower": "lower_90", "upper": "upper_90"}).assign(
        lower_50=tables[50]["lower"].to_numpy(), upper_50=tables[50]["upper"].to_numpy())
    cells = score_masked(table, truth, masked.mean())
    by_benchmark = {b: metrics(g) for b, g in cells.groupby(level="benchmark")}
    post = model.posterior
    summary = {
        "models": len(masked), "fitted_cells": int(masked.notna().sum().sum()), "n_skills": args.n_skills,
        "anchors": list(model.config.anchors), "chains": args.chains, "draws": args.draws, "tune": args.tune,
        "seed": args.seed, "wall_seconds": wall, "diagnostics": model.diagnostics.to_dict(),
        "warnings": [str(w.message) for w in caught],
        "masked": metrics(cells), "masked_by_benchmark": by_benchmark,
        "skill_corr": post["skill_corr"].mean(("chain", "draw")).values.tolist() if "skill_corr" in post else None,
        "machine": {"cores": available_cores(), "python": platform.python_version()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    cells.reset_index().to_csv(args.out / "masked_cells.csv", index=False)
    bench = benchmark_parameters(post)
    bench.to_csv(args.out / "benchmarks.csv", index=False)
    print(json.dumps({k: summary[k] for k in ("models", "fitted_cells", "wall_seconds", "diagnostics", "masked")}, indent=2))
    print(pd.DataFrame(by_benchmark).T.round(2).to_string())
    return summary


if __name__ == "__main__":
    main()
