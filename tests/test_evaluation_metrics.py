"""Metrics on hand-constructed prediction tables whose answers are computable by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from scaling_bayes.evaluation import (
    PREDICTION_COLUMNS,
    compare_with_sloth,
    compute_metrics,
    coverage_intervals,
    load_reference_errors,
    metrics_by_case,
    metrics_by_distance,
    metrics_markdown,
    paired_win_rates,
    sloth_method,
    summarize_draws,
)
from scaling_bayes.evaluation.metrics import observed_at_resolution
from scaling_bayes.evaluation.reference import pca_method


def _row(group, model, bench, observed, mean, half_widths=(0.01, 0.02, 0.03, 0.04), crps=0.0, setting=("all12", 1),
         case="known_variant"):
    row = {
        "benchmark_set": setting[0], "n_train_per_family": setting[1], "test_group": group, "model": model,
        "family2": group.split("+")[0], "case": case, "benchmark": bench, "observed": observed, "mean": mean, "median": mean,
        "crps": crps, "lpd": np.log(2.0), "family_size_ratio": 1.0,
    }
    for p, h in zip((50, 80, 90, 95), half_widths):
        row[f"lower_{p}"], row[f"upper_{p}"] = mean - h, mean + h
    return row


@pytest.fixture
def predictions() -> pd.DataFrame:
    # group "a" has one model, group "b+c" three; two benchmarks X, Y
    rows = [
        _row("a", "a1", "X", 0.50, 0.60, crps=0.08),  # error 0.10, outside all intervals
        _row("a", "a1", "Y", 0.50, 0.52, crps=0.01),  # error 0.02, inside 80/90/95 (not 50)
        _row("b+c", "b1", "X", 0.30, 0.30, crps=0.0),  # error 0
        _row("b+c", "b2", "X", 0.30, 0.30, crps=0.0),
        _row("b+c", "c1", "X", 0.30, 0.30, crps=0.0),
        _row("b+c", "b1", "Y", 0.40, 0.44, crps=0.02),  # error 0.04, inside 95 only (width 0.08)
        _row("b+c", "b2", "Y", 0.40, 0.40, crps=0.0),
        _row("b+c", "c1", "Y", 0.40, 0.40, crps=0.0),
    ]
    return pd.DataFrame(rows)[list(PREDICTION_COLUMNS)]


def test_family_macro_vs_pooled(predictions):
    m = compute_metrics(predictions)
    x, y, avg = (m.loc[("all12", 1, b)] for b in ("X", "Y", "Average"))
    # X: group a -> 0.10, group b+c -> 0 ; macro = 0.05, pooled = 0.10 / 4
    assert x["mae_family_macro"] == pytest.approx(0.05)
    assert x["mae_pooled"] == pytest.approx(0.025)
    # Y: group a -> 0.02, group b+c -> 0.04/3 ; macro = (0.02 + 0.04/3) / 2
    assert y["mae_family_macro"] == pytest.approx((0.02 + 0.04 / 3) / 2)
    assert y["mae_pooled"] == pytest.approx(0.06 / 4)
    assert avg["mae_family_macro"] == pytest.approx((0.05 + (0.02 + 0.04 / 3) / 2) / 2)
    assert avg["mae_pooled"] == pytest.approx(0.16 / 8)
    assert x["crps_family_macro"] == pytest.approx(0.04)
    assert avg["crps_pooled"] == pytest.approx(0.11 / 8)
    assert avg["log_score_pooled"] == pytest.approx(np.log(2.0))
    # the median's MAE is computed from the median column: move a1/X's median onto the truth
    shifted = predictions.copy()
    shifted.loc[(shifted["model"] == "a1") & (shifted["benchmark"] == "X"), "median"] = 0.50
    x_median = compute_metrics(shifted).loc[("all12", 1, "X")]
    assert x_median["mae_median_family_macro"] == pytest.approx(0.0)
    assert x_median["mae_family_macro"] == pytest.approx(0.05)  # the mean's MAE is unchanged
    assert (avg["n_rows"], avg["n_models"], avg["n_groups"]) == (8, 4, 2)
    assert list(m.index.get_level_values("benchmark")) == ["X", "Y", "Average"]


def test_a_repeated_cell_or_an_observed_cell_without_forecast_is_an_error(predictions):
    # either would score silently wrong: a repeat counts twice, a NaN forecast drops out of the
    # MAE while counting as a miss in coverage
    with pytest.raises(ValueError, match=r"2 prediction rows repeat a cell.*'model': 'a1', 'benchmark': 'X'"):
        compute_metrics(pd.concat([predictions, predictions.iloc[[0]]], ignore_index=True))
    failed = predictions.copy()
    failed.loc[5, ["mean", "lower_90"]] = np.nan
    with pytest.raises(ValueError, match=r"1 observed cells have no forecast.*'model': 'b1', 'benchmark': 'Y'"):
        compute_metrics(failed)
    unobserved = failed.assign(observed=failed["observed"].where(failed.index != 5))
    assert compute_metrics(unobserved).loc[("all12", 1, "Average"), "n_rows"] == 7  # not scored: fine


def test_metrics_by_distance_bins_the_family_size_ratio_and_pools_each_bin(predictions):
    from scaling_bayes.evaluation.metrics import DISTANCE_LABELS, family_distance, metrics_markdown

    ratios = pd.Series([1.0, 2.0, 2.5, 5.0, 7.0, 10.0, 11.0, np.nan])
    assert family_distance(ratios).tolist() == [
        "within 2x", "within 2x", "2-5x", "2-5x", "5-10x", "5-10x", "beyond 10x", "family never seen"]
    # a1 (errors 0.10 and 0.02, both too high) lies 12x beyond its family; the rest within it
    far = predictions.assign(family_size_ratio=np.where(predictions["model"] == "a1", 12.0, 1.0))
    table = metrics_by_distance(far)
    assert list(table.index) == [("all12", 1, "within 2x"), ("all12", 1, "beyond 10x")]
    assert table.loc[("all12", 1, "beyond 10x"), "mae_pooled"] == pytest.approx(0.06)
    assert table.loc[("all12", 1, "beyond 10x"), "bias_pooled"] == pytest.approx(0.06)
    assert table.loc[("all12", 1, "within 2x"), "mae_pooled"] == pytest.approx(0.04 / 6)
    assert table.loc[("all12", 1, "within 2x"), "n_rows"] == 6 and table["n_models"].sum() == 4
    assert set(table.index.get_level_values("distance")) <= set(DISTANCE_LABELS)
    markdown = metrics_markdown(compute_metrics(far), by_distance=table)
    assert "## By distance outside the family's training sizes" in markdown and "beyond 10x" in markdown
    with pytest.raises(KeyError, match="family_size_ratio"):
        metrics_by_distance(predictions.drop(columns="family_size_ratio"))


def test_coverage_and_width(predictions):
    m = compute_metrics(predictions)
    x, y, avg = (m.loc[("all12", 1, b)] for b in ("X", "Y", "Average"))
    # X: a1 misses everything, the three exact predictions are covered
    assert [x[f"coverage_{p}"] for p in (50, 80, 90, 95)] == pytest.approx([0.75] * 4)
    # Y: a1 (err .02) covered from 80%; b1 (err .04) covered only at 95% (half width .04, inclusive)
    assert [y[f"coverage_{p}"] for p in (50, 80, 90, 95)] == pytest.approx([0.5, 0.75, 0.75, 1.0])
    assert avg["coverage_95"] == pytest.approx(7 / 8)
    assert [avg[f"width_{p}"] for p in (50, 80, 90, 95)] == pytest.approx([0.02, 0.04, 0.06, 0.08])


def test_coverage_reads_a_boundary_score_at_the_benchmarks_resolution():
    """A reported 0 (or 1) is read as half an item from the edge, as the fit reads it; scores
    inside the edges are compared as reported."""
    from scaling_bayes.benchmarks import default_registry

    half_item = 0.5 / default_registry().n_items(["MATH Lvl 5"]).item()  # 1324 items
    rows = [
        _row("a", "a1", "MATH Lvl 5", 0.0, 0.02, half_widths=(0.02 - 0.9 * half_item,) * 4),  # reaches 0.9 item-halves
        _row("a", "a2", "MATH Lvl 5", 0.0, 0.02, half_widths=(0.02 - 1.1 * half_item,) * 4),  # stops above half an item
        _row("a", "a3", "MATH Lvl 5", 1.0, 0.98, half_widths=(0.02 - 0.9 * half_item,) * 4),
        _row("a", "a4", "MATH Lvl 5", 0.3, 0.32, half_widths=(0.02 - 0.1 * half_item,) * 4),  # interior: as reported
        _row("a", "a5", "not registered", 0.0, 0.02, half_widths=(0.02 - 0.4 / 1000,) * 4),  # unknown: n = 1000
    ]
    frame = pd.DataFrame(rows)[list(PREDICTION_COLUMNS)]
    resolved = observed_at_resolution(frame)
    assert resolved.tolist() == pytest.approx([half_item, half_item, 1 - half_item, 0.3, 0.5 / 1000])
    m = compute_metrics(frame)
    assert m.loc[("all12", 1, "MATH Lvl 5"), "coverage_90"] == pytest.approx(2 / 4)  # a1 and a3
    assert m.loc[("all12", 1, "not registered"), "coverage_90"] == 1.0
    assert m.loc[("all12", 1, "MATH Lvl 5"), "mae_pooled"] == pytest.approx(0.02)  # MAE keeps the reported score


def test_summarize_draws_matches_numpy():
    rng = np.random.default_rng(1)
    values = rng.beta(2, 5, size=(2, 300, 3, 2))
    draws = xr.DataArray(
        values, dims=("chain", "draw", "model", "benchmark"),
        coords={"model": ["m1", "m2", "m3"], "benchmark": ["X", "Y"]},
    ).transpose("model", "chain", "benchmark", "draw")  # any dim order is accepted
    observed = pd.DataFrame({"Y": [0.1, 0.2, 0.3], "X": [0.4, 0.5, 0.6]}, index=["m1", "m2", "m3"])
    out = summarize_draws(draws, observed)
    assert list(out.columns) == [c for c in PREDICTION_COLUMNS if c not in
                                 ("benchmark_set", "n_train_per_family", "test_group", "family2", "case",
                                  "family_size_ratio", "lpd")]
    assert len(out) == 6
    row = out.set_index(["model", "benchmark"]).loc[("m2", "Y")]
    sample = values[:, :, 1, 1].ravel()
    assert row["observed"] == 0.2
    assert row["mean"] == pytest.approx(sample.mean())
    assert row["median"] == pytest.approx(np.median(sample))
    for p in (0.5, 0.8, 0.9, 0.95):
        lo, hi = np.quantile(sample, [(1 - p) / 2, (1 + p) / 2])
        assert row[f"lower_{p * 100:g}"] == pytest.approx(lo)
        assert row[f"upper_{p * 100:g}"] == pytest.approx(hi)
    crps = np.abs(sample - 0.2).mean() - 0.5 * np.abs(sample[:, None] - sample[None, :]).mean()
    assert row["crps"] == pytest.approx(crps, rel=1e-9)


def test_summarize_point_mass():
    draws = xr.DataArray(np.full((1, 10, 1, 1), 0.3), dims=("chain", "draw", "model", "benchmark"),
                         coords={"model": ["m"], "benchmark": ["X"]})
    out = summarize_draws(draws, xr.DataArray([[0.5]], dims=("model", "benchmark"),
                                              coords={"model": ["m"], "benchmark": ["X"]}))
    assert out.loc[0, "crps"] == pytest.approx(0.2)  # CRPS of a point forecast = absolute error
    assert out.loc[0, "lower_95"] == out.loc[0, "upper_95"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match=r"draws must have dims \['benchmark', 'chain', 'draw', 'model'\], "
                                         r"got \('draw', 'model', 'benchmark'\)"):
        summarize_draws(draws.isel(chain=0), draws.isel(chain=0, draw=0))


def _hand_reference(errors: dict[str, list[float]]) -> pd.DataFrame:
    keys = [("a", "a1", "X"), ("a", "a1", "Y"), ("b+c", "b1", "X"), ("b+c", "b1", "Y")]
    rows = []
    for method, errs in errors.items():
        for (group, model, bench), err in zip(keys, errs):
            rows.append({"benchmark_set": "all12", "n_train_per_family": 1, "test_group": group, "model": model,
                         "family2": group.split("+")[0], "benchmark": bench, "method": method, "abs_error": err})
    return pd.DataFrame(rows)


def test_win_rate_and_comparison_by_hand(predictions):
    # our errors on the 4 matched rows: a1/X .10, a1/Y .02, b1/X 0, b1/Y .04
    others = {pca_method(k): [0.5] * 4 for k in (1, 2, 3, 4)} | {"logF_sigmoid": [0.2] * 4,
                                                                  "logF_sigmoid_faminter": [0.3] * 4}
    reference = _hand_reference({
        sloth_method(1): [0.09, 0.09, 0.09, 0.09],  # average .09
        sloth_method(2): [0.05, 0.01, 0.01, 0.05],  # average .03 -> best K
        sloth_method(3): [0.20, 0.20, 0.20, 0.20],
        sloth_method(4): [0.10, 0.10, 0.10, 0.10],
        **others,
    })
    comp = compare_with_sloth(predictions, reference)
    avg = comp.loc[("all12", 1, "Average")]
    assert avg["sloth_best_k"] == 2
    assert avg["sloth_best"] == pytest.approx(0.03)
    assert avg["sloth_K=4"] == pytest.approx(0.10)
    assert avg["flops_shared"] == pytest.approx(0.2) and avg["pca_d=2"] == pytest.approx(0.5)
    # ours on matched rows: X macro = (.10 + 0)/2, Y = (.02 + .04)/2
    assert avg["ours"] == pytest.approx((0.05 + 0.03) / 2)
    # wins (strict): a1/X .10<.05 no; a1/Y .02<.01 no; b1/X 0<.01 yes; b1/Y .04<.05 yes
    assert avg["win_rate_vs_sloth_best"] == pytest.approx(0.5)
    assert (avg["n_matched"], avg["n_predictions"], avg["n_reference"]) == (4, 8, 4)
    assert comp.loc[("all12", 1, "X"), "n_matched"] == 2
    # group bootstrap of ours − Sloth best: group a differs by (.05 + .01)/2 = .03, group b by
    # (−.01 − .01)/2 = −.01; resampling the two groups gives −.01, .01 or .03 (p = ¼, ½, ¼),
    # so the 90% percentile interval is [−.01, .03]
    assert avg["difference_lower"] == pytest.approx(-0.01)
    assert avg["difference_upper"] == pytest.approx(0.03)
    assert np.isnan(comp.loc[("all12", 1, "X"), "difference_lower"])  # Average rows only
    assert comp.loc[("all12", 1, "X"), "win_rate_vs_sloth_best"] == pytest.approx(0.5)

    wins = paired_win_rates(predictions, reference).set_index("model")
    assert wins.loc["a1", "win_rate"] == 0.0 and wins.loc["b1", "win_rate"] == 1.0
    assert wins.loc["b1", "n_pairs"] == 2 and wins.loc["b1", "sloth_best_k"] == 2
    assert wins.loc["a1", "mae_sloth_best"] == pytest.approx(0.03)


def test_comparison_against_real_reference():
    ref = load_reference_errors([sloth_method(2)])
    ref = ref[(ref["benchmark_set"] == "leaderboard_v2") & (ref["n_train_per_family"] == 1)]
    # "our" predictions reproduce Sloth K=2's errors exactly
    pred = ref.drop(columns=["method"]).assign(observed=0.0)
    pred["mean"] = pred.pop("abs_error")
    pred["median"] = pred["mean"]
    for p in (50, 80, 90, 95):
        pred[f"lower_{p}"], pred[f"upper_{p}"] = pred["mean"] - p / 1000, pred["mean"] + p / 1000
    pred["crps"] = pred["mean"]
    comp = compare_with_sloth(pred)
    avg = comp.loc[("leaderboard_v2", 1, "Average")]
    assert avg["n_matched"] == avg["n_predictions"] == avg["n_reference"] == 222
    assert avg["ours"] == pytest.approx(avg["sloth_K=2"]) == pytest.approx(avg["sloth_best"])
    assert round(avg["sloth_best"] * 100, 1) == 2.9 and avg["sloth_best_k"] == 2
    assert round(avg["flops_family_intercept"] * 100, 1) == 3.8
    assert avg["win_rate_vs_sloth_best"] == 0.0  # ties are not wins
    m = compute_metrics(pred)
    assert m.loc[("leaderboard_v2", 1, "Average"), "mae_family_macro"] == pytest.approx(avg["ours"])

    md = metrics_markdown(m, comp)
    assert "| leaderboard_v2, n=1 | 2.9 | 2.9 (K=2) | 0.00 [0.00, 0.00] |" in md  # identical errors
    assert "## Calibration" in md and "## Per benchmark" in md
    # a comparison saved before the interval existed still renders
    old = metrics_markdown(m, comp.drop(columns=["difference_lower", "difference_upper"]))
    assert "| leaderboard_v2, n=1 | 2.9 | 2.9 (K=2) | 0.00 [–, –] |" in old


def test_metrics_by_case(predictions):
    # group "a" forecast as a family never seen, "b+c" with its own variant line in training
    preds = predictions.assign(case=np.where(predictions["test_group"] == "a", "new_family", "known_variant"))
    table = metrics_by_case(preds).loc[("all12", 1)]
    assert list(table.index) == ["known_variant", "new_family"]  # most to least known
    new = table.loc["new_family"]
    assert new["mae_pooled"] == pytest.approx((0.10 + 0.02) / 2)
    assert new["coverage_90"] == pytest.approx(0.5)  # X (error 0.10) out, Y (0.02 < 0.03) in
    assert new["coverage_50"] == 0.0 and new["width_90"] == pytest.approx(0.06)
    assert (new["n_rows"], new["n_models"], new["n_families"]) == (2, 1, 1)
    known = table.loc["known_variant"]
    assert known["mae_pooled"] == pytest.approx(0.04 / 6)
    assert known["coverage_50"] == pytest.approx(5 / 6)  # only b1 on Y (error 0.04) falls outside
    assert known["crps_pooled"] == pytest.approx(0.02 / 6)
    # the markdown shows a case section only where a setting holds out more than known variants
    metrics = compute_metrics(preds)
    assert "By forecast case" in metrics_markdown(metrics, by_case=metrics_by_case(preds))
    assert "By forecast case" not in metrics_markdown(metrics, by_case=metrics_by_case(predictions))
    with pytest.raises(KeyError, match="prediction_cases"):
        metrics_by_case(predictions.drop(columns="case"))


def test_sloth_with_k_chosen_on_the_other_groups_by_hand():
    # three one-model groups, one benchmark; K=1 is perfect on g1 and g2 but poor on g3, K=2
    # the reverse.  Full set: K=1 averages .1, K=2 .0667 -> the oracle picks K=2.  Leaving a
    # group out: g1 and g2 see g3's advantage for K=2 (K2 .05 < K1 .15); g3 sees K1's perfect
    # record on g1 and g2 and gets K=1 -> errors .1, .1, .3 (average .1667)
    sloth = {1: [0.0, 0.0, 0.3], 2: [0.1, 0.1, 0.0], 3: [0.5] * 3, 4: [0.5] * 3}
    others = {pca_method(k): [0.5] * 3 for k in (1, 2, 3, 4)} | {"logF_sigmoid": [0.5] * 3,
                                                                "logF_sigmoid_faminter": [0.5] * 3}
    reference = pd.DataFrame([
        {"benchmark_set": "all12", "n_train_per_family": 1, "test_group": g, "model": f"{g}m", "family2": g,
         "benchmark": "X", "method": method, "abs_error": err}
        for method, errs in {**{sloth_method(k): v for k, v in sloth.items()}, **others}.items()
        for g, err in zip(["g1", "g2", "g3"], errs)
    ])
    predictions = pd.DataFrame([_row(g, f"{g}m", "X", 0.5, 0.6) for g in ["g1", "g2", "g3"]])[list(PREDICTION_COLUMNS)]
    avg = compare_with_sloth(predictions, reference).loc[("all12", 1, "Average")]
    assert avg["sloth_best_k"] == 2 and avg["sloth_best"] == pytest.approx(0.2 / 3)
    assert avg["sloth_held_out"] == pytest.approx(0.5 / 3)
    assert avg["ours"] == pytest.approx(0.1)
    # ours − held-out per group: 0, 0, −.2; resamples give multiples of −.2/3 between −.2 and 0
    assert avg["difference_held_out_upper"] == pytest.approx(0.0)
    assert -0.2 <= avg["difference_held_out_lower"] < 0
    md = metrics_markdown(compute_metrics(predictions), compare_with_sloth(predictions, reference))
    assert "| all12, n=1 | 10.0 | 6.7 (K=2) | 3.33 [0.00, 6.67] | 16.7 | -6.67 [-13.33, 0.00] |" in md
    # a K the reference lacks is never chosen: without K=1, every group gets K=2
    without_k1 = compare_with_sloth(predictions, reference[reference["method"] != sloth_method(1)])
    assert without_k1.loc[("all12", 1, "Average"), "sloth_held_out"] == pytest.approx(0.2 / 3)


def test_coverage_intervals_resample_whole_groups_within_a_setting_and_shared_families_overall(predictions):
    """By hand: the fixture's setting has 8 cells, 6 inside their 90% intervals (a: 1 of 2,
    b+c: 5 of 6), so pooled 3/4; a resample is a choice of two groups, so every bootstrap
    coverage is 1/2, 3/4 or 5/6 and the interval lies in [1/2, 5/6].  A second setting whose
    three groups each cover one of two cells has coverage 1/2 in every resample, so its
    interval is [1/2, 1/2]; one with a single group has no interval.  The pooled row counts
    every cell and group of every setting."""
    even = [_row(g, f"{g}{i}", "X", 0.5, 0.5 + d, setting=("leaderboard_v2", 1))
            for g in ("p", "q", "r") for i, d in enumerate((0.0, 0.1))]
    single = [_row("s", "s1", "X", 0.5, 0.5, setting=("leaderboard_v1", 2))]
    frame = pd.concat([predictions, pd.DataFrame(even + single)[list(PREDICTION_COLUMNS)]], ignore_index=True)
    table = coverage_intervals(frame, interval=0.9, prob=0.9, n_resamples=500)

    first = table.loc[("all12", 1)]
    assert first["coverage"] == pytest.approx(3 / 4)
    assert 0.5 - 1e-12 <= first["lower"] <= first["coverage"] <= first["upper"] <= 5 / 6 + 1e-12
    assert first["lower"] < first["upper"]
    assert (first["n_cells"], first["n_groups"]) == (8, 2)

    np.testing.assert_allclose(table.loc[("leaderboard_v2", 1), ["coverage", "lower", "upper"]], 0.5)
    assert np.isnan(table.loc[("leaderboard_v1", 2), "lower"])
    assert table.loc[("leaderboard_v1", 2), "coverage"] == 1.0

    pooled = table.loc[("all", 0)]
    assert pooled["coverage"] == pytest.approx((6 + 3 + 1) / (8 + 6 + 1))
    assert (pooled["n_cells"], pooled["n_groups"], pooled["n_units"]) == (15, 6, 6)
    # six clusters of 2, 6, 2, 2, 2 and 1 cells: a resample's coverage lies between the
    # clusters' extremes (0.5 and 1)
    assert 0.5 - 1e-12 <= pooled["lower"] < pooled["coverage"] < pooled["upper"] <= 1 + 1e-12
    assert table.index.names == ["benchmark_set", "n_train_per_family"]

    # a family tested in two settings is one unit of the pooled bootstrap, not two
    again = pd.DataFrame([_row("c", "c9", "X", 0.5, 0.5, setting=("leaderboard_v1", 1)),
                          _row("c", "c9", "Y", 0.5, 0.5, setting=("leaderboard_v1", 1))])[list(PREDICTION_COLUMNS)]
    shared = coverage_intervals(pd.concat([frame, again], ignore_index=True), n_resamples=500).loc[("all", 0)]
    assert (shared["n_cells"], shared["n_groups"], shared["n_units"]) == (17, 7, 6)


def test_shared_family_clusters_join_groups_through_any_shared_family():
    from scaling_bayes.evaluation.metrics import shared_family_clusters

    ids = shared_family_clusters(["a+b", "c", "b+d", "d", "e+f", "f+g", "h"])
    assert ids["a+b"] == ids["b+d"] == ids["d"]  # a+b ~ b+d through b, b+d ~ d through d
    assert ids["e+f"] == ids["f+g"]
    assert len({ids["a+b"], ids["c"], ids["e+f"], ids["h"]}) == 4


def test_a_missing_sloth_error_is_no_contest_not_a_loss(predictions):
    """Sloth's bundled errors are complete, but a reference with a gap must not count the
    gap as a loss: the pair is left out of the win rate."""
    others = {pca_method(k): [0.5] * 4 for k in (1, 2, 3, 4)} | {"logF_sigmoid": [0.2] * 4,
                                                                  "logF_sigmoid_faminter": [0.3] * 4}
    reference = _hand_reference({
        sloth_method(1): [0.09] * 4, sloth_method(2): [0.05, 0.01, 0.01, np.nan],
        sloth_method(3): [0.20] * 4, sloth_method(4): [0.10] * 4, **others,
    })
    # pairs a1/X, a1/Y, b1/X, b1/Y: losses, loss, win, no contest -> 1 of 3
    wins = paired_win_rates(predictions, reference)
    assert wins["n_pairs"].sum() == 3 and wins["wins"].sum() == 1
    avg = compare_with_sloth(predictions, reference).loc[("all12", 1, "Average")]
    assert avg["win_rate_vs_sloth_best"] == pytest.approx(1 / 3)
