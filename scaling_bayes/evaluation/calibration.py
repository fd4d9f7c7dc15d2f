"""Cross-fold conformal recalibration of leave-family-out prediction intervals.

The posterior-predictive intervals of a fold are widened (or narrowed) by a factor learned
*only from families that fold trained on*: the other test groups of the same setting. Each of
those groups was itself predicted by a fit that had not seen it, so its scores are honest
out-of-family errors, and none of them is a score of the fold's own test family (though those
fits trained on its larger models, as every non-test row trains: an indirect, small path
that only a nested refit per group would close). This follows
cross-conformal prediction (CV+, Barber et al. 2021) with families as the exchangeable units,
but the quantile below is taken over the pooled *cells* of the other groups, and the cells of
one family are dependent (they share its fit and its family effect).  So CV+'s finite-sample
guarantee does not carry over exactly: read the calibrated coverage as an approximate,
empirically checked correction (reported per setting beside the posterior's), not as a bound.

Nonconformity of an observed score ``y`` against an interval ``[lo, hi]`` with median ``m``
is the factor by which the interval must be stretched about ``m`` to reach ``y`` (the score at
the benchmark's resolution, :func:`~scaling_bayes.evaluation.metrics.observed_at_resolution`,
as coverage reads it)::

    r = (m - y) / (m - lo)   if y < m
    r = (y - m) / (hi - m)   otherwise

so ``y`` lies in the stretched interval ``[m - s (m - lo), m + s (hi - m)]`` iff ``r <= s``.
For level ``p`` the scale is the conformal quantile of the calibration scores, the
``ceil((n + 1) p)``-th smallest of ``n``. Intervals keep their asymmetry and are clipped to
``[0, 1]``. The pure posterior intervals are always reported beside the calibrated ones, never
replaced by them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._aggregate import SETTING_KEYS
from .metrics import _pct, interval_probs, observed_at_resolution

__all__ = ["conformal_quantile", "cross_fold_conformal", "nonconformity"]

_EPS = 1e-12


def nonconformity(observed: np.ndarray, median: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Stretch factor about the median that puts ``observed`` on the interval's edge.

    Parameters
    ----------
    observed, median, lower, upper : array, shape (n,)
        Scores and interval bounds on the same scale.

    Returns
    -------
    array, shape (n,)
        ``r >= 0``; ``r <= 1`` iff the observed score lies inside ``[lower, upper]``.
    """
    observed, median = np.asarray(observed, float), np.asarray(median, float)
    below = (median - observed) / np.maximum(median - np.asarray(lower, float), _EPS)
    above = (observed - median) / np.maximum(np.asarray(upper, float) - median, _EPS)
    return np.where(observed < median, below, above)


def conformal_quantile(scores: np.ndarray, prob: float) -> float:
    """Finite-sample conformal quantile: the ``ceil((n + 1) prob)``-th smallest score.

    Returns ``nan`` when there are too few scores (``ceil((n + 1) prob) > n``) for a finite
    quantile at this level.
    """
    scores = np.sort(np.asarray(scores, float)[np.isfinite(scores)])
    rank = math.ceil((len(scores) + 1) * prob)
    return float(scores[rank - 1]) if 1 <= rank <= len(scores) else math.nan


def _scales(frame: pd.DataFrame, resolved: pd.Series, probs: Sequence[float]) -> dict[float, float]:
    """Conformal scale per level from ``frame``'s cells; ``resolved`` holds the observed scores
    at the benchmark's resolution for (at least) ``frame``'s index."""
    return {
        p: conformal_quantile(
            nonconformity(
                resolved.loc[frame.index].to_numpy(),
                frame["median"].to_numpy(),
                frame[f"lower_{_pct(p)}"].to_numpy(),
                frame[f"upper_{_pct(p)}"].to_numpy(),
            ),
            p,
        )
        for p in probs
    }


def cross_fold_conformal(
    predictions: pd.DataFrame,
    probs: Sequence[float] | None = None,
    *,
    per_benchmark: bool = True,
) -> pd.DataFrame:
    """Recalibrate every test group's intervals from the other test groups of its setting.

    Parameters
    ----------
    predictions : DataFrame
        Long predictions table (see
        :data:`~scaling_bayes.evaluation.metrics.PREDICTION_COLUMNS`) covering one or more
        settings, each with at least two test groups.
    probs : sequence of float, optional
        Interval probabilities to recalibrate (default: all in the table).
    per_benchmark : bool
        Learn one scale per benchmark (default). A benchmark whose calibration set is too small
        for a finite quantile at some level falls back to the scale pooled over benchmarks.

    Returns
    -------
    DataFrame
        The same rows and columns with recalibrated ``lower_XX`` / ``upper_XX``, ``crps`` and
        ``lpd`` set to NaN (the recalibrated intervals are not a full predictive distribution), and for
        each level a ``scale_XX`` column (the stretch factor applied) and an
        ``n_calibration_XX`` column (the observed cells it was learned from: the benchmark's
        own, or all benchmarks' where the level fell back to the pooled scale).

    Raises
    ------
    ValueError
        If a setting has a single test group (nothing to calibrate from).
    """
    probs = interval_probs(predictions) if probs is None else tuple(probs)
    out = predictions.copy()
    out["crps"] = np.nan
    if "lpd" in out.columns:  # nor a density: the posterior's log score is not the calibrated one
        out["lpd"] = np.nan
    observed = predictions["observed"].notna()
    resolved = observed_at_resolution(predictions)  # once: every calibration set is a subset
    for key, setting in predictions.groupby(list(SETTING_KEYS), sort=False):
        groups = setting["test_group"].unique()
        if len(groups) < 2:
            raise ValueError(
                f"setting {key} has only test group {groups[0]!r}; cross-fold calibration needs at least two"
            )
        for group in groups:
            target = setting.index[setting["test_group"] == group]
            calib = setting[(setting["test_group"] != group) & observed.loc[setting.index]]
            pooled = _scales(calib, resolved, probs)
            parts = setting.loc[target].groupby("benchmark", sort=False) if per_benchmark else [(None, setting.loc[target])]
            for bench, rows in parts:
                cal = calib if bench is None else calib[calib["benchmark"] == bench]
                scales = _scales(cal, resolved, probs) if bench is not None else pooled
                for p in probs:
                    own = np.isfinite(scales[p])
                    scale = scales[p] if own else pooled[p]
                    out.loc[rows.index, f"n_calibration_{_pct(p)}"] = len(cal) if own else len(calib)
                    lo, hi, med = (rows[c].to_numpy(float) for c in (f"lower_{_pct(p)}", f"upper_{_pct(p)}", "median"))
                    if np.isfinite(scale):
                        lo, hi = np.clip(med - scale * (med - lo), 0.0, 1.0), np.clip(med + scale * (hi - med), 0.0, 1.0)
                    else:  # too little calibration data to certify any finite interval: [0, 1]
                        scale, lo, hi = math.inf, np.zeros_like(lo), np.ones_like(hi)
                    out.loc[rows.index, f"lower_{_pct(p)}"] = lo
                    out.loc[rows.index, f"upper_{_pct(p)}"] = hi
                    out.loc[rows.index, f"scale_{_pct(p)}"] = scale
    for p in probs:
        out[f"n_calibration_{_pct(p)}"] = out[f"n_calibration_{_pct(p)}"].astype(int)
    return out
