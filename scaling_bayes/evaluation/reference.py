"""Sloth's reference errors (arXiv 2412.06540) and their aggregation.

The bundled ``sloth_reference_errors.csv.gz`` holds the absolute error of every method of the
Sloth paper for every test model and benchmark under the leave-family-out protocol. Aggregated as
``protocol.json`` describes (family-macro MAE) it reproduces the paper's figures.
All errors here are fractions (multiply by 100 for percentage points).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import pandas as pd

from ._aggregate import AVERAGE, SETTING_KEYS, family_macro, family_macro_average
from ._resources import bundled
from .protocol import SETTINGS, Setting

__all__ = [
    "FLOPS_FAMILY_METHOD",
    "FLOPS_SHARED_METHOD",
    "REFERENCE_KEYS",
    "SLOTH_KS",
    "load_reference_errors",
    "pca_method",
    "sloth_best_k",
    "sloth_headline_table",
    "sloth_method",
    "sloth_reference_table",
]

#: Columns that identify one reference error (besides ``method``).
REFERENCE_KEYS: tuple[str, ...] = ("benchmark_set", "n_train_per_family", "test_group", "model", "benchmark")
#: Numbers of skills evaluated in the paper.
SLOTH_KS: tuple[int, ...] = (1, 2, 3, 4)
#: "FLOPs law with family intercepts".
FLOPS_FAMILY_METHOD = "logF_sigmoid_faminter"
#: "one FLOPs law shared by all families".
FLOPS_SHARED_METHOD = "logF_sigmoid"


def sloth_method(k: int) -> str:
    """Reference method name of Sloth with ``k`` skills (the paper's headline method)."""
    return f"factor_trainlink_faminter_d={k}"


def pca_method(k: int) -> str:
    """Reference method name of observational scaling (PCA) with ``k`` components."""
    return f"pca_d={k}"


@cache
def _load_reference_errors() -> pd.DataFrame:
    with bundled("sloth_reference_errors.csv.gz").open("rb") as fh:
        frame = pd.read_csv(fh, compression="gzip")
    frame["n_train_per_family"] = frame["n_train_per_family"].astype(int)
    return frame


def load_reference_errors(methods: Iterable[str] | None = None) -> pd.DataFrame:
    """Load Sloth's per-model reference errors.

    Parameters
    ----------
    methods : iterable of str, optional
        Keep only these methods (default: all 28).

    Returns
    -------
    DataFrame
        Long table with columns ``benchmark_set, n_train_per_family, test_group, model,
        family2, benchmark, method, abs_error`` (``abs_error`` a fraction). A fresh copy.
    """
    frame = _load_reference_errors()
    if methods is not None:
        frame = frame[frame["method"].isin(list(methods))]
    return frame.copy()


def sloth_reference_table(
    errors: pd.DataFrame | None = None,
    *,
    methods: Sequence[str] | None = None,
    settings: Sequence[tuple[str, int]] | None = None,
    per_benchmark: bool = False,
) -> pd.DataFrame:
    """Family-macro MAE per method and setting.

    Mean absolute error over test models within a group, then over groups, per benchmark;
    then mean over benchmarks (``per_benchmark=False``).

    Parameters
    ----------
    errors : DataFrame, optional
        Reference errors (default: :func:`load_reference_errors`).
    methods : sequence of str, optional
        Methods to keep (default: all).
    settings : sequence of (benchmark_set, n_train_per_family), optional
        Settings to keep, in this order (default: :data:`SETTINGS`).
    per_benchmark : bool
        If True, index is ``(benchmark_set, n_train_per_family, benchmark)`` with an extra
        ``"Average"`` benchmark row per setting.

    Returns
    -------
    DataFrame
        Index ``(benchmark_set, n_train_per_family[, benchmark])``, one column per method
        (fractions).
    """
    errors = load_reference_errors(methods) if errors is None else errors
    if methods is not None:
        errors = errors[errors["method"].isin(list(methods))]
    settings = [Setting(*s) for s in (SETTINGS if settings is None else settings)]
    keys = [*SETTING_KEYS, "method"]
    per_bm = family_macro(errors, "abs_error", by=keys)["abs_error"]
    if per_benchmark:
        avg = family_macro_average(per_bm, by=keys).to_frame("abs_error").assign(benchmark=AVERAGE)
        avg = avg.set_index("benchmark", append=True)["abs_error"]
        table = pd.concat([per_bm, avg]).unstack("method")
        order = [(s.benchmark_set, s.n_train_per_family, b) for s in settings for b in _benchmark_order(errors, s)]
        table = table.reindex(pd.MultiIndex.from_tuples(order, names=[*SETTING_KEYS, "benchmark"]))
    else:
        table = family_macro_average(per_bm, by=keys).unstack("method")
        table = table.reindex(pd.MultiIndex.from_tuples([tuple(s) for s in settings], names=list(SETTING_KEYS)))
    columns = list(methods) if methods is not None else sorted(table.columns, key=_method_sort_key)
    table = table[columns]
    table.columns.name = "method"
    return table


def _benchmark_order(errors: pd.DataFrame, setting: Setting) -> list[str]:
    from .protocol import load_protocol

    protocol = load_protocol()
    present = set(
        errors.loc[
            (errors["benchmark_set"] == setting.benchmark_set)
            & (errors["n_train_per_family"] == setting.n_train_per_family),
            "benchmark",
        ]
    )
    ordered = [b for b in protocol.benchmark_sets.get(setting.benchmark_set, ()) if b in present]
    return [*ordered, *sorted(present - set(ordered)), AVERAGE]


def _method_sort_key(method: str) -> tuple[str, int]:
    base, _, k = method.partition("_d=")
    return (base, int(k) if k.isdigit() else 0)


def sloth_best_k(table: pd.DataFrame | None = None, ks: Sequence[int] = SLOTH_KS) -> pd.DataFrame:
    """Best number of skills of Sloth per setting.

    Parameters
    ----------
    table : DataFrame, optional
        Output of :func:`sloth_reference_table` (``per_benchmark=False``); default computed.
    ks : sequence of int
        Candidate numbers of skills.

    Returns
    -------
    DataFrame
        Index ``(benchmark_set, n_train_per_family)``; columns ``best_k`` (int, smallest K
        on exact ties) and ``mae`` (fraction).
    """
    table = sloth_reference_table() if table is None else table
    sub = table[[sloth_method(k) for k in ks]]
    sub.columns = list(ks)
    best_k = sub.idxmin(axis=1).astype(int)
    return pd.DataFrame({"best_k": best_k, "mae": sub.min(axis=1)})


def sloth_headline_table(errors: pd.DataFrame | None = None) -> pd.DataFrame:
    """The README/paper headline table (fractions).

    Returns
    -------
    DataFrame
        Index ``(benchmark_set, n_train_per_family)``; columns ``sloth_best``,
        ``sloth_best_k``, ``flops_family_intercept``, ``flops_shared``, ``pca_d=2``.
    """
    table = sloth_reference_table(errors)
    best = sloth_best_k(table)
    return pd.DataFrame(
        {
            "sloth_best": best["mae"],
            "sloth_best_k": best["best_k"],
            "flops_family_intercept": table[FLOPS_FAMILY_METHOD],
            "flops_shared": table[FLOPS_SHARED_METHOD],
            "pca_d=2": table[pca_method(2)],
        }
    )
