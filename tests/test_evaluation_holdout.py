"""The within-training extrapolation split on the bundled data."""

import pytest

from scaling_bayes.evaluation import fold_split, largest_model_fold


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
