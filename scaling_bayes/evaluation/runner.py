"""Run the leave-family-out protocol for a forecaster, fold by fold, with Dask distributed.

Each fold (one test group of one setting) is an independent task: build a fresh forecaster
from a picklable zero-argument factory, fit it on the fold's training rows, draw
posterior-predictive scores for the fold's test models and summarise them (posterior mean,
median, equal-tailed intervals, CRPS). Results are cached per fold under ``out_dir/folds`` so
an interrupted run resumes where it stopped.

Parallelism: folds are distributed over Dask workers (a ``LocalCluster`` of processes by
default, or an existing scheduler). Each worker runs one fold at a time
(``threads_per_worker=1``) and lets NUTS run its chains in parallel processes inside the
fold, so the default number of workers is ``cpu_count // cores_per_fit`` (at least 1), where
``cores_per_fit`` is ``sample_kwargs["cores"]`` or ``sample_kwargs["chains"]`` (default 4),
capped at the CPU count. On a 2-core machine this is one worker whose fold uses both cores
for its chains. Local workers are started non-daemonic so that PyMC can spawn chain processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import socket
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from ._aggregate import SETTING_KEYS
from .calibration import cross_fold_conformal
from .metrics import (
    DEFAULT_PROBS,
    _interval_columns,
    compare_with_sloth,
    compute_metrics,
    metrics_by_case,
    metrics_by_distance,
    metrics_markdown,
    paired_win_rates,
    summarize_draws,
)
from .protocol import SETTINGS, Fold, fold_cases, fold_size_ratio, fold_split, sloth_folds

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from scaling_bayes.data import ScoreTable

__all__ = [
    "EvaluationResult",
    "FoldEvaluationError",
    "Forecaster",
    "evaluate_fold",
    "run_protocol",
]

logger = logging.getLogger(__name__)

#: Columns of ``diagnostics.csv`` that always come first.
DIAGNOSTIC_COLUMNS: tuple[str, ...] = (
    "benchmark_set",
    "n_train_per_family",
    "test_group",
    "n_train",
    "n_test",
    "max_rhat",
    "min_ess_bulk",
    "divergences",
    "fit_seconds",
    "predict_seconds",
)


@runtime_checkable
class Forecaster(Protocol):
    """What :func:`run_protocol` needs from a model.

    Optionally, ``log_predictive_density(draws, observed)`` (as
    :meth:`~scaling_bayes.skill_model.LatentSkillModel.log_predictive_density`): the log
    predictive density of the observed test scores, dims (model, benchmark), given the
    ``predictive_draws`` output; it fills the predictions' ``lpd`` column, which stacking
    (:mod:`~scaling_bayes.evaluation.stacking`) needs.

    Optionally, ``settings()``: a JSON-able dict of everything that decides the forecaster's
    fits, defaults included (as :meth:`~scaling_bayes.skill_model.LatentSkillModel.settings`).
    It joins the fold cache's key, so a cached fold is refitted when a default changes, not
    only when the factory's arguments do.
    """

    def fit(self, data: ScoreTable, *, random_seed: int, **sample_kwargs: Any) -> Any:
        """Fit on a :class:`~scaling_bayes.data.ScoreTable`."""

    def predictive_draws(self, new_models: pd.DataFrame, *, random_seed: int) -> xr.DataArray:
        """Posterior-predictive scores, dims ``(chain, draw, model, benchmark)``.

        ``new_models`` is indexed by ``model`` with columns ``family, base_family, instruct,
        params_b, tokens_t``. An ``xr.Dataset`` with a ``score`` variable is accepted too.
        """

    @property
    def diagnostics(self) -> Any:
        """Dict (or dataclass / object with ``to_dict``) with ``max_rhat``, ``min_ess_bulk``,
        ``divergences``, ``fit_seconds``."""


class FoldEvaluationError(RuntimeError):
    """One or more folds failed; completed folds stay cached, re-run to resume."""

    def __init__(self, failures: Sequence[tuple[Fold, BaseException]]):
        self.failures = list(failures)
        lines = "; ".join(f"{fold.slug}: {type(exc).__name__}: {exc}" for fold, exc in self.failures)
        super().__init__(f"{len(self.failures)} fold(s) failed (completed folds are cached): {lines}")


# ---------------------------------------------------------------------------------------------
# one fold
# ---------------------------------------------------------------------------------------------
def _fold_seeds(random_seed: int, fold: Fold) -> tuple[int, int]:
    """Deterministic (fit, predict) seeds for a fold, independent of scheduling order."""
    seq = np.random.SeedSequence([int(random_seed), zlib.crc32(fold.slug.encode())])
    fit_seed, predict_seed = seq.generate_state(2)
    return int(fit_seed), int(predict_seed)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return repr(value)


def _diagnostics_dict(diagnostics: Any) -> dict[str, Any]:
    if diagnostics is None:
        return {}
    if isinstance(diagnostics, Mapping):
        return dict(diagnostics)
    if hasattr(diagnostics, "to_dict"):
        return dict(diagnostics.to_dict())
    if dataclasses.is_dataclass(diagnostics) and not isinstance(diagnostics, type):
        return dataclasses.asdict(diagnostics)
    return {"diagnostics": repr(diagnostics)}


def _as_draws(draws: xr.DataArray | xr.Dataset, fold: Fold) -> xr.DataArray:
    if isinstance(draws, xr.Dataset):
        if "score" in draws.data_vars:
            draws = draws["score"]
        elif len(draws.data_vars) == 1:
            draws = next(iter(draws.data_vars.values()))
        else:
            raise ValueError(f"predictive_draws returned a Dataset without a 'score' variable: {list(draws.data_vars)}")
    expected = {"chain", "draw", "model", "benchmark"}
    if set(draws.dims) != expected:
        raise ValueError(f"predictive draws must have dims {sorted(expected)}, got {draws.dims}")
    missing_models = sorted(set(fold.test_models) - set(draws["model"].values.tolist()))
    missing_bench = sorted(set(fold.benchmarks) - set(draws["benchmark"].values.tolist()))
    if missing_models or missing_bench:
        raise ValueError(
            f"predictive draws lack test models {missing_models} / benchmarks {missing_bench}; "
            "the 'model' coordinate must carry the index of new_models"
        )
    return draws.sel(model=list(fold.test_models), benchmark=list(fold.benchmarks)).transpose(
        "chain", "draw", "model", "benchmark"
    )


def _forecast_convergence(raw: xr.DataArray | xr.Dataset, draws: xr.DataArray, fold: Fold) -> dict[str, float]:
    """R-hat and bulk ESS of the forecast itself: the latent mean ``mu`` of the test cells
    where the forecaster returns it (the predictive ``score`` otherwise, whose Beta noise
    hides some disagreement between chains).  A factor model's loadings and skills can mix
    slowly while the forecasts they combine into agree across chains, or the reverse."""
    target = draws
    if isinstance(raw, xr.Dataset) and "mu" in raw.data_vars:
        target = raw["mu"].sel(model=list(fold.test_models), benchmark=list(fold.benchmarks))
    rhat = az.rhat(target) if target.sizes["chain"] > 1 else xr.full_like(target.isel(chain=0, draw=0), np.nan)
    return {
        "max_rhat_forecast": float(rhat.max()),
        "min_ess_forecast": float(az.ess(target, method="bulk").min()),
    }


def evaluate_fold(
    factory: Callable[[], Forecaster],
    fold: Fold,
    data: ScoreTable,
    *,
    sample_kwargs: Mapping[str, Any] | None = None,
    random_seed: int = 0,
    probs: Sequence[float] = DEFAULT_PROBS,
    return_draws: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]] | tuple[pd.DataFrame, dict[str, Any], xr.DataArray]:
    """Fit, forecast and summarise one fold (runs on a Dask worker).

    Parameters
    ----------
    factory : callable
        Zero-argument, picklable; returns a fresh forecaster.
    fold : Fold
    data : ScoreTable
        Holds every model of the fold.
    sample_kwargs : mapping, optional
        Forwarded to ``forecaster.fit``.
    random_seed : int
        Base seed; the fold's fit/predict seeds derive from it and the fold's slug.
    probs : sequence of float
        Interval probabilities.
    return_draws : bool
        Also return the test cells' predictive draws (for mixing forecasters afterwards,
        :mod:`~scaling_bayes.evaluation.stacking`).

    Returns
    -------
    rows : DataFrame
        One row per (test model, benchmark), columns of
        :data:`~scaling_bayes.evaluation.metrics.PREDICTION_COLUMNS`; ``lpd``, the log
        predictive density of the observed score, comes from the forecaster's
        ``log_predictive_density(draws, observed)`` where it has one (NaN otherwise).
    diagnostics : dict
        JSON-serialisable fold diagnostics (sampler diagnostics, timings, sizes, seeds).
    draws : xr.DataArray
        Only with ``return_draws``: predictive draws of the test scores, float32, dims
        (chain, draw, model, benchmark).
    """
    fit_seed, predict_seed = _fold_seeds(random_seed, fold)
    train, test_models, test_scores = fold_split(fold, data)
    forecaster = factory()

    start = time.perf_counter()
    forecaster.fit(train, random_seed=fit_seed, **dict(sample_kwargs or {}))
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    raw = forecaster.predictive_draws(test_models, random_seed=predict_seed)
    draws = _as_draws(raw, fold)
    predict_seconds = time.perf_counter() - start

    rows = summarize_draws(draws, test_scores, probs)
    rows["lpd"] = np.nan
    if hasattr(forecaster, "log_predictive_density"):
        lpd = forecaster.log_predictive_density(raw, test_scores).to_series()
        rows["lpd"] = pd.MultiIndex.from_frame(rows[["model", "benchmark"]]).map(lpd)
    rows.insert(0, "benchmark_set", fold.benchmark_set)
    rows.insert(1, "n_train_per_family", fold.n_train_per_family)
    rows.insert(2, "test_group", fold.group_label)
    rows.insert(4, "family2", rows["model"].map(test_models["family"]).astype(str))
    rows.insert(5, "case", rows["model"].map(fold_cases(fold, data)))
    rows.insert(6, "family_size_ratio", rows["model"].map(fold_size_ratio(fold, data)))

    diagnostics = {
        "max_rhat": float("nan"),
        "min_ess_bulk": float("nan"),
        "divergences": None,
        **_diagnostics_dict(forecaster.diagnostics),
        **_forecast_convergence(raw, draws, fold),
    }
    if diagnostics.get("fit_seconds") is None or not math.isfinite(float(diagnostics["fit_seconds"])):
        diagnostics["fit_seconds"] = fit_seconds
    diagnostics.update(
        fit_wall_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        n_train=len(fold.train_models),
        n_test=len(fold.test_models),
        n_samples=int(draws.sizes["chain"] * draws.sizes["draw"]),
        fit_seed=fit_seed,
        predict_seed=predict_seed,
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    if return_draws:
        return rows, _jsonable(diagnostics), draws.astype(np.float32).rename("score")
    return rows, _jsonable(diagnostics)


# ---------------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------------
def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _atomic_write_csv(path: Path, frame: pd.DataFrame, *, index: bool = False) -> None:
    _atomic_write_text(path, frame.to_csv(index=index))


#: pandas 3 parses floats exactly by default and deprecates ``float_precision``; pandas 2 needs it.
_EXACT_FLOATS: dict[str, str] = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV written by this module, floats exactly as written."""
    return pd.read_csv(path, **_EXACT_FLOATS, **kwargs)


