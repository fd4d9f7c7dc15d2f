"""Family-macro and pooled averages shared by :mod:`metrics` and :mod:`reference` (private)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["AVERAGE", "SETTING_KEYS", "family_macro", "family_macro_average"]

#: Label of the across-benchmark average row (as in the Sloth paper's tables).
AVERAGE = "Average"
#: Columns identifying an evaluation setting.
SETTING_KEYS: tuple[str, str] = ("benchmark_set", "n_train_per_family")


def family_macro(
    frame: pd.DataFrame,
    value: str | Sequence[str],
    by: Sequence[str] = SETTING_KEYS,
) -> pd.DataFrame:
    """Family-macro mean per benchmark: mean over models within a test group, then over groups.

    Parameters
    ----------
    frame : DataFrame
        Long table with columns ``*by``, ``test_group``, ``benchmark`` and ``value``.
    value : str or sequence of str
        Column(s) to average (e.g. ``"abs_error"``).
    by : sequence of str
        Extra grouping keys (default: the setting keys).

    Returns
    -------
    DataFrame
        Indexed by ``(*by, benchmark)``; one column per ``value``.
    """
    values = [value] if isinstance(value, str) else list(value)
    keys = list(by)
    per_group = frame.groupby([*keys, "benchmark", "test_group"], sort=False, observed=True)[values].mean()
    return per_group.groupby(level=[*keys, "benchmark"], sort=False, observed=True).mean()


def family_macro_average(per_benchmark: pd.DataFrame | pd.Series, by: Sequence[str] = SETTING_KEYS):
    """Mean over benchmarks of a per-benchmark table (the paper's ``Average`` column).

    Parameters
    ----------
    per_benchmark : DataFrame or Series
        Indexed by ``(*by, benchmark)``, as returned by :func:`family_macro`.
    by : sequence of str
        Index levels to keep.

    Returns
    -------
    DataFrame or Series
        Indexed by ``by``.
    """
    return per_benchmark.groupby(level=list(by), sort=False, observed=True).mean()
