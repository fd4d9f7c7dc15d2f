"""Run Sloth's leave-family-out protocol (all six settings, or a subset) with Dask.

Usage: python benchmarks/sloth_protocol.py [--setting leaderboard_v2] [--n-train 1]
       [-k 4 --chains 2 --draws 300 --tune 500] [--scheduler tcp://...] [--out benchmarks/results/sloth_run]
Writes predictions.csv, metrics.csv, comparison.csv, diagnostics.csv and summary.md.
Folds are cached, so an interrupted run resumes.
"""

from __future__ import annotations

import sys

from scaling_bayes.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv and "-o" not in argv:
        argv += ["--out", "benchmarks/results/sloth_run"]  # a fresh name: the committed runs keep theirs
    sys.exit(main(["evaluate", "--protocol", "sloth", *argv]))
