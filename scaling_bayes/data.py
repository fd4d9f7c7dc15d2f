"""Load and validate benchmark scores into one tidy table, :class:`ScoreTable`.

Shape decision
--------------
A :class:`ScoreTable` is a *wide* score matrix plus per-model metadata, held in one
frozen dataclass:

* ``models``: a DataFrame indexed by the unique model name (index name ``"model"``)
  with the columns :data:`META_COLUMNS`: family, base_family, instruct, params_b and
  tokens_t.
* ``scores``: a DataFrame with the same index in the same order, and one float column
  per benchmark (column index name ``"benchmark"``). Scores are fractions in [0, 1].
  NaN means not observed. Missing scores are never imputed; downstream code masks them
  out of the likelihood.

We chose wide over long because the model works on a (model × benchmark) matrix with a
missingness mask. Per-model covariates then sit in one place, with no duplication
across rows. :meth:`ScoreTable.scores_array` gives the matrix as an
``xarray.DataArray`` with dims ``("model", "benchmark")``. :meth:`ScoreTable.to_long`
gives the tidy long form (observed cells only) for plotting and for groupby work.

Every entry point (:func:`load_dataset` for the bundled data, :func:`from_wide` and
:func:`read_scores` for users' data) goes through the same validation in
:func:`from_wide`. Bad input raises :class:`DataValidationError`. Its message names the
column, the row (model name) and the value, and says how to fix the problem.

Bundled datasets (see ``datasets/PROVENANCE.md``)
-------------------------------------------------
``"sloth_curated"`` (default)
    The Sloth paper's 188 models. family = ``Family2`` (each instruct or fine-tune line
    is its own family), base_family = ``Family``, 12 benchmarks (raw accuracies).
    13 models lack tokens_t, and :meth:`ScoreTable.fittable` drops them.
``"lvf_leaderboard_v1"``, ``"lvf_leaderboard_v2"``
    The data of the latent-variable scaling-law paper (arXiv 2512.06553). Every
    fine-tune line is its own family there, so base_family = family. ``instruct`` is a
    heuristic on the model name: True if the name contains ``"instruct"`` or ``"chat"``,
    or has a standalone ``"it"`` or ``"inst"`` token (tokens are split on ``-``, ``_``,
    ``.``). So ``gemma-2b-it`` and ``llamantino-3-anita-8b-inst-dpo-ita`` count as
    instruct, but ``llama-3-8b-ita`` does not. The scores in the file are already
    fractions. Two quirks of the v2 file are handled explicitly:

    * 111 of its 216 rows (those not taken from Sloth) hold the leaderboard's
      *normalised* scores / 100, i.e. (raw - floor) / (1 - floor) clipped at 0. These
      rows are recognised because their scores are not all multiples of 0.01 (the
      Sloth-derived rows are rounded to 2 decimals). They are mapped back to raw
      accuracies with raw = floor + norm * (1 - floor), using the bundled guessing
      floors. This is exact for IFEval, MATH Lvl 5, GPQA and MMLU-PRO (apart from
      values clipped at 0). For BBH and MUSR it is approximate (≲0.05), because the
      leaderboard normalises per sub-task.
    * ``l3-pneuma-8b`` appears twice; these are two different Hub models. Duplicate
      names get the file's row id as a suffix: ``l3-pneuma-8b#2069`` and
      ``l3-pneuma-8b#3217``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from scaling_bayes.benchmarks import (
    BENCHMARK_SETS,
    BenchmarkRegistry,
    DataValidationError,
    UnknownBenchmarkError,
    _close_matches,
    _did_you_mean,
    benchmark_set,
    default_registry,
)

__all__ = [
    "META_COLUMNS",
    "DataValidationError",
    "ScoreTable",
    "UnknownBenchmarkError",
    "available_datasets",
    "from_wide",
    "load_dataset",
    "load_leaderboard_scores",
    "load_reference_errors",
    "read_scores",
    "validate_new_models",
    "validate_score_matrix",
]

META_COLUMNS: tuple[str, ...] = ("family", "base_family", "instruct", "params_b", "tokens_t")
"""Per-model metadata columns of :attr:`ScoreTable.models`, in this order."""

_REQUIRED = ("model", "family", "params_b", "tokens_t")
_COLUMN_HELP = {
    "model": "unique model name",
    "family": "model family; models of one family share a scaling law",
    "params_b": "parameters in billions",
    "tokens_t": "training tokens in trillions",
}
_MAX_LISTED = 20
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TRUE_STRINGS = ("true", "1", "1.0")
_FALSE_STRINGS = ("false", "0", "0.0")


# --------------------------------------------------------------------------- helpers


def _fmt(value: Any) -> str:
    """repr() of a cell value, with numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _listing(
    items: Sequence[Any], limit: int = _MAX_LISTED, *, quote: bool = True, sep: str = ", "
) -> str:
    """``'a', 'b', ... and N more``: a short printable list."""
    items = list(items)
    shown = sep.join(map(_fmt if quote else str, items[:limit]))
    return shown + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


def _rows(values: pd.Series) -> str:
    """``model 'a': 0.0, model 'b': -1.0``: the offending rows of a per-model Series."""
    return _listing([f"model {m!r}: {_fmt(v)}" for m, v in values.items()], quote=False, sep="; ")


