"""Recompute every committed result's derived tables from its saved predictions (no refits).

Usage::

    python benchmarks/rescore_results.py [--results benchmarks/results]

Run it after a change to how a metric is computed (session 24: coverage reads a score at its
benchmark's resolution, :func:`scaling_bayes.evaluation.metrics.observed_at_resolution`).
It rewrites, from the files beside them:

- every run directory (``predictions.csv`` with ``metrics.csv``): the metrics, the comparison
  with Sloth, the win rates, the calibrated and per-case metrics and ``summary.md``
  (:meth:`~scaling_bayes.evaluation.EvaluationResult.from_dir` with ``recompute=True``);
  the predictions and fold diagnostics are rewritten unchanged;
- ``coverage_intervals_<level>.csv`` inside a run directory;
- each ``extrapolation_check*.csv``: its accuracy and coverage columns, per variant, from the
  ``*_predictions.csv`` beside it (the fit diagnostics columns are kept, and so is the row of a
  variant whose predictions were not saved);
- ``lvf_protocol/summary.csv``;
- each ``compare_*.md``: the side-by-side table of the runs its header names.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from compare_runs import setting_table, to_markdown
from extrapolation_check import summarise
from lvf_protocol import headline
from scaling_bayes.evaluation import EvaluationResult, coverage_intervals

RESULTS = Path(__file__).parent / "results"


def rescore_run(run: Path) -> None:
    """Recompute a run directory's derived tables and its coverage-interval files."""
    result = EvaluationResult.from_dir(run, recompute=True)
    result.save(run)
    for path in run.glob("coverage_intervals_*.csv"):
        level = int(path.stem.rsplit("_", 1)[1]) / 100
        coverage_intervals(result.predictions, interval=level, prob=0.9).to_csv(path)


def rescore_extrapolation(table_path: Path) -> None:
    """Recompute an extrapolation-check table's summary columns from its predictions (a
    variant whose predictions were not kept, as in the two ``_nu`` tables, keeps its row)."""
    predictions = pd.read_csv(table_path.with_name(table_path.stem + "_predictions.csv"))
    table = pd.read_csv(table_path).set_index("variant")
    scores = pd.DataFrame({variant: summarise(rows) for variant, rows in predictions.groupby("variant", sort=False)}).T
    for column in scores.columns:
        table.loc[scores.index, column] = scores[column].astype(table[column].dtype)
    table.reset_index().to_csv(table_path, index=False)


def rescore_lvf(root: Path) -> None:
    """Recompute ``lvf_protocol/summary.csv`` in its saved row order."""
    old = pd.read_csv(root / "summary.csv")
    rows = []
    for dataset in old["benchmark_set"].unique():
        for name in old.loc[old["benchmark_set"] == dataset, "forecaster"].unique():
            run = root / dataset / ("stacked" if name == "stack" else f"components/{name}")
            rows.append(headline(EvaluationResult.from_dir(run), name))
    pd.concat(rows, ignore_index=True).to_csv(root / "summary.csv", index=False)


def _markdown_column(path: Path, column: str) -> list[str]:
    """One column of a ``compare_*.md`` table, as written."""
    lines = [[cell.strip() for cell in line.strip("|").split("|")] for line in path.read_text().splitlines()]
    return [row[lines[0].index(column)] for row in lines[2:]]


def rescore_comparison(path: Path, runs: list[Path],
                       table_of: Callable[[Path], pd.DataFrame] = setting_table) -> None:
    """Rewrite a ``compare_*.md`` table from the runs its header names.

    A header names a run by its directory's name; where several run directories share it
    (``latent`` is a component of several stacks), the one whose MAE column matches the table
    (MAE does not depend on how coverage is read) is taken.  ``table_of`` gives a run's
    per-setting table (:func:`compare_runs.setting_table`; ``main`` caches it across tables).
    """
    header = path.read_text().splitlines()[0]
    tables = {}
    for name in dict.fromkeys(re.findall(r"\| ([^|:]+): mae ", header)):
        written = sorted(v for v in _markdown_column(path, f"{name}: mae") if v != "–")
        matches = [table for run in runs if run.name == name
                   for table in [table_of(run)]
                   if sorted(f"{v:.2f}" for v in table["mae"]) == written]
        if len(matches) != 1:
            raise SystemExit(f"error: {path.name}: {len(matches)} run directories named {name!r} match its MAE column")
        tables[name] = matches[0]
    path.write_text(to_markdown(pd.concat(tables, axis=1).round(2)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args()
    runs = sorted(path.parent for path in args.results.rglob("predictions.csv")
                  if (path.parent / "metrics.csv").is_file())
    for run in runs:
        rescore_run(run)
        print(f"rescored {run}", flush=True)
    for table in sorted(args.results.glob("extrapolation_check*.csv")):
        if not table.stem.endswith("_predictions") and table.with_name(table.stem + "_predictions.csv").is_file():
            rescore_extrapolation(table)
            print(f"rescored {table}")
    if (args.results / "lvf_protocol" / "summary.csv").is_file():
        rescore_lvf(args.results / "lvf_protocol")
        print("rescored lvf_protocol/summary.csv")
    table_of = functools.cache(setting_table)  # a run named in several tables is scored once
    for path in sorted(args.results.glob("compare_*.md")):
        rescore_comparison(path, runs, table_of)
        print(f"rescored {path}")


if __name__ == "__main__":
    main()
