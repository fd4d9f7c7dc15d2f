"""Workflows: end-to-end recipes built from the model, prediction and plotting steps.

Kept apart from the statistical model (``skill_model``) and from plotting (``plots``),
CausalPy-style.  The CLI is a thin layer over these functions.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scaling_bayes import plots
from scaling_bayes.baselines import MODEL_CLASSES
from scaling_bayes.data import ScoreTable, load_dataset
from scaling_bayes.evaluation.metrics import observed_at_resolution
from scaling_bayes.factor_model import SkillFactorModel
from scaling_bayes.inference import Diagnostics, SamplerConfig
from scaling_bayes.plots import plot_scaling_curves
from scaling_bayes.skill_model import LatentSkillModel
from scaling_bayes.stacking import StackedModel

#: Demo hold-outs: the largest model of a known family, and a whole unseen family.
DEMO_KNOWN_FAMILY_HOLDOUT = "qwen2-72b"
DEMO_UNSEEN_FAMILY = "olmo"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced."""

    diagnostics: Diagnostics
    intervals: pd.DataFrame
    figure_path: Path
    run_dir: Path


def load_fitted(path: str | os.PathLike[str]) -> LatentSkillModel | StackedModel | SkillFactorModel:
    """Load whatever was saved at ``path``: a stack (``stack.json``, :meth:`StackedModel.load`)
    or a single model of the class its ``config.json`` names (:class:`LatentSkillModel`,
    :class:`~scaling_bayes.baselines.FlopsLawBaseline`; :data:`~scaling_bayes.baselines.MODEL_CLASSES`;
    or a :class:`~scaling_bayes.factor_model.SkillFactorModel`)."""
    path = Path(path)
    if (path / "stack.json").is_file():
        return StackedModel.load(path)
    if (path / "config.json").is_file():
        saved = json.loads((path / "config.json").read_text()).get("model_class", LatentSkillModel.__name__)
        if saved == SkillFactorModel.__name__:
            return SkillFactorModel.load(path)
        if saved not in MODEL_CLASSES:
            raise ValueError(f"{path / 'config.json'} names model class {saved!r}; known: {sorted(MODEL_CLASSES)}")
        return MODEL_CLASSES[saved].load(path)
    return LatentSkillModel.load(path)  # raises, saying what a saved fit holds


def demo_split(data: ScoreTable) -> tuple[ScoreTable, pd.DataFrame]:
    """Training table without the demo hold-outs, and the held-out models' rows: the whole
    unseen family is held out by *base* family, so every variant line of it goes too."""
    models = data.models
    held = models.index[
        (models.index == DEMO_KNOWN_FAMILY_HOLDOUT) | (models["base_family"] == DEMO_UNSEEN_FAMILY)
    ]
    train = data.select(models=[m for m in models.index if m not in set(held)])
    return train, models.loc[held].reset_index()


