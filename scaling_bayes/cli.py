"""The ``scaling-bayes`` command line (step 8): a thin layer over the package.

Sub-commands: ``fit``, ``predict``, ``demo``, ``evaluate``, ``figures``, ``stack``.  Run
``scaling-bayes <command> --help`` for the options of each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

#: The protocol's benchmark sets (``--setting``), named here so the CLI parses without loading the package.
PROTOCOL_BENCHMARK_SETS = ("leaderboard_v1", "leaderboard_v2", "all12")


def _add_structure_args(p: argparse.ArgumentParser) -> None:
    """The latent-skill model's optional structure, defaults from ``ModelConfig``."""
    from scaling_bayes.model import ModelConfig

    from scaling_bayes.design import FORMS

    p.add_argument("--covariates", choices=sorted(FORMS), default=ModelConfig().covariates,
                   help="covariate form: translog (ln N, ln D, ln N·ln D), translog_sq (with the "
                   "squared logs), translog_sq_instruct (and instruct × ln N) or flops (ln 6ND) "
                   "(default: %(default)s)")
    p.add_argument("--family-slopes", action="store_true",
                   help="give each base family its own partially pooled slope on ln params")
    p.add_argument("--model-effects", action=argparse.BooleanOptionalAction,
                   default=ModelConfig().model_effects,
                   help="per-model skill deviations from the family line (default: %(default)s)")
    p.add_argument("--benchmark-effects", action=argparse.BooleanOptionalAction,
                   default=ModelConfig().benchmark_effects,
                   help="per-variant deviations on each benchmark beyond the skills (default: %(default)s)")
    p.add_argument("--prior", action="append", default=[], metavar="NAME=VALUE",
                   help="override one prior hyperparameter of scaling_bayes.model.Priors, "
                   "e.g. --prior log_nu_sd=1.5 (repeatable)")
    p.add_argument("--learned-floors", action=argparse.BooleanOptionalAction,
                   default=ModelConfig().learned_floors,
                   help="learn each benchmark's lower asymptote, at or above its guessing floor "
                   "(default: %(default)s)")
    p.add_argument("--robust-families", action=argparse.BooleanOptionalAction,
                   default=ModelConfig().robust_families,
                   help="multivariate-t (heavy-tailed) base-family effects (default: %(default)s)")
    p.add_argument("--instruct-precision", action=argparse.BooleanOptionalAction,
                   default=ModelConfig().instruct_precision,
                   help="give instruct models' scores their own Beta precision (default: %(default)s)")


def parse_priors(items: Sequence[str]):
    """``["log_nu_sd=1.5", ...]`` → a :class:`~scaling_bayes.model.Priors` with those fields
    overridden; a clear error names an unknown field or a value that is not a number."""
    import dataclasses

    from scaling_bayes.model import Priors

    fields = {f.name for f in dataclasses.fields(Priors)}
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"error: --prior {item!r}: use NAME=VALUE with NAME one of {sorted(fields)}")
        try:
            values[name] = float(value)
        except ValueError:
            raise SystemExit(f"error: --prior {item!r}: {value!r} is not a number") from None
    return Priors(**values)


def _structure_kwargs(args: argparse.Namespace) -> dict:
    """The ``LatentSkillModel`` keywords set by :func:`_add_structure_args` (in this order: a
    protocol run's fold cache is keyed on the factory's repr)."""
    return {
        "covariates": args.covariates,
        "family_slopes": args.family_slopes,
        "model_effects": args.model_effects,
        "benchmark_effects": args.benchmark_effects,
        "learned_floors": args.learned_floors,
        "robust_families": args.robust_families,
        "instruct_precision": args.instruct_precision,
        "priors": parse_priors(args.prior),
    }


