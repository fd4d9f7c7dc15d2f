"""Judge model variants on extrapolation within the training data (never on a protocol's test error).

Usage::

    python benchmarks/extrapolation_check.py --variants k4 k4-slopes k4-models [--min-sizes 3] [--benchmarks leaderboard_v2]

Every variant family of the bundled data with at least ``--min-sizes`` distinct sizes loses
its largest size (:func:`scaling_bayes.evaluation.holdout.largest_model_fold`); each variant
(``k<K>`` plus suffixes, ``loo_compare.SUFFIXES``) is fitted once on the rest and
forecasts the held-out models.  Prints and writes, per variant, pooled MAE of the posterior
mean and of the median, 50/90% coverage, 90% width, CRPS and the fit's diagnostics, to
``benchmarks/results/extrapolation_check.csv`` (and the predictions beside it).
"""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path

import pandas as pd

from loo_compare import parse_variant, variant_parser
from scaling_bayes import LatentSkillModel, load_dataset
from scaling_bayes.evaluation import evaluate_fold, largest_model_fold
from scaling_bayes.evaluation.metrics import observed_at_resolution

RESULTS = Path(__file__).parent / "results"


def summarise(rows: pd.DataFrame) -> dict[str, float]:
    """Pooled accuracy and calibration of one variant's prediction rows, in pp / %."""
    rows = rows[rows["observed"].notna()]
    resolved = observed_at_resolution(rows)
    inside = lambda p: resolved.between(rows[f"lower_{p}"], rows[f"upper_{p}"]).mean()  # noqa: E731
    return {
        "mae_mean_pp": float(100 * (rows["mean"] - rows["observed"]).abs().mean()),
        "mae_median_pp": float(100 * (rows["median"] - rows["observed"]).abs().mean()),
        "coverage_50": float(100 * inside(50)),
        "coverage_90": float(100 * inside(90)),
        "width_90_pp": float(100 * (rows["upper_90"] - rows["lower_90"]).mean()),
        "crps_pp": float(100 * rows["crps"].mean()),
        "n_cells": len(rows),
    }


def main() -> None:
    p = variant_parser(__doc__)
    p.add_argument("--min-sizes", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS / "extrapolation_check.csv")
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_dataset("sloth_curated", benchmarks=args.benchmarks).fittable()
    fold = largest_model_fold(data, args.benchmarks, min_sizes=args.min_sizes)
    print(f"{len(fold.test_models)} held-out models from {len(fold.test_group)} families; "
          f"{len(fold.train_models)} train", flush=True)
    table, predictions = [], []
    for spec in args.variants:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            rows, diag = evaluate_fold(
                partial(LatentSkillModel, **parse_variant(spec)), fold, data,
                sample_kwargs={"chains": args.chains, "draws": args.draws, "tune": args.tune,
                               "progressbar": False},
                random_seed=args.seed,
            )
        summary = {"variant": spec, **summarise(rows), "max_rhat": diag["max_rhat"],
                   "min_ess_bulk": diag["min_ess_bulk"], "divergences": diag["divergences"],
                   "fit_seconds": diag["fit_seconds"]}
        print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in summary.items()),
              flush=True)
        table.append(summary)
        predictions.append(rows.assign(variant=spec))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(table).to_csv(args.out, index=False)
    pd.concat(predictions).to_csv(args.out.with_name(args.out.stem + "_predictions.csv"), index=False)
    print(pd.DataFrame(table).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