def run_demo(
    out_dir: str | Path = "scaling_bayes_demo",
    *,
    draws: int = SamplerConfig.draws,
    tune: int = SamplerConfig.tune,
    chains: int = SamplerConfig.chains,
    random_seed: int = 0,
    progressbar: bool = True,
    **sampler_overrides: Any,
) -> DemoResult:
    """Fit the bundled default data minus two hold-outs, then forecast them.

    ``sampler_overrides`` (``sampler``, ``target_accept``, ``init``, …) go to
    :meth:`LatentSkillModel.fit`.

    Hold-outs: ``qwen2-72b`` (a larger model of a known variant family: the qwen2 base
    models of 0.5–7B stay in training, and so do three 72B variants of the same base
    family, qwen2-72b-instruct, dolphin-2.9.2-qwen2-72b and orca_mini_v7_72b, which inform
    it through the shared base-family effect; an easier test than a family whose largest
    size no variant has shown) and the whole ``olmo`` family (never seen).  Writes the fit to
    ``out_dir/fit``, the 90% intervals to ``out_dir/demo_intervals.csv`` and the
    scaling-curve figure to ``out_dir/scaling_curves.png``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rows without tokens: reported by fittable()
        data = load_dataset("sloth_curated").fittable()
    train, held = demo_split(data)
    model = LatentSkillModel()
    model.fit(train, draws=draws, tune=tune, chains=chains, random_seed=random_seed,
              progressbar=progressbar, **sampler_overrides)
    model.save(out / "fit")

    pred = model.predict(held, prob=0.9, random_seed=random_seed)
    observed = data.scores.loc[held["model"]].stack().rename("observed")
    observed.index.names = ["model", "benchmark"]
    intervals = pred.table.merge(observed.reset_index(), on=["model", "benchmark"], how="left")
    intervals["covered"] = observed_at_resolution(intervals).between(intervals["lower"], intervals["upper"])
    intervals.to_csv(out / "demo_intervals.csv", index=False)

    curves = pd.DataFrame(
        [
            {"family": "qwen2", "base_family": "qwen2", "instruct": False, "tokens_t": 7.0,
             "label": "qwen2 (known; 72B held out), 7T tokens"},
            {"family": "olmo", "base_family": "olmo", "instruct": False, "tokens_t": 2.5,
             "label": "olmo (never seen), 2.5T tokens"},
        ]
    )
    observed_wide = data.models.join(data.scores)
    observed_wide = observed_wide[observed_wide["family"].isin(["qwen2", "olmo"])]
    fig = plot_scaling_curves(model, curves, observed=observed_wide, random_seed=random_seed)
    figure_path = out / "scaling_curves.png"
    fig.savefig(figure_path, dpi=120)
    return DemoResult(
        diagnostics=model.diagnostics,  # type: ignore[arg-type]
        intervals=intervals,
        figure_path=figure_path,
        run_dir=out / "fit",
    )


# ------------------------------------------------------------------------------- figures
def showcase_families(model: LatentSkillModel, n: int = 2) -> pd.DataFrame:
    """``n`` variant families to show off: the one with the most training models (ties broken
    by the widest span of params), then the largest ones trained on ≥ 4× more or fewer tokens
    than those already chosen (distinct base families).  One row each: ``family,
    base_family, instruct, tokens_t`` (median of the family), ``params_b``, ``model`` and
    ``largest_tokens_t`` (its largest model)."""
    models = model.design.data.models  # type: ignore[union-attr]
    stats = models.groupby("family").agg(
        n=("params_b", "size"),
        span=("params_b", lambda p: float(np.log(p.max() / p.min()))),
        base_family=("base_family", "first"),
        instruct=("instruct", "first"),
        tokens_t=("tokens_t", "median"),
    )
    stats = stats.sort_values(["n", "span"], ascending=False)
    stats = stats[~stats["base_family"].duplicated()]
    # prefer families trained on clearly different numbers of tokens (≥ 4× apart)
    chosen = [stats.index[0]]
    for fam in stats.index[1:]:
        if len(chosen) == n:
            break
        ratios = [abs(np.log(stats.at[fam, "tokens_t"] / stats.at[c, "tokens_t"])) for c in chosen]
        if min(ratios) >= np.log(4):
            chosen.append(fam)
    chosen += [f for f in stats.index if f not in chosen][: n - len(chosen)]
    stats = stats.loc[chosen]
    largest = models.reset_index().sort_values("params_b").groupby("family").last()
    stats["params_b"] = largest.loc[stats.index, "params_b"]
    stats["model"] = largest.loc[stats.index, "model"]
    stats["largest_tokens_t"] = largest.loc[stats.index, "tokens_t"]
    return stats.reset_index()


def _figure_jobs(
    model: LatentSkillModel, evaluation: Any | None, random_seed: int
) -> list[tuple[str, Callable[[], Any]]]:
    """(file stem, figure factory) for every figure :func:`make_figures` writes."""
    design = model.design
    jobs: list[tuple[str, Callable[[], Any]]] = [
        ("diagnostics_trace", lambda: plots.plot_trace(model)),
        ("diagnostics_rank", lambda: plots.plot_trace(model, kind="rank")),
        ("diagnostics_energy", lambda: plots.plot_energy(model)),
        ("diagnostics_rhat_ess", lambda: plots.plot_rhat_ess(model)),
        ("diagnostics_ppc", lambda: plots.plot_ppc(model, random_seed=random_seed)),
        ("diagnostics_loo_pit", lambda: plots.plot_loo_pit(model, random_seed=random_seed)),
        ("skills_loadings", lambda: plots.plot_loadings(model)),
    ]
    if model.config.n_skills > 1:
        jobs.append(("skills_correlation", lambda: plots.plot_skill_correlation(model)))
    jobs += [
        ("skills_family_efficiency", lambda: plots.plot_family_efficiency(model, level="family")),
        ("skills_variant_efficiency", lambda: plots.plot_family_efficiency(model, level="variant")),
    ]
    show = showcase_families(model)
    top = show.iloc[0]
    jobs.append((
        "skills_known_vs_unseen",
        lambda: plots.plot_known_vs_unseen(
            model, top["family"], float(top["params_b"]), float(top["largest_tokens_t"]),
            random_seed=random_seed,
        ),
    ))
    curves = show[["family", "base_family", "instruct", "tokens_t"]].copy()
    curves["label"] = [f"{f} (known), {t:g}T tokens" for f, t in zip(curves["family"], curves["tokens_t"])]
    unseen_tokens = float(design.data.models["tokens_t"].median())  # type: ignore[union-attr]
    curves.loc[len(curves)] = {
        "family": "unseen family", "base_family": "unseen family", "instruct": False,
        "tokens_t": unseen_tokens, "label": f"a family never seen, {unseen_tokens:g}T tokens",
    }
    observed = design.data.models.join(design.data.scores)  # type: ignore[union-attr]
    observed = observed[observed["family"].isin(show["family"])]
    jobs.append((
        "skills_scaling_curves",
        lambda: plots.plot_scaling_curves(model, curves, observed=observed, random_seed=random_seed),
    ))
    if getattr(design.transform, "form", "translog") != "flops":  # type: ignore[union-attr]
        targets = ["average", *[f"skill:{s}" for s in model.posterior["skill"].values]]
        for target in targets:
            stem = "compute_optimal_" + target.replace("skill:", "skill_").replace(" ", "_")
            jobs.append((stem, lambda t=target: plots.plot_compute_optimal(model, target=t,
                                                                          random_seed=random_seed)))
    if evaluation is not None:
        if not hasattr(evaluation, "comparison"):
            from scaling_bayes.evaluation import EvaluationResult

            evaluation = EvaluationResult.from_dir(evaluation)
        jobs += [
            ("evaluation_mae_heatmap", lambda: plots.plot_mae_heatmap(evaluation)),
            ("evaluation_calibration", lambda: plots.plot_calibration(evaluation)),
            ("evaluation_interval_width", lambda: plots.plot_interval_width(evaluation)),
        ]
    return jobs


def make_figures(
    model: LatentSkillModel,
    out_dir: str | Path,
    evaluation: Any | None = None,
    *,
    formats: tuple[str, ...] = ("png", "pdf"),
    dpi: int = 150,
    random_seed: int = 0,
) -> list[Path]:
    """Write every figure of a fitted model (and of an evaluation run) to ``out_dir``.

    Figures: sampler diagnostics (trace, rank, energy, R-hat/ESS, posterior-predictive
    check, LOO-PIT), skills (loadings, skill correlation, family and variant efficiency,
    known vs unseen family, scaling curves), compute-optimal splits (the average score and
    each skill) and, with ``evaluation`` (an
    :class:`~scaling_bayes.evaluation.EvaluationResult` or the directory of one), the MAE
    heatmap against Sloth, calibration and interval widths.  Each figure is saved once per
    format (PNG and PDF by default).  Returns the written paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, factory in _figure_jobs(model, evaluation, random_seed):
        fig = factory()
        try:
            for fmt in formats:
                path = out / f"{stem}.{fmt}"
                fig.savefig(path, dpi=dpi)
                written.append(path)
        finally:
            plt.close(fig)
    return written


