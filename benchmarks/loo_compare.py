"""Compare model variants by PSIS-LOO on the training data (never by test error).

Usage::

    python benchmarks/loo_compare.py --variants k4 k4-slopes [--benchmarks all12]

A variant is ``k<K>`` followed by any of the suffixes in ``SUFFIXES`` (in any order):
``-slopes`` (family-specific slopes on ln params), ``-models`` (per-model skill
deviations), ``-bench`` (variant × benchmark deviations), ``-floor`` (learned lower
asymptotes), ``-robust`` (multivariate-t family effects), ``-sq`` / ``-nosq`` (the translog
with / without the squared logs; the default since session 8 is with), ``-ins`` (with the
squares and an instruct × ln params term, ``covariates="translog_sq_instruct"``), ``-iprec``
(instruct models' own Beta precision, ``instruct_precision=True``), then optionally
``@prior=value,...`` (prior overrides); an anchor set, one benchmark per skill, follows a
``:`` (``k4:MMLU-PRO,MATH Lvl 5,IFEval,HellaSwag``; quote the spec for the shell).  Every variant is fitted to the whole bundled dataset with the same seed and
sampler settings; prints ``az.compare`` and writes ``--out`` (default
``benchmarks/results/loo_compare_<benchmarks>.csv``) with each fit's diagnostics and time.

Choosing K (``benchmarks/results/choose_k_all12.csv``)::

    python benchmarks/loo_compare.py --variants k2 k3 k4 --out benchmarks/results/choose_k_all12.csv
"""

from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

import arviz as az

from scaling_bayes import LatentSkillModel, load_dataset
from scaling_bayes.cli import parse_priors

RESULTS = Path(__file__).parent / "results"


# Each variant suffix and the LatentSkillModel keywords it sets.
SUFFIXES: dict[str, dict] = {
    "slopes": {"family_slopes": True},
    "models": {"model_effects": True},
    "bench": {"benchmark_effects": True},
    "floor": {"learned_floors": True},
    "robust": {"robust_families": True},
    "sq": {"covariates": "translog_sq"},
    "nosq": {"covariates": "translog"},
    "ins": {"covariates": "translog_sq_instruct"},
    "iprec": {"instruct_precision": True},
}


def parse_variant(spec: str) -> dict:
    """``"k4-slopes-floor"`` → ``{"n_skills": 4, "family_slopes": True, "learned_floors": True}``.

    Suffixes (any order, each at most once) are the keys of ``SUFFIXES``; keywords not
    set keep the library's defaults.  Prior overrides follow an ``@``:
    ``"k4@log_nu_sd=1.5,family_sd=1.0"`` adds ``priors=Priors(log_nu_sd=1.5, family_sd=1.0)``.
    Anchors follow a ``:`` before any ``@``: ``"k4:MMLU,GSM8K,IFEval,Winogrande"`` adds
    ``anchors=("MMLU", "GSM8K", "IFEval", "Winogrande")`` (benchmark names may hold ``-``)."""
    structure, _, overrides = spec.partition("@")
    structure, _, anchors = structure.partition(":")
    head, *suffixes = structure.split("-")
    m = re.fullmatch(r"k(\d+)", head)
    unknown = [s for s in suffixes if s not in SUFFIXES]
    if m is None or unknown or len(set(suffixes)) < len(suffixes):
        what = f"unknown suffix {unknown[0]!r}" if unknown else "expected k<K> then distinct suffixes"
        raise SystemExit(
            f"error: variant {spec!r}: {what}; use k<K>[-{'][-'.join(SUFFIXES)}][:anchor,...][@prior=value,...], "
            "e.g. k4-slopes, k4-floor or k4@log_nu_sd=1.5"
        )
    kwargs: dict = {"n_skills": int(m.group(1))}
    for suffix in suffixes:
        clash = set(SUFFIXES[suffix]) & set(kwargs)
        if clash:
            raise SystemExit(f"error: variant {spec!r}: {suffix!r} sets {sorted(clash)} again")
        kwargs.update(SUFFIXES[suffix])
    if anchors:
        kwargs["anchors"] = tuple(a.strip() for a in anchors.split(","))
    if overrides:
        kwargs["priors"] = parse_priors(overrides.split(","))
    return kwargs


def variant_parser(description: str | None) -> argparse.ArgumentParser:
    """Arguments shared by the variant-comparison scripts: variants, data, sampler, seed."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=["k4", "k4-slopes"])
    p.add_argument("--benchmarks", default="all12")
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    return p


def main() -> None:
    p = variant_parser(__doc__)
    p.add_argument("--out", type=Path, default=None, help="CSV to write")
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_dataset("sloth_curated", benchmarks=args.benchmarks).fittable()
    loos, diags = {}, {}
    for spec in args.variants:
        model = LatentSkillModel(**parse_variant(spec))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(data, chains=args.chains, draws=args.draws, tune=args.tune,
                      random_seed=args.seed, progressbar=False)
        loos[spec] = model.loo()
        diags[spec] = model.diagnostics
        post = model.posterior  # a property that converts the tree each time: read it once
        scalars = [n for n, v in post.data_vars.items() if set(v.dims) == {"chain", "draw"}]
        summary = "  ".join(f"{n} {float(post[n].mean()):.2f} ± {float(post[n].std()):.2f}" for n in scalars)
        print(f"{spec}: elpd_loo {loos[spec].elpd:.1f}  {model.diagnostics}  "
              f"{model.diagnostics.fit_seconds:.0f} s  {summary}", flush=True)
    table = az.compare(loos)
    print(table)
    out = args.out or RESULTS / f"loo_compare_{args.benchmarks}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.assign(
        max_rhat=[diags[i].max_rhat for i in table.index],
        min_ess_bulk=[diags[i].min_ess_bulk for i in table.index],
        divergences=[diags[i].divergences for i in table.index],
        fit_seconds=[diags[i].fit_seconds for i in table.index],
    ).to_csv(out)


if __name__ == "__main__":
    main()
