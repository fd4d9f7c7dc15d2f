"""Hold-out splits beyond the protocol: the within-training extrapolation split, and random family folds."""

import pytest

from scaling_bayes.evaluation import family_holdout_folds, fold_split, largest_model_fold


def test_largest_size_of_each_family_with_enough_sizes_is_held_out(sloth):
    fold = largest_model_fold(sloth, min_sizes=3)
    models = sloth.models
    assert set(fold.train_models) | set(fold.test_models) == set(models.index)
    assert not set(fold.train_models) & set(fold.test_models)
    for family, group in models.groupby("family"):
        held = group.index.intersection(list(fold.test_models))
        if group["params_b"].nunique() >= 3:
            assert family in fold.test_group
            assert set(held) == set(group.index[group["params_b"] == group["params_b"].max()])
            assert group.loc[group.index.difference(held), "params_b"].nunique() >= 2
        else:
            assert family not in fold.test_group and len(held) == 0
    assert "pythia" in fold.test_group and "pythia-12b" in fold.test_models
    train, test_models, test_scores = fold_split(fold, sloth)
    assert list(test_scores.index) == list(fold.test_models)
    assert len(train.models) == len(fold.train_models)


def test_min_sizes_is_checked(sloth):
    with pytest.raises(ValueError, match="smaller size"):
        largest_model_fold(sloth, min_sizes=1)
    with pytest.raises(ValueError, match="lower min_sizes"):
        largest_model_fold(sloth, min_sizes=100)


@pytest.fixture(scope="module")
def lvf_v2():
    import warnings

    from scaling_bayes import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_dataset("lvf_leaderboard_v2").fittable()


@pytest.mark.parametrize("n_train", [1, 2])
def test_family_holdout_folds_test_each_family_once_from_its_smallest_sizes(lvf_v2, n_train):
    folds = family_holdout_folds(lvf_v2, "lvf_v2", n_train=n_train, n_folds=5, random_seed=3)
    models = lvf_v2.models
    sizes = models.groupby("family")["params_b"].nunique()
    tested = [f for fold in folds for f in fold.test_group]
    assert sorted(tested) == sorted(sizes.index[sizes > n_train])  # every testable family, once
    assert max(len(f.test_group) for f in folds) - min(len(f.test_group) for f in folds) <= 1
    for fold in folds:
        assert set(fold.train_models) | set(fold.test_models) == set(models.index)
        assert not set(fold.train_models) & set(fold.test_models)
        assert fold.setting.label == f"lvf_v2_n{n_train}" and fold.benchmarks == tuple(lvf_v2.benchmarks)
        for family in fold.test_group:
            group = models[models["family"] == family]
            kept = group.loc[group.index.intersection(list(fold.train_models)), "params_b"]
            held = group.loc[group.index.intersection(list(fold.test_models)), "params_b"]
            assert kept.nunique() == n_train and len(held) > 0 and held.min() > kept.max()
        # an untested family keeps all of its models
        untested = models[~models["family"].isin(fold.test_group)].index
        assert set(untested) <= set(fold.train_models)
    # the same seed, the same folds; another seed deals the families differently
    assert family_holdout_folds(lvf_v2, "lvf_v2", n_train=n_train, random_seed=3) == folds
    other = family_holdout_folds(lvf_v2, "lvf_v2", n_train=n_train, random_seed=4)
    assert [f.test_group for f in other] != [f.test_group for f in folds]


def test_family_holdout_folds_check_their_arguments(lvf_v2):
    with pytest.raises(ValueError, match="at least one size in training"):
        family_holdout_folds(lvf_v2, "lvf_v2", n_train=0)
    with pytest.raises(ValueError, match=r"n_folds=1: use 2 to \d+"):
        family_holdout_folds(lvf_v2, "lvf_v2", n_folds=1)
    with pytest.raises(ValueError, match=r"n_folds=1000"):
        family_holdout_folds(lvf_v2, "lvf_v2", n_folds=1000)