def _add_sampler_args(p: argparse.ArgumentParser, *, draws: int = 1500, tune: int = 1000) -> None:
    g = p.add_argument_group("sampler")
    g.add_argument("--chains", type=int, default=4, help="NUTS chains (default 4)")
    g.add_argument("--draws", type=int, default=draws, help=f"draws per chain (default {draws})")
    g.add_argument("--tune", type=int, default=tune, help=f"tuning steps per chain (default {tune})")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument(
        "--sampler", default="pymc", choices=["pymc", "nutpie", "numpyro", "blackjax"],
        help="NUTS implementation (default pymc: fastest here for this model size)",
    )
    g.add_argument("--target-accept", type=float, default=0.9, help="NUTS target acceptance")
    g.add_argument("--init", default="mode", choices=["mode", "modes", "jitter"],
                   help="chain start: every chain from the best of several MAP optimisations "
                   "(default), each chain from its own (modes: R-hat then sees separate modes), or "
                   "PyMC's jittered start (skips the optimisation; may land chains in poor local modes)")
    g.add_argument("--stack-chains", action="store_true",
                   help="weight the chains by stacking on their PSIS-LOO (for --init modes: chains "
                   "in separate modes; the diagnostics stay the sampled chains')")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _sampler_overrides(args: argparse.Namespace) -> dict:
    """``--sampler``, ``--target-accept``, ``--init`` and ``--stack-chains`` where they differ from the library's
    defaults (so a protocol run's fold cache, keyed on its sampler settings, is unchanged by
    options left at their defaults)."""
    from scaling_bayes.inference import SamplerConfig

    default = SamplerConfig()
    given = {"sampler": args.sampler, "target_accept": args.target_accept, "init": args.init,
             "stack_chains": args.stack_chains}
    return {name: value for name, value in given.items() if value != getattr(default, name)}


def _registry(entries: Sequence[str] | None):
    """The default benchmark registry plus each ``--register NAME=FLOOR[:N_ITEMS]``."""
    from scaling_bayes.benchmarks import default_registry

    registry = default_registry()
    for entry in entries or ():
        name, sep, spec = entry.rpartition("=")
        floor, _, n_items = spec.partition(":")
        try:
            if not sep or not name.strip():
                raise ValueError("no NAME=")
            registry.register(name.strip(), floor=float(floor), n_items=int(n_items) if n_items else None)
        except ValueError as exc:
            raise SystemExit(f"error: --register {entry!r}: give NAME=FLOOR or NAME=FLOOR:N_ITEMS, e.g. "
                             f"'MyQA=0.25:800' (floor = 1/#choices, 0 for free-form answers): {exc}") from exc
    return registry


def _load_table(source: str, benchmarks: str | None, registry=None):
    from scaling_bayes.data import available_datasets, load_dataset, read_scores

    bench = None
    if benchmarks:
        bench = benchmarks if "," not in benchmarks else [b.strip() for b in benchmarks.split(",")]
    if source in available_datasets():
        return load_dataset(source, benchmarks=bench, registry=registry)
    if not Path(source).exists():
        raise SystemExit(
            f"error: --data {source!r} is neither a bundled dataset "
            f"({', '.join(available_datasets())}) nor an existing CSV file."
        )
    return read_scores(source, benchmarks=bench, registry=registry)  # only the chosen columns are validated


