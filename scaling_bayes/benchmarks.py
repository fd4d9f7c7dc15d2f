"""Benchmark registry: the guessing floor and the item count of each benchmark.

A benchmark's *guessing floor* is the score of random guessing (1 / #choices). It is
the lower asymptote of the scaling law. ``n_items`` is the approximate number of test
items, used for a continuity correction (0.5 / n_items) of scores that are exactly 0
or 1. The defaults come from the bundled ``datasets/protocol.json`` (the Sloth
protocol; see ``datasets/PROVENANCE.md``).

There is no global mutable registry. :func:`default_registry` builds a new one on
every call. Extend a registry with :meth:`BenchmarkRegistry.register` and pass it on
(``registry=...``).

The data-layer exceptions are defined here, in the lowest-level module, so that
:class:`UnknownBenchmarkError` can subclass :class:`DataValidationError` without a
circular import. :mod:`scaling_bayes.data` re-exports both.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "BENCHMARK_SETS",
    "Benchmark",
    "BenchmarkRegistry",
    "DataValidationError",
    "UnknownBenchmarkError",
    "benchmark_set",
    "default_registry",
    "load_protocol",
]


class DataValidationError(ValueError):
    """Input data is invalid. The message names the column, row or value and the fix."""


class UnknownBenchmarkError(DataValidationError, KeyError):
    """A benchmark has no registered guessing floor (see ``BenchmarkRegistry.register``)."""

    def __str__(self) -> str:  # KeyError would repr() the message; show it verbatim
        return str(self.args[0]) if self.args else ""


def _close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` entries of ``candidates`` close to ``word`` (case-insensitive)."""
    by_lower: dict[str, str] = {}
    for cand in candidates:
        by_lower.setdefault(str(cand).lower(), str(cand))
    hits = difflib.get_close_matches(str(word).lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[h] for h in hits]


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    hits = _close_matches(word, candidates)
    return f" Did you mean {', '.join(map(repr, hits))}?" if hits else ""