def _calibrated_metrics(predictions: pd.DataFrame) -> pd.DataFrame | None:
    """Metrics of the cross-fold conformal intervals, or None where a setting has a single
    test group (nothing to calibrate from)."""
    groups = predictions.groupby(list(SETTING_KEYS))["test_group"].nunique()
    if not len(groups) or (groups < 2).any():
        return None
    return compute_metrics(cross_fold_conformal(predictions, per_benchmark=False))


def _fold_paths(fold_dir: Path, fold: Fold) -> tuple[Path, Path]:
    return fold_dir / f"{fold.slug}.csv", fold_dir / f"{fold.slug}.json"


def fold_draws_path(fold_dir: Path, fold: Fold) -> Path:
    """Where a fold's predictive draws of its test scores are cached (netCDF)."""
    return fold_dir / f"{fold.slug}.nc"


def _run_config(factory: Callable[[], Any], sample_kwargs: Mapping[str, Any], random_seed: int) -> dict[str, Any]:
    """The fold cache's key: the factory, the sampler arguments, the seed and, where the
    forecaster reports them (``settings()``), its full settings with every default."""
    config = {"factory": repr(factory), "sample_kwargs": dict(sample_kwargs), "random_seed": random_seed}
    settings = getattr(factory(), "settings", None)
    if callable(settings):
        config["forecaster"] = settings()
    return _jsonable(config)


