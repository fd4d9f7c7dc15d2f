"""run_protocol end to end with a tiny, cheap but legitimate forecaster."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from scaling_bayes.data import ScoreTable, load_dataset
from scaling_bayes.evaluation import (
    PREDICTION_COLUMNS,
    EvaluationResult,
    FoldEvaluationError,
    prediction_cases,
    run_protocol,
    sloth_folds,
)


class ClimatologyForecaster:
    """Per-benchmark least-squares line in log compute plus bootstrapped training residuals.

    Cheap and legitimate (uses only training rows); logs each ``fit`` call to ``log_dir``.
    """

    def __init__(self, log_dir: str, n_draws: int = 100, fail_on: str | None = None):
        self.log_dir = Path(log_dir)
        self.n_draws = n_draws
        self.fail_on = fail_on
        self._diagnostics: dict = {}

    @staticmethod
    def _log_compute(models: pd.DataFrame) -> np.ndarray:
        return np.log(6 * models["params_b"].to_numpy() * models["tokens_t"].to_numpy())

    def fit(self, data: ScoreTable, *, random_seed: int, **sample_kwargs):
        with open(self.log_dir / "fit_calls.txt", "a") as fh:
            fh.write(f"{os.getpid()} {len(data.models)}\n")
        x = self._log_compute(data.models)
        design = np.column_stack([np.ones_like(x), x])
        y = data.scores.to_numpy()
        self.coef_, *_ = np.linalg.lstsq(design, y, rcond=None)  # (2, n_benchmarks)
        self.residuals_ = y - design @ self.coef_  # (n_train, n_benchmarks)
        self.benchmarks_ = list(data.scores.columns)
        self._diagnostics = {"max_rhat": 1.0, "min_ess_bulk": float(self.n_draws), "divergences": 0,
                             "fit_seconds": 0.001, "sample_kwargs": sample_kwargs}
        return self

    def predictive_draws(self, new_models: pd.DataFrame, *, random_seed: int) -> xr.DataArray:
        if self.fail_on is not None and (new_models["family"] == self.fail_on).any():
            raise RuntimeError("boom")
        rng = np.random.default_rng(random_seed)
        x = self._log_compute(new_models)
        mean = np.column_stack([np.ones_like(x), x]) @ self.coef_  # (n_new, n_benchmarks)
        idx = rng.integers(0, len(self.residuals_), size=(2, self.n_draws, len(x), len(self.benchmarks_)))
        noise = self.residuals_[idx, np.arange(len(self.benchmarks_))]  # (chain, draw, model, benchmark)
        draws = np.clip(mean[None, None] + noise, 0.0, 1.0)
        return xr.DataArray(draws, dims=("chain", "draw", "model", "benchmark"),
                            coords={"model": new_models.index.to_numpy(), "benchmark": self.benchmarks_})

    @property
    def diagnostics(self) -> dict:
        return self._diagnostics


def _fit_calls(log_dir: Path) -> int:
    path = log_dir / "fit_calls.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture(scope="module")
def data() -> ScoreTable:
    return load_dataset("sloth_curated", benchmarks="all12")


@pytest.fixture(scope="module")
def two_folds(data):
    return sloth_folds("leaderboard_v2", 2, data=data)[:2]


def test_run_protocol_local_cluster_resume_and_reload(tmp_path, data, two_folds):
    factory = functools.partial(ClimatologyForecaster, log_dir=str(tmp_path))
    out = tmp_path / "out"
    result = run_protocol(factory, out_dir=out, data=data, folds=two_folds, n_workers=1,
                          sample_kwargs={"draws": 10}, progress=False)
    assert _fit_calls(tmp_path) == 2
    for name in ("predictions.csv", "metrics.csv", "comparison.csv", "diagnostics.csv", "summary.md",
                 "win_rates.csv", "metrics_calibrated.csv"):
        assert (out / name).is_file(), name
    for fold in two_folds:
        assert (out / "folds" / f"{fold.slug}.csv").is_file()
        record = json.loads((out / "folds" / f"{fold.slug}.json").read_text())
        assert record["fold"]["test_models"] == list(fold.test_models)
        assert record["diagnostics"]["sample_kwargs"] == {"draws": 10}
    assert not list((out / "folds").glob("*.tmp"))

    n_rows = sum(len(f.test_models) for f in two_folds) * 6
    preds = result.predictions
    assert list(preds.columns) == list(PREDICTION_COLUMNS) and len(preds) == n_rows
    assert set(preds["case"]) == {"known_variant"}  # n=2: every test family has training models
    assert set(preds["test_group"]) == {f.group_label for f in two_folds}
    assert preds[["lower_95", "mean", "upper_95", "crps"]].notna().all().all()
    assert (preds["lower_50"] >= preds["lower_95"]).all() and (preds["upper_50"] <= preds["upper_95"]).all()
    comp = result.comparison.loc[("leaderboard_v2", 2, "Average")]
    assert comp["n_matched"] == comp["n_predictions"] == n_rows
    assert result.metrics.loc[("leaderboard_v2", 2, "Average"), "n_models"] == n_rows // 6
    diag = result.diagnostics
    assert list(diag["test_group"]) == [f.group_label for f in two_folds]
    assert (diag["max_rhat"] == 1.0).all() and (diag["divergences"] == 0).all()
    # iid bootstrap draws: the forecasts' own R-hat is ~1 (MC sd ≈ 0.01 at 2 × 100 draws)
    assert (diag["max_rhat_forecast"] < 1.1).all() and (diag["min_ess_forecast"] > 50).all()
    assert (diag["n_test"] == [len(f.test_models) for f in two_folds]).all()
    summary = (out / "summary.md").read_text()
    assert "Accuracy vs Sloth" in summary
    # two of the setting's nine groups: said, and the rows counted against the reference's
    assert comp["n_reference"] > n_rows and f"| {n_rows}/{int(comp['n_reference'])} |" in summary
    assert f"**Partial run:** only some of the protocol's rows are forecast in leaderboard_v2, n=2 ({n_rows} of" in summary

    # resume: everything cached -> no fit; save=False leaves the all-folds tables as they were
    first_fold = run_protocol(factory, out_dir=out, data=data, folds=two_folds[:1], scheduler="sync",
                              sample_kwargs={"draws": 10}, progress=False, save=False)
    assert set(first_fold.predictions["test_group"]) == {two_folds[0].group_label}
    assert len(pd.read_csv(out / "predictions.csv")) == n_rows
    again = run_protocol(factory, out_dir=out, data=data, folds=two_folds, scheduler="sync",
                         sample_kwargs={"draws": 10}, progress=False)
    assert _fit_calls(tmp_path) == 2
    pd.testing.assert_frame_equal(again.predictions, result.predictions)

    # a fold whose run was interrupted (no JSON marker) is recomputed, the other is not
    (out / "folds" / f"{two_folds[1].slug}.json").unlink()
    third = run_protocol(factory, out_dir=out, data=data, folds=two_folds, scheduler="sync",
                         sample_kwargs={"draws": 10}, progress=False)
    assert _fit_calls(tmp_path) == 3
    assert third.diagnostics["predict_seconds"].iloc[0] == result.diagnostics["predict_seconds"].iloc[0]

    # another model or sampler setting never reuses the cache: its folds are refitted
    other = functools.partial(ClimatologyForecaster, log_dir=str(tmp_path), n_draws=20)
    refit = run_protocol(other, out_dir=out, data=data, folds=two_folds[:1], scheduler="sync",
                         sample_kwargs={"draws": 10}, progress=False, save=False)
    assert _fit_calls(tmp_path) == 4
    assert refit.predictions["crps"].ne(third.predictions["crps"].iloc[: len(refit.predictions)]).any()
    run_protocol(other, out_dir=out, data=data, folds=two_folds[:1], scheduler="sync",
                 sample_kwargs={"draws": 20}, progress=False, save=False)
    assert _fit_calls(tmp_path) == 5
    third = run_protocol(factory, out_dir=out, data=data, folds=two_folds, scheduler="sync",
                         sample_kwargs={"draws": 10}, progress=False)
    assert _fit_calls(tmp_path) == 6  # the first fold's cache now holds the other run: refitted again

    loaded = EvaluationResult.from_dir(out)
    for name in ("predictions", "metrics", "comparison", "diagnostics", "win_rates", "calibrated_metrics",
                 "distance_metrics"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(third, name), obj=name)
    # each test model's distance outside its family's training sizes, from the fold's own split
    fold = two_folds[0]
    train = data.models.loc[list(fold.train_models)]
    rows = third.predictions[third.predictions["test_group"] == fold.group_label].drop_duplicates("model")
    for model, ratio in zip(rows["model"], rows["family_size_ratio"]):
        sizes = train.loc[train["base_family"] == data.models.at[model, "base_family"], "params_b"]
        expected = max(data.models.at[model, "params_b"] / sizes.max(), sizes.min() / data.models.at[model, "params_b"], 1.0)
        assert ratio == pytest.approx(expected)
    assert "## By distance outside the family's training sizes" in (out / "summary.md").read_text()
    assert "Cross-fold conformal" in loaded.summary_markdown()
    assert loaded.summary_markdown() == (out / "summary.md").read_text()
    (out / "metrics_calibrated.csv").unlink()  # a missing derived table is recomputed on load
    pd.testing.assert_frame_equal(EvaluationResult.from_dir(out).calibrated_metrics, third.calibrated_metrics,
                                  check_exact=False)


def test_deterministic_seeds_and_failure(tmp_path, data, two_folds):
    factory = functools.partial(ClimatologyForecaster, log_dir=str(tmp_path))
    a = run_protocol(factory, out_dir=tmp_path / "a", data=data, folds=two_folds, scheduler="sync",
                     random_seed=3, progress=False)
    b = run_protocol(factory, out_dir=tmp_path / "b", data=data, folds=two_folds[::-1], scheduler="sync",
                     random_seed=3, progress=False)
    key = ["test_group", "model", "benchmark"]
    pd.testing.assert_frame_equal(a.predictions.sort_values(key, ignore_index=True),
                                  b.predictions.sort_values(key, ignore_index=True))

    failing = functools.partial(ClimatologyForecaster, log_dir=str(tmp_path), fail_on=two_folds[1].test_group[0])
    out = tmp_path / "fail"
    with pytest.raises(FoldEvaluationError, match="boom"):
        run_protocol(failing, out_dir=out, data=data, folds=two_folds, scheduler="sync", progress=False)
    assert (out / "folds" / f"{two_folds[0].slug}.json").is_file()  # the good fold stays cached
    assert not (out / "predictions.csv").exists()


def test_whole_setting_matches_reference_rows(tmp_path, data):
    factory = functools.partial(ClimatologyForecaster, log_dir=str(tmp_path), n_draws=20)
    result = run_protocol(factory, settings=[("all12", 2)], out_dir=tmp_path / "all12", data=data,
                          scheduler="sync", progress=False)
    comp = result.comparison.loc[("all12", 2, "Average")]
    assert comp["n_matched"] == comp["n_predictions"] == comp["n_reference"] == 20 * 12
    assert "Partial run" not in result.summary_markdown() and "| 240/240 |" in result.summary_markdown()
    assert _fit_calls(tmp_path) == 7
    assert len(result.win_rates) == 20 and result.win_rates["n_pairs"].eq(12).all()


def test_unseen_setting_cases_and_summary(tmp_path, data):
    groups = {("bloom",), ("qwen2", "qwen2-instruct", "dolphin-2.9.2-qwen2")}
    folds = [f for f in sloth_folds("leaderboard_v2", 0, data=data) if f.test_group in groups]
    factory = functools.partial(ClimatologyForecaster, log_dir=str(tmp_path), n_draws=20)
    out = tmp_path / "unseen"
    result = run_protocol(factory, out_dir=out, data=data, folds=folds, scheduler="sync", progress=False)
    preds = result.predictions
    # the runner's case column is the split's, and prediction_cases rebuilds it from the table
    pd.testing.assert_series_equal(prediction_cases(preds, data), preds["case"], check_dtype=False)
    # bloom's base family never trains; qwen2's does, through orca_mini_v7_
    by_group = preds.groupby("test_group")["case"].agg(set)
    assert by_group["bloom"] == {"new_family"}
    assert by_group["qwen2+qwen2-instruct+dolphin-2.9.2-qwen2"] == {"new_variant"}
    cases = result.case_metrics.loc[("leaderboard_v2", 0)]
    assert list(cases.index) == ["new_variant", "new_family"]
    assert cases["n_rows"].sum() == len(preds)
    qwen = preds[preds["case"] == "new_variant"]
    assert cases.loc["new_variant", "mae_pooled"] == pytest.approx((qwen["mean"] - qwen["observed"]).abs().mean())
    # no Sloth reference at n=0: the accuracy table says so instead of printing an empty row
    assert result.comparison.loc[("leaderboard_v2", 0, "Average"), "n_matched"] == 0
    summary = (out / "summary.md").read_text()
    assert "no errors for them: leaderboard_v2, n=0" in summary and "| leaderboard_v2, n=0 | –" not in summary
    assert "## By forecast case" in summary and "new variant of a known base family" in summary
    loaded = EvaluationResult.from_dir(out)
    pd.testing.assert_frame_equal(loaded.case_metrics, result.case_metrics, check_dtype=False)


def test_forecast_convergence_reads_mu_where_given_and_flags_disagreeing_chains(data, two_folds):
    """Chains that disagree about a test cell give a large forecast R-hat; the latent mean
    ``mu`` is judged where the forecaster returns it, the predictive score otherwise."""
    from scaling_bayes.evaluation.runner import _as_draws, _forecast_convergence

    fold = two_folds[0]
    rng = np.random.default_rng(0)
    shape = (2, 200, len(fold.test_models), len(fold.benchmarks))
    coords = {"model": list(fold.test_models), "benchmark": list(fold.benchmarks)}
    dims = ("chain", "draw", "model", "benchmark")
    agree = xr.DataArray(0.5 + 0.01 * rng.standard_normal(shape), dims=dims, coords=coords)
    apart = agree + xr.DataArray([0.0, 0.1], dims="chain")  # chain 2 sits 10 sd higher
    split = _forecast_convergence(apart, _as_draws(apart, fold), fold)
    assert split["max_rhat_forecast"] > 1.5
    both = xr.Dataset({"score": apart, "mu": agree})
    fine = _forecast_convergence(both, _as_draws(both, fold), fold)
    assert fine["max_rhat_forecast"] < 1.05 and fine["min_ess_forecast"] > 200


class SettingsForecaster(ClimatologyForecaster):
    """Reports its settings, like ``LatentSkillModel.settings``; ``version`` stands for a default."""

    version = 1

    def settings(self) -> dict:
        return {"n_draws": self.n_draws, "version": type(self).version}


def test_a_changed_default_refits_cached_folds_and_older_caches_still_serve(tmp_path, data, two_folds, monkeypatch):
    factory = functools.partial(SettingsForecaster, log_dir=str(tmp_path), n_draws=20)
    kwargs = dict(out_dir=tmp_path / "out", data=data, folds=two_folds[:1], scheduler="sync", progress=False,
                  save=False)
    run_protocol(factory, **kwargs)
    run_protocol(factory, **kwargs)
    assert _fit_calls(tmp_path) == 1
    record_path = tmp_path / "out" / "folds" / f"{two_folds[0].slug}.json"
    assert json.loads(record_path.read_text())["config"]["forecaster"] == {"n_draws": 20, "version": 1}

    monkeypatch.setattr(SettingsForecaster, "version", 2)  # same factory, another default
    run_protocol(factory, **kwargs)
    assert _fit_calls(tmp_path) == 2

    # a cache written before settings joined the key is compared on the rest
    record = json.loads(record_path.read_text())
    del record["config"]["forecaster"]
    record_path.write_text(json.dumps(record))
    monkeypatch.setattr(SettingsForecaster, "version", 3)
    run_protocol(factory, **kwargs)
    assert _fit_calls(tmp_path) == 2


def test_a_fold_refits_when_its_training_set_its_data_or_its_intervals_change(tmp_path, data, two_folds):
    """The cache stands for the fold as it was fitted: other training models, other observed
    scores (the data were edited) or an interval level it lacks each refit it; an unchanged
    fold is served from the cache."""
    from dataclasses import replace

    factory = functools.partial(ClimatologyForecaster, log_dir=str(tmp_path), n_draws=20)
    fold = two_folds[0]
    kwargs = dict(out_dir=tmp_path / "out", scheduler="sync", progress=False, save=False)
    run_protocol(factory, data=data, folds=[fold], **kwargs)
    run_protocol(factory, data=data, folds=[fold], **kwargs)
    assert _fit_calls(tmp_path) == 1
    fewer = replace(fold, train_models=fold.train_models[1:])  # same slug, one training model less
    run_protocol(factory, data=data, folds=[fewer], **kwargs)
    assert _fit_calls(tmp_path) == 2
    scores = data.scores.copy()
    model, bench = fold.test_models[0], fold.benchmarks[0]
    scores.loc[model, bench] = 0.5 * scores.loc[model, bench]
    edited = ScoreTable(models=data.models, scores=scores, name=data.name)
    run_protocol(factory, data=edited, folds=[fewer], **kwargs)
    assert _fit_calls(tmp_path) == 3
    result = run_protocol(factory, data=edited, folds=[fewer], probs=(0.5, 0.9, 0.99), **kwargs)
    assert _fit_calls(tmp_path) == 4 and "lower_99" in result.predictions.columns
    run_protocol(factory, data=edited, folds=[fewer], probs=(0.5, 0.9), **kwargs)  # a subset: served
    assert _fit_calls(tmp_path) == 4
    # a fold cached before the runner wrote family_size_ratio is served, the column filled in
    csv = tmp_path / "out" / "folds" / f"{fold.slug}.csv"
    pd.read_csv(csv).drop(columns="family_size_ratio").to_csv(csv, index=False)
    served = run_protocol(factory, data=edited, folds=[fewer], probs=(0.5, 0.9), **kwargs)
    assert _fit_calls(tmp_path) == 4 and served.predictions["family_size_ratio"].notna().all()
    assert list(served.predictions.columns[:7]) == list(PREDICTION_COLUMNS[:7])
    with pytest.raises(ValueError, match="no folds to run"):
        run_protocol(factory, data=data, folds=[], **kwargs)


def test_latent_skill_model_settings_hold_every_default():
    from scaling_bayes import LatentSkillModel
    from scaling_bayes.baselines import FlopsLawBaseline

    settings = LatentSkillModel().settings()
    assert settings["class"] == "LatentSkillModel" and settings["model"]["anchors"] is None
    assert settings["model"]["priors"]["log_nu_sd"] == 1.5 and settings["sampler"]["draws"] == 1500
    assert json.loads(json.dumps(settings)) == settings
    assert FlopsLawBaseline().settings()["model"]["priors"]["log_nu_sd"] == 0.75
    assert LatentSkillModel(3).settings() != settings


def test_diagnostics_row_counts_index_lists_and_joins_the_slowest_elements(two_folds) -> None:
    """A fold's diagnostics.csv row: stuck chains are counted (0 when none), the slowest
    elements (:attr:`~scaling_bayes.inference.Diagnostics.slowest`) kept as text."""
    from scaling_bayes.evaluation.runner import _diagnostics_row

    record = {"diagnostics": {"max_rhat": 1.2, "stuck_chains": [], "slowest": ["log_nu[MUSR]: R-hat 1.200, bulk ESS 9",
                                                                             "theta[a, MUSR]: R-hat 1.100, bulk ESS 20"]}}
    row = _diagnostics_row(two_folds[0], record)
    assert row["n_stuck_chains"] == 0 and "n_slowest" not in row
    assert row["slowest"] == "log_nu[MUSR]: R-hat 1.200, bulk ESS 9; theta[a, MUSR]: R-hat 1.100, bulk ESS 20"
    assert row["max_rhat"] == 1.2 and row["test_group"] == two_folds[0].group_label
