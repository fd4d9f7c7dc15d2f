"""Accuracy and calibration metrics of probabilistic forecasts under the Sloth protocol.

All inputs and outputs are fractions (scores in [0, 1]); the markdown summary shows
percentage points. A *predictions* table is long, one row per (setting, test model, benchmark),
with the columns :data:`PREDICTION_COLUMNS` (``lower_XX`` / ``upper_XX`` for each interval
probability ``XX`` in percent).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd
import scoringrules as sr
import xarray as xr
from scipy import stats

from scaling_bayes.benchmarks import default_registry
from scaling_bayes.design import clip_scores
from scaling_bayes.prediction import CASES, as_score_array

from ._aggregate import AVERAGE, SETTING_KEYS, family_macro, family_macro_average
from .protocol import SETTINGS, load_protocol
from .reference import (
    FLOPS_FAMILY_METHOD,
    FLOPS_SHARED_METHOD,
    REFERENCE_KEYS,
    SLOTH_KS,
    load_reference_errors,
    pca_method,
    sloth_method,
)

__all__ = [
    "DEFAULT_PROBS",
    "PREDICTION_COLUMNS",
    "compare_with_sloth",
    "compute_metrics",
    "coverage_intervals",
    "difference_interval",
    "interval_probs",
    "metrics_by_case",
    "metrics_by_distance",
    "metrics_markdown",
    "observed_at_resolution",
    "paired_win_rates",
    "summarize_draws",
]

#: Central interval probabilities reported by default.
DEFAULT_PROBS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
SAMPLE_DIMS: tuple[str, str] = ("chain", "draw")
#: Human-readable names of the forecast cases (:data:`scaling_bayes.prediction.CASES`).
CASE_LABELS: dict[str, str] = {
    "known_variant": "known variant",
    "new_variant": "new variant of a known base family",
    "new_family": "new family",
}


#: How far outside its family's training sizes a test model lies, binned
#: (:func:`family_distance`): upper edges of the ``family_size_ratio`` bins and their labels.
DISTANCE_BINS: tuple[float, ...] = (2.0, 5.0, 10.0, math.inf)
DISTANCE_LABELS: tuple[str, ...] = ("within 2x", "2-5x", "5-10x", "beyond 10x", "family never seen")


def family_distance(ratio: pd.Series) -> pd.Series:
    """``family_size_ratio`` binned by :data:`DISTANCE_BINS` into :data:`DISTANCE_LABELS`; a
    missing ratio (no training model of the family) is ``"family never seen"``."""
    labels = pd.cut(ratio, [0.0, *DISTANCE_BINS], labels=list(DISTANCE_LABELS[:-1]), right=True)
    return labels.cat.add_categories(DISTANCE_LABELS[-1]).fillna(DISTANCE_LABELS[-1]).astype(str).rename("distance")


def _pct(prob: float) -> str:
    return f"{prob * 100:g}"


def _interval_columns(probs: Sequence[float]) -> list[str]:
    return [f"{side}_{_pct(p)}" for p in probs for side in ("lower", "upper")]


#: Columns of a predictions table (with the default interval probabilities).  ``lpd`` is the
#: log posterior-predictive density of the observed score, NaN for a forecaster that cannot
#: give one (and in runs written before it was recorded); ``family_size_ratio`` how many times
#: outside its base family's training sizes the test model lies
#: (:func:`~scaling_bayes.prediction.family_size_ratio`; NaN for a family never seen; absent
#: in runs written before session 26).
PREDICTION_COLUMNS: tuple[str, ...] = (
    "benchmark_set",
    "n_train_per_family",
    "test_group",
    "model",
    "family2",
    "case",
    "family_size_ratio",
    "benchmark",
    "observed",
    "mean",
    "median",
    *_interval_columns(DEFAULT_PROBS),
    "crps",
    "lpd",
)


def interval_probs(predictions: pd.DataFrame) -> tuple[float, ...]:
    """Interval probabilities present in a predictions table (from its ``lower_XX`` columns).

    Returns
    -------
    tuple of float
        Sorted, e.g. ``(0.5, 0.8, 0.9, 0.95)``.
    """
    found = []
    for col in predictions.columns:
        match = re.fullmatch(r"lower_(\d+(?:\.\d+)?)", str(col))
        if match and f"upper_{match.group(1)}" in predictions.columns:
            found.append(float(match.group(1)) / 100)
    return tuple(sorted(found))


# ---------------------------------------------------------------------------------------------
# draws -> per-(model, benchmark) summaries
# ---------------------------------------------------------------------------------------------
def summarize_draws(
    draws: xr.DataArray,
    observed: pd.DataFrame | xr.DataArray,
    probs: Sequence[float] = DEFAULT_PROBS,
    *,
    crps_estimator: str = "qd",
) -> pd.DataFrame:
    """Summarise posterior-predictive draws against observed scores.

    Parameters
    ----------
    draws : xr.DataArray
        Predictive draws with dims ``("chain", "draw", "model", "benchmark")`` (any order).
    observed : DataFrame or xr.DataArray
        Observed scores, shape (model, benchmark); a DataFrame is indexed by model with one
        column per benchmark. Aligned to the draws' coordinates (missing -> NaN).
    probs : sequence of float
        Central (equal-tailed) interval probabilities, computed with :func:`arviz.eti`.
    crps_estimator : str
        Estimator of :func:`scoringrules.crps_ensemble`; the ensemble is all chain x draw
        samples. The default ``"qd"`` is the exact CRPS of the empirical distribution of the
        draws (= the energy form ``E|X - y| - E|X - X'| / 2``), in O(m log m); ``"fair"``
        / ``"pwm"`` give the unbiased variant.

    Returns
    -------
    DataFrame
        One row per (model, benchmark) with columns ``model, benchmark, observed, mean,
        median, lower_XX, upper_XX, ..., crps``.
    """
    expected = {*SAMPLE_DIMS, "model", "benchmark"}
    if set(draws.dims) != expected:
        raise ValueError(f"draws must have dims {sorted(expected)}, got {draws.dims}")
    draws = draws.transpose(*SAMPLE_DIMS, "model", "benchmark")
    observed = as_score_array(observed).reindex(model=draws["model"].values, benchmark=draws["benchmark"].values)

    out = xr.Dataset(
        {
            "observed": observed,
            "mean": draws.mean(SAMPLE_DIMS),
            "median": draws.median(SAMPLE_DIMS),
        }
    )
    for p in probs:
        eti = az.eti(draws, prob=p, dim=list(SAMPLE_DIMS))
        out[f"lower_{_pct(p)}"] = eti.sel(ci_bound="lower", drop=True)
        out[f"upper_{_pct(p)}"] = eti.sel(ci_bound="upper", drop=True)
    ensemble = draws.stack(sample=SAMPLE_DIMS).transpose("model", "benchmark", "sample")
    crps = sr.crps_ensemble(observed.values, ensemble.values, m_axis=-1, estimator=crps_estimator)
    out["crps"] = (("model", "benchmark"), np.asarray(crps, dtype=float))
    columns = ["observed", "mean", "median", *_interval_columns(probs), "crps"]
    return out.to_dataframe()[columns].reset_index()


# ---------------------------------------------------------------------------------------------
# metrics per setting
# ---------------------------------------------------------------------------------------------
def _setting_order(frame: pd.DataFrame) -> list[tuple[str, int]]:
    present = list(dict.fromkeys(zip(frame["benchmark_set"], frame["n_train_per_family"].astype(int))))
    known = [tuple(s) for s in SETTINGS if tuple(s) in present]
    return known + [s for s in present if s not in known]


def _ordered_index(frame: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Reorder a ``(benchmark_set, n, benchmark)``-indexed table: SETTINGS order, protocol order."""
    sets = load_protocol().benchmark_sets
    index = table.index.to_frame(index=False)
    rows = []
    for bset, n in _setting_order(frame):
        mask = (index["benchmark_set"] == bset) & (index["n_train_per_family"] == n)
        present = set(index.loc[mask, "benchmark"])
        ordered = [b for b in sets.get(bset, ()) if b in present]
        ordered += sorted(present - set(ordered) - {AVERAGE})
        rows += [(bset, n, b) for b in [*ordered, AVERAGE] if b in present]
    return table.reindex(pd.MultiIndex.from_tuples(rows, names=[*SETTING_KEYS, "benchmark"]))


def observed_at_resolution(predictions: pd.DataFrame) -> pd.Series:
    """Observed scores at the benchmark's resolution: continuity-corrected as the fit sees them.

    A benchmark of ``n`` items reports a score of 0 for any accuracy below about ``0.5/n``, and
    the Beta likelihood and the log score read such a score as ``0.5/n``
    (:func:`~scaling_bayes.design.clip_scores`; 1 likewise as ``1 − 0.5/n``). Coverage compares
    this value with the interval, so a reported 0 counts as covered when the interval reaches
    down to half an item. Scores inside ``(0.5/n, 1 − 0.5/n)`` are unchanged. Item counts come
    from :func:`~scaling_bayes.benchmarks.default_registry` (1000 where unknown, as in the fit).

    Parameters
    ----------
    predictions : DataFrame
        With ``benchmark`` and ``observed`` columns.

    Returns
    -------
    Series
        Same index as ``predictions``; NaN where ``observed`` is NaN.
    """
    names = predictions["benchmark"].unique()
    counts = pd.Series(default_registry().n_items(names).to_numpy(), index=names)
    n_items = predictions["benchmark"].map(counts).to_numpy(float)
    return pd.Series(clip_scores(predictions["observed"].to_numpy(float), n_items), index=predictions.index)


#: The columns that identify one forecast cell of a protocol's predictions.
CELL_KEYS: tuple[str, ...] = (*SETTING_KEYS, "test_group", "model", "benchmark")


def _check_cells(frame: pd.DataFrame, probs: Sequence[float]) -> None:
    """Raise on a table that would score silently wrong: a cell given twice (it would count
    twice), or an observed cell without a forecast (its error would drop out of the MAE while
    it counted as a miss in coverage)."""
    keys = [k for k in CELL_KEYS if k in frame.columns]
    dup = frame.duplicated(subset=keys, keep=False)
    if dup.any():
        shown = frame.loc[dup, keys].drop_duplicates().head(5).to_dict("records")
        raise ValueError(f"{int(dup.sum())} prediction rows repeat a cell ({', '.join(keys)}), e.g. {shown}; "
                         "each cell must appear once: drop the duplicates (e.g. two runs concatenated)")
    needed = ["mean", "median", *_interval_columns(probs)]
    missing = frame[needed].isna().any(axis=1)
    if missing.any():
        shown = frame.loc[missing, keys].head(5).to_dict("records")
        raise ValueError(f"{int(missing.sum())} observed cells have no forecast (NaN in {needed}), e.g. "
                         f"{shown}; a failed forecast must be rerun, not scored as missing")


def _with_derived(predictions: pd.DataFrame, probs: Sequence[float]) -> pd.DataFrame:
    frame = predictions[predictions["observed"].notna()].copy()  # unobserved cells are not scored
    _check_cells(frame, probs)
    frame["n_train_per_family"] = frame["n_train_per_family"].astype(int)
    frame["abs_error"] = (frame["mean"] - frame["observed"]).abs()
    frame["abs_error_median"] = (frame["median"] - frame["observed"]).abs()
    resolved = observed_at_resolution(frame)
    for p in probs:
        lo, hi = frame[f"lower_{_pct(p)}"], frame[f"upper_{_pct(p)}"]
        frame[f"coverage_{_pct(p)}"] = ((resolved >= lo) & (resolved <= hi)).astype(float)
        frame[f"width_{_pct(p)}"] = hi - lo
    if "lpd" not in frame.columns:  # runs written before the runner recorded it
        frame["lpd"] = np.nan
    return frame


def compute_metrics(predictions: pd.DataFrame, probs: Sequence[float] | None = None) -> pd.DataFrame:
    """Accuracy and calibration per setting and benchmark.

    Parameters
    ----------
    predictions : DataFrame
        Long predictions table (see :data:`PREDICTION_COLUMNS`).
    probs : sequence of float, optional
        Interval probabilities to evaluate (default: all found in the table).

    Returns
    -------
    DataFrame
        Index ``(benchmark_set, n_train_per_family, benchmark)``; per setting one row per
        benchmark plus an ``"Average"`` row. Columns:

        - ``mae_family_macro``: |posterior mean - observed| averaged over models within a test
          group, then over groups (the paper's number); the Average row is the mean over
          benchmarks.
        - ``mae_median_family_macro``: the same for the posterior-predictive *median*, the
          Bayes point forecast under absolute loss (the paper's MAE uses point predictions;
          our headline number stays the posterior mean, as the target is stated on it).
        - ``mae_pooled``: plain mean over all rows.
        - ``crps_family_macro``, ``crps_pooled``: the same for the CRPS.
        - ``log_score_pooled``: mean log predictive density of the observed scores (the
          ``lpd`` column; higher is better; NaN where the forecaster gave none).
        - ``coverage_XX``: fraction of rows whose observed score, at the benchmark's resolution
          (:func:`observed_at_resolution`), lies in the XX% interval (pooled over rows; on the
          Average row pooled over all benchmarks).
        - ``width_XX``: mean width of the XX% interval (pooled).
        - ``n_rows``, ``n_models``, ``n_groups``.
    """
    probs = interval_probs(predictions) if probs is None else tuple(probs)
    frame = _with_derived(predictions, probs)
    keys = list(SETTING_KEYS)

    macro = family_macro(frame, ["abs_error", "abs_error_median", "crps"]).rename(
        columns={"abs_error": "mae_family_macro", "abs_error_median": "mae_median_family_macro",
                 "crps": "crps_family_macro"}
    )
    macro_avg = family_macro_average(macro)

    agg = {
        "mae_pooled": ("abs_error", "mean"),
        "crps_pooled": ("crps", "mean"),
        "log_score_pooled": ("lpd", "mean"),
        **{f"coverage_{_pct(p)}": (f"coverage_{_pct(p)}", "mean") for p in probs},
        **{f"width_{_pct(p)}": (f"width_{_pct(p)}", "mean") for p in probs},
        "n_rows": ("model", "size"),
        "n_models": ("model", "nunique"),
        "n_groups": ("test_group", "nunique"),
    }
    pooled = frame.groupby([*keys, "benchmark"], sort=False).agg(**agg)
    pooled_avg = frame.groupby(keys, sort=False).agg(**agg)

    per_bm = macro.join(pooled)
    average = macro_avg.join(pooled_avg).assign(benchmark=AVERAGE).set_index("benchmark", append=True)
    table = _ordered_index(frame, pd.concat([per_bm, average]))
    for col in ("n_rows", "n_models", "n_groups"):
        table[col] = table[col].astype(int)
    return table


def metrics_by_case(predictions: pd.DataFrame, probs: Sequence[float] | None = None) -> pd.DataFrame:
    """Accuracy and calibration per setting and forecast case, pooled over benchmarks.

    The case (``known_variant``, ``new_variant``, ``new_family``; see
    :func:`~scaling_bayes.evaluation.protocol.fold_cases`) says how much the training data
    knew of a test model's family.

    Parameters
    ----------
    predictions : DataFrame
        Long predictions table with a ``case`` column.
    probs : sequence of float, optional
        Interval probabilities (default: all found in the table).

    Returns
    -------
    DataFrame
        Index ``(benchmark_set, n_train_per_family, case)``; columns ``mae_pooled``,
        ``crps_pooled``, ``coverage_XX``, ``width_XX`` (pooled over rows), ``n_rows``,
        ``n_models``, ``n_families`` (variant families).
    """
    if "case" not in predictions.columns:
        raise KeyError(
            "predictions lack a 'case' column; add it with "
            "scaling_bayes.evaluation.protocol.prediction_cases(predictions)"
        )
    return _pooled_by(predictions, "case", CASES, probs)  # cases from the most to the least known


def metrics_by_distance(predictions: pd.DataFrame, probs: Sequence[float] | None = None) -> pd.DataFrame:
    """Accuracy and calibration per setting and distance outside the family's training sizes,
    pooled over benchmarks: forecasts grow worse the further a test model lies from the sizes
    its family shows in training (:func:`family_distance` of ``family_size_ratio``).

    Returns
    -------
    DataFrame
        Index ``(benchmark_set, n_train_per_family, distance)``; the columns of
        :func:`metrics_by_case`.
    """
    if "family_size_ratio" not in predictions.columns:
        raise KeyError("predictions lack a 'family_size_ratio' column (runs written before session 26); "
                       "benchmarks/error_by_family_distance.py computes it for a Sloth-protocol run")
    frame = predictions.assign(distance=family_distance(predictions["family_size_ratio"]).to_numpy())
    return _pooled_by(frame, "distance", DISTANCE_LABELS, probs)


def _pooled_by(predictions: pd.DataFrame, column: str, order: Sequence[str],
               probs: Sequence[float] | None) -> pd.DataFrame:
    """Pooled accuracy and calibration per setting and level of ``column`` (levels in ``order``):
    ``mae_pooled``, ``bias_pooled`` (mean − observed), ``crps_pooled``, ``coverage_XX``,
    ``width_XX``, ``n_rows``, ``n_models``, ``n_families``."""
    probs = interval_probs(predictions) if probs is None else tuple(probs)
    frame = _with_derived(predictions, probs)
    frame["signed_error"] = frame["mean"] - frame["observed"]
    agg: dict[str, tuple[str, str]] = {"mae_pooled": ("abs_error", "mean"), "bias_pooled": ("signed_error", "mean"),
                                       "crps_pooled": ("crps", "mean")}
    for p in probs:
        agg[f"coverage_{_pct(p)}"] = (f"coverage_{_pct(p)}", "mean")
        agg[f"width_{_pct(p)}"] = (f"width_{_pct(p)}", "mean")
    agg.update(n_rows=("model", "size"), n_models=("model", "nunique"), n_families=("family2", "nunique"))
    # settings in table order, levels in the given order
    setting_rank = {s: i for i, s in enumerate(_setting_order(frame))}
    level_rank = {c: i for i, c in enumerate(order)}
    frame["_order"] = [
        (setting_rank[(b, n)], level_rank.get(c, len(level_rank)))
        for b, n, c in zip(frame["benchmark_set"], frame["n_train_per_family"], frame[column])
    ]
    frame = frame.sort_values("_order", kind="stable")
    return frame.groupby([*SETTING_KEYS, column], sort=False).agg(**agg)


# ---------------------------------------------------------------------------------------------
# comparison with Sloth's reference errors
# ---------------------------------------------------------------------------------------------
def _comparison_methods(ks: Sequence[int]) -> dict[str, str]:
    """Output column -> reference method name."""
    return {
        **{f"sloth_K={k}": sloth_method(k) for k in ks},
        "flops_family_intercept": FLOPS_FAMILY_METHOD,
        "flops_shared": FLOPS_SHARED_METHOD,
        **{f"pca_d={k}": pca_method(k) for k in ks},
    }


def _matched(
    predictions: pd.DataFrame, reference: pd.DataFrame | None, ks: Sequence[int]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Join our absolute errors with the reference methods' on REFERENCE_KEYS.

    Returns (matched wide frame, reference wide frame, best K per setting on matched rows).
    """
    methods = _comparison_methods(ks)
    reference = load_reference_errors(methods.values()) if reference is None else reference
    reference = reference[reference["method"].isin(list(methods.values()))].copy()
    reference["n_train_per_family"] = reference["n_train_per_family"].astype(int)
    wide = reference.pivot_table(index=list(REFERENCE_KEYS), columns="method", values="abs_error", aggfunc="first")
    wide = wide.rename(columns={v: k for k, v in methods.items()}).reindex(columns=list(methods))

    ours = _with_derived(predictions, ())  # raises on a repeated cell
    ours = ours.set_index(list(REFERENCE_KEYS))[["family2", "abs_error"]].rename(columns={"abs_error": "ours"})
    matched = ours.join(wide, how="inner").reset_index()

    sloth_cols = [f"sloth_K={k}" for k in ks]
    avg = family_macro_average(family_macro(matched, sloth_cols))
    if matched.empty:
        best_k = pd.Series(dtype=int, name="sloth_best_k")
        matched["sloth_best"] = pd.Series(dtype=float)
    else:
        best_k = avg.idxmin(axis=1).str.removeprefix("sloth_K=").astype(int).rename("sloth_best_k")
        row_k = best_k.reindex(pd.MultiIndex.from_frame(matched[list(SETTING_KEYS)])).to_numpy()
        matched["sloth_best"] = _error_at_k(matched, sloth_cols, ks, row_k)
    matched["sloth_held_out_k"] = _held_out_k(matched, sloth_cols, ks)
    matched["sloth_held_out"] = _error_at_k(matched, sloth_cols, ks, matched["sloth_held_out_k"].to_numpy())
    # a pair without both errors is no contest, not a loss: NaN, left out of the rates
    matched["win"] = (matched["ours"] < matched["sloth_best"]).astype(float).where(
        matched[["ours", "sloth_best"]].notna().all(axis=1))
    return matched, wide.reset_index(), best_k


def _error_at_k(matched: pd.DataFrame, sloth_cols: Sequence[str], ks: Sequence[int], row_k: np.ndarray) -> np.ndarray:
    """Each row's Sloth error at its own K (``row_k``, shape (row,)); NaN where the K is NaN."""
    col_pos = pd.Series(row_k).map({k: i for i, k in enumerate(ks)}).to_numpy(dtype=float)
    out = np.full(len(matched), np.nan)
    rows = np.flatnonzero(np.isfinite(col_pos))
    out[rows] = matched[list(sloth_cols)].to_numpy()[rows, col_pos[rows].astype(int)]
    return out


def _held_out_k(matched: pd.DataFrame, sloth_cols: Sequence[str], ks: Sequence[int]) -> pd.Series:
    """Sloth's K for each matched row, chosen without the row's test group: the K with the
    lowest family-macro MAE over the *other* test groups of its setting (leave one group out).

    Sloth's "best K" is chosen on every test group's error, its own included; this is the
    same choice made as a user could make it, so the comparator is not an oracle.  A setting
    with a single group gets NaN.
    """
    out = pd.Series(np.nan, index=matched.index, name="sloth_held_out_k")
    for _, rows in matched.groupby(list(SETTING_KEYS), sort=False):
        groups = rows["test_group"].unique()
        if len(groups) < 2:
            continue
        # per (group, benchmark) mean error of each K: the family-macro building block
        cube = rows.groupby(["test_group", "benchmark"])[list(sloth_cols)].mean()
        for group in groups:
            others = cube.drop(index=group, level="test_group")
            macro = others.groupby(level="benchmark").mean().mean()  # mean over groups, then benchmarks
            if macro.notna().any():  # a K missing from the reference is never chosen
                out[rows.index[rows["test_group"] == group]] = ks[list(sloth_cols).index(macro.idxmin())]
    return out


def difference_interval(
    matched: pd.DataFrame,
    prob: float = 0.9,
    *,
    ours: str = "ours",
    other: str = "sloth_best",
    n_resamples: int = 2000,
    random_seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap interval of the family-macro MAE difference ``ours − other`` in one setting.

    Test groups are the protocol's unit of replication (the family-macro average weights each
    group equally), so whole groups are resampled with replacement (SciPy's percentile
    bootstrap) and the family-macro average recomputed: mean over a benchmark's resampled
    groups of their per-group mean error, then over benchmarks.  With ~10 groups per setting
    this is rough, but it says whether a difference of a few tenths of a pp is
    distinguishable from which families happen to be in the protocol.

    Parameters
    ----------
    matched : DataFrame
        One setting's matched rows: ``test_group, benchmark`` and the two absolute-error
        columns ``ours`` and ``other``.
    prob : float
        Interval probability.

    Returns
    -------
    (lower, upper) of the difference, as fractions.
    """
    diff = matched.assign(_diff=matched[ours] - matched[other]).pivot_table(
        index="test_group", columns="benchmark", values="_diff", aggfunc="mean"
    )
    values = diff.to_numpy()
    present = np.isfinite(values)
    values = np.where(present, values, 0.0)
    n_groups = len(values)
    if n_groups < 2:
        return (float("nan"), float("nan"))

    def family_macro_difference(groups: np.ndarray) -> float:
        counts = np.bincount(groups.astype(int), minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_benchmark = (counts @ values) / (counts @ present)
        return float(np.nanmean(per_benchmark))

    res = stats.bootstrap(
        (np.arange(n_groups),), family_macro_difference, vectorized=False, n_resamples=n_resamples,
        confidence_level=prob, method="percentile", rng=np.random.default_rng(random_seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def shared_family_clusters(groups: Sequence[str]) -> dict[str, int]:
    """Cluster id of each test group: groups that share a variant family (their labels joined
    with '+') are one cluster, transitively (connected components).

    The same family is a test family in several settings, and its forecast errors there are
    not independent, so a bootstrap over every setting at once resamples these clusters.
    """
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for group in groups:
        first, *rest = group.split("+")
        for family in rest:
            parent[root(family)] = root(first)
    roots = {group: root(group.split("+")[0]) for group in groups}
    ids = {r: i for i, r in enumerate(dict.fromkeys(roots.values()))}
    return {group: ids[r] for group, r in roots.items()}


def coverage_intervals(
    predictions: pd.DataFrame,
    interval: float = 0.9,
    prob: float = 0.9,
    *,
    n_resamples: int = 2000,
    random_seed: int = 0,
) -> pd.DataFrame:
    """Pooled coverage of the ``interval`` predictive intervals per setting, with a
    ``prob`` group-bootstrap interval.

    Cells of one test group share a fold and a family's forecast errors, so they are not
    independent; as in :func:`difference_interval`, whole test groups are resampled with
    replacement (SciPy's percentile bootstrap) and the coverage pooled over the resampled
    groups' cells.  This says whether a coverage a little off nominal is distinguishable
    from which families happen to be in the protocol, which a binomial interval over cells
    overstates.

    Pooled over every setting, the resampled unit is a cluster of test groups that share a
    variant family (:func:`shared_family_clusters`): the same family is tested in up to six
    settings, and resampling each setting's groups independently would treat its repeated
    errors as independent evidence and understate the uncertainty.

    Returns
    -------
    DataFrame indexed by ``(benchmark_set, n_train_per_family)`` plus a last row
    ``("all", 0)`` pooled over every setting, with columns ``coverage``, ``lower``, ``upper``
    (fractions), ``n_cells``, ``n_groups`` (setting × test group) and ``n_units`` (what the
    bootstrap resamples: the setting's groups, or the pooled row's clusters).
    """
    pct = _pct(interval)
    frame = _with_derived(predictions, (interval,))
    covered = f"coverage_{pct}"
    counts = frame.groupby([*SETTING_KEYS, "test_group"], sort=False)[covered].agg(["sum", "count"])
    keys = _setting_order(frame)
    per_setting = [counts.xs(key, level=list(SETTING_KEYS)).to_numpy() for key in keys]
    cluster = frame["test_group"].map(shared_family_clusters(frame["test_group"].unique().tolist()))
    clusters = frame.groupby(cluster, sort=True)[covered].agg(["sum", "count"]).to_numpy()
    rows = {}
    for key, strata in [*((k, [g]) for k, g in zip(keys, per_setting)), (("all", 0), [clusters])]:

        def pooled(*indices: np.ndarray, strata: list[np.ndarray] = strata) -> float:
            picked = [g[idx.astype(int)] for g, idx in zip(strata, indices, strict=True)]
            return float(sum(p[:, 0].sum() for p in picked) / sum(p[:, 1].sum() for p in picked))

        everything = [np.arange(len(g)) for g in strata]
        lower = upper = np.nan
        if min(len(g) for g in strata) >= 2:
            res = stats.bootstrap(
                everything, pooled, vectorized=False, paired=False, n_resamples=n_resamples,
                confidence_level=prob, method="percentile", rng=np.random.default_rng(random_seed),
            )
            lower, upper = float(res.confidence_interval.low), float(res.confidence_interval.high)
        rows[key] = {"coverage": pooled(*everything), "lower": lower, "upper": upper,
                     "n_cells": int(sum(g[:, 1].sum() for g in strata)),
                     "n_groups": int(len(counts)) if key == ("all", 0) else len(strata[0]),
                     "n_units": int(sum(len(g) for g in strata))}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(list(rows), names=list(SETTING_KEYS))
    return table


def compare_with_sloth(
    predictions: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    ks: Sequence[int] = SLOTH_KS,
) -> pd.DataFrame:
    """Side-by-side family-macro MAE of our posterior means and Sloth's reference methods.

    Rows are joined on ``(benchmark_set, n_train_per_family, test_group, model, benchmark)``
    and every method is aggregated on the *matched* rows only.

    Parameters
    ----------
    predictions : DataFrame
        Long predictions table (see :data:`PREDICTION_COLUMNS`).
    reference : DataFrame, optional
        Reference errors (default: bundled, see :func:`load_reference_errors`).
    ks : sequence of int
        Numbers of skills / PCA components to report.

    Returns
    -------
    DataFrame
        Index ``(benchmark_set, n_train_per_family, benchmark)`` with an ``"Average"`` row per
        setting. Columns: ``ours``, ``sloth_best`` (Sloth at ``sloth_best_k``, the K with the
        lowest Average on the matched rows: chosen on the test error, an oracle),
        ``sloth_best_k``, ``sloth_held_out`` (Sloth with each test group's K chosen on the
        setting's other groups, see :func:`_held_out_k`: a K a user could have picked),
        ``sloth_K=k``,
        ``flops_family_intercept``, ``flops_shared``, ``pca_d=k`` (fractions),
        ``win_rate_vs_sloth_best`` (fraction of matched (model, benchmark) pairs where our
        absolute error is strictly smaller), ``difference_lower`` / ``difference_upper`` (on
        the Average rows: 90% group-bootstrap interval of ``ours − sloth_best``, see
        :func:`difference_interval`), ``difference_held_out_lower`` / ``_upper`` (the same
        for ``ours − sloth_held_out``), ``n_matched``, ``n_predictions``, ``n_reference``.
    """
    matched, wide, best_k = _matched(predictions, reference, ks)
    value_cols = ["ours", "sloth_best", "sloth_held_out", *_comparison_methods(ks)]
    keys = list(SETTING_KEYS)
    frame = predictions.assign(n_train_per_family=predictions["n_train_per_family"].astype(int))

    macro = family_macro(matched, value_cols)
    per_bm = macro.join(matched.groupby([*keys, "benchmark"]).agg(win_rate_vs_sloth_best=("win", "mean")))
    average = family_macro_average(macro).join(matched.groupby(keys).agg(win_rate_vs_sloth_best=("win", "mean")))
    for suffix, other in (("", "sloth_best"), ("_held_out", "sloth_held_out")):
        intervals = {
            setting: difference_interval(rows, other=other) if rows[other].notna().all() else (np.nan, np.nan)
            for setting, rows in matched.groupby(keys, sort=False)
        }
        average[f"difference{suffix}_lower"] = [intervals.get(i, (np.nan, np.nan))[0] for i in average.index]
        average[f"difference{suffix}_upper"] = [intervals.get(i, (np.nan, np.nan))[1] for i in average.index]
    average = average.assign(benchmark=AVERAGE).set_index("benchmark", append=True)
    table = pd.concat([per_bm, average])

    counts = {
        "n_matched": matched,
        "n_predictions": frame,
        "n_reference": wide.dropna(subset=[f"sloth_K={ks[0]}"]),
    }
    for name, source in counts.items():
        per = source.groupby([*keys, "benchmark"]).size()
        tot = source.groupby(keys).size().to_frame("n").assign(benchmark=AVERAGE).set_index("benchmark", append=True)
        table = table.join(pd.concat([per, tot["n"]]).rename(name), how="outer")

    table = _ordered_index(frame, table)
    table.insert(2, "sloth_best_k", best_k.reindex(table.index.droplevel("benchmark")).to_numpy())
    for name in counts:
        table[name] = table[name].fillna(0).astype(int)
    return table[["ours", "sloth_best", "sloth_best_k", "sloth_held_out", *_comparison_methods(ks),
                  "win_rate_vs_sloth_best", "difference_lower", "difference_upper",
                  "difference_held_out_lower", "difference_held_out_upper", *counts]]


def paired_win_rates(
    predictions: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    ks: Sequence[int] = SLOTH_KS,
) -> pd.DataFrame:
    """Per-model paired comparison with Sloth at its best K.

    Parameters
    ----------
    predictions : DataFrame
        Long predictions table.
    reference : DataFrame, optional
        Reference errors (default: bundled).
    ks : sequence of int
        Candidate numbers of skills for the best K (chosen per setting on the matched rows).

    Returns
    -------
    DataFrame
        One row per (setting, test_group, model) with columns ``family2, n_pairs, wins,
        win_rate`` (fraction of benchmarks where our absolute error < Sloth's), ``mae_ours``,
        ``mae_sloth_best`` (means over the model's benchmarks) and ``sloth_best_k``.
    """
    matched, _, best_k = _matched(predictions, reference, ks)
    keys = [*SETTING_KEYS, "test_group", "model", "family2"]
    table = matched.groupby(keys, sort=False).agg(
        n_pairs=("win", "count"),
        wins=("win", "sum"),
        win_rate=("win", "mean"),
        mae_ours=("ours", "mean"),
        mae_sloth_best=("sloth_best", "mean"),
    )
    table["wins"] = table["wins"].astype(int)
    table = table.reset_index()
    table["sloth_best_k"] = best_k.reindex(pd.MultiIndex.from_frame(table[list(SETTING_KEYS)])).to_numpy()
    return table


# ---------------------------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------------------------
def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: float, scale: float = 100.0, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    scaled = value * scale
    return f"{0.0 if round(scaled, digits) == 0 else scaled:.{digits}f}"  # no "-0.00"


def metrics_markdown(
    metrics: pd.DataFrame,
    comparison: pd.DataFrame | None = None,
    diagnostics: pd.DataFrame | None = None,
    *,
    calibrated: pd.DataFrame | None = None,
    by_case: pd.DataFrame | None = None,
    by_distance: pd.DataFrame | None = None,
    title: str = "Leave-family-out evaluation (Sloth protocol)",
    digits: int = 1,
) -> str:
    """Render metrics (and optionally the Sloth comparison and sampler diagnostics) as markdown.

    Parameters
    ----------
    metrics : DataFrame
        Output of :func:`compute_metrics`.
    comparison : DataFrame, optional
        Output of :func:`compare_with_sloth`.
    diagnostics : DataFrame, optional
        Per-fold diagnostics (columns ``benchmark_set, n_train_per_family, max_rhat,
        min_ess_bulk, divergences, fit_seconds``).
    calibrated : DataFrame, optional
        :func:`compute_metrics` of recalibrated intervals (e.g. cross-fold conformal); shown
        in its own section beside the pure posterior coverage.
    by_case : DataFrame, optional
        :func:`metrics_by_case` output; shown for the settings that hold out more than the
        known-variant case (at n ≥ 1 every test model is ``known_variant``).
    by_distance : DataFrame, optional
        :func:`metrics_by_distance` output.
    title : str
    digits : int
        Decimals of percentage-point numbers.

    Returns
    -------
    str
        Markdown document. MAE/CRPS/widths in percentage points, coverage in percent.
    """
    probs = sorted(
        float(c.removeprefix("coverage_")) / 100 for c in metrics.columns if str(c).startswith("coverage_")
    )
    averages = metrics.xs(AVERAGE, level="benchmark")
    parts = [f"# {title}", ""]

    if comparison is not None and len(comparison):
        comp = comparison.xs(AVERAGE, level="benchmark")
        no_reference = [f"{b}, n={n}" for (b, n), r in comp.iterrows() if r["n_matched"] == 0]
        comp = comp[comp["n_matched"] > 0]  # e.g. n=0: the reference has no errors to match
        ks = [int(c.removeprefix("sloth_K=")) for c in comp.columns if str(c).startswith("sloth_K=")]
        header = [
            "setting", "ours", "Sloth best (K)", "ours − Sloth best, 90% CI",
            "Sloth, K from the other groups", "ours − that, 90% CI", *[f"Sloth K={k}" for k in ks],
            "FLOPs + family intercept", "shared FLOPs law", "PCA d=2", "win rate vs Sloth best",
            "matched / reference rows",
        ]
        partial = [f"{b}, n={n} ({int(r['n_matched'])} of {int(r['n_reference'])})"
                   for (b, n), r in comp.iterrows() if r["n_matched"] < r["n_reference"]]
        rows = []
        for (bset, n), row in comp.iterrows():
            k = row["sloth_best_k"]
            rows.append([
                f"{bset}, n={n}", _fmt(row["ours"], digits=digits),
                f"{_fmt(row['sloth_best'], digits=digits)} (K={int(k)})" if not pd.isna(k) else "–",
                f"{_fmt(row['ours'] - row['sloth_best'], digits=2)} "  # runs saved before the interval: "–"
                f"[{_fmt(row.get('difference_lower', np.nan), digits=2)}, "
                f"{_fmt(row.get('difference_upper', np.nan), digits=2)}]",
                _fmt(row.get("sloth_held_out", np.nan), digits=digits),  # "–" in runs saved before it
                f"{_fmt(row['ours'] - row.get('sloth_held_out', np.nan), digits=2)} "
                f"[{_fmt(row.get('difference_held_out_lower', np.nan), digits=2)}, "
                f"{_fmt(row.get('difference_held_out_upper', np.nan), digits=2)}]",
                *[_fmt(row[f"sloth_K={k_}"], digits=digits) for k_ in ks],
                _fmt(row["flops_family_intercept"], digits=digits), _fmt(row["flops_shared"], digits=digits),
                _fmt(row.get("pca_d=2", np.nan), digits=digits),
                f"{_fmt(row['win_rate_vs_sloth_best'], digits=0)}%",
                f"{int(row['n_matched'])}/{int(row['n_reference'])}",
            ])
        parts += [
            "## Accuracy vs Sloth (family-macro MAE of the posterior mean, pp)",
            "",
            "All methods aggregated on the same matched (model, benchmark) rows. Win rate: share of "
            "matched (model, benchmark) pairs where our absolute error is strictly smaller than Sloth's "
            "at its best K. The difference's interval resamples whole test groups (percentile "
            "bootstrap; Sloth's K held at its best on the full set): an interval that straddles 0 "
            "means the protocol's families cannot tell the two apart. Sloth's best K is chosen on the "
            "test error of every group; \"K from the other groups\" chooses each group's K on the "
            "setting's other groups only, as a user could."
            + (f" Not shown, as Sloth's reference has no errors for them: {'; '.join(no_reference)}."
               if no_reference else "")
            + (f" **Partial run:** only some of the protocol's rows are forecast in {'; '.join(partial)}; "
               "every method there, and Sloth's best K, is measured on those rows alone, so the "
               "numbers are not the paper's for the whole setting." if partial else ""),
            "",
            _md_table(header, rows),
            "",
        ]

    header = [
        "setting", "MAE family-macro", "MAE of the median, family-macro", "MAE pooled", "CRPS", "log score",
        *[f"cov {_pct(p)}%" for p in probs], *[f"width {_pct(p)}%" for p in probs], "test models",
    ]
    rows = [
        [
            f"{bset}, n={n}", _fmt(r["mae_family_macro"], digits=digits),
            _fmt(r.get("mae_median_family_macro", np.nan), digits=digits), _fmt(r["mae_pooled"], digits=digits),
            _fmt(r["crps_pooled"], digits=digits + 1),
            _fmt(r.get("log_score_pooled", np.nan), scale=1.0, digits=2),
            *[_fmt(r[f"coverage_{_pct(p)}"], digits=0) for p in probs],
            *[_fmt(r[f"width_{_pct(p)}"], digits=digits) for p in probs],
            str(int(r["n_models"])),
        ]
        for (bset, n), r in averages.iterrows()
    ]
    parts += [
        "## Calibration (pooled over test models and benchmarks)",
        "",
        "Coverage: % of observed scores inside the central posterior-predictive interval "
        "(nominal level in the header). MAE, CRPS and widths in pp; log score: mean log "
        "posterior-predictive density of the observed scores (higher is better; – where the "
        "forecaster gives no density).",
        "",
        _md_table(header, rows),
        "",
    ]

    if calibrated is not None and len(calibrated):
        cal = calibrated.xs(AVERAGE, level="benchmark")
        header = ["setting", *[f"cov {_pct(p)}% (posterior → conformal)" for p in probs],
                  *[f"width {_pct(p)}% (posterior → conformal)" for p in probs]]
        rows = [
            [
                f"{bset}, n={n}",
                *[f"{_fmt(r[f'coverage_{_pct(p)}'], digits=0)} → {_fmt(cal.loc[(bset, n), f'coverage_{_pct(p)}'], digits=0)}"
                  for p in probs],
                *[f"{_fmt(r[f'width_{_pct(p)}'], digits=digits)} → {_fmt(cal.loc[(bset, n), f'width_{_pct(p)}'], digits=digits)}"
                  for p in probs],
            ]
            for (bset, n), r in averages.iterrows()
            if (bset, n) in cal.index
        ]
        parts += [
            "## Cross-fold conformal intervals (beside the pure posterior)",
            "",
            "Each test group's intervals are stretched about the posterior median by a factor "
            "learned only from the *other* test groups of its setting (families the fold trained "
            "on, each predicted by a fit that had not seen it); see "
            "`scaling_bayes.evaluation.calibration`. Coverage in %, widths in pp.",
            "",
            _md_table(header, rows),
            "",
        ]

    if by_case is not None and len(by_case):
        cases = by_case.reset_index()
        held_out = cases.groupby(list(SETTING_KEYS))["case"].transform(lambda c: (c != CASES[0]).any())
        cases = cases[held_out]
        if len(cases):
            header = ["setting", "case", "MAE pooled", "CRPS", *[f"cov {_pct(p)}%" for p in probs],
                      *[f"width {_pct(p)}%" for p in probs], "test models", "variant families"]
            rows = [
                [
                    f"{r['benchmark_set']}, n={r['n_train_per_family']}", CASE_LABELS.get(r["case"], r["case"]),
                    _fmt(r["mae_pooled"], digits=digits), _fmt(r["crps_pooled"], digits=digits + 1),
                    *[_fmt(r[f"coverage_{_pct(p)}"], digits=0) for p in probs],
                    *[_fmt(r[f"width_{_pct(p)}"], digits=digits) for p in probs],
                    str(int(r["n_models"])), str(int(r["n_families"])),
                ]
                for _, r in cases.iterrows()
            ]
            parts += [
                "## By forecast case",
                "",
                "What the training data knew of each test model's family: its own variant line "
                "(known variant), only other variant lines of its base family (new variant), or "
                "nothing (new family). Pooled over models and benchmarks; coverage in %, the rest in pp.",
                "",
                _md_table(header, rows),
                "",
            ]

    if by_distance is not None and len(by_distance):
        header = ["setting", "distance", "MAE pooled", "bias", "CRPS", *[f"cov {_pct(p)}%" for p in probs],
                  *[f"width {_pct(p)}%" for p in probs], "cells", "test models"]
        rows = [
            [
                f"{bset}, n={n}", str(distance), _fmt(r["mae_pooled"], digits=digits),
                _fmt(r["bias_pooled"], digits=digits), _fmt(r["crps_pooled"], digits=digits + 1),
                *[_fmt(r[f"coverage_{_pct(p)}"], digits=0) for p in probs],
                *[_fmt(r[f"width_{_pct(p)}"], digits=digits) for p in probs],
                str(int(r["n_rows"])), str(int(r["n_models"])),
            ]
            for (bset, n, distance), r in by_distance.iterrows()
        ]
        parts += [
            "## By distance outside the family's training sizes",
            "",
            "How many times larger than its base family's largest training model (or smaller than "
            "its smallest) each test model is (`family_size_ratio`). Pooled over models and "
            "benchmarks; bias is mean − observed; coverage in %, the rest in pp.",
            "",
            _md_table(header, rows),
            "",
        ]

    header = ["setting", "benchmark", "MAE ours", *(["MAE Sloth best"] if comparison is not None else []),
              "CRPS", *[f"cov {_pct(p)}%" for p in probs]]
    rows = []
    for (bset, n, bench), r in metrics.iterrows():
        if bench == AVERAGE:
            continue
        extra = []
        if comparison is not None:
            key = (bset, n, bench)
            extra = [_fmt(comparison.loc[key, "sloth_best"], digits=digits) if key in comparison.index else "–"]
        rows.append([
            f"{bset}, n={n}", str(bench), _fmt(r["mae_family_macro"], digits=digits), *extra,
            _fmt(r["crps_pooled"], digits=digits + 1), *[_fmt(r[f"coverage_{_pct(p)}"], digits=0) for p in probs],
        ])
    parts += ["## Per benchmark", "", _md_table(header, rows), ""]

    if diagnostics is not None and len(diagnostics):
        diag = diagnostics.assign(n_train_per_family=diagnostics["n_train_per_family"].astype(int))
        spec = {"folds": ("test_group", "size")}
        for col, how in (("max_rhat", "max"), ("min_ess_bulk", "min"), ("max_rhat_forecast", "max"),
                         ("min_ess_forecast", "min"), ("divergences", "sum"),
                         ("n_stuck_chains", "sum"), ("resampled", "sum"), ("fit_seconds", "sum")):
            if col in diag.columns:
                spec[col] = (col, how)
        summary = diag.groupby(list(SETTING_KEYS), sort=False).agg(**spec)
        header = ["setting", *summary.columns]
        rows = [
            [f"{bset}, n={n}", *[f"{v:.3g}" if isinstance(v, float) else str(v) for v in r.tolist()]]
            for (bset, n), r in summary.iterrows()
        ]
        parts += ["## Sampler diagnostics (over folds)", "", _md_table(header, rows), ""]
    return "\n".join(parts)
