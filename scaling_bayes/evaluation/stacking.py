"""Stacking forecasters across leave-family-out folds.

Stacking of predictive distributions (Yao, Vehtari, Simpson & Gelman 2018, *Bayesian
Analysis* 13(3)) chooses the weights ``w`` of a mixture ``Σ_k w_k p_k`` of forecasters on the
simplex that maximise the log score of held-out data, ``Σ_i log Σ_k w_k p_k(y_i)``, where
``p_k(y_i)`` is forecaster ``k``'s posterior-predictive density of held-out cell ``i``.
:func:`scaling_bayes.stacking.stacking_weights` solves it with ArviZ; here it is fed the
held-out log densities of the protocol's test cells (the ``lpd`` column that
:func:`~scaling_bayes.evaluation.runner.evaluate_fold` writes) instead of PSIS-LOO's
in-sample approximation, which measures fit, not extrapolation to a family's larger models.

As with :func:`~scaling_bayes.evaluation.calibration.cross_fold_conformal`, a test group's
weights are learned *only from the other test groups of its setting*: each of them was
forecast by a fit that had not seen it, and none of the scores the weights are learned from
is the group's own.  One indirect path remains: the other groups' fits trained on this
group's larger models (every non-test row trains), so its test scores shaped, slightly,
the densities its weights are learned from.  Closing it would need a nested refit per group
(73 × 72 fits); as every fold trains on ~150 models, the effect is taken to be small.  The
group's forecast is then the mixture of its components' predictive draws
(:func:`~scaling_bayes.stacking.mix_draws`), summarised like any other forecaster's, except that its ``mean`` is the
exact mixture mean over all component draws (:func:`~scaling_bayes.stacking.mixture_mean`).
The stacked run is scored on exactly the rows, metrics and Sloth comparison of its components.

>>> result = stack_runs({"latent": "runs/latent", "flops": "runs/flops"}, "runs/stacked")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from scaling_bayes.stacking import hierarchical_stacking_weights, mix_draws_by, mixture_mean, stacking_weights

from ._aggregate import SETTING_KEYS
from .metrics import DEFAULT_PROBS, interval_probs, summarize_draws
from .runner import EvaluationResult, _atomic_write_csv, _read_csv

__all__ = ["cross_fold_stacking", "load_fold_draws", "stack_runs"]

#: Columns that identify a prediction row across runs.
ROW_KEYS: tuple[str, ...] = (*SETTING_KEYS, "test_group", "model", "benchmark")
#: Columns a stacked row copies from its first component's row.
_SHARED_COLUMNS: tuple[str, ...] = ("family2", "case")


def load_fold_draws(run_dir: str | os.PathLike[str]) -> dict[tuple[str, int, str], xr.DataArray]:
    """The cached predictive draws of every fold of a protocol run.

    Returns
    -------
    dict
        ``{(benchmark_set, n_train_per_family, test_group): draws}``, draws with dims
        (chain, draw, model, benchmark), for every fold under ``run_dir/folds`` whose draws
        were cached beside its record (:func:`~scaling_bayes.evaluation.runner.fold_draws_path`;
        runs written before draws were cached have none).
    """
    out = {}
    for record_path in sorted(Path(run_dir, "folds").glob("*.json")):
        draws_path = record_path.with_suffix(".nc")
        if not draws_path.is_file():
            continue
        fold = json.loads(record_path.read_text(encoding="utf-8"))["fold"]
        key = (fold["benchmark_set"], int(fold["n_train_per_family"]), fold["test_group"])
        with xr.open_dataset(draws_path, engine="h5netcdf") as ds:
            out[key] = ds["score"].load()
    return out


def _aligned(predictions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per cell, every run's ``lpd`` as column ``lpd_<name>``; checks the rows agree."""
    names = list(predictions)
    keys = list(ROW_KEYS)
    base = predictions[names[0]][[*keys, "observed", *_SHARED_COLUMNS]].set_index(keys)
    cells = set(base.index)
    for name in names:
        frame = predictions[name]
        if "lpd" not in frame.columns or frame.loc[frame["observed"].notna(), "lpd"].isna().all():
            raise ValueError(
                f"run {name!r} has no log predictive densities (column 'lpd'): rerun it with this "
                "version of the package, whose runner writes them."
            )
        rows = set(frame.set_index(keys).index)
        if rows != cells:
            extra = sorted(rows ^ cells)[:3]
            raise ValueError(f"run {name!r} covers other rows than {names[0]!r} (e.g. {extra}); stack runs of the same settings")
        base[f"lpd_{name}"] = frame.set_index(keys)["lpd"]
    return base.reset_index()


