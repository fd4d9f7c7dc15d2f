"""The leave-family-out splits reproduce the Sloth reference exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scaling_bayes.data import ScoreTable, load_dataset
from scaling_bayes.evaluation import (
    SETTINGS,
    UNSEEN_SETTINGS,
    Fold,
    Setting,
    fold_cases,
    fold_split,
    load_protocol,
    prediction_cases,
    prediction_size_ratios,
    sloth_folds,
)
from scaling_bayes.evaluation.protocol import MAX_GROUP_SLUG
from scaling_bayes.evaluation.reference import load_reference_errors


@pytest.fixture(scope="module")
def data() -> ScoreTable:
    return load_dataset("sloth_curated", benchmarks="all12")


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return load_reference_errors()


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.label)
def test_test_models_match_reference(setting, data, reference):
    folds = sloth_folds(*setting, data=data)
    ref = reference[
        (reference["benchmark_set"] == setting.benchmark_set)
        & (reference["n_train_per_family"] == setting.n_train_per_family)
    ]
    expected = ref.groupby("test_group")["model"].agg(set).to_dict()
    got = {fold.group_label: set(fold.test_models) for fold in folds}
    assert got == expected
    # every group of the protocol yields a fold, in the protocol's order
    assert [f.test_group for f in folds] == list(load_protocol().test_groups[setting])
    # the reference's family2 labels agree with ours
    fam = data.models["family"]
    for fold in folds:
        assert set(fam.loc[list(fold.test_models)]) <= set(fold.test_group)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.label)
def test_fold_structure(setting, data):
    bset, n = setting
    benchmarks = list(load_protocol().benchmark_sets[bset])
    folds = sloth_folds(bset, n, data=data)
    complete = data.scores[benchmarks].notna().all(axis=1) & data.models[["params_b", "tokens_t"]].notna().all(axis=1)
    sizes = data.models.loc[complete, "family"].value_counts()
    eligible = set(data.models.index[complete & data.models["family"].isin(sizes[sizes >= n + 1].index)])
    for fold in folds:
        assert isinstance(fold, Fold) and fold.benchmarks == tuple(benchmarks)
        train, test = set(fold.train_models), set(fold.test_models)
        assert not train & test
        assert train | test == eligible
        for family in fold.test_group:
            members = data.models.loc[data.models.index.isin(eligible) & (data.models["family"] == family)]
            smallest = set(members.nsmallest(n, "params_b").index)
            assert smallest <= train
            assert set(members.index) - smallest <= test
            # every test model is larger than every training model of its family
            assert members.loc[list(set(members.index) & test), "params_b"].min() > members.loc[
                list(smallest), "params_b"
            ].max()
    assert len({f.slug for f in folds}) == len(folds)


def test_group_label_and_slug():
    fold = Fold("all12", 1, ("pythia", "dolly-v2"), ("a",), ("b",), ("MMLU",))
    assert fold.group_label == "pythia+dolly-v2"
    assert fold.slug == "all12_n1__pythia-dolly-v2"
    assert fold.setting == ("all12", 1)
    # a long group's slug is cut to a file-system-safe length and stays unique
    many = [f"family-number-{i}" for i in range(40)]
    long_slugs = {Fold("all12", 1, group, ("a",), ("b",), ("MMLU",)).slug for group in (many, many[:-1], many[1:])}
    assert len(long_slugs) == 3 and all(len(s) <= len("all12_n1__") + MAX_GROUP_SLUG for s in long_slugs)
    assert all(s.startswith("all12_n1__family-number-0-family-number-1-") or s.startswith("all12_n1__family-number-1-")
               for s in long_slugs)
    assert Fold("leaderboard_v2", 1, ["a"], ["b"], ["c"]).benchmarks == tuple(load_protocol().benchmark_sets["leaderboard_v2"])


def test_independent_of_row_order_and_ties(data):
    # shuffle the rows and create a tie in params inside a test family
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.models))
    models = data.models.iloc[order].copy()
    pythia = models.index[models["family"] == "pythia"]
    smallest = models.loc[pythia, "params_b"].idxmin()
    twin = models.loc[pythia, "params_b"].drop(smallest).idxmin()
    models.loc[twin, "params_b"] = models.loc[smallest, "params_b"]
    shuffled = ScoreTable(models=models, scores=data.scores.iloc[order].copy(), name="shuffled")
    folds_a = sloth_folds("leaderboard_v1", 2, data=shuffled)
    reversed_ = ScoreTable(models=models.iloc[::-1], scores=shuffled.scores.iloc[::-1], name="reversed")
    folds_b = sloth_folds("leaderboard_v1", 2, data=reversed_)
    assert folds_a == folds_b  # ties broken by model name, not row order
    (pythia_fold,) = [f for f in folds_a if f.test_group == ("pythia",)]
    tied = sorted([smallest, twin])
    assert tied[0] in pythia_fold.train_models


def test_fold_split(data):
    fold = sloth_folds("leaderboard_v2", 1, data=data)[0]
    train, test_models, test_scores = fold_split(fold, data)
    assert list(train.models.index) == list(fold.train_models)
    assert train.benchmarks == list(fold.benchmarks)
    assert list(test_models.index) == list(fold.test_models)
    assert list(test_models.columns) == ["family", "base_family", "instruct", "params_b", "tokens_t"]
    assert test_scores.shape == (len(fold.test_models), 6)
    assert not test_scores.isna().any().any()


@pytest.mark.parametrize("setting", UNSEEN_SETTINGS, ids=lambda s: s.label)
def test_unseen_settings_hold_out_whole_groups(setting, data):
    bset = setting.benchmark_set
    folds = sloth_folds(*setting, data=data)
    assert [f.test_group for f in folds] == list(load_protocol().test_groups[Setting(bset, 1)])
    benchmarks = list(load_protocol().benchmark_sets[bset])
    complete = data.scores[benchmarks].notna().all(axis=1) & data.models[["params_b", "tokens_t"]].notna().all(axis=1)
    n1_tests = {f.test_group: set(f.test_models) for f in sloth_folds(bset, 1, data=data)}
    for fold in folds:
        train, test = set(fold.train_models), set(fold.test_models)
        assert not train & test and train | test == set(data.models.index[complete])
        # every complete model of the group is tested, none of them trains
        assert test == set(data.models.index[complete & data.models["family"].isin(fold.test_group)])
        assert n1_tests[fold.test_group] < test  # n=1 tests a strict subset: the smallest ones train there


def test_fold_cases(data):
    unseen = {f.test_group: f for f in sloth_folds("all12", 0, data=data)}
    bloom = fold_cases(unseen[("bloom",)], data)
    assert list(bloom.index) == list(unseen[("bloom",)].test_models) and set(bloom) == {"new_family"}
    # falcon-instruct and falcon-rw train: a new variant line of a known base family
    assert set(fold_cases(unseen[("falcon",)], data)) == {"new_variant"}
    assert set(fold_cases(sloth_folds("all12", 1, data=data)[0], data)) == {"known_variant"}
    # rebuilt from a predictions table's (setting, test group, model)
    rows = pd.DataFrame({
        "benchmark_set": "all12", "n_train_per_family": [0, 0, 1],
        "test_group": ["falcon", "bloom", "bloom"],
        "model": [unseen[("falcon",)].test_models[0], *[unseen[("bloom",)].test_models[-1]] * 2],
    }, index=[10, 11, 12])
    cases = prediction_cases(rows, data)
    assert list(cases.index) == [10, 11, 12]
    assert list(cases) == ["new_variant", "new_family", "known_variant"]
    with pytest.raises(ValueError, match="not test models"):
        prediction_cases(rows.assign(model="no-such-model"), data)
    # and each row's distance outside its family's training sizes: none for a family never seen,
    # the largest bloom over its smallest (the only one of its family that trains at n=1)
    ratio = prediction_size_ratios(rows, data)
    assert ratio.name == "family_size_ratio" and list(ratio.index) == [10, 11, 12]
    assert np.isnan(ratio[11])
    smallest = data.models.loc[list(sloth_folds("all12", 1, data=data, test_groups=[["bloom"]])[0].train_models)]
    expected = data.models.at[rows.at[12, "model"], "params_b"] / smallest.loc[smallest["family"] == "bloom", "params_b"].max()
    assert ratio[12] == pytest.approx(expected) and expected > 1
    with pytest.raises(ValueError, match="not test models"):
        prediction_size_ratios(rows.assign(model="no-such-model"), data)


def test_unknown_setting(data):
    with pytest.raises(ValueError, match="must be ≥ 0"):
        sloth_folds("all12", -1, data=data)
    with pytest.raises(KeyError, match=r"unknown benchmark set 'nope'; known: \[.*'all12'.*\]"):
        sloth_folds("nope", 1, data=data)
    with pytest.raises(KeyError, match=r"no test groups for .*all12.*3.*; pass test_groups="):
        sloth_folds("all12", 3, data=data)
    custom = sloth_folds("all12", 3, data=data, test_groups=[["pythia"]])
    assert len(custom) == 1 and len(custom[0].test_models) > 0