# ---------------------------------------------------------------------- notebook settings
#: Environment variable that selects tiny fits (notebooks, docs builds, CI).
FAST_ENV = "SCALING_BAYES_FAST"
#: Variant families of the fast subset (leaderboard_v2 benchmarks).
FAST_FAMILIES: tuple[str, ...] = (
    "qwen2", "qwen2-instruct", "meta-llama-3", "meta-llama-3-instruct", "gemma-2", "gemma-2-it",
    "pythia", "falcon", "yi-1.5", "yi-1.5-chat", "olmo", "smollm",
)


def fast_mode() -> bool:
    """Whether ``SCALING_BAYES_FAST`` asks for tiny fits (``1``, ``true`` or ``yes``)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ExampleSetup:
    """Data and sampler settings of the notebooks: the full job, or a tiny one when fast.

    ``fast``: a subset (12 variant families, the 6 leaderboard_v2 benchmarks), 2 skills and
    a short sampler run (statistically meaningless, only to exercise the code); otherwise
    the bundled data (all 12 benchmarks), the default 4 skills and the default sampler.
    """

    fast: bool
    data: ScoreTable
    n_skills: int
    sample_kwargs: dict[str, Any] = field(default_factory=dict)
    random_seed: int = 0


def example_setup(fast: bool | None = None) -> ExampleSetup:
    """The notebooks' settings (``fast`` defaults to :func:`fast_mode`)."""
    fast = fast_mode() if fast is None else fast
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rows without tokens: reported by fittable()
        data = load_dataset("sloth_curated").fittable()
        if fast:
            models = data.models.index[data.models["family"].isin(FAST_FAMILIES)]
            data = data.select(benchmarks="leaderboard_v2", models=list(models)).fittable()
    if fast:
        kwargs = {"chains": 2, "draws": 50, "tune": 150, "mode_starts": 1, "progressbar": False}
        return ExampleSetup(fast=True, data=data, n_skills=2, sample_kwargs=kwargs)
    return ExampleSetup(fast=False, data=data, n_skills=4, sample_kwargs={})


