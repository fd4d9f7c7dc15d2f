"""Every figure of ``scaling_bayes.plots`` on one tiny real fit, the compute-optimal split,
and ``make_figures``.

The fit is the notebooks' fast fit (the ``small_v2`` subset, 2 skills, 2 × 50 draws), shared
through the session cache with ``tests/test_notebooks.py``; it is far from converged, which
the figures must survive.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from scaling_bayes import LatentSkillModel, plots  # noqa: E402
from scaling_bayes.compute_optimal import (  # noqa: E402
    FLOPS_PER_PARAM_TOKEN,
    compute_optimal_split,
    data_box,
    default_budgets,
    summarize_split,
)
from scaling_bayes.evaluation import EvaluationResult, fold_split, sloth_folds, summarize_draws  # noqa: E402
from scaling_bayes.workflows import example_cache_dir, example_setup, make_figures  # noqa: E402


@pytest.fixture(scope="module")
def model(small_v2, fast_examples) -> LatentSkillModel:
    path = example_cache_dir(fast=True)
    if (path / "config.json").exists():  # saved by the quickstart notebook in this session
        fitted = LatentSkillModel.load(path)
    else:
        setup = example_setup(fast=True)
        fitted = LatentSkillModel(n_skills=setup.n_skills)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few dozen draws: convergence warnings by design
            fitted.fit(small_v2, random_seed=setup.random_seed, **setup.sample_kwargs)
        fitted.save(path)
    assert set(fitted.design.data.models.index) == set(small_v2.models.index)
    return fitted


@pytest.fixture(scope="module")
def evaluation(model, sloth) -> EvaluationResult:
    """Genuine leave-family-out forecasts: the tiny fit's predictions for the leaderboard_v2
    folds whose test families it never saw, scored against Sloth's reference errors."""
    seen = set(model.design.families.variants)
    rows = []
    for n in (1, 2):
        for fold in sloth_folds("leaderboard_v2", n, data=sloth):
            if seen & set(fold.test_group):
                continue
            _, test_models, test_scores = fold_split(fold, sloth)
            draws = model.predictive_draws(test_models, warn_extrapolation=False)["score"]
            part = summarize_draws(draws, test_scores)
            part.insert(0, "benchmark_set", fold.benchmark_set)
            part.insert(1, "n_train_per_family", n)
            part.insert(2, "test_group", fold.group_label)
            part.insert(4, "family2", part["model"].map(test_models["family"]).astype(str))
            rows.append(part)
    return EvaluationResult.from_predictions(pd.concat(rows, ignore_index=True))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labels(fig: Figure) -> list[str]:
    return [text for ax in fig.axes for text in (ax.get_xlabel(), ax.get_ylabel(), ax.get_title())]


def check_figure(fig: Figure, unit: str) -> None:
    """A Figure whose plotting axes are labelled and hold something, with ``unit`` in a label."""
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison and not hasattr(ax, "_colorbar")]
    assert axes, "no visible plotting axes"
    for ax in axes:
        assert ax.get_xlabel() or ax.get_ylabel(), f"unlabelled axes {ax.get_title()!r}"
        assert ax.lines or ax.collections or ax.images or ax.patches, f"empty axes {ax.get_title()!r}"
    assert any(ax.get_xlabel() for ax in axes) and any(ax.get_ylabel() for ax in axes)
    assert any(unit in label for label in _labels(fig)), f"no label mentions {unit!r}: {_labels(fig)}"
    fig.canvas.draw()  # renders without error


MODEL_PLOTS = {
    "trace": (lambda m: plots.plot_trace(m), "logit"),
    "rank": (lambda m: plots.plot_trace(m, ["slopes", "loadings"], kind="rank"), "rank"),
    "energy": (plots.plot_energy, "nats"),
    "rhat_ess": (plots.plot_rhat_ess, "draws"),
    "ppc": (plots.plot_ppc, "score (%)"),
    "loo_pit": (plots.plot_loo_pit, "probability"),
    "loadings": (plots.plot_loadings, "logit"),
    "skill_correlation": (plots.plot_skill_correlation, "correlation"),
    "family_efficiency": (lambda m: plots.plot_family_efficiency(m, level="family"), "logit units"),
    "variant_efficiency": (lambda m: plots.plot_family_efficiency(m, level="variant"), "logit units"),
    "known_vs_unseen": (lambda m: plots.plot_known_vs_unseen(m, "pythia", 12, 0.25), "score (%)"),
    "compute_optimal": (lambda m: plots.plot_compute_optimal(m, n_grid=20), "FLOPs"),
    "compute_optimal_skill": (
        lambda m: plots.plot_compute_optimal(m, target="skill:MATH Lvl 5", family="qwen2", n_grid=20),
        "billions",
    ),
}


@pytest.mark.parametrize("name", list(MODEL_PLOTS))
def test_model_figures(model, name):
    make, unit = MODEL_PLOTS[name]
    check_figure(make(model), unit)


def test_prior_predictive_figure(prior_v2):
    fig = plots.plot_prior_predictive(prior_v2, ncols=3)
    check_figure(fig, "score (%)")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    benchmarks = list(dict.fromkeys(prior_v2["observed_data"]["score"]["benchmark"].values.tolist()))
    assert [ax.get_title().split(":")[0] for ax in panels] == benchmarks  # one panel per benchmark