def _same_config(cached: Mapping[str, Any] | None, config: Mapping[str, Any]) -> bool:
    """Whether a fold cached under ``cached`` may stand for a run under ``config``.  Caches
    written before the forecaster's settings joined the key (sessions ≤ 19) have no
    ``forecaster`` entry and are compared on the rest."""
    if cached is None:
        return False
    if "forecaster" not in cached:
        config = {k: v for k, v in config.items() if k != "forecaster"}
    return dict(cached) == dict(config)


def _load_cached(
    fold_dir: Path, fold: Fold, config: dict[str, Any], probs: Sequence[float] = DEFAULT_PROBS,
    observed: pd.DataFrame | None = None, data: ScoreTable | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """A fold's cached forecasts, if they stand for this fold as it is now: the same test
    models, benchmarks and training models, the run's configuration, every interval of
    ``probs``, and the same ``observed`` scores (test models × benchmarks) where given."""
    csv_path, json_path = _fold_paths(fold_dir, fold)
    if not (csv_path.is_file() and json_path.is_file()):
        return None
    try:
        rows = _read_csv(csv_path)
        record = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable cache of fold %s: %s", fold.slug, exc)
        return None
    if set(rows["model"]) != set(fold.test_models) or set(rows["benchmark"]) != set(fold.benchmarks):
        logger.warning("cache of fold %s has other test models/benchmarks; recomputing", fold.slug)
        return None
    trained = record.get("fold", {}).get("train_models")
    if trained is not None and set(trained) != set(fold.train_models):
        logger.warning("cache of fold %s was fitted on other training models; recomputing", fold.slug)
        return None
    if not set(_interval_columns(probs)) <= set(rows.columns):
        logger.warning("cache of fold %s lacks intervals of %s; recomputing", fold.slug, list(probs))
        return None
    if "family_size_ratio" not in rows.columns and data is not None:  # cached before the column existed
        rows.insert(list(rows.columns).index("case") + 1 if "case" in rows.columns else len(rows.columns),
                    "family_size_ratio", rows["model"].map(fold_size_ratio(fold, data)))
    if observed is not None:
        cached = rows.pivot(index="model", columns="benchmark", values="observed")
        now = observed.reindex(index=cached.index, columns=cached.columns)
        if not np.allclose(cached.to_numpy(float), now.to_numpy(float), equal_nan=True):
            logger.warning("cache of fold %s holds other observed scores (the data changed); recomputing", fold.slug)
            return None
    if not _same_config(record.get("config"), config):
        # another model or sampler setting: its forecasts must not be reported under this one's name
        logger.warning(
            "fold %s was cached with another configuration (%s, now %s); recomputing it. Use another "
            "out_dir to keep both.",
            fold.slug,
            record.get("config"),
            config,
        )
        return None
    return rows, record


def _write_fold(
    fold_dir: Path, fold: Fold, rows: pd.DataFrame, diagnostics: dict[str, Any], config: dict,
    draws: xr.DataArray | None = None,
) -> None:
    csv_path, json_path = _fold_paths(fold_dir, fold)
    _atomic_write_csv(csv_path, rows)
    if draws is not None:
        path = fold_draws_path(fold_dir, fold)
        tmp = path.with_name(f".{path.name}.tmp")
        encoding = {"score": {"zlib": True, "complevel": 4}}
        draws.to_dataset().to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        os.replace(tmp, path)
    record = {
        "fold": {
            "benchmark_set": fold.benchmark_set,
            "n_train_per_family": fold.n_train_per_family,
            "test_group": fold.group_label,
            "test_models": list(fold.test_models),
            "train_models": list(fold.train_models),
            "benchmarks": list(fold.benchmarks),
        },
        "diagnostics": diagnostics,
        "config": config,
    }
    # the JSON is written last: its presence marks a complete fold
    _atomic_write_text(json_path, json.dumps(record, indent=1))


#: Fold diagnostics that are lists of text, written joined by "; " (other lists are counted, ``n_<name>``).
_TEXT_LISTS: tuple[str, ...] = ("slowest",)


def _diagnostics_row(fold: Fold, record: dict[str, Any]) -> dict[str, Any]:
    diag = record.get("diagnostics", {})
    row = {"benchmark_set": fold.benchmark_set, "n_train_per_family": fold.n_train_per_family,
           "test_group": fold.group_label}
    row.update({k: v for k, v in diag.items() if v is None or isinstance(v, (bool, int, float, str))})
    lists = {k: v for k, v in diag.items() if isinstance(v, (list, tuple))}
    row.update({f"n_{k}": len(v) for k, v in lists.items() if k not in _TEXT_LISTS})
    row.update({k: "; ".join(map(str, v)) for k, v in lists.items() if k in _TEXT_LISTS})
    return row


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
def _distance_metrics(predictions: pd.DataFrame) -> pd.DataFrame | None:
    """:func:`metrics_by_distance`, or ``None`` for runs saved before the runner wrote
    ``family_size_ratio``."""
    if "family_size_ratio" not in predictions.columns:
        return None
    return metrics_by_distance(predictions)


def _case_metrics(predictions: pd.DataFrame) -> pd.DataFrame | None:
    """:func:`metrics_by_case`, or ``None`` when some rows lack a case (runs saved before the
    runner wrote one; :func:`~scaling_bayes.evaluation.protocol.prediction_cases` adds it)."""
    if "case" not in predictions.columns or predictions["case"].isna().any():
        return None
    return metrics_by_case(predictions)


@dataclass
class EvaluationResult:
    """Everything a protocol run produces.

    Attributes
    ----------
    predictions : DataFrame
        One row per (setting, test model, benchmark); see ``PREDICTION_COLUMNS``.
    metrics : DataFrame
        :func:`~scaling_bayes.evaluation.metrics.compute_metrics` output.
    comparison : DataFrame
        :func:`~scaling_bayes.evaluation.metrics.compare_with_sloth` output.
    diagnostics : DataFrame
        One row per fold: max R-hat, min bulk ESS, divergences, timings, sizes.
    win_rates : DataFrame
        :func:`~scaling_bayes.evaluation.metrics.paired_win_rates` output.
    calibrated_metrics : DataFrame or None
        :func:`~scaling_bayes.evaluation.metrics.compute_metrics` of the cross-fold conformal
        intervals (:func:`~scaling_bayes.evaluation.calibration.cross_fold_conformal`, pooled
        over benchmarks), reported beside the pure posterior ones; ``None`` when a setting has
        fewer than two test groups.
    case_metrics : DataFrame or None
        :func:`~scaling_bayes.evaluation.metrics.metrics_by_case` (per forecast case); ``None``
        for predictions saved without a ``case`` column.
    distance_metrics : DataFrame or None
        :func:`~scaling_bayes.evaluation.metrics.metrics_by_distance` (per distance outside the
        family's training sizes); ``None`` for predictions saved without ``family_size_ratio``.
    out_dir : Path or None
        Where the files live.
    """

    predictions: pd.DataFrame
    metrics: pd.DataFrame
    comparison: pd.DataFrame
    diagnostics: pd.DataFrame
    win_rates: pd.DataFrame
    calibrated_metrics: pd.DataFrame | None = None
    case_metrics: pd.DataFrame | None = None
    distance_metrics: pd.DataFrame | None = None
    out_dir: Path | None = None

    FILES: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "predictions": "predictions.csv",
            "metrics": "metrics.csv",
            "comparison": "comparison.csv",
            "diagnostics": "diagnostics.csv",
            "win_rates": "win_rates.csv",
            "calibrated_metrics": "metrics_calibrated.csv",
            "case_metrics": "metrics_by_case.csv",
            "distance_metrics": "metrics_by_distance.csv",
            "summary": "summary.md",
        }
    )

    @classmethod
    def from_predictions(
        cls,
        predictions: pd.DataFrame,
        diagnostics: pd.DataFrame | None = None,
        out_dir: str | os.PathLike[str] | None = None,
    ) -> EvaluationResult:
        """Compute metrics, the Sloth comparison, win rates and calibrated metrics from predictions."""
        return cls(
            predictions=predictions,
            metrics=compute_metrics(predictions),
            comparison=compare_with_sloth(predictions),
            diagnostics=pd.DataFrame(columns=list(DIAGNOSTIC_COLUMNS)) if diagnostics is None else diagnostics,
            win_rates=paired_win_rates(predictions),
            calibrated_metrics=_calibrated_metrics(predictions),
            case_metrics=_case_metrics(predictions),
            distance_metrics=_distance_metrics(predictions),
            out_dir=None if out_dir is None else Path(out_dir),
        )

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str], *, recompute: bool = False) -> EvaluationResult:
        """Reload a run from ``path``, recomputing any derived table whose file is missing, or
        every derived table with ``recompute=True`` (after a change to how a metric is computed;
        the predictions and diagnostics are read as saved)."""
        path = Path(path)
        predictions = _read_csv(path / cls.FILES["predictions"])
        diag_path = path / cls.FILES["diagnostics"]
        diagnostics = _read_csv(diag_path) if diag_path.is_file() else None
        derived = ("metrics", "comparison", "win_rates")
        if recompute or not all((path / cls.FILES[name]).is_file() for name in derived):
            return cls.from_predictions(predictions, diagnostics, path)
        calibrated_path = path / cls.FILES["calibrated_metrics"]
        case_path = path / cls.FILES["case_metrics"]
        distance_path = path / cls.FILES["distance_metrics"]
        if case_path.is_file():
            case_metrics = _read_csv(case_path, index_col=[0, 1, 2])
        else:
            case_metrics = _case_metrics(predictions)
        return cls(
            predictions=predictions,
            metrics=_read_csv(path / cls.FILES["metrics"], index_col=[0, 1, 2]),
            comparison=_read_csv(path / cls.FILES["comparison"], index_col=[0, 1, 2]),
            diagnostics=pd.DataFrame(columns=list(DIAGNOSTIC_COLUMNS)) if diagnostics is None else diagnostics,
            win_rates=_read_csv(path / cls.FILES["win_rates"]),
            calibrated_metrics=(_read_csv(calibrated_path, index_col=[0, 1, 2]) if calibrated_path.is_file()
                                else _calibrated_metrics(predictions)),
            case_metrics=case_metrics,
            distance_metrics=(_read_csv(distance_path, index_col=[0, 1, 2]) if distance_path.is_file()
                              else _distance_metrics(predictions)),
            out_dir=path,
        )

    def summary_markdown(self) -> str:
        """Markdown report: accuracy vs Sloth, calibration, per benchmark, diagnostics."""
        return metrics_markdown(self.metrics, self.comparison, self.diagnostics, calibrated=self.calibrated_metrics,
                                by_case=self.case_metrics, by_distance=self.distance_metrics)

    def save(self, out_dir: str | os.PathLike[str] | None = None) -> Path:
        """Write all tables and ``summary.md`` atomically; returns the directory."""
        target = Path(out_dir) if out_dir is not None else self.out_dir
        if target is None:
            raise ValueError("no out_dir given")
        target.mkdir(parents=True, exist_ok=True)
        _atomic_write_csv(target / self.FILES["predictions"], self.predictions)
        _atomic_write_csv(target / self.FILES["metrics"], self.metrics, index=True)
        _atomic_write_csv(target / self.FILES["comparison"], self.comparison, index=True)
        _atomic_write_csv(target / self.FILES["diagnostics"], self.diagnostics)
        _atomic_write_csv(target / self.FILES["win_rates"], self.win_rates)
        if self.calibrated_metrics is not None:
            _atomic_write_csv(target / self.FILES["calibrated_metrics"], self.calibrated_metrics, index=True)
        if self.case_metrics is not None:
            _atomic_write_csv(target / self.FILES["case_metrics"], self.case_metrics, index=True)
        if self.distance_metrics is not None:
            _atomic_write_csv(target / self.FILES["distance_metrics"], self.distance_metrics, index=True)
        _atomic_write_text(target / self.FILES["summary"], self.summary_markdown())
        self.out_dir = target
        return target


