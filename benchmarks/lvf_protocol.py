"""The stack of record and its components on data the Sloth protocol does not contain: the LVF tables.

Usage::

    python benchmarks/lvf_protocol.py [--datasets lvf_leaderboard_v1 lvf_leaderboard_v2] [--n-train 1]
        [--folds 5] [--seed 0] [--chains 2 --draws 300 --tune 500] [--components latent flops latent_k3]
        [--variants SPEC ...] [--out benchmarks/results/lvf_protocol]

The LVF paper's tables (arXiv 2512.06553; bundled, see ``scaling_bayes/datasets/PROVENANCE.md``)
hold 168 (v1) and 216 (v2) models, about half of them absent from Sloth's data, every instruct
or fine-tune line its own family.  Sloth's rule is applied to them with test families drawn at
random (:func:`scaling_bayes.evaluation.family_holdout_folds`: every family with more than
``--n-train`` sizes is tested once, keeping its ``--n-train`` smallest sizes; ``--folds`` folds,
shuffled with ``--seed``).  Nothing here was tuned on these tables: the components are the
package's defaults, sampled as in ``stacking_protocol.py`` (2 × 300 draws after 500 tuning
steps), and the stack learns each fold's weights per benchmark from the other folds.

Writes each component's run to ``OUT/components/<name>`` (fold caches; an interrupted run
resumes), the stack to ``OUT/stacked``, and prints and saves (``OUT/summary.csv``) per dataset
and forecaster: family-macro MAE of the posterior mean, pooled 90% coverage and width, CRPS and
the log score, with the 90% coverage's bootstrap interval over test families.

``--variants`` adds latent-skill variants in ``loo_compare.py``'s notation (e.g.
``"k3:MMLU-PRO,BBH,IFEval"``, another anchor set) as further components, named by their spec;
``--components`` may then be empty.  The stack is built when two or more components ran.
"""

from __future__ import annotations

import argparse
import re
import time
import warnings
from functools import partial
from pathlib import Path

import pandas as pd

from loo_compare import parse_variant
from scaling_bayes import LatentSkillModel, load_dataset
from scaling_bayes.evaluation import coverage_intervals, family_holdout_folds, run_protocol
from scaling_bayes.evaluation.stacking import stack_runs
from stacking_protocol import COMPONENTS, DEFAULT_COMPONENTS

RESULTS = Path(__file__).parent / "results"
DATASETS = ("lvf_leaderboard_v1", "lvf_leaderboard_v2")


def headline(result, name: str) -> pd.DataFrame:
    """One row per setting: the run's averaged metrics, in pp / %, and the 90% coverage's
    90% bootstrap interval over test families (each family's cells resampled together:
    in these tables every family is its own base family, so families share no effect)."""
    m = result.metrics.reset_index()
    avg = m[m["benchmark"] == "Average"].set_index(["benchmark_set", "n_train_per_family"])
    by_family = result.predictions.assign(test_group=result.predictions["family2"])
    interval = coverage_intervals(by_family, 0.9, 0.9).drop(index=("all", 0))
    return pd.DataFrame({
        "forecaster": name,
        "mae_family_macro_pp": 100 * avg["mae_family_macro"],
        "coverage_90": 100 * avg["coverage_90"],
        "coverage_90_lower": 100 * interval["lower"],
        "coverage_90_upper": 100 * interval["upper"],
        "n_families": interval["n_units"],
        "width_90_pp": 100 * avg["width_90"],
        "crps_family_macro_pp": 100 * avg["crps_family_macro"],
        "log_score_pooled": avg["log_score_pooled"],
        "n_rows": avg["n_rows"],
    }).reset_index()


def forecasters(components: list[str], variants: list[str]) -> dict[str, partial]:
    """``{name: factory}``: the named stack components, then each latent-skill variant spec
    (``loo_compare.parse_variant``), named by its spec."""
    factories = {name: COMPONENTS[name] for name in components}
    factories.update({spec: partial(LatentSkillModel, **parse_variant(spec)) for spec in variants})
    return factories


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--n-train", type=int, nargs="+", default=[1])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the folds' shuffle")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--components", nargs="*", choices=list(COMPONENTS), default=list(DEFAULT_COMPONENTS))
    p.add_argument("--variants", nargs="+", default=[], metavar="SPEC",
                   help="latent-skill variants as further components, e.g. 'k3:MMLU-PRO,BBH,IFEval'")
    p.add_argument("--out", type=Path, default=RESULTS / "lvf_protocol")
    args = p.parse_args()
    factories = forecasters(args.components, args.variants)
    if not factories:
        p.error("name at least one of --components or --variants")
    sample_kwargs = {"chains": args.chains, "draws": args.draws, "tune": args.tune, "progressbar": False}
    rows = []
    for dataset in args.datasets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            data = load_dataset(dataset).fittable()
        folds = [f for n in args.n_train
                 for f in family_holdout_folds(data, dataset, n_train=n, n_folds=args.folds, random_seed=args.seed)]
        print(f"== {dataset}: {len(data.models)} models, {len(folds)} folds, "
              f"{sum(len(f.test_models) for f in folds)} test models", flush=True)
        runs = {}
        for name, factory in factories.items():
            start = time.perf_counter()
            folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)  # a variant's spec, made a folder name
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                result = run_protocol(factory, out_dir=args.out / dataset / "components" / folder, data=data,
                                      folds=folds, n_workers=args.workers, sample_kwargs=sample_kwargs)
            print(f"   {name}: {time.perf_counter() - start:.0f} s", flush=True)
            runs[name] = result.out_dir
            rows.append(headline(result, name))
        if len(runs) >= 2:
            stacked = stack_runs(runs, args.out / dataset / "stacked", by="benchmark")
            rows.append(headline(stacked, "stack"))
    table = pd.concat(rows, ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "summary.csv", index=False)
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