def _cells(mask: pd.DataFrame, values: pd.DataFrame) -> str:
    """Lists ``model, column: value`` for the True cells of ``mask``."""
    flags = mask.stack()
    where = flags[flags].index
    return _listing(
        [f"model {m!r}, column {b!r}: {_fmt(values.at[m, b])}" for m, b in where],
        quote=False,
        sep="; ",
    )


def _with_hints(names: Sequence[str], candidates: Sequence[str]) -> str:
    """``'gsm8k' (did you mean 'GSM8K'?), 'foo' (no close match)``."""
    parts = []
    for name in names:
        hits = _close_matches(name, candidates)
        hint = f"did you mean {', '.join(map(repr, hits))}?" if hits else "no close match"
        parts.append(f"{name!r} ({hint})")
    return ", ".join(parts)


def _as_name_list(names: Sequence[str] | str, what: str) -> list[str]:
    names = [names] if isinstance(names, str) else list(names)
    dups = pd.Index(names)[pd.Index(names).duplicated()].unique().tolist()
    if dups:
        raise DataValidationError(f"{what} listed more than once: {_listing(dups)}. List each once.")
    return names


def _resolve_benchmark_arg(benchmarks: Sequence[str] | str) -> list[str]:
    """A set name ("all12", ...) expands to its members; other strings are one benchmark."""
    if isinstance(benchmarks, str) and benchmarks in BENCHMARK_SETS:
        return benchmark_set(benchmarks)
    return _as_name_list(benchmarks, "Benchmark")


def _bundled(name: str) -> Any:
    return resources.files("scaling_bayes").joinpath("datasets", name)


def _read_bundled_csv(name: str, **kwargs: Any) -> pd.DataFrame:
    with resources.as_file(_bundled(name)) as path:
        return pd.read_csv(path, **kwargs)


def _apply_column_map(df: pd.DataFrame, column_map: Mapping[str, str] | None) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    frame = df.rename(columns=str)
    if column_map:
        absent = [k for k in column_map if k not in frame.columns]
        if absent:
            raise DataValidationError(
                "column_map refers to column(s) not in the data: "
                f"{_with_hints(absent, frame.columns.tolist())}. Columns seen: "
                f"{_listing(frame.columns.tolist())}. Fix the keys of column_map."
            )
        frame = frame.rename(columns=dict(column_map))
    dups = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dups:
        raise DataValidationError(
            f"Duplicate column name(s) {_listing(dups)} (after applying column_map). "
            "Rename or drop the extra column(s)."
        )
    return frame


def _require_columns(frame: pd.DataFrame, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in frame.columns]
    if not missing:
        return
    others = [c for c in frame.columns if c not in _REQUIRED]
    lines, mapping = [], []
    for col in missing:
        hits = _close_matches(col, others)
        in_index = str(frame.index.name).lower() == col.lower()
        lines.append(
            f"{col!r} ({_COLUMN_HELP.get(col, '')})"
            + (f", close matches: {', '.join(map(repr, hits))}" if hits else "")
            + (" (it is the DataFrame's index: call df.reset_index() first)" if in_index else "")
        )
        mapping.append(f"{(hits[0] if hits else '<your column>')!r}: {col!r}")
    raise DataValidationError(
        f"Missing required column(s): {'; '.join(lines)}. Columns seen: "
        f"{_listing(frame.columns.tolist())}. Rename your columns, e.g. "
        f"column_map={{{', '.join(mapping)}}}."
    )


def _text_column(frame: pd.DataFrame, col: str, rows: pd.Index) -> pd.Series:
    """Stripped strings; raises naming the row index (and model) of missing or empty cells."""
    text = frame[col].astype("string").str.strip()
    bad = (text.isna() | text.eq("")).to_numpy()
    if bad.any():
        where = [
            f"row index {i!r}" + (f" (model {m!r})" if m is not None else "")
            for i, m in zip(frame.index[bad], rows[bad])
        ]
        raise DataValidationError(
            f"Column {col!r} is missing or empty at {_listing(where, quote=False)}. Every row needs "
            f"a {col} ({_COLUMN_HELP.get(col, col)}); fill it in or drop the row."
        )
    return text.astype(str)


def _positive_column(
    frame: pd.DataFrame, col: str, models: pd.Index, *, allow_missing: bool
) -> pd.Series:
    raw = frame[col].set_axis(models)
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    nonnumeric = num.isna() & raw.notna()
    if nonnumeric.any():
        raise DataValidationError(
            f"Column {col!r} ({_COLUMN_HELP[col]}) must be numeric; non-numeric values at "
            + _rows(raw[nonnumeric])
            + ". Fix or remove these values."
        )
    if not allow_missing and num.isna().any():
        raise DataValidationError(
            f"Column {col!r} ({_COLUMN_HELP[col]}) is required but missing for model(s) "
            f"{_listing(models[num.isna()].tolist())}. Supply {col} for these rows or "
            "drop them."
        )
    bad = num.notna() & ~(np.isfinite(num) & (num > 0))
    if bad.any():
        raise DataValidationError(
            f"Column {col!r} ({_COLUMN_HELP[col]}) must be positive and finite; "
            "invalid values at "
            + _rows(num[bad])
            + f". Check the units ({_COLUMN_HELP[col]}) and fix these rows."
        )
    return num


