"""SkillFactorModel: skills of leaderboard models without params or tokens.

One real fit (a sample of the bundled leaderboard's v1 models, a tenth of its cells masked) and
one simulated world share one compiled graph (same K, benchmarks and link: every input is data).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from scaling_bayes import SkillFactorModel, load_leaderboard_scores
from scaling_bayes.model import FactorConfig, link_mean
from scaling_bayes.skill_model import NotFittedError
from scaling_bayes.workflows import load_fitted

#: structure, not convergence (the real fit's convergence at scale: benchmarks/leaderboard_scale.py)
SMALL_FIT = dict(chains=2, draws=100, tune=200, progressbar=False)


@pytest.fixture(scope="module")
def leaderboard_sample() -> tuple[pd.DataFrame, pd.DataFrame]:
    """200 real leaderboard_v1 models (seeded sample), and the same table with a tenth of its
    cells masked (the truth of the masked cells kept aside)."""
    scores = load_leaderboard_scores("leaderboard_v1").sample(n=200, random_state=0)
    rng = np.random.default_rng(0)
    masked = scores.mask(rng.uniform(size=scores.shape) < 0.1)
    masked = masked[masked.notna().any(axis=1)]
    return scores.loc[masked.index], masked


@pytest.fixture(scope="module")
def fitted(leaderboard_sample) -> SkillFactorModel:
    _, masked = leaderboard_sample
    model = SkillFactorModel(n_skills=2, anchors=("MMLU", "HellaSwag"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few hundred draws: convergence warnings by design
        model.fit(masked, random_seed=1, **SMALL_FIT)
    return model


def test_bundled_leaderboard_scores_are_validated_fractions():
    v1 = load_leaderboard_scores("leaderboard_v1")
    v2 = load_leaderboard_scores("leaderboard_v2")
    assert v1.shape == (6812, 6) and v2.shape == (3017, 6)
    assert v1.index.is_unique and v1.index.name == "model" and v1.columns.name == "benchmark"
    assert not v1.isna().all(axis=1).any()
    # v2 is stored normalised above the floor and read back as accuracy: never below the floor
    from scaling_bayes import default_registry

    floors = default_registry().floors(list(v2.columns)).to_series()
    assert (v2.min() >= floors - 1e-12).all() and (v2.max() <= 1).all()
    assert (v2.min() - floors).abs().min() < 1e-9  # a score normalised to 0 sits at its floor


def test_fit_labels_every_models_skills_and_forecasts_the_masked_cells(leaderboard_sample, fitted):
    truth, masked = leaderboard_sample
    post = fitted.posterior
    assert post["theta"].dims == ("chain", "draw", "model", "skill")
    assert list(post["theta"]["model"].values) == list(masked.index)
    assert list(post["skill"].values) == ["MMLU", "HellaSwag"]
    # the anchors load 1 on their own skill alone, with intercept 0
    loadings = post["loadings"].isel(chain=0, draw=0).to_pandas()
    assert loadings.loc["MMLU"].tolist() == [1.0, 0.0] and loadings.loc["HellaSwag"].tolist() == [0.0, 1.0]
    assert float(abs(post["intercept"].sel(benchmark=["MMLU", "HellaSwag"])).max()) == 0.0

    pred = fitted.predict(prob=0.9, random_seed=2)
    table = pred.table
    assert list(table.columns[:3]) == ["model", "benchmark", "observed"]
    assert len(table) == masked.size  # every model x benchmark, observed or not
    cells = table.set_index(["model", "benchmark"])
    observed = masked.stack(future_stack=True)
    pd.testing.assert_series_equal(cells["observed"], observed.reindex(cells.index), check_names=False)
    assert ((cells["lower"] <= cells["median"]) & (cells["median"] <= cells["upper"])).all()

    # the masked cells are forecasts from each model's other scores: far better than a
    # benchmark's mean (on this fit, 113 cells: MAE 4.7 against 11.3 pp; bound: half the
    # baseline's error)
    hidden = observed.isna()
    hidden_cells = observed.index[hidden.to_numpy()]
    forecast = cells.loc[hidden_cells, "mean"]
    actual = truth.stack(future_stack=True).reindex(hidden_cells)
    baseline = masked.mean().reindex(hidden_cells.get_level_values("benchmark")).to_numpy()
    mae, mae_baseline = (actual - forecast).abs().mean(), (actual - baseline).abs().mean()
    assert mae < 0.5 * mae_baseline, (mae, mae_baseline)


def test_same_seed_same_predictions_and_a_saved_fit_reloads_identically(fitted, tmp_path):
    first = fitted.predict(prob=0.8, random_seed=3).table
    pd.testing.assert_frame_equal(fitted.predict(prob=0.8, random_seed=3).table, first)
    assert not fitted.predict(prob=0.8, random_seed=4).table["median"].equals(first["median"])
    fitted.save(tmp_path / "factor")
    loaded = load_fitted(tmp_path / "factor")
    assert isinstance(loaded, SkillFactorModel) and loaded.config == fitted.config
    pd.testing.assert_frame_equal(loaded.predict(prob=0.8, random_seed=3).table, first)
    # a refit that fails (here: the anchors are not among the new benchmarks) leaves the fit whole
    with pytest.raises(ValueError, match="anchor benchmark"):
        fitted.fit(fitted.design.scores[["GSM8K", "ARC"]].dropna(how="all"), random_seed=1, **SMALL_FIT)
    assert len(fitted.design.benchmarks) == 6
    pd.testing.assert_frame_equal(fitted.predict(prob=0.8, random_seed=3).table, first)
    with pytest.raises(ValueError, match="holds a saved SkillFactorModel"):
        from scaling_bayes import LatentSkillModel

        LatentSkillModel.load(tmp_path / "factor")


def test_default_anchors_are_the_factor_models_own_preference():
    """Knowledge and commonsense anchors, not GSM8K (the main model's second): on leaderboard_v1
    MMLU and HellaSwag, on leaderboard_v2 MMLU-PRO and BBH."""
    from scaling_bayes.benchmarks import benchmark_set
    from scaling_bayes.model import resolve_anchors

    assert resolve_anchors(FactorConfig(), benchmark_set("leaderboard_v1")) == ("MMLU", "HellaSwag")
    assert resolve_anchors(FactorConfig(), benchmark_set("leaderboard_v2")) == ("MMLU-PRO", "BBH")


def test_unfitted_and_bad_requests_get_clear_errors():
    model = SkillFactorModel()
    with pytest.raises(NotFittedError, match=r"not fitted: call fit\(scores\) or load\(path\)"):
        model.predict()
    scores = pd.DataFrame({"MMLU": [0.5, 0.6], "ARC": [0.4, np.nan]}, index=pd.Index(["a", "b"], name="model"))
    with pytest.raises(ValueError, match="n_skills=3 needs 3 anchor benchmarks"):
        SkillFactorModel(n_skills=3).fit(scores)


def test_simulated_world_loadings_and_skills_are_recovered(leaderboard_sample, fitted):
    """Scores drawn from known loadings and skills on the real sample's cells (~200 models); the
    fit must recover each free loading and intercept within 4 posterior sd (a calibrated posterior
    misses that by chance with probability 6e-5 per parameter, ~1e-3 for all 8) and each
    model's skills (correlation of posterior means with the truth > 0.9 per skill)."""
    rng = np.random.default_rng(7)
    _, masked = leaderboard_sample
    benchmarks = list(masked.columns)
    floors = fitted.design.floors.to_numpy()
    n = len(masked)
    theta = rng.multivariate_normal([0.5, 0.8], [[1.0, 0.6], [0.6, 1.0]], size=n)  # (model, skill)
    loadings = np.array([[1.0, 0.0] if b == "MMLU" else [0.0, 1.0] if b == "HellaSwag"
                         else rng.uniform(0.3, 1.2, size=2) for b in benchmarks])
    intercept = np.array([0.0 if b in ("MMLU", "HellaSwag") else rng.normal(0, 0.5) for b in benchmarks])
    mu = link_mean(theta @ loadings.T + intercept, floors, 1.0)
    phi = 300.0
    y = rng.beta(mu * phi, (1 - mu) * phi)
    world = pd.DataFrame(np.where(masked.notna(), y, np.nan), index=masked.index, columns=benchmarks)
    model = SkillFactorModel(n_skills=2, anchors=("MMLU", "HellaSwag"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(world, random_seed=1, **{**SMALL_FIT, "draws": 200})
    post = model.posterior
    free = [j for j, b in enumerate(benchmarks) if b not in ("MMLU", "HellaSwag")]
    for name, truth in (("loadings", xr.DataArray(loadings[free], dims=("benchmark", "skill"))),
                        ("intercept", xr.DataArray(intercept[free], dims="benchmark"))):
        draws = post[name].isel(benchmark=free)
        z = (draws.mean(("chain", "draw")).values - truth.values) / draws.std(("chain", "draw")).values
        assert np.all(np.abs(z) < 4), (name, z)
    estimate = post["theta"].mean(("chain", "draw")).values
    for k in range(2):
        assert np.corrcoef(estimate[:, k], theta[:, k])[0, 1] > 0.9