# ---------------------------------------------------------------------------------------------
# scheduling
# ---------------------------------------------------------------------------------------------
def _default_n_workers(sample_kwargs: Mapping[str, Any]) -> int:
    cpus = os.cpu_count() or 1
    per_fit = sample_kwargs.get("cores") or sample_kwargs.get("chains") or 4
    return max(1, cpus // max(1, min(int(per_fit), cpus)))


@contextlib.contextmanager
def _dask_client(scheduler: str | Client | None, n_workers: int | None) -> Iterator[Client]:
    import dask
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            # non-daemonic workers: PyMC starts one process per chain inside a fold
            with dask.config.set({"distributed.worker.daemon": False}):
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=n_workers,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                        # no dashboard; the scheduler's HTTP endpoint on a free port (no clash on 8787)
                        scheduler_kwargs={"dashboard_address": ":0"},
                    )
                )
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(Client(scheduler))
        yield client


def _iterate_dask(
    tasks: Sequence[Fold],
    submit_kwargs: dict[str, Any],
    scheduler: str | Client | None,
    n_workers: int,
    data: ScoreTable,
    factory: Callable[[], Forecaster],
) -> Iterator[tuple[Fold, tuple[pd.DataFrame, dict] | BaseException]]:
    from distributed import as_completed

    with _dask_client(scheduler, n_workers) as client:
        data_future = client.scatter(data, broadcast=True)
        futures = {
            client.submit(
                evaluate_fold,
                factory,
                fold,
                data_future,
                key=f"evaluate-fold-{fold.slug}-{time.time_ns()}",
                pure=False,
                **submit_kwargs,
            ): fold
            for fold in tasks
        }
        for future in as_completed(futures):
            fold = futures[future]
            try:
                yield fold, future.result()
            except Exception as exc:  # noqa: BLE001 - reported per fold
                yield fold, exc
            finally:
                future.release()


