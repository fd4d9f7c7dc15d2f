"""Where a Sloth-protocol run's forecasts fail: error and coverage by how far a test model lies
outside its family's training sizes, and on cells where the family's training models sit at
the benchmark's guessing floor.

Usage::

    python benchmarks/error_by_family_distance.py benchmarks/results/sloth_stacked_latent_flops_latent_k3_by_benchmark \
        [--floor-margin 0.03]

For every test model the distance is
:func:`scaling_bayes.evaluation.fold_size_ratio` against its fold's training models (1 within
the sizes its base family shows; no value for a family never seen).  A cell is *floor-bound*
when every training model of the test model's variant family scores within ``--floor-margin``
of the benchmark's guessing floor there: the data then bound the family's skill from above
only.  Both tables are recomputed from the run's ``predictions.csv`` and the protocol's folds,
printed and written to ``RUN/error_by_family_distance.csv`` and ``RUN/error_at_floor.csv``
(pp and %, pooled over cells), beside Sloth's error at its best K on the same cells.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import pandas as pd

from scaling_bayes import default_registry, load_dataset
from scaling_bayes.evaluation import fold_size_ratio, sloth_folds
from scaling_bayes.evaluation._aggregate import SETTING_KEYS
from scaling_bayes.evaluation.metrics import (
    AVERAGE,
    DISTANCE_LABELS,
    compare_with_sloth,
    family_distance,
    observed_at_resolution,
)
from scaling_bayes.evaluation.reference import load_reference_errors, sloth_method

def annotate(predictions: pd.DataFrame, floor_margin: float = 0.03) -> pd.DataFrame:
    """The observed cells of ``predictions`` with ``family_size_ratio``, ``distance`` (its bin),
    ``floor_bound``, ``error`` (|mean − observed|, pp), ``signed`` (pp) and ``covered_90``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # models without tokens: not in any fold
        data = load_dataset("sloth_curated")
    registry = default_registry()
    frames = []
    keys = [*SETTING_KEYS, "test_group"]
    for (benchmark_set, n_train), rows in predictions.groupby(list(SETTING_KEYS), sort=False):
        folds = {"+".join(f.test_group): f for f in sloth_folds(str(benchmark_set), int(n_train))}
        for group, cells in rows.groupby("test_group", sort=False):
            fold = folds.get(group)
            if fold is None:
                raise SystemExit(f"error: test group {group!r} of {benchmark_set} n={n_train} is not a fold of "
                                 "Sloth's protocol; this script reads Sloth-protocol runs only")
            train = data.models.loc[list(fold.train_models)]
            ratio = fold_size_ratio(fold, data)
            scores = data.scores.loc[list(fold.train_models)]
            cells = cells.assign(family_size_ratio=cells["model"].map(ratio))
            floor_bound = []
            for model, benchmark in zip(cells["model"], cells["benchmark"]):
                own = train.index[train["family"] == data.models.at[model, "family"]]
                seen = scores.loc[own, benchmark].dropna()
                floor_bound.append(bool(len(seen)) and seen.max() - registry.get(benchmark).floor < floor_margin)
            frames.append(cells.assign(floor_bound=floor_bound))
    out = pd.concat(frames, ignore_index=True)
    out = out[out["observed"].notna()].copy()
    out["distance"] = pd.Categorical(family_distance(out["family_size_ratio"]), categories=DISTANCE_LABELS)
    out["signed"] = 100 * (out["mean"] - out["observed"])
    out["error"] = out["signed"].abs()
    out["covered_90"] = observed_at_resolution(out).between(out["lower_90"], out["upper_90"])
    out["width_90"] = 100 * (out["upper_90"] - out["lower_90"])
    # Sloth at each setting's best K (an oracle: chosen on the test error) on the same cells
    best_k = compare_with_sloth(predictions).xs(AVERAGE, level="benchmark")["sloth_best_k"]
    reference = load_reference_errors()
    reference = reference[reference["method"] == reference.apply(
        lambda r: sloth_method(int(best_k.get((r.benchmark_set, r.n_train_per_family), 0))), axis=1)]
    cell = [*keys, "model", "benchmark"]
    out = out.merge(reference[cell + ["abs_error"]].rename(columns={"abs_error": "sloth_best"}), on=cell, how="left")
    out["sloth_best"] *= 100
    return out.sort_values(keys, kind="stable")


def summarise(cells: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per level of ``by``: cells, test models, MAE (ours and Sloth's best K on the same cells) and
    bias (pp), 90% coverage (%) and width (pp)."""
    table = cells.groupby(by, observed=True).agg(
        cells=("error", "size"), models=("model", "nunique"), mae=("error", "mean"),
        sloth_best_mae=("sloth_best", "mean"), bias=("signed", "mean"),
        coverage_90=("covered_90", "mean"), width_90=("width_90", "mean"),
    )
    table["coverage_90"] *= 100
    return table


def main(argv: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a directory written by `scaling-bayes evaluate --protocol sloth`")
    parser.add_argument("--floor-margin", type=float, default=0.03,
                        help="a family's training scores within this of the guessing floor make a cell floor-bound")
    args = parser.parse_args(argv)
    path = args.run / "predictions.csv"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found; pass a directory written by `scaling-bayes evaluate`")
    cells = annotate(pd.read_csv(path), args.floor_margin)
    by_distance = summarise(cells, "distance")
    at_floor = summarise(cells.assign(setting=cells["benchmark_set"] + " n=" + cells["n_train_per_family"].astype(str)),
                         ["setting", "floor_bound"])
    by_distance.to_csv(args.run / "error_by_family_distance.csv")
    at_floor.to_csv(args.run / "error_at_floor.csv")
    print("by distance outside the family's training sizes (pooled over cells):")
    print(by_distance.round(2).to_string())
    print("\nfloor-bound cells (the family's training models at the guessing floor) by setting:")
    print(at_floor.round(2).to_string())
    print(f"wrote {args.run / 'error_by_family_distance.csv'} and {args.run / 'error_at_floor.csv'}")
    return by_distance, at_floor


if __name__ == "__main__":
    main()