def example_cache_dir(fast: bool | None = None) -> Path:
    """Where the notebooks keep their shared fit: ``$SCALING_BAYES_CACHE`` or the temp dir."""
    fast = fast_mode() if fast is None else fast
    root = Path(os.environ.get("SCALING_BAYES_CACHE", Path(tempfile.gettempdir()) / "scaling_bayes_notebooks"))
    return root / ("fit_fast" if fast else "fit_default")


def example_model(fast: bool | None = None, *, refit: bool = False) -> LatentSkillModel:
    """The notebooks' fitted model: loaded from :func:`example_cache_dir` when a previous
    notebook saved it there, otherwise fitted with :func:`example_setup` and saved."""
    setup = example_setup(fast)
    path = example_cache_dir(setup.fast)
    if not refit and (path / "config.json").exists():
        return LatentSkillModel.load(path)
    model = LatentSkillModel(n_skills=setup.n_skills)
    model.fit(setup.data, random_seed=setup.random_seed, **setup.sample_kwargs)
    model.save(path)
    return model


def example_folds(
    fast: bool | None = None,
    *,
    benchmark_set: str = "leaderboard_v2",
    n_train_per_family: int = 1,
    test_group: str = "qwen2+qwen2-instruct+dolphin-2.9.2-qwen2",
) -> list:
    """One fold of Sloth's leave-family-out protocol, for the evaluation notebook.

    When fast, its training set is cut down to the models of :data:`FAST_FAMILIES` and of
    the test group's own families (so the fit takes seconds); the test models, and so the
    comparison with Sloth's reference errors, are unchanged.
    """
    from scaling_bayes.evaluation import sloth_folds

    fast = fast_mode() if fast is None else fast
    data = load_dataset("sloth_curated", benchmarks="all12")
    folds = [f for f in sloth_folds(benchmark_set, n_train_per_family, data=data) if f.group_label == test_group]
    if not folds:
        raise ValueError(f"no fold with test group {test_group!r} in {benchmark_set}, n={n_train_per_family}.")
    fold = folds[0]
    if fast:
        family = data.models["family"]
        keep = set(FAST_FAMILIES) | set(fold.test_group)
        fold = dataclasses.replace(
            fold, train_models=tuple(m for m in fold.train_models if family[m] in keep)
        )
    return [fold]
