"""Hold-out splits beyond Sloth's hand-listed test groups.

:func:`family_holdout_folds` applies the protocol's rule (keep a family's smallest models,
forecast its larger ones) to any data, with the tested families drawn at random into folds:
the same question asked of data the protocol does not contain (e.g. the LVF paper's tables).

:func:`largest_model_fold`, a within-training extrapolation check, holds out each family's
largest model.

PSIS-LOO over the observed cells measures in-sample fit, not what the package is for:
forecasting a family at a size it has not shown.  (Measured: LOO preferred family-specific
slopes by Δelpd 80 ± 15 while they forecast worse on Sloth's protocol.)  This split asks
the extrapolation question of the data one already has, so modelling choices can be made
without touching a protocol's test families: every variant family with at least
``min_sizes`` distinct model sizes loses its largest size to the test set, and everything
else trains.  One fit per model variant; evaluate it with
:func:`~scaling_bayes.evaluation.runner.evaluate_fold`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling_bayes.data import ScoreTable

from .protocol import Fold

__all__ = ["family_holdout_folds", "largest_model_fold"]


def largest_model_fold(data: ScoreTable, benchmark_set: str = "all12", *, min_sizes: int = 3) -> Fold:
    """The fold that holds out the largest size of every variant family with ≥ ``min_sizes``
    distinct sizes (``params_b``); all models of that size go to the test set.

    Parameters
    ----------
    data : ScoreTable
        The training data (e.g. ``load_dataset("sloth_curated").fittable()``).
    benchmark_set : str
        Name of ``data``'s benchmark set; the fold's benchmarks are ``data.benchmarks``.
    min_sizes : int
        Families with fewer distinct sizes stay wholly in training (at least 2, so that
        every tested family keeps at least one smaller size to extrapolate from).

    Returns
    -------
    Fold
        ``test_group`` lists the tested variant families; ``n_train_per_family`` is
        ``min_sizes - 1``, the fewest sizes a tested family keeps in training.
    """
    if min_sizes < 2:
        raise ValueError(f"min_sizes={min_sizes}: a tested family must keep a smaller size (use ≥ 2).")
    models = data.models
    sizes = models.groupby("family")["params_b"]
    tested = sorted(sizes.nunique().index[sizes.nunique() >= min_sizes])
    if not tested:
        raise ValueError(
            f"no variant family has {min_sizes} or more distinct sizes (params_b); lower min_sizes."
        )
    largest = sizes.transform("max")
    is_test = models["family"].isin(tested) & (models["params_b"] == largest)
    return _fold(data, benchmark_set, min_sizes - 1, tested, is_test)


def _fold(data: ScoreTable, benchmark_set: str, n_train: int, group, is_test: pd.Series) -> Fold:
    """The fold testing the models where ``is_test`` (indexed by model) holds; both model lists
    sorted by (family, params_b, model) as in :func:`~scaling_bayes.evaluation.sloth_folds`."""
    models = data.models
    order = models.assign(_name=models.index).sort_values(["family", "params_b", "_name"]).index
    return Fold(
        benchmark_set=benchmark_set,
        n_train_per_family=n_train,
        test_group=tuple(group),
        train_models=tuple(m for m in order if not is_test[m]),
        test_models=tuple(m for m in order if is_test[m]),
        benchmarks=tuple(data.benchmarks),
    )


def family_holdout_folds(data: ScoreTable, benchmark_set: str, *, n_train: int = 1, n_folds: int = 5,
                         random_seed: int = 0) -> list[Fold]:
    """Sloth's leave-family-out rule on any data, its test families drawn at random into folds.

    Every variant family (``family``) with more than ``n_train`` distinct sizes is tested in
    exactly one fold: the families are shuffled with ``random_seed`` and dealt into
    ``n_folds`` groups.  In a group's fold its families keep their models of the ``n_train``
    smallest sizes in training and every larger model is forecast; all other models train.

    Parameters
    ----------
    data : ScoreTable
        The whole data (e.g. ``load_dataset("lvf_leaderboard_v2").fittable()``).
    benchmark_set : str
        A name for ``data``'s benchmarks, used in the folds' labels and file names
        (the folds' benchmarks are ``data.benchmarks``).
    n_train : int
        Sizes of each tested family kept in training (≥ 1, so that a family is forecast from
        its own models, as in the protocol's ``n_train_per_family``).
    n_folds : int
        Number of folds (≥ 2, and at most the number of testable families).
    random_seed : int
        Seed of the shuffle: the same seed gives the same folds.

    Returns
    -------
    list of Fold
        ``n_folds`` folds, ``test_group`` the sorted families each forecasts.
    """
    if n_train < 1:
        raise ValueError(f"n_train={n_train}: a tested family must keep at least one size in training (use ≥ 1).")
    models = data.models
    sizes = models.groupby("family")["params_b"].nunique()
    testable = sorted(sizes.index[sizes > n_train])
    if not 2 <= n_folds <= len(testable):
        raise ValueError(
            f"n_folds={n_folds}: use 2 to {len(testable)}, the number of families with more than "
            f"{n_train} distinct sizes (params_b)."
        )
    rank = models.groupby("family")["params_b"].rank(method="dense")  # 1 = the family's smallest size
    shuffled = np.random.default_rng(random_seed).permutation(testable)
    groups = [sorted(str(f) for f in group) for group in np.array_split(shuffled, n_folds)]
    return [_fold(data, benchmark_set, n_train, group, models["family"].isin(group) & (rank > n_train))
            for group in groups]