def _instruct_column(frame: pd.DataFrame, models: pd.Index) -> pd.Series:
    if "instruct" not in frame.columns:
        return pd.Series(False, index=models, dtype=bool)
    raw = frame["instruct"].set_axis(models)
    if pd.api.types.is_bool_dtype(raw.dtype) and not raw.hasnans:
        return raw.astype(bool)
    text = raw.astype("string").str.strip().str.lower()
    parsed = text.map({**dict.fromkeys(_TRUE_STRINGS, True), **dict.fromkeys(_FALSE_STRINGS, False)})
    bad = parsed.isna() & raw.notna()
    if bad.any():
        raise DataValidationError(
            "Column 'instruct' must be boolean (True/False, 'True'/'False', 1/0); invalid "
            "values at " + _rows(raw[bad])
            + ". Fix these values (missing values default to False)."
        )
    return parsed.fillna(False).astype(bool)


def _validate_meta(
    frame: pd.DataFrame, *, require_tokens: bool, generate_names: bool = False
) -> pd.DataFrame:
    """Validate the metadata columns of ``frame``.

    Returns a DataFrame with index ``model`` (unique str) and columns META_COLUMNS. Its
    rows are in the same order as ``frame``.
    """
    if generate_names and "model" not in frame.columns:
        frame = frame.assign(model=[f"new-{i}" for i in range(len(frame))])
    elif generate_names and frame["model"].isna().any():  # some rows named, others not
        frame = frame.assign(model=frame["model"].where(frame["model"].notna(), [f"new-{i}" for i in range(len(frame))]))
    _require_columns(frame, _REQUIRED)
    no_names = pd.Index([None] * len(frame), dtype=object)
    model = _text_column(frame, "model", no_names)
    dups = model[model.duplicated(keep=False)].unique().tolist()
    if dups:
        raise DataValidationError(
            f"Duplicate model name(s): {_listing(dups)}. Model names must be unique; "
            "rename or drop the duplicate rows."
        )
    models = pd.Index(model.to_numpy(), name="model", dtype=str)
    family = _text_column(frame, "family", models)
    if "base_family" in frame.columns:
        base = frame["base_family"].astype("string").str.strip().replace("", pd.NA)
        base_family = base.fillna(family).astype(str)
    else:
        base_family = family
    return pd.DataFrame(
        {
            "family": family.to_numpy(),
            "base_family": base_family.to_numpy(),
            "instruct": _instruct_column(frame, models).to_numpy(),
            "params_b": _positive_column(frame, "params_b", models, allow_missing=False).to_numpy(),
            "tokens_t": _positive_column(
                frame, "tokens_t", models, allow_missing=not require_tokens
            ).to_numpy(),
        },
        index=models,
    )


def _resolve_benchmark_columns(
    frame: pd.DataFrame, benchmarks: Sequence[str] | str | None, registry: BenchmarkRegistry
) -> list[str]:
    candidates = [c for c in frame.columns if c not in ("model", *META_COLUMNS)]
    if benchmarks is None:
        found = [c for c in candidates if c in registry]
        if not found:
            raise DataValidationError(
                "No benchmark column found: no column name matches a registered benchmark "
                f"({_listing(registry.names)}). Columns seen: {_listing(frame.columns.tolist())}. "
                "Rename score columns to registered names (column_map={'your col': 'MMLU'}), "
                "or register new benchmarks with registry.register(name, floor=1/<#choices>, "
                "n_items=...) and pass registry=registry."
            )
        return found
    names = _resolve_benchmark_arg(benchmarks)
    absent = [b for b in names if b not in frame.columns]
    if absent:
        raise DataValidationError(
            "Benchmark column(s) not found in the data: "
            f"{_with_hints(absent, [*candidates, *BENCHMARK_SETS])}. Columns seen: "
            f"{_listing(frame.columns.tolist())}. Rename the column "
            "(column_map={'your col': 'BENCH'}), or drop it from benchmarks=. Named sets: "
            f"{', '.join(BENCHMARK_SETS)}."
        )
    for b in names:
        registry.get(b)  # UnknownBenchmarkError with the register() hint
    return names


