"""Tests for the helpers the scripts in benchmarks/ share (they are scripts, not package modules)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from scaling_bayes.model import Priors

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name: str):
    """Import ``benchmarks/<name>.py`` (a script, not a package module)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def loo_compare():
    return _script("loo_compare")


def test_parse_variant_sets_only_the_named_keywords(loo_compare) -> None:
    assert loo_compare.parse_variant("k3") == {"n_skills": 3}
    assert loo_compare.parse_variant("k4-floor-slopes") == {
        "n_skills": 4, "learned_floors": True, "family_slopes": True}
    assert loo_compare.parse_variant("k4-nosq")["covariates"] == "translog"
    assert loo_compare.parse_variant("k4-sq-robust") == {
        "n_skills": 4, "covariates": "translog_sq", "robust_families": True}


def test_parse_variant_reads_prior_overrides(loo_compare) -> None:
    kwargs = loo_compare.parse_variant("k4-bench@log_nu_sd=1.5")
    assert kwargs["benchmark_effects"] is True
    assert kwargs["priors"] == Priors(log_nu_sd=1.5)


def test_parse_variant_reads_an_anchor_set_whose_names_hold_hyphens(loo_compare) -> None:
    kwargs = loo_compare.parse_variant("k3-slopes:MMLU-PRO, MATH Lvl 5,IFEval@log_nu_sd=1.5")
    assert kwargs["anchors"] == ("MMLU-PRO", "MATH Lvl 5", "IFEval")
    assert kwargs["family_slopes"] is True and kwargs["priors"] == Priors(log_nu_sd=1.5)


@pytest.mark.parametrize("spec, message", [
    ("k4-slope", "unknown suffix 'slope'"),
    ("four", "expected k<K>"),
    ("k4-floor-floor", "expected k<K>"),
    ("k4-sq-nosq", "'nosq' sets ['covariates'] again"),
])
def test_parse_variant_rejects_bad_specs_by_name(loo_compare, spec: str, message: str) -> None:
    with pytest.raises(SystemExit) as err:
        loo_compare.parse_variant(spec)
    assert message in str(err.value) and spec in str(err.value)


def test_coverage_intervals_script_writes_the_table_and_names_a_missing_run(tmp_path, capsys) -> None:
    import pandas as pd

    script = _script("coverage_intervals")
    with pytest.raises(SystemExit, match="predictions.csv not found"):
        script.main([str(tmp_path)])

    rows = []
    for group, inside in (("g1", (True, True)), ("g2", (True, False))):
        for i, ok in enumerate(inside):
            rows.append({"benchmark_set": "all12", "n_train_per_family": 1, "test_group": group,
                         "model": f"{group}-{i}", "benchmark": "MMLU", "observed": 0.5, "mean": 0.5,
                         "median": 0.5, "lower_90": 0.4 if ok else 0.6, "upper_90": 0.7})
    pd.DataFrame(rows).to_csv(tmp_path / "predictions.csv", index=False)
    table = script.main([str(tmp_path), "--prob", "0.8"])
    written = pd.read_csv(tmp_path / "coverage_intervals_90.csv", index_col=[0, 1])
    assert table.loc[("all12", 1), "coverage"] == written.loc[("all12", 1), "coverage"] == 0.75
    assert "coverage" in capsys.readouterr().out


def test_merge_refuses_runs_fitted_under_different_configurations(tmp_path, capsys) -> None:
    import json

    import pandas as pd

    compare_runs = _script("compare_runs")
    committed = BENCHMARKS / "results" / "sloth_translog_sq"
    preds = pd.read_csv(committed / "predictions.csv")
    runs = []
    for n in (1, 2):
        run = tmp_path / f"n{n}"
        (run / "folds").mkdir(parents=True)
        preds[preds["n_train_per_family"] == n].to_csv(run / "predictions.csv", index=False)
        config = {"factory": "f()", "sample_kwargs": {"draws": 300 if n == 1 else 500}, "random_seed": 0}
        (run / "folds" / "fold.json").write_text(json.dumps({"config": config}))
        runs.append(run)
    with pytest.raises(SystemExit, match="(?s)2 configurations.*n2/fold"):
        compare_runs.merge(tmp_path / "merged", runs)
    assert not (tmp_path / "merged").exists()
    merged = compare_runs.merge(tmp_path / "merged", runs, allow_mixed=True)
    assert len(merged.predictions) == len(preds)


