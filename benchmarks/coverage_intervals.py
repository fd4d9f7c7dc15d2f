"""Pooled coverage of a protocol run's predictive intervals per setting, with a group-bootstrap
interval (whole test groups resampled within each setting, and over all settings clusters of
groups that share a variant family; see :func:`scaling_bayes.evaluation.metrics.coverage_intervals`).

Usage::

    python benchmarks/coverage_intervals.py benchmarks/results/sloth_stacked_latent_flops_latent_k3_by_benchmark \
        [--interval 0.9] [--prob 0.9]

Prints the table and writes ``RUN/coverage_intervals_<interval>.csv`` (fractions), recomputed
from the run's ``predictions.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from scaling_bayes.evaluation import coverage_intervals


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a directory written by `scaling-bayes evaluate`")
    parser.add_argument("--interval", type=float, default=0.9, help="the predictive intervals' probability")
    parser.add_argument("--prob", type=float, default=0.9, help="the bootstrap interval's probability")
    args = parser.parse_args(argv)
    path = args.run / "predictions.csv"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found; pass a directory written by `scaling-bayes evaluate`")
    table = coverage_intervals(pd.read_csv(path), interval=args.interval, prob=args.prob)
    out = args.run / f"coverage_intervals_{round(100 * args.interval)}.csv"
    table.to_csv(out)
    print(table.round(3).to_string())
    print(f"wrote {out}")
    return table


if __name__ == "__main__":
    main()