def _is_numeric_column(column: pd.Series) -> bool:
    """True for a column holding numbers (or numeric strings), not booleans, not all missing."""
    values = column.dropna()
    if values.empty or pd.api.types.is_bool_dtype(column.dtype):
        return False
    if pd.api.types.is_numeric_dtype(column.dtype):
        return True
    if values.map(lambda v: isinstance(v, (bool, np.bool_))).any():
        return False
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def _warn_ignored_numeric_columns(
    frame: pd.DataFrame, used: Sequence[str], registry: BenchmarkRegistry
) -> None:
    """UserWarning naming the numeric columns that ``benchmarks=None`` left out.

    Such a column is most likely a score column whose name is not a registered benchmark
    (``'mmlu'`` for ``'MMLU'``). Metadata columns, non-numeric columns and pandas'
    ``Unnamed: N`` index columns (a CSV written with its index) are not reported.
    """
    skip = {"model", *META_COLUMNS, *used}
    ignored = [
        c
        for c in frame.columns
        if c not in skip
        and not re.fullmatch(r"Unnamed: \d+", c)
        and _is_numeric_column(frame[c])
    ]
    if not ignored:
        return
    unused = [b for b in registry.names if b not in used]  # renaming onto a used one clashes
    hits = {c: _close_matches(c, unused, n=1) for c in ignored}
    ignored.sort(key=lambda c: not hits[c])  # likely typos first, before the listing is cut
    parts = [
        f"{c!r} ({f'did you mean {hits[c][0]!r}?' if hits[c] else 'no close match'})" for c in ignored
    ]
    renames = [f"{c!r}: {hits[c][0]!r}" for c in ignored if hits[c]]
    example = ", ".join(renames[:3]) if renames else "'your col': 'MMLU'"
    warnings.warn(
        f"Ignoring {len(ignored)} numeric column(s) that are not registered benchmarks: "
        f"{_listing(parts, quote=False)}. With benchmarks=None only columns named after a "
        f"registered benchmark are used. To use such a column, rename it "
        f"(column_map={{{example}}}) or register it (registry = "
        "default_registry().register(name, floor=1/<#choices>, n_items=...), then pass "
        "registry=registry). To silence this, pass benchmarks=[...] explicitly or drop "
        "the column(s).",
        UserWarning,
        skip_file_prefixes=(_PACKAGE_DIR,),  # point at the user's from_wide/read_scores call
    )


def _validate_scores(block: pd.DataFrame, models: pd.Index) -> pd.DataFrame:
    """Scores as float fractions in [0, 1] (NaN = missing), index ``models``."""
    raw = block.set_axis(models, axis=0)
    num = raw.apply(pd.to_numeric, errors="coerce").astype(float)
    nonnumeric = num.isna() & raw.notna()
    if nonnumeric.any().any():
        raise DataValidationError(
            f"Non-numeric score(s): {_cells(nonnumeric, raw)}. Scores must be numbers in "
            "[0, 1] or empty/NaN for missing."
        )
    lo, hi = num.min(), num.max()
    pct = hi.index[(hi > 1) & (hi <= 100) & (lo >= 0)].tolist()
    if pct:
        maxima = ", ".join(f"{c!r} max {hi[c]:g}" for c in pct)
        # a column of a percent table whose scores all lie in [0, 1] (e.g. MATH at small sizes)
        # cannot be told from a column of fractions: name it, so the user decides
        unclear = [c for c in num.columns if c not in pct and hi[c] > 0]
        others = (
            f" The other score column(s) {unclear!r} have no score above 1 and so cannot be told "
            "apart from fractions: if the table is in percent, divide them too (a score of 1.0 "
            "would otherwise read as 100%)."
            if unclear else ""
        )
        raise DataValidationError(
            f"Score column(s) {maxima} look like percentages (0-100 scale); scores must "
            f"be fractions in [0, 1]. Divide them by 100, e.g. df[{pct!r}] = "
            f"df[{pct!r}] / 100.{others}"
        )
    out = (num < 0) | (num > 1)
    if out.any().any():
        raise DataValidationError(
            f"Score(s) outside [0, 1]: {_cells(out, num)}. Scores must be fractions in "
            "[0, 1] (NaN for missing); fix these values."
        )
    return num.rename_axis(columns="benchmark")


# --------------------------------------------------------------------------- ScoreTable