def cross_fold_stacking(
    predictions: Mapping[str, pd.DataFrame],
    draws: Mapping[str, Mapping[tuple[str, int, str], xr.DataArray]],
    probs: Sequence[float] | None = None,
    by: str | None = None,
    random_seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack several protocol runs, each test group with weights from the other groups.

    Parameters
    ----------
    predictions : mapping of name to DataFrame
        Each run's predictions table (with the ``lpd`` column), over the same rows.
    draws : mapping of name to mapping
        Each run's fold draws (:func:`load_fold_draws`).
    probs : sequence of float, optional
        Interval probabilities (default: those of the first run's table).
    by : {"benchmark"}, optional
        None (default): one weight vector per test group (:func:`~scaling_bayes.stacking.stacking_weights`).
        ``"benchmark"``: one per test group and benchmark, partially pooled across benchmarks
        (:func:`~scaling_bayes.stacking.hierarchical_stacking_weights`, seeded with ``random_seed``).

    Returns
    -------
    predictions : DataFrame
        The stacked forecasts, one row per cell with the usual prediction columns, ``lpd``
        (the mixture's log predictive density, ``log Σ_k w_k p_k(y)``) and ``weight_<name>``.
    weights : DataFrame
        One row per (setting, test group), or per (setting, test group, benchmark) with
        ``by="benchmark"``: the weights and the number of calibration cells (with ``by``,
        also the weight fit's ``max_rhat``, ``min_ess_bulk`` and ``divergences``).

    Raises
    ------
    ValueError
        If a setting has a single test group, or a run lacks draws or densities for a fold.
    """
    if by not in (None, "benchmark"):
        raise ValueError(f"by={by!r}: use None (one weight vector per test group) or 'benchmark'")
    names = list(predictions)
    first = predictions[names[0]]
    probs = interval_probs(first) if probs is None else tuple(probs)
    cells = _aligned(predictions)
    lpd_cols = [f"lpd_{n}" for n in names]
    rows, weight_rows = [], []
    for setting, frame in cells.groupby(list(SETTING_KEYS), sort=False):
        groups = frame["test_group"].unique()
        if len(groups) < 2:
            raise ValueError(f"setting {setting} has only test group {groups[0]!r}; stacking across folds needs two")
        benchmarks = sorted(frame["benchmark"].unique())
        for group in groups:
            calib = frame[(frame["test_group"] != group) & frame["observed"].notna()]
            key = (*setting, group)
            missing = [n for n in names if key not in draws[n]]
            if missing:
                raise ValueError(f"no cached draws for fold {key} in run(s) {missing}; rerun them to cache draws")
            fold_draws = {n: draws[n][key] for n in names}
            lpd = calib[lpd_cols].set_axis(names, axis=1)
            setting_group = {**dict(zip(SETTING_KEYS, setting)), "test_group": group}
            if by is None:
                w = stacking_weights(lpd)
                table = pd.DataFrame([w.to_numpy()] * len(benchmarks), index=pd.Index(benchmarks, name="benchmark"),
                                     columns=names)
                weight_rows.append({**setting_group, **{f"weight_{n}": w[n] for n in names}, "n_calibration": len(calib)})
            else:
                table, diag = hierarchical_stacking_weights(lpd, calib["benchmark"].rename("benchmark"),
                                                            levels=benchmarks, random_seed=random_seed)
                counts = calib["benchmark"].value_counts()
                weight_rows.extend(
                    {**setting_group, "benchmark": b, **{f"weight_{n}": table.loc[b, n] for n in names},
                     "n_calibration": int(counts.get(b, 0)), "max_rhat": diag.max_rhat,
                     "min_ess_bulk": diag.min_ess_bulk, "divergences": diag.divergences}
                    for b in benchmarks
                )
            mixed = mix_draws_by(fold_draws, table, dim="benchmark")  # pooled: the same row for every benchmark
            target = frame[frame["test_group"] == group]
            observed = target.pivot(index="model", columns="benchmark", values="observed")
            summary = summarize_draws(mixed, observed, probs)
            exact = mixture_mean(fold_draws, table).to_series().rename("mean").reset_index()
            summary = summary.drop(columns="mean").merge(exact, on=["model", "benchmark"], how="left")
            summary = summary.merge(target.drop(columns=["observed"]), on=["model", "benchmark"], how="right")
            w_rows = table.loc[summary["benchmark"], names].to_numpy(float)
            summary["lpd"] = special.logsumexp(summary[lpd_cols].to_numpy(float), b=w_rows, axis=1)
            for i, n in enumerate(names):
                summary[f"weight_{n}"] = w_rows[:, i]
            rows.append(summary.drop(columns=lpd_cols))
    stacked = pd.concat(rows, ignore_index=True)
    order = [c for c in first.columns if c in stacked.columns]
    stacked = stacked[order + [c for c in stacked.columns if c not in order]]
    return stacked, pd.DataFrame(weight_rows)


#: How a stacked fold's diagnostics combine its components': the worst convergence, summed costs.
_DIAGNOSTIC_AGGREGATES: dict[str, str] = {
    "n_train": "first", "n_test": "first", "max_rhat": "max", "min_ess_bulk": "min", "divergences": "sum",
    "fit_seconds": "sum", "predict_seconds": "sum", "max_rhat_forecast": "max", "min_ess_forecast": "min",
}


def _stacked_fold_diagnostics(diagnostics: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per fold from the components' ``diagnostics.csv`` (see :data:`_DIAGNOSTIC_AGGREGATES`)."""
    frame = pd.concat(diagnostics, ignore_index=True)
    agg = {c: how for c, how in _DIAGNOSTIC_AGGREGATES.items() if c in frame.columns}
    return frame.groupby([*SETTING_KEYS, "test_group"], sort=False).agg(agg).reset_index()


def _check_draws_match(name: str, predictions: pd.DataFrame,
                       draws: Mapping[tuple[str, int, str], xr.DataArray], atol: float = 1e-5) -> None:
    """Raise unless each cached fold's draws give the medians its run's ``predictions.csv`` reports:
    a later run into the same folder (``save=False``) replaces the draws but not the table, and
    stacking must not mix one run's densities with another's draws.  ``atol`` allows for the
    cache's float32."""
    keys = [*SETTING_KEYS, "test_group"]
    for (bset, n, group), fold in draws.items():
        rows = predictions[(predictions["benchmark_set"] == bset) & (predictions["n_train_per_family"] == n)
                           & (predictions["test_group"] == group)]
        if rows.empty:
            continue
        median = fold.median(("chain", "draw")).to_series()
        cells = pd.MultiIndex.from_frame(rows[["model", "benchmark"]])
        gap = np.abs(median.reindex(cells).to_numpy(float) - rows["median"].to_numpy(float))
        if not np.all(gap <= atol):  # NaN (a cell missing from the draws) fails too
            raise ValueError(
                f"run {name!r}, fold {dict(zip(keys, (bset, n, group)))}: the cached draws do not give the "
                f"medians in its predictions.csv (largest gap {np.nanmax(gap):.3g}); the draws were "
                "overwritten by another run into the same folder. Rerun it into its own directory."
            )


def _in_settings(frame: pd.DataFrame, settings: set[tuple[str, int]]) -> pd.Series:
    """Whether each row's (benchmark_set, n_train_per_family) is one of ``settings``."""
    keys = pd.MultiIndex.from_arrays([frame["benchmark_set"].astype(str), frame["n_train_per_family"].astype(int)])
    return pd.Series(keys.isin(list(settings)), index=frame.index)


def stack_runs(runs: Mapping[str, str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
               by: str | None = None, random_seed: int = 0,
               settings: Sequence[tuple[str, int]] | None = None) -> EvaluationResult:
    """Stack protocol runs written by :func:`~scaling_bayes.evaluation.run_protocol` and save
    the stacked run (every table of an :class:`~scaling_bayes.evaluation.EvaluationResult`,
    plus ``stacking_weights.csv``) to ``out_dir``.  A stacked fold's diagnostics are its
    components' worst R-hat and ESS, with divergences and times summed.

    Parameters
    ----------
    runs : mapping of name to directory
        Runs over the same settings, written by a runner that caches fold draws.
    out_dir : path
        Where the stacked run goes.
    by, random_seed
        Passed to :func:`cross_fold_stacking` (``by="benchmark"``: weights per benchmark).
    settings : sequence of (benchmark_set, n_train_per_family), optional
        Stack only these settings (every run must cover them; other settings in a run are
        left out).  Default: every setting, which the runs must share.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ValueError
        If a run lacks one of ``settings``.
    """
    predictions = {name: _read_csv(Path(path) / EvaluationResult.FILES["predictions"]) for name, path in runs.items()}
    draws = {name: load_fold_draws(path) for name, path in runs.items()}
    if settings is not None:
        wanted = {(str(b), int(n)) for b, n in settings}
        for name, frame in predictions.items():
            mask = _in_settings(frame, wanted)
            missing = sorted(wanted - set(zip(frame.loc[mask, "benchmark_set"], frame.loc[mask, "n_train_per_family"])))
            if missing:
                raise ValueError(f"run {name!r} has no rows for setting(s) {missing}; evaluate them first")
            predictions[name] = frame[mask].reset_index(drop=True)
            draws[name] = {k: v for k, v in draws[name].items() if (k[0], k[1]) in wanted}
    for name in runs:
        _check_draws_match(name, predictions[name], draws[name])
    stacked, weights = cross_fold_stacking(predictions, draws, DEFAULT_PROBS, by=by, random_seed=random_seed)
    diagnostics = [_read_csv(Path(path) / EvaluationResult.FILES["diagnostics"]) for path in runs.values()
                   if (Path(path) / EvaluationResult.FILES["diagnostics"]).is_file()]
    if settings is not None:
        diagnostics = [d[_in_settings(d, wanted)] for d in diagnostics]
    result = EvaluationResult.from_predictions(
        stacked, _stacked_fold_diagnostics(diagnostics) if diagnostics else None, out_dir=out_dir
    )
    result.save(out_dir)
    _atomic_write_csv(Path(out_dir) / "stacking_weights.csv", weights)
    return result