def test_lvf_headline_reads_each_settings_average_in_pp_from_a_run_on_random_family_folds(tmp_path) -> None:
    """The runner on data outside the protocol (LVF v2, random family folds, no Sloth reference
    rows) and the script's one-row-per-setting headline, in pp and %."""
    import functools
    import warnings

    import numpy as np

    from scaling_bayes import load_dataset
    from scaling_bayes.evaluation import family_holdout_folds, run_protocol
    from test_evaluation_stacking import GaussianClimatology

    lvf_protocol = _script("lvf_protocol")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_dataset("lvf_leaderboard_v2").fittable()
    folds = family_holdout_folds(data, "lvf_leaderboard_v2", n_folds=3)
    factory = functools.partial(GaussianClimatology, log_dir=str(tmp_path), n_draws=20)
    result = run_protocol(factory, out_dir=tmp_path / "run", data=data, folds=folds, scheduler="sync", progress=False)
    assert len(result.predictions) == sum(len(f.test_models) for f in folds) * len(data.benchmarks)
    row = lvf_protocol.headline(result, "climatology")
    assert len(row) == 1 and row.loc[0, "forecaster"] == "climatology"
    assert row.loc[0, "benchmark_set"] == "lvf_leaderboard_v2" and row.loc[0, "n_train_per_family"] == 1
    metrics = result.metrics.reset_index()
    average = metrics[metrics["benchmark"] == "Average"].iloc[0]
    np.testing.assert_allclose(row.loc[0, "mae_family_macro_pp"], 100 * average["mae_family_macro"])
    np.testing.assert_allclose(row.loc[0, "coverage_90"], 100 * average["coverage_90"])
    assert row.loc[0, "n_rows"] == result.predictions["observed"].notna().sum()


def test_lvf_forecasters_are_the_named_components_then_the_variant_specs() -> None:
    lvf_protocol = _script("lvf_protocol")
    factories = lvf_protocol.forecasters(["flops"], ["k3:MMLU-PRO,BBH,IFEval", "k4-iprec"])
    assert list(factories) == ["flops", "k3:MMLU-PRO,BBH,IFEval", "k4-iprec"]
    assert factories["k3:MMLU-PRO,BBH,IFEval"].keywords == {"n_skills": 3, "anchors": ("MMLU-PRO", "BBH", "IFEval")}
    assert factories["k4-iprec"]().config.instruct_precision
    assert lvf_protocol.forecasters([], []) == {}


def test_rescore_rewrites_derived_tables_and_finds_a_compared_run_by_its_mae(tmp_path) -> None:
    """``rescore_results``: a run's stale metrics are recomputed from its predictions, and a
    ``compare_*.md`` column is rewritten from the one same-named run whose MAE it shows."""
    import pandas as pd

    from scaling_bayes.evaluation import compute_metrics

    rescore = _script("rescore_results")
    preds = pd.read_csv(BENCHMARKS / "results" / "sloth_translog_sq" / "predictions.csv")
    preds = preds[preds["benchmark_set"] == "leaderboard_v2"]
    runs = []
    for n in (1, 2):
        run = tmp_path / f"n{n}" / "latent"
        run.mkdir(parents=True)
        preds[preds["n_train_per_family"] == n].to_csv(run / "predictions.csv", index=False)
        runs.append(run)
    stale = compute_metrics(preds[preds["n_train_per_family"] == 1]).assign(coverage_90=0.0)
    stale.to_csv(runs[0] / "metrics.csv")
    rescore.rescore_run(runs[0])
    fresh = pd.read_csv(runs[0] / "metrics.csv", index_col=[0, 1, 2])
    assert fresh["coverage_90"].to_numpy() == pytest.approx(
        compute_metrics(preds[preds["n_train_per_family"] == 1])["coverage_90"].to_numpy())
    assert (runs[0] / "summary.md").is_file()

    wanted = rescore.to_markdown(pd.concat({"latent": rescore.setting_table(runs[1])}, axis=1).round(2))
    table = tmp_path / "compare_x.md"
    cells = wanted.splitlines()[2].split(" | ")  # setting, mae, sloth_best, cov90, ...
    stale_row = " | ".join([*cells[:3], "0.00", *cells[4:]])
    table.write_text(wanted.replace(wanted.splitlines()[2], stale_row))
    assert table.read_text() != wanted
    rescore.rescore_comparison(table, runs)
    assert table.read_text() == wanted
    table.write_text(wanted.replace(wanted.splitlines()[2], " | ".join([cells[0], "9.99", *cells[2:]])))
    with pytest.raises(SystemExit, match="0 run directories named 'latent'"):
        rescore.rescore_comparison(table, runs)