@dataclass(frozen=True, eq=False)
class ScoreTable:
    """Benchmark scores of a set of models (wide) with per-model metadata.

    Attributes
    ----------
    models : pandas.DataFrame
        Shape (n_models, 5). Indexed by the unique str ``model`` (index name
        ``"model"``). Columns are META_COLUMNS: family (str; the variant family, e.g.
        Sloth's Family2 ``"codellama-instruct"``), base_family (str; e.g.
        ``"codellama"``), instruct (bool), params_b (float > 0, billions of parameters)
        and tokens_t (float > 0, trillions of training tokens; NaN allowed until
        :meth:`fittable`).
    scores : pandas.DataFrame
        Shape (n_models, n_benchmarks). Same index as ``models`` in the same order, one
        float column per benchmark (column index name ``"benchmark"``). Values are
        fractions in [0, 1]; NaN = missing (never imputed).
    name : str
        Dataset name.
    """

    models: pd.DataFrame
    scores: pd.DataFrame
    name: str = "custom"

    def __post_init__(self) -> None:
        m, s = self.models, self.scores
        if list(m.columns) != list(META_COLUMNS):
            raise DataValidationError(
                f"ScoreTable.models must have columns {list(META_COLUMNS)}, got "
                f"{list(m.columns)}. Build tables with from_wide()."
            )
        if not m.index.is_unique or not s.index.equals(m.index):
            raise DataValidationError(
                "ScoreTable.scores must have the same unique model index as .models, in "
                "the same order. Build tables with from_wide()."
            )
        # a table built directly (not through from_wide) gets the same checks of its metadata:
        # names present, params_b > 0, tokens_t > 0 or missing, instruct boolean
        checked = _validate_meta(m.rename_axis(index="model").reset_index(), require_tokens=False)
        if not checked.index.equals(m.index):
            raise DataValidationError(
                "ScoreTable.models' model names must be stripped, non-empty strings. Build tables with from_wide()."
            )
        m = checked
        if s.columns.duplicated().any():
            raise DataValidationError(
                f"ScoreTable.scores has duplicate benchmark columns: "
                f"{_listing(s.columns[s.columns.duplicated()].tolist())}."
            )
        if not all(pd.api.types.is_float_dtype(t) for t in s.dtypes):
            raise DataValidationError("ScoreTable.scores must hold float columns; use from_wide().")
        out = (s < 0) | (s > 1)
        if out.any().any():
            raise DataValidationError(f"Score(s) outside [0, 1]: {_cells(out, s)}.")
        object.__setattr__(self, "models", m.rename_axis(index="model"))
        object.__setattr__(self, "scores", s.rename_axis(index="model", columns="benchmark"))

    # -- basic properties --------------------------------------------------------
    @property
    def benchmarks(self) -> list[str]:
        """Benchmark names, in column order."""
        return self.scores.columns.tolist()

    @property
    def n_models(self) -> int:
        return len(self.models)

    def __len__(self) -> int:
        return self.n_models

    def __repr__(self) -> str:
        observed = int(self.scores.notna().to_numpy().sum())
        return (
            f"ScoreTable(name={self.name!r}, n_models={self.n_models}, "
            f"n_families={self.models['family'].nunique()}, benchmarks={self.benchmarks}, "
            f"observed={observed}/{self.scores.size})"
        )

    # -- subsetting --------------------------------------------------------------
    def _subset(self, rows: pd.Index | None = None, cols: list[str] | None = None) -> ScoreTable:
        models = self.models if rows is None else self.models.loc[rows]
        scores = self.scores if rows is None else self.scores.loc[rows]
        if cols is not None:
            scores = scores.loc[:, cols]
        return ScoreTable(models=models.copy(), scores=scores.copy(), name=self.name)

    def select(
        self,
        benchmarks: Sequence[str] | str | None = None,
        models: Sequence[str] | None = None,
    ) -> ScoreTable:
        """A new table with the given benchmarks and/or models, in the given order.

        ``benchmarks`` may be a set name (``"leaderboard_v1"``, ...), one name or a list.
        Unknown names raise :class:`DataValidationError` listing close matches.
        """
        cols = None
        if benchmarks is not None:
            cols = _resolve_benchmark_arg(benchmarks)
            absent = [b for b in cols if b not in self.scores.columns]
            if absent:
                raise DataValidationError(
                    f"Benchmark(s) not in this table: "
                    f"{_with_hints(absent, [*self.benchmarks, *BENCHMARK_SETS])}. "
                    f"Available: {_listing(self.benchmarks)}."
                )
        rows = None
        if models is not None:
            names = _as_name_list(models, "Model")
            absent = [m for m in names if m not in self.models.index]
            if absent:
                raise DataValidationError(
                    f"Model(s) not in this table: "
                    f"{_with_hints(absent, self.models.index.tolist())}. "
                    f"The table has {self.n_models} models."
                )
            rows = pd.Index(names, name="model", dtype=str)
        return self._subset(rows, cols)

    def fittable(self) -> ScoreTable:
        """Drop the models the scaling law cannot use, with a UserWarning for each kind.

        The dropped models are those with missing tokens_t and those with no observed
        score on any of this table's benchmarks. Raises :class:`DataValidationError` if
        no model is left.
        """
        keep = self.models["tokens_t"].notna()
        if not keep.all():
            warnings.warn(
                f"Dropping {int((~keep).sum())} model(s) with missing tokens_t (training "
                f"tokens, trillions), which the scaling law needs: "
                f"{_listing(self.models.index[~keep].tolist(), 50)}. To keep them, "
                "supply tokens_t for these rows.",
                UserWarning,
                stacklevel=2,
            )
        has_score = self.scores.notna().any(axis=1)
        empty = keep & ~has_score
        if empty.any():
            warnings.warn(
                f"Dropping {int(empty.sum())} model(s) with no observed score on "
                f"{_listing(self.benchmarks, 12)}: {_listing(self.models.index[empty].tolist(), 50)}. "
                "To keep them, supply at least one score or select other benchmarks.",
                UserWarning,
                stacklevel=2,
            )
        keep &= has_score
        if not keep.any():
            raise DataValidationError(
                f"No fittable model left in {self.name!r}: every model lacks tokens_t or "
                "has no observed score. Supply tokens_t and scores."
            )
        return self._subset(self.models.index[keep])

    # -- conversions -------------------------------------------------------------
    def scores_array(self) -> xr.DataArray:
        """Scores as a DataArray named ``"score"``, dims ``("model", "benchmark")``.

        NaN = missing. Coords are ``model`` and ``benchmark``; META_COLUMNS are
        non-dimension coords along ``model``.
        """
        meta = {c: ("model", self.models[c].to_numpy()) for c in META_COLUMNS}
        return xr.DataArray(
            self.scores.to_numpy(dtype=float),
            dims=("model", "benchmark"),
            coords={
                "model": self.models.index.to_numpy(),
                "benchmark": np.asarray(self.benchmarks),
                **meta,
            },
            name="score",
        )

    def to_long(self) -> pd.DataFrame:
        """Tidy long form, observed cells only, model-major order.

        Columns: model, family, base_family, instruct, params_b, tokens_t, benchmark, score.
        """
        long = self.scores.stack().dropna().rename("score").reset_index()
        out = long.merge(self.models.reset_index(), on="model", how="left", validate="many_to_one")
        return out[["model", *META_COLUMNS, "benchmark", "score"]]

    @classmethod
    def concat(cls, tables: Sequence[ScoreTable], name: str | None = None) -> ScoreTable:
        """Stack tables row-wise. Benchmarks are the union (NaN where absent); model names must be unique."""
        tables = list(tables)
        if not tables:
            raise DataValidationError("ScoreTable.concat needs at least one table.")
        models = pd.concat([t.models for t in tables])
        dups = models.index[models.index.duplicated()].unique().tolist()
        if dups:
            raise DataValidationError(
                f"Model name(s) appear in more than one table: {_listing(dups)}. "
                "Rename them or select() disjoint models before concatenating."
            )
        scores = pd.concat([t.scores for t in tables], sort=False).astype(float)
        return cls(
            models=models,
            scores=scores.rename_axis(index="model", columns="benchmark"),
            name=name if name is not None else "+".join(t.name for t in tables),
        )


