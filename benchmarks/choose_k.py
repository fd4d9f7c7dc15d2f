"""Choose the number of skills K by PSIS-LOO on the training data (never by test error).

Usage: python benchmarks/choose_k.py [--ks 1 2 3 4] [--benchmarks all12]
Prints az.compare and writes benchmarks/results/choose_k.csv.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import arviz as az

from scaling_bayes import LatentSkillModel, load_dataset

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--benchmarks", default="all12")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=1000)
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_dataset("sloth_curated", benchmarks=args.benchmarks).fittable()
    loos, diags = {}, {}
    for k in args.ks:
        model = LatentSkillModel(n_skills=k)
        model.fit(data, chains=args.chains, draws=args.draws, tune=args.tune, progressbar=False)
        loos[f"K={k}"] = model.loo()
        diags[f"K={k}"] = model.diagnostics
        print(f"K={k}: elpd_loo {loos[f'K={k}'].elpd:.1f}  {model.diagnostics}")
    table = az.compare(loos)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    table.assign(
        max_rhat=[diags[i].max_rhat for i in table.index],
        divergences=[diags[i].divergences for i in table.index],
    ).to_csv(RESULTS / f"choose_k_{args.benchmarks}.csv")


if __name__ == "__main__":
    main()