def test_sbc_pits_are_the_share_of_draws_below_the_truth_and_the_summary_flags_overconfidence() -> None:
    """``world_pits``: the rank of each true value among the (thinned) posterior draws,
    labelled by the element's coordinates, and its randomised PIT inside the rank's bin.
    ``summarise``: uniform PITs pass ArviZ's uniformity test and cover at their nominal
    rates; PITs piled at 0 and 1 (an overconfident posterior) fail it and cover far too
    rarely."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    sbc = _script("sbc")
    draws = np.arange(200.0).reshape(2, 100)  # chain 0: 0..99, chain 1: 100..199
    posterior = xr.Dataset({"log_nu": (("chain", "draw", "benchmark"), np.stack([draws, draws + 1.0], axis=-1)),
                            "skill_mean": (("chain", "draw"), draws)},
                           coords={"benchmark": ["A", "B"]})
    truth = xr.Dataset({"log_nu": (("benchmark",), [50.0, 50.0]), "skill_mean": ((), 250.0)},
                       coords={"benchmark": ["A", "B"]})
    rows = sbc.world_pits(posterior, truth, thin=1, rng=np.random.default_rng(0)).set_index(["variable", "element"])
    assert rows.loc[("log_nu", "A"), "rank"] == 50 and rows.loc[("log_nu", "B"), "rank"] == 49
    assert (rows["n_draws"] == 200).all()
    assert rows.loc[("skill_mean", ""), "rank"] == 200  # above every draw: the last bin, not 1
    assert (rows["rank"] / 201 < rows["pit"]).all() and (rows["pit"] < (rows["rank"] + 1) / 201).all()
    thinned = sbc.world_pits(posterior, truth, thin=2, rng=np.random.default_rng(0)).set_index(["variable", "element"])
    assert thinned.loc[("log_nu", "A"), "rank"] == 25 and thinned.loc[("log_nu", "A"), "n_draws"] == 100

    rng = np.random.default_rng(0)
    n = 200  # worlds: the 90% coverage of uniform PITs is 0.9 ± 0.021 (binomial sd)
    uniform = pd.DataFrame({"world": np.arange(n), "variable": "good", "element": "x", "pit": rng.uniform(size=n)})
    edges = rng.beta(0.3, 0.3, size=n)  # mass at 0 and 1: the truth outside most posteriors
    bad = pd.DataFrame({"world": np.arange(n), "variable": "bad", "element": "x", "pit": edges})
    table = sbc.summarise(pd.concat([uniform, bad])).set_index("variable")
    assert table.loc["good", "min_p_uniform"] > 0.01 and table.loc["good", "n_p_below_0.01"] == 0
    assert abs(table.loc["good", "coverage_90"] - 0.9) < 0.07
    assert table.loc["bad", "min_p_uniform"] < 0.01 and table.loc["bad", "coverage_90"] < 0.75


def test_error_by_family_distance_measures_the_distance_and_the_floor_on_the_protocols_folds(tmp_path) -> None:
    """all12 n=1, test group opt: OPT-30B is forecast from OPT-1.3B (23x beyond it); OPT-1.3B
    scores at MMLU's guessing floor (0.25) but well above HellaSwag's."""
    import warnings

    import pandas as pd

    from scaling_bayes import load_dataset

    script = _script("error_by_family_distance")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        observed = load_dataset("sloth_curated").scores.loc["opt-30b"]
    rows = [{"benchmark_set": "all12", "n_train_per_family": 1, "test_group": "opt", "model": "opt-30b",
             "family2": "opt", "benchmark": b, "observed": observed[b], "mean": observed[b] + shift,
             "median": observed[b] + shift, "lower_90": observed[b] - 0.05, "upper_90": observed[b] + 0.01}
            for b, shift in (("MMLU", 0.10), ("HellaSwag", -0.02))]
    pd.DataFrame(rows).to_csv(tmp_path / "predictions.csv", index=False)
    cells = script.annotate(pd.read_csv(tmp_path / "predictions.csv")).set_index("benchmark")
    assert cells["family_size_ratio"].tolist() == pytest.approx([30 / 1.3] * 2)
    assert (cells["distance"] == "beyond 10x").all()
    assert cells.at["MMLU", "floor_bound"] and not cells.at["HellaSwag", "floor_bound"]
    assert cells.at["MMLU", "signed"] == pytest.approx(10.0) and cells.at["HellaSwag", "error"] == pytest.approx(2.0)
    assert cells["covered_90"].tolist() == [True, True] and cells["sloth_best"].notna().all()
    by_distance, at_floor = script.main([str(tmp_path)])
    assert by_distance.loc["beyond 10x", "mae"] == pytest.approx(6.0) and by_distance.loc["beyond 10x", "cells"] == 2
    assert at_floor.loc[("all12 n=1", True), "bias"] == pytest.approx(10.0)
    assert (tmp_path / "error_by_family_distance.csv").is_file() and (tmp_path / "error_at_floor.csv").is_file()
    with pytest.raises(SystemExit, match="predictions.csv not found"):
        script.main([str(tmp_path / "nowhere")])


def test_leaderboard_scale_masks_only_observed_cells_and_scores_exactly_them() -> None:
    """``masked_cells`` hides a share of the *observed* cells (its truth holds exactly those,
    never a cell that was missing anyway) and drops models left with nothing; ``metrics``
    scores the masked cells by hand-checkable rules."""
    import numpy as np
    import pandas as pd

    scale = _script("leaderboard_scale")
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.uniform(size=(40, 3)), columns=["MMLU", "ARC", "GSM8K"],
                          index=pd.Index([f"m{i}" for i in range(40)], name="model"))
    scores = scores.mask(rng.uniform(size=scores.shape) < 0.3)  # cells missing from the start
    masked, truth = scale.masked_cells(scores, share=0.3, seed=3)
    assert truth.notna().all() and len(truth) > 0
    for (model, bench), value in truth.items():
        assert value == scores.at[model, bench] and np.isnan(masked.at[model, bench])
    # every observed cell of a kept model is either still observed or masked (and a model left
    # with no observed cell is dropped: it carries nothing to fit)
    kept = scores.loc[masked.index]
    assert masked.notna().sum().sum() + len(truth) == kept.notna().sum().sum()
    assert masked.notna().any(axis=1).all()

    cells = pd.DataFrame({"observed": [0.5, 0.7], "mean": [0.4, 0.7], "baseline": [0.6, 0.6],
                          "lower_50": [0.45, 0.65], "upper_50": [0.55, 0.68],
                          "lower_90": [0.3, 0.6], "upper_90": [0.6, 0.8]})
    m = scale.metrics(cells)
    assert m["mae_pp"] == pytest.approx(5.0) and m["mae_baseline_pp"] == pytest.approx(10.0)
    assert m["coverage_50"] == pytest.approx(50.0) and m["coverage_90"] == pytest.approx(100.0)
    assert m["width_90_pp"] == pytest.approx(25.0)