def load_protocol() -> dict[str, Any]:
    """Parse the bundled Sloth protocol (``datasets/protocol.json``); a fresh dict each call."""
    ref = resources.files("scaling_bayes").joinpath("datasets", "protocol.json")
    return json.loads(ref.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Benchmark:
    """One benchmark.

    Attributes
    ----------
    name : str
        Canonical name, e.g. ``"MMLU"``.
    floor : float
        Guessing floor = lower asymptote = 1/#choices, in [0, 1).
    n_items : int or None
        Approximate item count (continuity correction 0.5/n_items of 0/1 scores).
    """

    name: str
    floor: float
    n_items: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DataValidationError(
                f"Benchmark name must be a non-empty string, got {self.name!r}."
            )
        if (
            isinstance(self.floor, bool)
            or not isinstance(self.floor, numbers.Real)
            or not (0.0 <= float(self.floor) < 1.0)
        ):
            raise DataValidationError(
                f"Benchmark {self.name!r}: floor={self.floor!r} is invalid; the guessing "
                "floor must be a number in [0, 1): 1/#choices for multiple choice "
                "(e.g. 0.25 for 4 options), 0.0 for free-form answers."
            )
        object.__setattr__(self, "floor", float(self.floor))
        if self.n_items is not None:
            if (
                isinstance(self.n_items, bool)
                or not isinstance(self.n_items, numbers.Integral)
                or self.n_items <= 0
            ):
                raise DataValidationError(
                    f"Benchmark {self.name!r}: n_items={self.n_items!r} is invalid; it "
                    "must be a positive integer (the approximate number of test items) "
                    "or None."
                )
            object.__setattr__(self, "n_items", int(self.n_items))


class BenchmarkRegistry:
    """A mutable mapping from benchmark name to :class:`Benchmark`.

    Parameters
    ----------
    benchmarks : iterable of Benchmark
        Initial entries. A later entry with the same name replaces an earlier one.
    """

    def __init__(self, benchmarks: Iterable[Benchmark] = ()) -> None:
        self._items: dict[str, Benchmark] = {}
        for bench in benchmarks:
            if not isinstance(bench, Benchmark):
                raise TypeError(f"expected Benchmark, got {type(bench).__name__}")
            self._items[bench.name] = bench

    def register(
        self, name: str, floor: float, n_items: int | None = None
    ) -> BenchmarkRegistry:
        """Add or replace a benchmark; returns ``self`` (chainable).

        ``floor`` must be in [0, 1) and ``n_items`` must be a positive int or None.
        """
        bench = Benchmark(name=name, floor=floor, n_items=n_items)
        self._items[bench.name] = bench
        return self

    def get(self, name: str) -> Benchmark:
        """The benchmark ``name``. Raises :class:`UnknownBenchmarkError` if it is not registered."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownBenchmarkError(
                f"Unknown benchmark {name!r}: no guessing floor is registered for it."
                f"{_did_you_mean(name, self._items)} Registered benchmarks: "
                f"{', '.join(self._items) or '(none)'}. To use a new benchmark, register "
                f"it first: registry.register({name!r}, floor=1/<#choices> (0.0 for "
                "free-form answers), n_items=<approx. #items>), then pass "
                "registry=registry."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"BenchmarkRegistry({list(self._items.values())!r})"

    @property
    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._items)

    def copy(self) -> BenchmarkRegistry:
        """An independent copy (the entries are immutable, so a shallow copy suffices)."""
        return BenchmarkRegistry(self._items.values())

    def to_record(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{name: {"floor", "n_items"}}`` for ``names``: what a saved fit records of its
        benchmarks (JSON-ready); :meth:`from_record` reads it back."""
        return {n: {"floor": self.get(n).floor, "n_items": self.get(n).n_items} for n in names}

    @classmethod
    def from_record(cls, record: Mapping[str, Mapping[str, Any]]) -> BenchmarkRegistry:
        """The registry of a :meth:`to_record` record, its benchmarks in the record's order."""
        registry = cls()
        for name, spec in record.items():
            registry.register(name, floor=spec["floor"], n_items=spec["n_items"])
        return registry

    def floors(self, names: Sequence[str]) -> xr.DataArray:
        """Guessing floors, dims ``("benchmark",)``, coords ``benchmark=names``.

        Raises :class:`UnknownBenchmarkError` for an unregistered name.
        """
        names = list(names)
        values = np.array([self.get(n).floor for n in names], dtype=float)
        return xr.DataArray(
            values, dims=("benchmark",), coords={"benchmark": names}, name="floor"
        )

    def n_items(self, names: Sequence[str]) -> xr.DataArray:
        """Approximate item counts, dims ``("benchmark",)``. NaN where the name or its count is unknown."""
        names = list(names)
        counts = [
            (self._items[n].n_items if n in self._items else None) for n in names
        ]
        values = np.array([math.nan if c is None else c for c in counts], dtype=float)
        return xr.DataArray(
            values, dims=("benchmark",), coords={"benchmark": names}, name="n_items"
        )


def default_registry() -> BenchmarkRegistry:
    """A new registry holding the 12 Open LLM Leaderboard benchmarks.

    Floors come from ``protocol.json["guessing_floors"]`` and item counts from
    ``["approx_items_per_benchmark"]``.
    """
    protocol = load_protocol()
    counts: Mapping[str, int] = protocol["approx_items_per_benchmark"]
    order = protocol["benchmark_sets"]["all12"]
    floors: Mapping[str, float] = protocol["guessing_floors"]
    names = [*order, *(n for n in floors if n not in order)]
    return BenchmarkRegistry(
        Benchmark(name=n, floor=floors[n], n_items=counts.get(n)) for n in names
    )


BENCHMARK_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {k: tuple(v) for k, v in load_protocol()["benchmark_sets"].items()}
)
"""Read-only named benchmark sets from ``protocol.json``: leaderboard_v1, leaderboard_v2, all12."""


def benchmark_set(name: str) -> list[str]:
    """The benchmarks of the named set (``"leaderboard_v1"``, ``"leaderboard_v2"``, ``"all12"``)."""
    try:
        return list(BENCHMARK_SETS[name])
    except (KeyError, TypeError):
        raise DataValidationError(
            f"Unknown benchmark set {name!r}.{_did_you_mean(name, BENCHMARK_SETS)} "
            f"Available sets: {', '.join(BENCHMARK_SETS)}. Or pass an explicit list "
            "of benchmark names."
        ) from None