def test_scaling_curves(model):
    curves = pd.DataFrame(
        [{"family": "qwen2", "base_family": "qwen2", "instruct": False, "tokens_t": 7.0, "label": "qwen2"},
         {"family": "new", "base_family": "new", "instruct": False, "tokens_t": 2.0, "label": "unseen"}]
    )
    observed = model.design.data.models.join(model.design.data.scores)
    fig = plots.plot_scaling_curves(model, curves, observed=observed, n_grid=8)
    check_figure(fig, "score (%)")


@pytest.mark.parametrize(
    "make, unit",
    [(plots.plot_mae_heatmap, "pp"), (plots.plot_calibration, "coverage"), (plots.plot_interval_width, "pp")],
)
def test_evaluation_figures(evaluation, make, unit):
    assert evaluation.comparison["n_matched"].gt(0).all()
    check_figure(make(evaluation), unit)


def test_pit_values_are_probabilities(model):
    table = plots.pit_values(model)
    assert len(table) == len(model.design.y)
    for column in ("pit", "pit_insample"):
        values = table[column].dropna()
        assert values.between(0, 1).all()
    assert table["pit_insample"].notna().all()


def test_plot_arguments_are_checked(model):
    with pytest.raises(ValueError, match="variant family"):
        plots.plot_known_vs_unseen(model, "no-such-family", 7, 1)
    with pytest.raises(ValueError, match="level"):
        plots.plot_family_efficiency(model, level="model")
    with pytest.raises(ValueError, match="kind"):
        plots.plot_trace(model, kind="pair")
    with pytest.raises(ValueError, match="var_names"):
        plots.plot_trace(model, ["no_such_variable"])


# ------------------------------------------------------------------------- compute-optimal
def test_compute_optimal_split_inside_data_range_and_on_budget(model):
    (p_lo, p_hi), (t_lo, t_hi) = data_box(model)
    budgets = np.r_[1e15, default_budgets(model, n=4), 1e30]  # first and last miss the data box
    split = compute_optimal_split(model, budgets, target="average", n_grid=25)

    assert split["params_b"].dims == ("budget", "chain", "draw")
    assert split.sizes["chain"] == model.posterior.sizes["chain"]
    assert split["feasible"].values.tolist() == [False, True, True, True, True, False]
    assert np.isnan(split["params_b"].isel(budget=[0, -1])).all()

    inside = split.isel(budget=slice(1, -1))
    params, tokens = inside["params_b"].values, inside["tokens_t"].values
    assert np.isfinite(params).all()
    assert (params >= p_lo * (1 - 1e-9)).all() and (params <= p_hi * (1 + 1e-9)).all()
    assert (tokens >= t_lo * (1 - 1e-9)).all() and (tokens <= t_hi * (1 + 1e-9)).all()
    spent = FLOPS_PER_PARAM_TOKEN * params * tokens
    np.testing.assert_allclose(spent, np.broadcast_to(inside["budget"].values[:, None, None], spent.shape),
                               rtol=1e-9)
    np.testing.assert_allclose(inside["tokens_per_param"], 1000 * tokens / params)
    # the optimum is the best split on the grid, per draw
    best = inside["value_grid"].max("grid")
    np.testing.assert_allclose(inside["value"], best)

    table = summarize_split(split)
    assert list(table["budget_flops"]) == list(budgets)
    assert (table["params_b_lower"] <= table["params_b_median"]).iloc[1:-1].all()


def test_compute_optimal_split_targets(model):
    budgets = default_budgets(model, n=3)
    skill = str(model.posterior["skill"].values[1])
    by_skill = compute_optimal_split(model, budgets, target=f"skill:{skill}", n_grid=15)
    same_skill_other_family = compute_optimal_split(
        model, budgets, target=f"skill:{skill}", family="qwen2", n_grid=15
    )
    # family effects shift a skill by a constant: the optimal split does not depend on the family
    np.testing.assert_allclose(by_skill["params_b"], same_skill_other_family["params_b"])
    bench = model.design.benchmarks[0]
    by_bench = compute_optimal_split(model, budgets, target=bench, n_grid=15)
    assert ((by_bench["value"] > 0) & (by_bench["value"] < 1)).all()
    with pytest.raises(ValueError, match="target"):
        compute_optimal_split(model, budgets, target="no-such-benchmark")
    with pytest.raises(ValueError, match="budgets"):
        compute_optimal_split(model, [-1.0])


# ---------------------------------------------------------------------------- make_figures
def test_make_figures_writes_png_and_pdf(model, evaluation, tmp_path):
    paths = make_figures(model, tmp_path / "figures", evaluation=evaluation, dpi=60)
    stems = {p.stem for p in paths}
    assert {"diagnostics_trace", "diagnostics_ppc", "diagnostics_loo_pit", "skills_loadings",
            "skills_correlation", "skills_known_vs_unseen", "skills_scaling_curves",
            "compute_optimal_average", "evaluation_mae_heatmap", "evaluation_calibration",
            "evaluation_interval_width"} <= stems
    for stem in stems:
        for fmt in ("png", "pdf"):
            path = tmp_path / "figures" / f"{stem}.{fmt}"
            assert path in paths and path.stat().st_size > 1000
    assert not plt.get_fignums()  # every figure closed