# --------------------------------------------------------------------------- public API


def from_wide(
    df: pd.DataFrame,
    *,
    benchmarks: Sequence[str] | str | None = None,
    column_map: Mapping[str, str] | None = None,
    registry: BenchmarkRegistry | None = None,
    name: str = "custom",
) -> ScoreTable:
    """Validate a wide table (one row per model, one column per benchmark) into a ScoreTable.

    Parameters
    ----------
    df : pandas.DataFrame
        Shape (n_models, n_columns). Required columns: model, family, params_b and
        tokens_t (tokens_t may have NaN). Optional columns: base_family (default:
        family) and instruct (bool or 'True'/'False'/1/0; default False). Model and
        family names are stripped of surrounding whitespace.
    benchmarks : sequence of str, str or None
        Score columns, or a set name (``"all12"``, ...). If None, every column named
        after a registered benchmark is used. Other non-metadata columns are ignored;
        a UserWarning names the numeric ones (likely misnamed or unregistered scores).
    column_map : mapping, optional
        Renames your columns onto ours, e.g. ``{"Model": "model", "Size (B)": "params_b"}``.
    registry : BenchmarkRegistry, optional
        Known benchmarks (guessing floors). Defaults to :func:`default_registry`.
    name : str
        Dataset name.

    Raises
    ------
    DataValidationError
        Missing columns, percentages, scores outside [0, 1], non-positive sizes,
        duplicate or empty names, and so on. :class:`UnknownBenchmarkError` for an
        unregistered benchmark.
    """
    registry = default_registry() if registry is None else registry
    frame = _apply_column_map(df, column_map)
    _require_columns(frame, _REQUIRED)
    bench = _resolve_benchmark_columns(frame, benchmarks, registry)
    models = _validate_meta(frame, require_tokens=False)
    scores = _validate_scores(frame[bench], models.index)
    if benchmarks is None:
        _warn_ignored_numeric_columns(frame, bench, registry)
    return ScoreTable(models=models, scores=scores, name=name)


def read_scores(
    path: str | os.PathLike[str],
    *,
    benchmarks: Sequence[str] | str | None = None,
    column_map: Mapping[str, str] | None = None,
    registry: BenchmarkRegistry | None = None,
    name: str | None = None,
) -> ScoreTable:
    """Read a wide CSV (one row per model) and validate it with :func:`from_wide`.

    ``name`` defaults to the file's stem.
    """
    df = pd.read_csv(path)
    return from_wide(
        df,
        benchmarks=benchmarks,
        column_map=column_map,
        registry=registry,
        name=Path(path).stem if name is None else name,
    )


def _read_csv_keeping_names(
    path: str | os.PathLike[str], names: Sequence[str] = ("model", "family", "base_family")
) -> pd.DataFrame:
    """``pd.read_csv`` that keeps the name columns ``names`` verbatim.

    Name columns are read as Python strings with no NA parsing, so names such as ``"1.10"``,
    ``"NA"``, ``"None"`` or ``"null"`` survive a write/read round trip (an empty cell
    stays ``""``). Every other column is parsed by pandas' defaults (scores are floats,
    empty = NaN). Used to reload what a saved fit or stack wrote.
    """
    frame = pd.read_csv(path)
    names = [c for c in names if c in frame.columns]
    if names:
        text = pd.read_csv(path, usecols=names, dtype=object, keep_default_na=False)
        frame[names] = text[names]
    return frame


