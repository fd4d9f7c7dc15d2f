"""The Sloth paper's leave-family-out protocol as first-class objects.

The protocol (``scaling_bayes/datasets/protocol.json``, rebuilt from the public Sloth code):

1. use the benchmark set's columns; drop rows with any missing value among them or in
   params / tokens;
2. drop every ``Family2`` (our ``family``) with fewer than ``n_train_per_family + 1`` rows;
3. sort by ``(Family2, params)``; for each test group (a list of Family2 evaluated together),
   keep the ``n_train_per_family`` smallest models of each listed Family2 in training and test
   all larger ones; every other row trains.

Ties in params within a Family2 do not occur in ``sloth_curated`` (so the reference splits are
reproduced whatever the tie-break); for determinism we sort stably by
``(family, params_b, model)``, i.e. ties are broken by model name, independent of row order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import pandas as pd

from ._resources import bundled

if TYPE_CHECKING:  # pragma: no cover
    from scaling_bayes.data import ScoreTable

#: Longest test-group part of a :attr:`Fold.slug` (the protocol's own are at most ~70).
MAX_GROUP_SLUG = 100

__all__ = [
    "SETTINGS",
    "UNSEEN_SETTINGS",
    "Fold",
    "Setting",
    "fold_cases",
    "SlothProtocol",
    "fold_split",
    "load_protocol",
    "prediction_cases",
    "sloth_folds",
]

logger = logging.getLogger(__name__)


class Setting(NamedTuple):
    """One evaluation setting: a benchmark set and the number of training models per family."""

    benchmark_set: str
    n_train_per_family: int

    @property
    def label(self) -> str:
        """File-name friendly label, e.g. ``"leaderboard_v1_n1"``."""
        return f"{self.benchmark_set}_n{self.n_train_per_family}"


#: The six settings of the Sloth paper, in the order of its tables.
SETTINGS: tuple[Setting, ...] = (
    Setting("leaderboard_v1", 1),
    Setting("leaderboard_v2", 1),
    Setting("all12", 1),
    Setting("leaderboard_v1", 2),
    Setting("leaderboard_v2", 2),
    Setting("all12", 2),
)

#: An extension beyond the paper: ``n_train_per_family=0`` holds out every model of each
#: test group (the n=1 groups), so each test family is forecast without any of its models
#: — a family never seen, or a new variant line of a base family seen through its other
#: variants.  The Sloth reference has no errors for these settings (its family intercepts
#: need at least one model), so they are scored on accuracy and calibration only.
UNSEEN_SETTINGS: tuple[Setting, ...] = (
    Setting("leaderboard_v1", 0),
    Setting("leaderboard_v2", 0),
    Setting("all12", 0),
)


@dataclass(frozen=True)
class SlothProtocol:
    """Parsed ``protocol.json`` (read-only).

    Attributes
    ----------
    benchmark_sets : Mapping[str, tuple[str, ...]]
        Benchmark names per set (``leaderboard_v1``, ``leaderboard_v2``, ``all12``).
    test_groups : Mapping[Setting, tuple[tuple[str, ...], ...]]
        Test groups (tuples of Family2 names) per setting, in the file's order.
    guessing_floors : Mapping[str, float]
        ``1 / #choices`` per benchmark.
    method_names : Mapping[str, str]
        Human-readable names of the reference methods.
    steps : tuple[str, ...]
        The protocol's textual description.
    """

    benchmark_sets: Mapping[str, tuple[str, ...]]
    test_groups: Mapping[Setting, tuple[tuple[str, ...], ...]]
    guessing_floors: Mapping[str, float]
    method_names: Mapping[str, str]
    steps: tuple[str, ...]

    @property
    def settings(self) -> tuple[Setting, ...]:
        """All settings that have test groups, in :data:`SETTINGS` order."""
        return tuple(s for s in SETTINGS if s in self.test_groups)


@cache
def load_protocol() -> SlothProtocol:
    """Load the bundled ``protocol.json``.

    Returns
    -------
    SlothProtocol
        Immutable view of the protocol (cached).
    """
    raw = json.loads(bundled("protocol.json").read_text(encoding="utf-8"))
    groups: dict[Setting, tuple[tuple[str, ...], ...]] = {}
    for key, per_set in raw["test_groups"].items():
        n = int(key.split("=")[1])
        for bset, group_list in per_set.items():
            groups[Setting(bset, n)] = tuple(tuple(g) for g in group_list)
    return SlothProtocol(
        benchmark_sets=MappingProxyType({k: tuple(v) for k, v in raw["benchmark_sets"].items()}),
        test_groups=MappingProxyType(groups),
        guessing_floors=MappingProxyType(dict(raw.get("guessing_floors", {}))),
        method_names=MappingProxyType(dict(raw.get("method_names", {}))),
        steps=tuple(raw.get("steps", ())),
    )


@dataclass(frozen=True)
class Fold:
    """One leave-family-out fold.

    Attributes
    ----------
    benchmark_set : str
        Name of the benchmark set (``leaderboard_v1``, ``leaderboard_v2`` or ``all12``).
    n_train_per_family : int
        Number of smallest models of each test family kept in training.
    test_group : tuple of str
        Family2 names evaluated together.
    train_models : tuple of str
        Models used for fitting, sorted by ``(family, params_b, model)``.
    test_models : tuple of str
        Models to forecast, sorted by ``(family, params_b, model)``.
    benchmarks : tuple of str
        The benchmark set's columns (default: from the protocol).
    """

    benchmark_set: str
    n_train_per_family: int
    test_group: tuple[str, ...]
    train_models: tuple[str, ...]
    test_models: tuple[str, ...]
    benchmarks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("test_group", "train_models", "test_models", "benchmarks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.benchmarks:
            object.__setattr__(self, "benchmarks", load_protocol().benchmark_sets[self.benchmark_set])

    @property
    def setting(self) -> Setting:
        """The fold's :class:`Setting`."""
        return Setting(self.benchmark_set, self.n_train_per_family)

    @property
    def group_label(self) -> str:
        """Test group joined with ``"+"``, as in the reference CSV's ``test_group`` column."""
        return "+".join(self.test_group)

    @property
    def slug(self) -> str:
        """File-name friendly identifier ``<setting>__<group-slug>``; a group slug longer than
        :data:`MAX_GROUP_SLUG` characters is cut and ends with a hash of the whole label, so
        that it stays unique and within file systems' name limits."""
        group = re.sub(r"[^A-Za-z0-9._-]+", "-", self.group_label).strip("-")
        if len(group) > MAX_GROUP_SLUG:
            digest = hashlib.sha1(self.group_label.encode("utf-8")).hexdigest()[:10]
            group = f"{group[:MAX_GROUP_SLUG - 11]}-{digest}"
        return f"{self.setting.label}__{group}"


