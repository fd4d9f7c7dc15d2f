"""Every figure of ``scaling_bayes.plots`` on one tiny real fit, the PIT values behind the
LOO-PIT figure, and ``make_figures`` (the compute-optimal numbers: ``tests/test_compute_optimal.py``).

The fit is the notebooks' fast fit (the ``small_v2`` subset, 2 skills, 2 × 50 draws), shared
through the session cache with ``tests/test_notebooks.py``; it is far from converged, which
the figures must survive.
"""

from __future__ import annotations


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from scaling_bayes import LatentSkillModel, plots  # noqa: E402
from scaling_bayes.evaluation import EvaluationResult, fold_split, sloth_folds, summarize_draws  # noqa: E402
from scaling_bayes.workflows import make_figures  # noqa: E402


@pytest.fixture(scope="module")
def model(fast_fit) -> LatentSkillModel:
    return fast_fit


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
    # PSIS succeeds on this fit: a column of NaN (the PSIS-failure fallback) must not pass
    assert table["pit"].notna().all() and table["pit_insample"].notna().all()
    for column in ("pit", "pit_insample"):
        assert table[column].between(0, 1).all()


def test_insample_pit_is_the_share_of_replicates_at_or_below_the_observed_score(model):
    """``pit_insample`` recomputed by hand from ``insample_draws`` (same seed), cell by cell
    through the table's own model and benchmark labels: guards the direction of the
    comparison (``rep <= y``, not 1 − PIT) and the cell alignment."""
    table = plots.pit_values(model, random_seed=3)
    rep = model.insample_draws(random_seed=3)["score"].sel(
        model=xr.DataArray(table["model"].to_numpy(), dims="cell"),
        benchmark=xr.DataArray(table["benchmark"].to_numpy(), dims="cell"),
    )
    observed = xr.DataArray(table["observed"].to_numpy(), dims="cell")
    expected = (rep <= observed).mean(("chain", "draw")).values
    np.testing.assert_allclose(table["pit_insample"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(table["observed"], model.design.y)
    # LOO-PIT reweights the same replicates, so it tracks the in-sample PIT (a flipped or
    # misaligned LOO-PIT would correlate negatively or not at all)
    assert np.corrcoef(table["pit"], table["pit_insample"])[0, 1] > 0.8


def test_plot_arguments_are_checked(model):
    with pytest.raises(ValueError, match="variant family"):
        plots.plot_known_vs_unseen(model, "no-such-family", 7, 1)
    with pytest.raises(ValueError, match="level"):
        plots.plot_family_efficiency(model, level="model")
    with pytest.raises(ValueError, match="kind"):
        plots.plot_trace(model, kind="pair")
    with pytest.raises(ValueError, match="var_names"):
        plots.plot_trace(model, ["no_such_variable"])


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
