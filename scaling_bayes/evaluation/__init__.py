"""Sloth's leave-family-out protocol, metrics and a Dask-distributed evaluation runner.

- :mod:`.protocol`: :class:`Fold`, :data:`SETTINGS`, :func:`sloth_folds` (the splits).
- :mod:`.reference`: the Sloth paper's per-model errors and their family-macro aggregation.
- :mod:`.metrics`: accuracy (family-macro / pooled MAE), calibration (interval coverage and
  width, CRPS), the side-by-side comparison with Sloth and paired win rates.
- :mod:`.holdout`: :func:`family_holdout_folds`, the protocol's rule on any data (random
  folds of test families), and :func:`largest_model_fold`, a within-training extrapolation
  check (each family's largest size held out) for choosing a model without a protocol's test families.
- :mod:`.calibration`: cross-fold conformal recalibration of the intervals, learned only from
  the families a fold trained on (reported beside the pure posterior intervals).
- :mod:`.runner`: :func:`run_protocol` fits a forecaster on every fold (Dask distributed,
  cached per fold) and writes predictions, metrics, diagnostics and a markdown summary.
"""

from .calibration import conformal_quantile, cross_fold_conformal, nonconformity
from .holdout import family_holdout_folds, largest_model_fold
from .metrics import (
    DEFAULT_PROBS,
    PREDICTION_COLUMNS,
    compare_with_sloth,
    compute_metrics,
    coverage_intervals,
    metrics_by_case,
    metrics_by_distance,
    metrics_markdown,
    paired_win_rates,
    summarize_draws,
)
from .protocol import (
    SETTINGS,
    UNSEEN_SETTINGS,
    Fold,
    Setting,
    SlothProtocol,
    fold_cases,
    fold_size_ratio,
    fold_split,
    load_protocol,
    prediction_cases,
    prediction_size_ratios,
    sloth_folds,
)
from .reference import (
    load_reference_errors,
    sloth_best_k,
    sloth_headline_table,
    sloth_method,
    sloth_reference_table,
)
from .runner import EvaluationResult, FoldEvaluationError, Forecaster, evaluate_fold, run_protocol

__all__ = [
    "DEFAULT_PROBS",
    "PREDICTION_COLUMNS",
    "SETTINGS",
    "UNSEEN_SETTINGS",
    "EvaluationResult",
    "Fold",
    "FoldEvaluationError",
    "Forecaster",
    "Setting",
    "SlothProtocol",
    "compare_with_sloth",
    "conformal_quantile",
    "cross_fold_conformal",
    "compute_metrics",
    "coverage_intervals",
    "evaluate_fold",
    "fold_cases",
    "fold_size_ratio",
    "fold_split",
    "family_holdout_folds",
    "largest_model_fold",
    "load_protocol",
    "load_reference_errors",
    "metrics_by_case",
    "metrics_by_distance",
    "metrics_markdown",
    "nonconformity",
    "paired_win_rates",
    "run_protocol",
    "sloth_best_k",
    "prediction_cases",
    "prediction_size_ratios",
    "sloth_folds",
    "sloth_headline_table",
    "sloth_method",
    "sloth_reference_table",
    "summarize_draws",
]