def cmd_fit(args: argparse.Namespace) -> int:
    from scaling_bayes.skill_model import LatentSkillModel

    registry = _registry(args.register)
    data = _load_table(args.data, args.benchmarks, registry)
    model = LatentSkillModel(
        registry=registry,
        n_skills=args.n_skills,
        anchors=args.anchors.split(",") if args.anchors else None,
        link=args.link,
        **_structure_kwargs(args),
    )
    model.fit(
        data, chains=args.chains, draws=args.draws, tune=args.tune, sampler=args.sampler,
        target_accept=args.target_accept, init=args.init, stack_chains=args.stack_chains,
        random_seed=args.seed, progressbar=not args.no_progress,
    )
    model.save(args.out)
    print(f"diagnostics: {model.diagnostics}")
    print(f"saved fit to {args.out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from scaling_bayes.data import _read_csv_keeping_names
    from scaling_bayes.workflows import load_fitted

    model = load_fitted(args.run_dir)  # a fit, a FLOPs baseline or a stack, as saved
    new = _read_csv_keeping_names(args.models)  # family names such as "1.10" or "NA" verbatim
    pred = model.predict(new, prob=args.prob, random_seed=args.seed)
    if args.out:
        pred.table.to_csv(args.out, index=False)
        print(f"wrote {len(pred.table)} rows to {args.out}")
    else:
        print(pred.table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from scaling_bayes.workflows import run_demo

    print("scaling-bayes demo: fitting the bundled Sloth data (all 12 benchmarks) ...")
    res = run_demo(
        args.out, draws=args.draws, tune=args.tune, chains=args.chains, random_seed=args.seed,
        progressbar=not args.no_progress, **_sampler_overrides(args),
    )
    print(f"\nconvergence: {res.diagnostics}  (fit {res.diagnostics.fit_seconds:.0f} s)")
    for problem in res.diagnostics.problems():
        print(f"  ! {problem}")
    t = res.intervals
    pd.set_option("display.width", 160)
    cols = ["model", "case", "benchmark", "observed", "median", "lower", "upper", "covered"]
    show = t[cols].copy()
    for c in ["observed", "median", "lower", "upper"]:
        show[c] = (100 * show[c]).round(1)
    print("\n90% posterior-predictive intervals (scores in %) for held-out models:")
    print("  qwen2-72b = larger model of a known family; olmo-* = a family never seen\n")
    print(show.to_string(index=False))
    print(f"\ncoverage of the 90% intervals on these {len(t)} held-out cells: "
          f"{t['covered'].mean():.0%}")
    print(f"figure: {res.figure_path}\nfit saved to: {res.run_dir}")
    return 0


def evaluation_settings(benchmark_set: str | None, n_train: int | None) -> list[tuple[str, int]]:
    """The protocol settings ``evaluate`` runs: the paper's six, filtered by ``--setting`` /
    ``--n-train``; ``--n-train 0`` selects the whole-group hold-outs
    (:data:`~scaling_bayes.evaluation.UNSEEN_SETTINGS`), which run only when asked for."""
    from scaling_bayes.evaluation import SETTINGS, UNSEEN_SETTINGS

    candidates = UNSEEN_SETTINGS if n_train == 0 else SETTINGS
    settings = [tuple(s) for s in candidates if benchmark_set in (None, s[0]) and n_train in (None, s[1])]
    if not settings:
        raise SystemExit(f"error: no protocol setting matches --setting {benchmark_set} --n-train {n_train}")
    return settings


def _evaluation_protocol(args: argparse.Namespace) -> dict:
    """``run_protocol``'s folds: Sloth's settings (``--protocol sloth``, the bundled data), or
    random family folds of ``--data`` (``--protocol families``)."""
    if args.protocol == "sloth":
        if args.data is not None or args.benchmarks is not None or args.register:
            raise SystemExit("error: --data / --benchmarks / --register choose the data of --protocol families; "
                             "--protocol sloth runs on the bundled Sloth data")
        return {"settings": evaluation_settings(args.setting, args.n_train)}
    from scaling_bayes.data import available_datasets
    from scaling_bayes.evaluation import family_holdout_folds

    if args.setting is not None:
        raise SystemExit("error: --setting names one of Sloth's benchmark sets; with --protocol families "
                         "choose the benchmarks with --benchmarks")
    if args.n_train == 0:
        raise SystemExit("error: --protocol families forecasts each tested family from its smallest "
                         "models: use --n-train 1 or 2")
    source = args.data or "sloth_curated"
    data = _load_table(source, args.benchmarks, _registry(args.register)).fittable()
    name = source if source in available_datasets() else Path(source).stem
    if args.benchmarks:
        name = f"{name}_{args.benchmarks.replace(',', '-')}"
    try:
        folds = [f for n in ([args.n_train] if args.n_train else [1, 2])
                 for f in family_holdout_folds(data, name, n_train=n, n_folds=args.folds, random_seed=args.fold_seed)]
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    return {"folds": folds, "data": data}


def cmd_evaluate(args: argparse.Namespace) -> int:
    from functools import partial

    from scaling_bayes.baselines import FlopsLawBaseline
    from scaling_bayes.evaluation import run_protocol
    from scaling_bayes.skill_model import LatentSkillModel

    protocol = _evaluation_protocol(args)
    if args.model == "flops-baseline":
        defaults = build_parser().parse_args(["evaluate"])
        options = argparse.ArgumentParser(add_help=False)
        _add_structure_args(options)
        structure = ["n_skills", *(action.dest for action in options._actions)]
        changed = [f"--{name.replace('_', '-')}" for name in structure
                   if getattr(args, name) != getattr(defaults, name)]
        if changed:
            raise SystemExit(f"error: {', '.join(changed)} set the latent-skill model's structure; "
                             "--model flops-baseline has a fixed structure (one skill per benchmark, "
                             "ln FLOPs): drop them or evaluate --model latent-skill")
        factory = partial(FlopsLawBaseline)
    else:
        factory = partial(LatentSkillModel, n_skills=args.n_skills, **_structure_kwargs(args))
    if args.register:  # the models need the floors of the benchmarks registered for the data
        factory = partial(factory, registry=_registry(args.register))
    result = run_protocol(
        factory, **protocol, out_dir=args.out, scheduler=args.scheduler,
        n_workers=args.workers,
        sample_kwargs={"chains": args.chains, "draws": args.draws, "tune": args.tune,
                       "progressbar": False, **_sampler_overrides(args)},
        random_seed=args.seed, progress=not args.no_progress,
    )
    print((Path(args.out) / "summary.md").read_text() if (Path(args.out) / "summary.md").exists()
          else result)
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    from scaling_bayes.evaluation.stacking import stack_runs

    runs = {}
    for item in args.runs:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"error: run {item!r}: give NAME=DIR, e.g. latent=evaluation/latent")
        if not Path(path, "predictions.csv").is_file():
            raise SystemExit(f"error: run {name!r}: {path} has no predictions.csv (write it with `scaling-bayes evaluate`)")
        runs[name] = path
    settings = None
    if args.setting is not None or args.n_train is not None:
        first = pd.read_csv(Path(next(iter(runs.values())), "predictions.csv"),
                            usecols=["benchmark_set", "n_train_per_family"]).drop_duplicates()
        settings = [(str(b), int(n)) for b, n in first.itertuples(index=False)
                    if args.setting in (None, b) and args.n_train in (None, n)]
        if not settings:
            have = ", ".join(f"{b} n={n}" for b, n in first.itertuples(index=False))
            raise SystemExit(f"error: no setting of run {next(iter(runs))!r} matches --setting {args.setting} "
                             f"--n-train {args.n_train}; it has {have}")
    try:
        stack_runs(runs, args.out, by=args.by, random_seed=args.seed, settings=settings)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print((Path(args.out) / "summary.md").read_text())
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from scaling_bayes.evaluation import EvaluationResult
    from scaling_bayes.skill_model import LatentSkillModel
    from scaling_bayes.workflows import load_fitted, make_figures

    if args.run and Path(args.run, "stack.json").exists():
        raise SystemExit(f"error: {args.run} is a saved stack; figures need one model's fit: pass one of its "
                         f"components' directories (e.g. --run {Path(args.run) / '<component>'})")
    if args.run and Path(args.run, "config.json").exists():
        model = load_fitted(args.run)
    else:
        print("no saved fit given (--run): fitting the bundled data first ...")
        model = LatentSkillModel()
        model.fit(_load_table("sloth_curated", None), chains=args.chains, draws=args.draws,
                  tune=args.tune, random_seed=args.seed, progressbar=not args.no_progress,
                  **_sampler_overrides(args))
        if args.run:
            model.save(args.run)
    evaluation = None
    if args.evaluation and Path(args.evaluation, "predictions.csv").exists():
        evaluation = EvaluationResult.from_dir(args.evaluation)
    paths = make_figures(model, args.out, evaluation=evaluation, random_seed=args.seed)
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scaling-bayes",
        description="Bayesian latent-skill scaling laws: forecast LLM benchmark scores "
        "with calibrated credible intervals.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit the latent-skill model and save the run directory")
    p.add_argument("--data", default="sloth_curated",
                   help="bundled dataset name (sloth_curated, lvf_leaderboard_v1, "
                   "lvf_leaderboard_v2) or a wide CSV: one row per model with columns "
                   "model, family, params_b, tokens_t [, base_family, instruct] and one "
                   "column per benchmark (fractions in [0, 1])")
    p.add_argument("--benchmarks", default=None,
                   help="benchmark set (all12, leaderboard_v1, leaderboard_v2) or a "
                   "comma-separated list (default: the dataset's own)")
    p.add_argument("--register", action="append", metavar="NAME=FLOOR[:N_ITEMS]",
                   help="a benchmark column the package does not know, with its guessing floor "
                   "(1/#choices; 0 for free-form answers) and optionally its number of items, "
                   "e.g. MyQA=0.25:800 (repeat for several)")
    p.add_argument("--n-skills", "-k", type=int, default=4, help="number of latent skills K (default 4: PSIS-LOO over K=2-4)")
    p.add_argument("--anchors", default=None,
                   help="comma-separated anchor benchmark per skill (default: automatic)")
    p.add_argument("--link", default="richards", choices=["richards", "logistic"])
    _add_structure_args(p)
    p.add_argument("--out", "-o", required=True, help="run directory to write")
    _add_sampler_args(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="credible intervals for new models from a saved fit")
    p.add_argument("run_dir", help="directory written by `scaling-bayes fit`")
    p.add_argument("--models", required=True,
                   help="CSV of new models: params_b, tokens_t, family [, model, base_family, instruct]")
    p.add_argument("--prob", type=float, default=0.9, help="interval probability (default 0.9)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", "-o", default=None, help="CSV to write (default: print)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("demo", help="fit the bundled data, forecast held-out models, draw a figure")
    p.add_argument("--out", "-o", default="scaling_bayes_demo", help="output directory")
    _add_sampler_args(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("evaluate", help="run Sloth's leave-family-out protocol (Dask-distributed)")
    p.add_argument("--protocol", default="sloth", choices=["sloth", "families"],
                   help="sloth: the paper's hand-listed test groups on the bundled Sloth data (default); "
                   "families: the same rule on --data, every family with more sizes than --n-train "
                   "tested once, dealt at random into --folds folds")
    p.add_argument("--setting", default=None, choices=PROTOCOL_BENCHMARK_SETS,
                   help="one benchmark set (default: all three)")
    p.add_argument("--n-train", type=int, default=None, choices=[0, 1, 2],
                   help="models kept in training per test family (default: 1 and 2, the paper's "
                   "settings; 0 holds out every model of each test group: families never seen)")
    p.add_argument("--data", default=None,
                   help="--protocol families: a bundled dataset or a wide CSV, as for `fit` (default: sloth_curated)")
    p.add_argument("--benchmarks", default=None,
                   help="--protocol families: benchmark set or comma-separated list (default: the dataset's own)")
    p.add_argument("--register", action="append", metavar="NAME=FLOOR[:N_ITEMS]",
                   help="--protocol families: a benchmark the package does not know, as for `fit`")
    p.add_argument("--folds", type=int, default=5, help="--protocol families: number of folds (default 5)")
    p.add_argument("--fold-seed", type=int, default=0,
                   help="--protocol families: seed of the families' shuffle into folds (default 0)")
    p.add_argument("--n-skills", "-k", type=int, default=4)
    _add_structure_args(p)
    p.add_argument("--model", default="latent-skill", choices=["latent-skill", "flops-baseline"],
                   help="model to evaluate: the latent-skill model (default) or the "
                   "per-benchmark FLOPs law with family intercepts")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (tcp://...); default: a LocalCluster")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster workers")
    p.add_argument("--out", "-o", default="evaluation", help="output directory")
    _add_sampler_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("stack", help="stack protocol runs: each test group's mixture weights "
                       "learned from the other test groups of its setting")
    p.add_argument("runs", nargs="+", metavar="NAME=DIR",
                   help="runs of `scaling-bayes evaluate` over the same settings (from a version "
                   "that caches each fold's draws), e.g. latent=eval/latent flops=eval/flops")
    p.add_argument("--out", "-o", required=True, help="output directory of the stacked run")
    p.add_argument("--by", choices=["benchmark"], default=None,
                   help="learn the weights per benchmark, partially pooled across benchmarks "
                   "(Bayesian hierarchical stacking; default: one weight vector per test group)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the hierarchical weights' NUTS runs")
    p.add_argument("--setting", default=None,
                   help="stack only this benchmark set's settings, e.g. all12 or lvf_leaderboard_v2 "
                   "(default: every setting the runs share)")
    p.add_argument("--n-train", type=int, default=None,
                   help="stack only this number of training models per family")
    p.set_defaults(func=cmd_stack)

    p = sub.add_parser("figures", help="regenerate every figure (PNG and PDF) from a fit")
    p.add_argument("--run", default=None,
                   help="saved fit directory (default: fit the bundled data first; "
                   "with --run pointing to a new directory, the fit is saved there)")
    p.add_argument("--evaluation", default="benchmarks/results/sloth",
                   help="evaluation directory for the evaluation figures (if present)")
    p.add_argument("--out", "-o", default="figures", help="output directory")
    _add_sampler_args(p)
    p.set_defaults(func=cmd_figures)
    return parser


def keep_generated_source_in_cache() -> None:
    """Unless the user configured it, point PyTensor's ``generated_src_dir`` at a folder in
    its compile cache, for this process and (through ``PYTENSOR_FLAGS``) the Dask workers
    and chain processes it starts.

    Left unset, PyTensor's numba backend writes every compiled function's source to a new
    file in the system temp directory and never removes it: one protocol run left tens of
    thousands there (measured).  In the cache the files are content-addressed and pruned.
    """
    import os

    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "generated_src_dir" in flags:
        return
    import pytensor

    if pytensor.config.generated_src_dir:  # set in .pytensorrc
        return
    src_dir = str(Path(pytensor.config.base_compiledir) / "generated_src")
    pytensor.config.generated_src_dir = src_dir
    os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"generated_src_dir={src_dir}") if f)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_generated_source_in_cache()  # every sub-command compiles PyTensor functions
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
