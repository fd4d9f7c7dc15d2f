"""A within-training extrapolation check: hold out each family's largest model.

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

from scaling_bayes.data import ScoreTable

from .protocol import Fold

__all__ = ["largest_model_fold"]


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
    order = models.assign(_name=models.index).sort_values(["family", "params_b", "_name"]).index
    return Fold(
        benchmark_set=benchmark_set,
        n_train_per_family=min_sizes - 1,
        test_group=tuple(tested),
        train_models=tuple(m for m in order if not is_test[m]),
        test_models=tuple(m for m in order if is_test[m]),
        benchmarks=tuple(data.benchmarks),
    )