def _iterate_sync(
    tasks: Sequence[Fold], submit_kwargs: dict[str, Any], data: ScoreTable, factory: Callable[[], Forecaster]
) -> Iterator[tuple[Fold, tuple[pd.DataFrame, dict] | BaseException]]:
    for fold in tasks:
        try:
            yield fold, evaluate_fold(factory, fold, data, **submit_kwargs)
        except Exception as exc:  # noqa: BLE001 - reported per fold
            yield fold, exc


def run_protocol(
    factory: Callable[[], Forecaster],
    settings: Sequence[tuple[str, int]] = SETTINGS,
    out_dir: str | os.PathLike[str] = "evaluation",
    *,
    data: ScoreTable | None = None,
    folds: Sequence[Fold] | None = None,
    scheduler: str | Client | None = None,
    n_workers: int | None = None,
    sample_kwargs: Mapping[str, Any] | None = None,
    random_seed: int = 0,
    probs: Sequence[float] = DEFAULT_PROBS,
    overwrite: bool = False,
    progress: bool = True,
    save: bool = True,
) -> EvaluationResult:
    """Evaluate a forecaster on Sloth's leave-family-out folds.

    Parameters
    ----------
    factory : callable
        Picklable zero-argument factory of a fresh forecaster per fold (e.g.
        ``functools.partial(LatentSkillModel, n_skills=3)``).
    settings : sequence of (benchmark_set, n_train_per_family)
        Settings to run (default: all six of :data:`SETTINGS`).
    out_dir : path
        Output directory: ``folds/<setting>__<group>.csv|.json`` (cache; ``.nc`` beside them
        holds the fold's predictive draws of its test scores), ``predictions.csv``,
        ``metrics.csv``, ``comparison.csv``, ``win_rates.csv``, ``diagnostics.csv``,
        ``summary.md``.
    data : ScoreTable, optional
        Default: bundled ``sloth_curated`` with all 12 benchmarks.
    folds : sequence of Fold, optional
        Run exactly these folds instead of all folds of ``settings``.
    scheduler : str, distributed.Client or None
        ``None``: start a ``LocalCluster`` of processes; ``"tcp://host:port"``: connect to
        that scheduler; a ``Client``: use it; ``"sync"``: run in this process, no Dask.
    n_workers : int, optional
        Local workers (default ``cpu_count // cores_per_fit``, at least 1; see module docs).
    sample_kwargs : mapping, optional
        Forwarded to ``forecaster.fit`` (e.g. ``chains``, ``draws``, ``tune``).
    random_seed : int
        Base seed; per-fold seeds derive from it and the fold (order-independent).
    probs : sequence of float
        Interval probabilities for the summaries.
    overwrite : bool
        Recompute folds even if cached.
    progress : bool
        Show a tqdm progress bar over folds.
    save : bool
        Write the run's tables (``predictions.csv``, ``metrics.csv``, ..., ``summary.md``) to
        ``out_dir``. ``False`` only fits and caches the folds and returns the result in memory,
        e.g. to run a component setting by setting without overwriting its all-settings tables.

    Returns
    -------
    EvaluationResult

    Notes
    -----
    Local Dask workers are spawned processes: call this under ``if __name__ == "__main__":``
    in scripts, and make ``factory`` importable (a module-level class or
    ``functools.partial`` of one). Fold results are written by the client, so remote workers
    need no access to ``out_dir``.

    Raises
    ------
    FoldEvaluationError
        If any fold failed (after all others finished; completed folds stay cached).
    """
    from scaling_bayes.data import load_dataset

    out = Path(out_dir)
    fold_dir = out / "folds"
    fold_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset("sloth_curated", benchmarks="all12") if data is None else data
    fold_list = list(folds) if folds is not None else [f for s in settings for f in sloth_folds(*s, data=data)]
    if not fold_list:
        raise ValueError("no folds to run: every test group was empty after filtering (see the logged "
                         "warnings), or no settings/folds were given")
    slugs = [f.slug for f in fold_list]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"duplicate fold slugs: {sorted({s for s in slugs if slugs.count(s) > 1})}")
    sample_kwargs = dict(sample_kwargs or {})
    config = _run_config(factory, sample_kwargs, random_seed)

    results: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {}
    todo: list[Fold] = []
    for fold in fold_list:
        observed = data.scores.reindex(index=list(fold.test_models), columns=list(fold.benchmarks))
        cached = None if overwrite else _load_cached(fold_dir, fold, config, probs, observed, data)
        if cached is None:
            todo.append(fold)
        else:
            results[fold.slug] = cached
    logger.info("%d folds: %d cached, %d to run", len(fold_list), len(results), len(todo))

    failures: list[tuple[Fold, BaseException]] = []
    if todo:
        submit_kwargs = {"sample_kwargs": sample_kwargs, "random_seed": random_seed, "probs": tuple(probs),
                         "return_draws": True}
        if scheduler == "sync":
            stream = _iterate_sync(todo, submit_kwargs, data, factory)
        else:
            workers = n_workers if n_workers is not None else min(_default_n_workers(sample_kwargs), len(todo))
            stream = _iterate_dask(todo, submit_kwargs, scheduler, workers, data, factory)
        with tqdm(total=len(todo), desc="folds", unit="fold", disable=not progress) as bar:
            for fold, outcome in stream:
                if isinstance(outcome, BaseException):
                    logger.error("fold %s failed: %r", fold.slug, outcome)
                    failures.append((fold, outcome))
                else:
                    rows, diagnostics, draws = outcome
                    _write_fold(fold_dir, fold, rows, diagnostics, config, draws)
                    results[fold.slug] = (rows, {"diagnostics": diagnostics})
                bar.set_postfix_str(fold.slug, refresh=False)
                bar.update()
    if failures:
        raise FoldEvaluationError(failures) from failures[0][1]

    predictions = pd.concat([results[f.slug][0] for f in fold_list], ignore_index=True)
    diagnostics = pd.DataFrame([_diagnostics_row(f, results[f.slug][1]) for f in fold_list])
    leading = [c for c in DIAGNOSTIC_COLUMNS if c in diagnostics.columns]
    diagnostics = diagnostics[leading + [c for c in diagnostics.columns if c not in leading]]
    result = EvaluationResult.from_predictions(predictions, diagnostics, out)
    if save:
        result.save(out)
    return result