def validate_new_models(
    df: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    column_map: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Validate the models of a prediction request.

    Parameters
    ----------
    df : pandas.DataFrame (or something ``pd.DataFrame`` accepts)
        One row per new model. Required columns: family, params_b and tokens_t (both
        > 0, no NaN). Optional: model (default ``"new-0"``, ``"new-1"``, ...),
        base_family (default: family) and instruct (default False). Other columns are
        ignored.
    column_map : mapping, optional
        Renames your columns onto ours.

    Returns
    -------
    pandas.DataFrame
        Shape (n_new, 5), indexed by ``model``, with columns META_COLUMNS.
    """
    if isinstance(df, Mapping) and not any(isinstance(v, (list, tuple, np.ndarray, pd.Series)) for v in df.values()):
        df = [df]  # one model given as a single mapping of scalars
    frame = df if isinstance(df, pd.DataFrame) else pd.DataFrame(df)
    if "model" not in frame.columns and frame.index.name == "model":
        frame = frame.reset_index()  # a table already indexed by model name
    frame = _apply_column_map(frame, column_map)
    if frame.empty:
        raise DataValidationError("No new models given: the table has no rows.")
    return _validate_meta(frame, require_tokens=True, generate_names=True)


# --------------------------------------------------------------------------- bundled data

_LVF_SCORE_COLUMNS = MappingProxyType(
    {
        "mmlu": "MMLU",
        "arc": "ARC",
        "hellaswag": "HellaSwag",
        "winogrande": "Winogrande",
        "truthfulqa": "TruthfulQA",
        "gsm8k": "GSM8K",
        "ifeval": "IFEval",
        "bbh": "BBH",
        "math": "MATH Lvl 5",
        "gpqa": "GPQA",
        "musr": "MUSR",
        "mmlu-pro": "MMLU-PRO",
    }
)
_INSTRUCT_PATTERN = r"instruct|chat|(?:^|[-_.])(?:it|inst)(?:$|[-_.])"


def _load_sloth() -> tuple[pd.DataFrame, list[str]]:
    raw = _read_bundled_csv("sloth_curated.csv", index_col=0)
    frame = raw.rename(
        columns={
            "Model": "model",
            "Family2": "family",
            "Family": "base_family",
            "Instruct": "instruct",
            "#Params (B)": "params_b",
            "Pretraining Data Size (T)": "tokens_t",
        }
    )
    return frame, benchmark_set("all12")


def _lvf_instruct(model: pd.Series) -> pd.Series:
    return model.str.lower().str.contains(_INSTRUCT_PATTERN, regex=True)


def _lvf_unnormalise(scores: pd.DataFrame) -> pd.DataFrame:
    """Map rows holding leaderboard-normalised scores back to raw accuracy.

    Raw rows (from Sloth) are multiples of 0.01. Other rows hold
    (raw - floor)/(1 - floor), which maps back as floor + norm * (1 - floor).
    """
    cents = scores * 100
    normalised = ~np.isclose(cents, cents.round(), atol=1e-6).all(axis=1)
    floors = default_registry().floors(scores.columns.tolist()).to_series()
    out = scores.copy()
    out.loc[normalised] = floors + scores.loc[normalised] * (1 - floors)
    return out


def _load_lvf(version: str) -> tuple[pd.DataFrame, list[str]]:
    raw = _read_bundled_csv(f"lvf_leaderboard_{version}.csv", index_col=0)
    score_cols = [c for c in raw.columns if c in _LVF_SCORE_COLUMNS]
    scores = raw[score_cols].rename(columns=_LVF_SCORE_COLUMNS)
    if version == "v2":
        scores = _lvf_unnormalise(scores)
    model = raw["model"].astype(str)
    dup = model.duplicated(keep=False)
    model = model.where(~dup, model + "#" + raw.index.to_series().astype(str))
    frame = pd.DataFrame(
        {
            "model": model,
            "family": raw["family"],
            "base_family": raw["family"],
            "instruct": _lvf_instruct(model),
            "params_b": raw["size"],
            "tokens_t": raw["tokens"],
        }
    ).join(scores)
    return frame, benchmark_set(f"leaderboard_{version}")


_DATASETS: Mapping[str, Callable[[], tuple[pd.DataFrame, list[str]]]] = MappingProxyType(
    {
        "sloth_curated": _load_sloth,
        "lvf_leaderboard_v1": lambda: _load_lvf("v1"),
        "lvf_leaderboard_v2": lambda: _load_lvf("v2"),
    }
)


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return list(_DATASETS)


def load_dataset(
    name: str = "sloth_curated",
    benchmarks: Sequence[str] | str | None = None,
    registry: BenchmarkRegistry | None = None,
) -> ScoreTable:
    """Load a bundled dataset, validated through :func:`from_wide`.

    Parameters
    ----------
    name : str
        ``"sloth_curated"`` (default; 188 models, 12 benchmarks), ``"lvf_leaderboard_v1"``
        or ``"lvf_leaderboard_v2"``.
    benchmarks : set name, list of names, or None
        A set name (``"all12"``, ``"leaderboard_v1"``, ``"leaderboard_v2"``) or a list.
        Default: the dataset's own set (all12 for sloth_curated, leaderboard_v1/v2 for
        the lvf files).
    registry : BenchmarkRegistry, optional
        Defaults to :func:`default_registry`.

    Returns
    -------
    ScoreTable
        Models with missing tokens_t are kept; call :meth:`ScoreTable.fittable` before
        fitting.
    """
    try:
        loader = _DATASETS[name]
    except (KeyError, TypeError):
        raise DataValidationError(
            f"Unknown dataset {name!r}.{_did_you_mean(name, _DATASETS)} Available "
            f"datasets: {', '.join(_DATASETS)}. For your own data use read_scores(path) "
            "or from_wide(df)."
        ) from None
    frame, native = loader()
    return from_wide(
        frame,
        benchmarks=native if benchmarks is None else benchmarks,
        registry=registry,
        name=name,
    )


def validate_score_matrix(
    frame: pd.DataFrame,
    benchmarks: Sequence[str] | str | None = None,
    registry: BenchmarkRegistry | None = None,
) -> pd.DataFrame:
    """A score matrix without params or tokens, validated as :func:`from_wide` validates scores.

    ``frame`` has one row per model, named by its index or by a ``model`` column, and one
    column per benchmark (registered names; other columns are ignored unless ``benchmarks``
    names them).  Returns the scores as float fractions in [0, 1] (NaN = missing), index
    ``model``, columns the benchmarks.  Raises :class:`DataValidationError` naming the row,
    column or value on duplicate or empty model names, unknown benchmarks, non-numeric,
    percent or out-of-range scores, and models with none of the benchmarks scored.
    """
    registry = registry or default_registry()
    frame = frame.set_index("model") if "model" in frame.columns else frame
    if frame.empty:
        raise DataValidationError("The score table has no rows or no columns: give one row per model, "
                                  "one column per benchmark.")
    repeated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if repeated:
        raise DataValidationError(f"Duplicate column name(s) {_listing([str(c) for c in repeated])}: each "
                                  "benchmark must be one column. Rename or drop the repeats.")
    names = pd.Index(frame.index.astype(str), name="model")
    blank = names.str.strip() == ""
    if blank.any():
        raise DataValidationError(
            f"Empty model name(s) in row(s) {_listing([int(i) for i in np.flatnonzero(blank)])}: "
            "give every model a name (the index or a 'model' column)."
        )
    dup = names[names.duplicated()].unique().tolist()
    if dup:
        raise DataValidationError(
            f"Duplicate model name(s): {_listing(dup)}. Each row must be one model: rename or "
            "drop the repeats."
        )
    columns = _resolve_benchmark_columns(frame.reset_index(drop=True), benchmarks, registry)
    if benchmarks is None:  # a numeric column not named after a benchmark: say so, do not drop it silently
        _warn_ignored_numeric_columns(frame.reset_index(drop=True).rename(columns=str), columns, registry)
    scores = _validate_scores(frame[columns].reset_index(drop=True), names)
    empty = scores.index[scores.isna().all(axis=1)].tolist()
    if empty:
        raise DataValidationError(
            f"Model(s) with none of the benchmarks {columns} scored: {_listing(empty)}. Drop "
            "them (scores.dropna(how='all')): they carry no information about the skills."
        )
    return scores


def load_leaderboard_scores(
    benchmarks: Sequence[str] | str = "leaderboard_v1", registry: BenchmarkRegistry | None = None
) -> pd.DataFrame:
    """The Open LLM Leaderboard's 9,446 models (bundled ``leaderboard_all_models.csv.gz``;
    provenance in ``datasets/PROVENANCE.md``): scores only, no params or tokens.

    Returns :func:`validate_score_matrix`'s table for ``benchmarks`` (a set name or a list),
    without the models that have none of them (6,812 models for leaderboard_v1, 3,017 for
    leaderboard_v2).  A name that occurs on several rows (179 rows: the same name under
    different organisations, or one model's v1 and v2 rows) gets ``#<row>`` appended, as
    for the LVF tables.  The file holds leaderboard v2 scores *normalised* above the guessing
    floor; they are mapped back to accuracy as ``floor + normalised · (1 − floor)`` with the
    registry's floors (the leaderboard normalises BBH and MUSR per sub-task, so this is
    approximate there).
    """
    registry = registry or default_registry()
    raw = _read_bundled_csv("leaderboard_all_models.csv.gz", index_col=0)
    scores = raw[[c for c in raw.columns if c in _LVF_SCORE_COLUMNS]].rename(columns=_LVF_SCORE_COLUMNS)
    v2 = [b for b in benchmark_set("leaderboard_v2") if b in scores.columns]
    floors = registry.floors(v2).to_series()
    scores[v2] = floors + scores[v2] * (1 - floors)
    model = raw["model"].astype(str)
    dup = model.duplicated(keep=False)
    scores.index = pd.Index(model.where(~dup, model + "#" + raw.index.to_series().astype(str)), name="model")
    chosen = _resolve_benchmark_arg(benchmarks)
    present = [b for b in chosen if b in scores.columns]  # an absent one: validate_score_matrix names it
    return validate_score_matrix(scores.dropna(how="all", subset=present), benchmarks=chosen, registry=registry)


def load_reference_errors() -> pd.DataFrame:
    """The Sloth paper's per-model absolute errors (bundled ``sloth_reference_errors.csv.gz``).

    Columns: benchmark_set, n_train_per_family, test_group, model, family2, benchmark,
    method and abs_error (a fraction). Aggregate them as ``load_protocol()["steps"]``
    describes.
    """
    return _read_bundled_csv("sloth_reference_errors.csv.gz")