def _default_data() -> ScoreTable:
    from scaling_bayes.data import load_dataset

    return load_dataset("sloth_curated", benchmarks="all12")


def sloth_folds(
    benchmark_set: str,
    n_train_per_family: int,
    data: ScoreTable | None = None,
    *,
    test_groups: Sequence[Sequence[str]] | None = None,
) -> list[Fold]:
    """Build the leave-family-out folds of one setting.

    Parameters
    ----------
    benchmark_set : str
        ``"leaderboard_v1"``, ``"leaderboard_v2"`` or ``"all12"``.
    n_train_per_family : int
        Smallest models per test family kept in training (1 or 2 in the paper; 0 holds out
        whole test groups, see :data:`UNSEEN_SETTINGS`).
    data : ScoreTable, optional
        Must contain the benchmark set's columns. Default: the bundled ``sloth_curated``.
    test_groups : sequence of sequence of str, optional
        Override the protocol's test groups (required for settings the protocol lacks;
        ``n_train_per_family=0`` defaults to the n=1 groups).

    Returns
    -------
    list of Fold
        One fold per test group, in the protocol's order. Groups whose families are all
        absent after filtering are skipped with a warning.
    """
    protocol = load_protocol()
    if benchmark_set not in protocol.benchmark_sets:
        raise KeyError(f"unknown benchmark set {benchmark_set!r}; known: {sorted(protocol.benchmark_sets)}")
    setting = Setting(benchmark_set, int(n_train_per_family))
    if setting.n_train_per_family < 0:
        raise ValueError(f"n_train_per_family={n_train_per_family} must be ≥ 0 (smallest models kept per test family)")
    if test_groups is None and setting.n_train_per_family == 0:
        test_groups = protocol.test_groups[Setting(benchmark_set, 1)]
    if test_groups is None:
        if setting not in protocol.test_groups:
            raise KeyError(f"the protocol has no test groups for {setting}; pass test_groups=")
        groups = protocol.test_groups[setting]
    else:
        groups = tuple(tuple(g) for g in test_groups)
    benchmarks = protocol.benchmark_sets[benchmark_set]
    data = _default_data() if data is None else data

    missing = [b for b in benchmarks if b not in data.scores.columns]
    if missing:
        raise KeyError(f"data lacks benchmark columns {missing} of {benchmark_set!r}")

    n = setting.n_train_per_family
    # step 1: complete cases over the benchmark set + params + tokens
    frame = pd.concat([data.models[["family", "params_b", "tokens_t"]], data.scores[list(benchmarks)]], axis=1)
    frame = frame.dropna(how="any")
    # step 2: families with at least n + 1 rows
    sizes = frame.groupby("family")["family"].transform("size")
    frame = frame[sizes >= n + 1]
    # step 3: sort by (family, params); ties broken by model name for determinism
    frame = frame.rename_axis("model").reset_index()
    frame = frame.sort_values(["family", "params_b", "model"], kind="stable")
    position = frame.groupby("family", sort=False).cumcount()

    folds: list[Fold] = []
    for group in groups:
        absent = [f for f in group if f not in set(frame["family"])]
        if absent:
            logger.warning("%s: test families %s absent after filtering", setting.label, absent)
        is_test = frame["family"].isin(group) & (position >= n)
        if not is_test.any():
            logger.warning("%s: test group %s has no test models; skipped", setting.label, "+".join(group))
            continue
        folds.append(
            Fold(
                benchmark_set=benchmark_set,
                n_train_per_family=n,
                test_group=tuple(group),
                train_models=tuple(frame.loc[~is_test, "model"]),
                test_models=tuple(frame.loc[is_test, "model"]),
                benchmarks=tuple(benchmarks),
            )
        )
    return folds


