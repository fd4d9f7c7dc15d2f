"""Aggregating Sloth's reference errors reproduces the paper's headline numbers."""

from __future__ import annotations

import pytest

from scaling_bayes.evaluation import load_reference_errors, sloth_headline_table, sloth_reference_table
from scaling_bayes.evaluation.reference import AVERAGE, sloth_best_k, sloth_method

# README table (percentage points): Sloth best (K), FLOPs + family intercept, shared FLOPs law, PCA d=2
HEADLINE = {
    ("leaderboard_v1", 1): (4.1, 4, 4.9, 7.8, 6.0),
    ("leaderboard_v2", 1): (2.9, 2, 3.8, 4.9, 5.4),
    ("all12", 1): (3.5, 3, 4.1, 6.1, 5.9),
    ("leaderboard_v1", 2): (4.1, 2, 9.4, 7.9, 9.2),
    ("leaderboard_v2", 2): (3.2, 4, 11.9, 6.7, 5.6),
    ("all12", 2): (4.0, (3, 4), 11.1, 9.3, 8.3),
}


def test_reference_loads():
    ref = load_reference_errors()
    assert list(ref.columns) == [
        "benchmark_set", "n_train_per_family", "test_group", "model", "family2", "benchmark", "method", "abs_error",
    ]
    assert ref["method"].nunique() == 28
    assert len(load_reference_errors([sloth_method(2)])) == len(ref) // 28


@pytest.mark.parametrize("setting", list(HEADLINE), ids=lambda s: f"{s[0]}_n{s[1]}")
def test_headline_numbers(setting):
    table = sloth_headline_table() * [100, 1, 100, 100, 100]
    best, k, flops_fam, flops_shared, pca2 = HEADLINE[setting]
    row = table.loc[setting]
    assert round(row["sloth_best"], 1) == pytest.approx(best)
    assert row["sloth_best_k"] in (k if isinstance(k, tuple) else (k,))
    assert round(row["flops_family_intercept"], 1) == pytest.approx(flops_fam)
    assert round(row["flops_shared"], 1) == pytest.approx(flops_shared)
    assert round(row["pca_d=2"], 1) == pytest.approx(pca2)


def test_all12_n2_k3_and_k4_round_equal():
    table = sloth_reference_table() * 100
    row = table.loc[("all12", 2)]
    assert round(row[sloth_method(3)], 1) == round(row[sloth_method(4)], 1) == 4.0
    assert sloth_best_k().loc[("all12", 2), "best_k"] == 4  # 3.96 < 4.02


def test_per_benchmark_average_matches():
    per_bm = sloth_reference_table(per_benchmark=True, methods=[sloth_method(2)])
    overall = sloth_reference_table(methods=[sloth_method(2)])
    for setting, value in overall[sloth_method(2)].items():
        block = per_bm[sloth_method(2)].xs(setting, level=["benchmark_set", "n_train_per_family"])
        assert block.loc[AVERAGE] == pytest.approx(value)
        assert block.drop(AVERAGE).mean() == pytest.approx(value)
