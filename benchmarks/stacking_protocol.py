"""Sloth's protocol for a stack of forecasters: latent-skill models (K=4, K=3) and the FLOPs baseline.

Usage::

    python benchmarks/stacking_protocol.py [--settings leaderboard_v2:1 all12:1 ...]
        [--chains 2 --draws 300 --tune 500] [--out benchmarks/results/sloth_stacked]
        [--by benchmark|none] [--stacked-out DIR] [--components latent flops latent_k3]

For each setting in turn, every component is run on the protocol's folds
(:func:`scaling_bayes.evaluation.run_protocol`, one Dask worker; the folds' predictive draws
are cached beside their predictions under ``OUT/components/<name>/folds``), and then the
components are stacked across folds (:func:`scaling_bayes.evaluation.stacking.cross_fold_stacking`):
each test group's mixture weights are learned only from the other test groups of its setting.
Writes the stacked run (``predictions.csv``, ``metrics.csv``, ``summary.md``, …, and
``stacking_weights.csv``) to the stacked-out directory and each component's run to ``OUT/components/<name>``.
Folds are cached, so an interrupted run resumes; settings are run in the order given.

By default (``--by benchmark``) each test group's weights are learned per benchmark,
partially pooled across benchmarks (:func:`scaling_bayes.stacking.hierarchical_stacking_weights`),
and the stacked run goes to ``--stacked-out`` (default: the name below plus ``_by_benchmark``);
``--by none`` learns one weight vector per test group and drops the suffix.  The stack is
computed once, after every setting's components have run.

``--components`` names the forecasters stacked (default: the stack of record since session 15,
``latent flops latent_k3``: the latent-skill model at K=4, the FLOPs law, the latent model at
K=3).  The stacked run goes to ``OUT_<names>`` (plus ``_by_benchmark``), e.g.
``sloth_stacked_latent_flops_latent_k3_by_benchmark``; the first stack, ``latent flops``, keeps
the plain ``OUT`` name (``sloth_stacked_by_benchmark``).  Components are cached by name, so each
component's folds are fitted once whichever stacks use them.
"""

from __future__ import annotations

import argparse
import warnings
from functools import partial
from pathlib import Path

from scaling_bayes import LatentSkillModel
from scaling_bayes.baselines import FlopsLawBaseline
from scaling_bayes.evaluation import SETTINGS, run_protocol
from scaling_bayes.evaluation.stacking import stack_runs

RESULTS = Path(__file__).parent / "results"
#: The forecasters that can be stacked, by name: the default latent-skill model (K=4), the
#: Bayesian FLOPs law, and the latent-skill model at K=3 (the other K whose whole-data fit converges).
COMPONENTS = {"latent": partial(LatentSkillModel), "flops": partial(FlopsLawBaseline),
              "latent_k3": partial(LatentSkillModel, 3)}
#: The stack of record's components (session 15, adopted by its cross-fold log score).
DEFAULT_COMPONENTS = ("latent", "flops", "latent_k3")
#: The first stack (sessions 12-14), whose runs keep the plain OUT name.
FIRST_STACK = ("latent", "flops")
#: Settings in the order they are run: those where the latent-skill model trails Sloth first.
ORDER = [("leaderboard_v2", 1), ("all12", 1), ("leaderboard_v2", 2), ("all12", 2),
         ("leaderboard_v1", 2), ("leaderboard_v1", 1)]


def parse_setting(text: str) -> tuple[str, int]:
    name, _, n = text.partition(":")
    setting = (name, int(n or 1))
    if setting not in SETTINGS:
        raise argparse.ArgumentTypeError(f"{text!r}: use one of {[f'{s}:{k}' for s, k in SETTINGS]}")
    return setting


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", nargs="+", type=parse_setting, default=ORDER)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS / "sloth_stacked")
    p.add_argument("--by", choices=["benchmark", "none"], default="benchmark",
                   help="weights per benchmark, partially pooled (default), or 'none': one weight "
                   "vector per test group")
    p.add_argument("--stacked-out", type=Path, default=None,
                   help="where the stacked run goes (default: OUT_by_benchmark, or OUT with --by none; "
                   "OUT_<components>... with other components)")
    p.add_argument("--components", nargs="+", choices=list(COMPONENTS), default=list(DEFAULT_COMPONENTS),
                   help="forecasters to stack (default: %(default)s)")
    args = p.parse_args()
    if len(set(args.components)) < 2 or len(set(args.components)) != len(args.components):
        p.error(f"--components {' '.join(args.components)}: name at least two different forecasters, each once")
    by = None if args.by == "none" else args.by
    stacked_name = args.out.name if tuple(args.components) == FIRST_STACK else "_".join([args.out.name, *args.components])
    stacked_out = args.stacked_out or args.out.with_name(stacked_name if by is None else f"{stacked_name}_by_{by}")
    components = {c: COMPONENTS[c] for c in args.components}
    sample_kwargs = {"chains": args.chains, "draws": args.draws, "tune": args.tune, "progressbar": False}
    for setting in args.settings:
        for name, factory in components.items():
            print(f"== {setting[0]} n={setting[1]}: {name}", flush=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                run_protocol(factory, settings=[setting], out_dir=args.out / "components" / name,
                             n_workers=args.workers, sample_kwargs=sample_kwargs, save=False)
    runs = {}
    for name, factory in components.items():  # every setting asked for, from the fold caches
        runs[name] = run_protocol(factory, settings=list(args.settings), out_dir=args.out / "components" / name,
                                  sample_kwargs=sample_kwargs, progress=False).out_dir
    print(f"== stacking ({'per benchmark' if by else 'one weight vector per test group'}) -> {stacked_out}", flush=True)
    result = stack_runs(runs, stacked_out, by=by)
    print(result.summary_markdown().split("## Calibration")[0], flush=True)
    scored = result.predictions.dropna(subset=["observed"])
    print(f"cross-fold log score (sum of lpd over {len(scored)} test cells): {scored['lpd'].sum():.1f}", flush=True)


if __name__ == "__main__":
    main()