def fold_split(fold: Fold, data: ScoreTable) -> tuple[ScoreTable, pd.DataFrame, pd.DataFrame]:
    """Materialise a fold on a :class:`~scaling_bayes.data.ScoreTable`.

    Parameters
    ----------
    fold : Fold
    data : ScoreTable
        Must contain every model of the fold and its benchmarks.

    Returns
    -------
    train : ScoreTable
        ``data`` restricted to ``fold.train_models`` and ``fold.benchmarks``.
    test_models : DataFrame
        Covariates of the test models (index ``model``; columns of ``data.models``).
    test_scores : DataFrame
        Observed scores of the test models, shape (n_test, n_benchmarks).
    """
    benchmarks = list(fold.benchmarks)
    train = data.select(benchmarks=benchmarks, models=list(fold.train_models))
    test_models = data.models.loc[list(fold.test_models)]
    test_scores = data.scores.loc[list(fold.test_models), benchmarks]
    return train, test_models, test_scores


def fold_cases(fold: Fold, data: ScoreTable) -> pd.Series:
    """The forecast case of each test model of ``fold``, given the fold's training models.

    One of :data:`scaling_bayes.prediction.CASES`: ``known_variant`` (its variant family
    has training models: every test model at n ≥ 1), ``new_variant`` (only other variant
    lines of its base family train) or ``new_family`` (no model of its base family
    trains).  Depends on the split only, not on the forecaster.

    Returns
    -------
    Series
        Indexed by test model (``fold.test_models`` order), name ``case``.
    """
    from scaling_bayes.design import FamilyStructure
    from scaling_bayes.prediction import family_cases

    train, test_models, _ = fold_split(fold, data)
    return family_cases(test_models, FamilyStructure.from_models(train.models))


def fold_size_ratio(fold: Fold, data: ScoreTable) -> pd.Series:
    """How far outside its base family's training sizes each test model of ``fold`` lies
    (:func:`~scaling_bayes.prediction.family_size_ratio` against the fold's training models;
    NaN where the base family has none).  Depends on the split only.  Indexed by test model."""
    from scaling_bayes.prediction import family_size_ratio

    return family_size_ratio(data.models.loc[list(fold.test_models)], data.models.loc[list(fold.train_models)])


def _per_fold(predictions: pd.DataFrame, data: ScoreTable | None,
              of_fold: Callable[[Fold, ScoreTable], pd.Series]) -> pd.Series:
    """``of_fold(fold, data)`` (a Series by test model) for every row of a Sloth-protocol
    predictions table, each row's fold rebuilt from its setting and test group; aligned with
    ``predictions.index``.  Raises if a row's model is not a test model of its fold."""
    data = _default_data() if data is None else data
    keys = ["benchmark_set", "n_train_per_family", "test_group"]
    out = pd.Series(index=predictions.index, dtype=object)
    for (bset, n, group), rows in predictions.groupby(keys, sort=False):
        (fold,) = sloth_folds(bset, int(n), data, test_groups=[str(group).split("+")])
        unknown = sorted(set(rows["model"]) - set(fold.test_models))
        if unknown:
            raise ValueError(f"models {unknown[:5]} are not test models of their fold; was the run made on other data?")
        out[rows.index] = rows["model"].map(of_fold(fold, data)).to_numpy()
    return out


def prediction_size_ratios(predictions: pd.DataFrame, data: ScoreTable | None = None) -> pd.Series:
    """:func:`fold_size_ratio` for every row of a Sloth-protocol predictions table (e.g. one
    saved before the runner wrote ``family_size_ratio``), rebuilding each row's fold from its
    setting and test group as :func:`prediction_cases` does.  Aligned with
    ``predictions.index``, name ``family_size_ratio``."""
    return _per_fold(predictions, data, fold_size_ratio).astype(float).rename("family_size_ratio")


def prediction_cases(predictions: pd.DataFrame, data: ScoreTable | None = None) -> pd.Series:
    """:func:`fold_cases` for every row of a predictions table (e.g. one saved before the
    runner wrote a ``case`` column), rebuilding each row's fold from its setting and test group.

    Parameters
    ----------
    predictions : DataFrame
        Columns ``benchmark_set, n_train_per_family, test_group, model``.
    data : ScoreTable, optional
        The data the folds were built on (default: bundled ``sloth_curated``).

    Returns
    -------
    Series
        Aligned with ``predictions.index``, name ``case``.
    """
    return _per_fold(predictions, data, fold_cases).rename("case")
