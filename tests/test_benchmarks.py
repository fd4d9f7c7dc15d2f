"""Tests for scaling_bayes.benchmarks (the registry built from the bundled protocol.json)."""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np
import pytest

from scaling_bayes.benchmarks import (
    BENCHMARK_SETS,
    Benchmark,
    BenchmarkRegistry,
    DataValidationError,
    UnknownBenchmarkError,
    benchmark_set,
    default_registry,
    load_protocol,
)

ALL12 = [
    "MMLU", "ARC", "HellaSwag", "Winogrande", "TruthfulQA", "GSM8K",
    "IFEval", "BBH", "MATH Lvl 5", "GPQA", "MUSR", "MMLU-PRO",
]


@pytest.fixture(scope="module")
def protocol() -> dict:
    ref = resources.files("scaling_bayes") / "datasets" / "protocol.json"
    return json.loads(ref.read_text(encoding="utf-8"))


def test_default_registry_has_the_12_protocol_floors(protocol: dict) -> None:
    reg = default_registry()
    assert reg.names == ALL12
    assert len(reg) == 12
    for name in ALL12:
        bench = reg.get(name)
        assert bench.floor == pytest.approx(protocol["guessing_floors"][name])
        assert bench.n_items == protocol["approx_items_per_benchmark"][name]
    # spot-check a few values from the paper's protocol
    assert reg.get("Winogrande").floor == 0.5
    assert reg.get("GSM8K").floor == 0.0
    assert reg.get("MMLU-PRO").floor == pytest.approx(0.1)
    assert reg.get("MMLU").n_items == 14042


def test_load_protocol_returns_fresh_dicts() -> None:
    first = load_protocol()
    first["guessing_floors"]["MMLU"] = 0.9
    assert load_protocol()["guessing_floors"]["MMLU"] == 0.25


def test_default_registry_is_a_new_object_each_call() -> None:
    a, b = default_registry(), default_registry()
    assert a is not b
    a.register("MMLU", floor=0.5)
    a.register("HumanEval", floor=0.0, n_items=164)
    assert b.get("MMLU").floor == 0.25
    assert "HumanEval" not in b
    assert "HumanEval" not in default_registry()


def test_register_get_contains_and_overwrite() -> None:
    reg = BenchmarkRegistry()
    assert reg.names == []
    out = reg.register("HumanEval", floor=0.0, n_items=164).register("ToyMC", 0.25)
    assert out is reg  # chainable
    assert "HumanEval" in reg and "ToyMC" in reg and "MMLU" not in reg
    assert reg.get("HumanEval") == Benchmark("HumanEval", 0.0, 164)
    assert reg.get("ToyMC").n_items is None
    reg.register("ToyMC", floor=0.2, n_items=10)  # overwriting is allowed
    assert reg.get("ToyMC") == Benchmark("ToyMC", 0.2, 10)
    assert reg.names == ["HumanEval", "ToyMC"]


def test_register_accepts_numpy_numbers() -> None:
    reg = BenchmarkRegistry().register("X", floor=np.float64(0.25), n_items=np.int64(100))
    assert isinstance(reg.get("X").floor, float) and reg.get("X").floor == 0.25
    assert type(reg.get("X").n_items) is int and reg.get("X").n_items == 100


@pytest.mark.parametrize("floor", [1.0, -0.1, math.nan, 1.5, "0.25", True])
def test_register_rejects_bad_floor(floor: object) -> None:
    with pytest.raises(DataValidationError, match=r"'X'.*floor.*\[0, 1\)"):
        BenchmarkRegistry().register("X", floor=floor)  # type: ignore[arg-type]


@pytest.mark.parametrize("n_items", [0, -5, 1.5, True])
def test_register_rejects_bad_n_items(n_items: object) -> None:
    with pytest.raises(DataValidationError, match=r"'X'.*n_items.*positive integer"):
        BenchmarkRegistry().register("X", floor=0.25, n_items=n_items)  # type: ignore[arg-type]


def test_register_rejects_empty_name() -> None:
    with pytest.raises(DataValidationError, match="non-empty string"):
        BenchmarkRegistry().register("  ", floor=0.25)


def test_unknown_benchmark_error_lists_close_matches_and_fix() -> None:
    reg = default_registry()
    with pytest.raises(UnknownBenchmarkError) as info:
        reg.get("MMLU-Pro")
    err = info.value
    assert isinstance(err, DataValidationError)
    assert isinstance(err, KeyError)
    msg = str(err)
    assert msg.startswith("Unknown benchmark 'MMLU-Pro'")  # not repr()-quoted like KeyError
    assert "Did you mean 'MMLU-PRO'" in msg
    assert "registry.register('MMLU-Pro', floor=1/<#choices>" in msg
    assert "n_items=" in msg


def test_unknown_benchmark_without_close_match_still_lists_known_names() -> None:
    with pytest.raises(UnknownBenchmarkError, match=r"'zzz'.*Registered benchmarks: MMLU, ARC"):
        default_registry().get("zzz")
    with pytest.raises(UnknownBenchmarkError, match=r"\(none\)"):
        BenchmarkRegistry().get("MMLU")


def test_copy_is_independent() -> None:
    reg = default_registry()
    dup = reg.copy()
    dup.register("HumanEval", floor=0.0)
    dup.register("MMLU", floor=0.3)
    assert "HumanEval" not in reg
    assert reg.get("MMLU").floor == 0.25
    assert dup.names[:12] == reg.names


def test_floors_dataarray() -> None:
    names = ["GPQA", "MMLU", "GSM8K"]
    floors = default_registry().floors(names)
    assert floors.dims == ("benchmark",)
    assert floors["benchmark"].values.tolist() == names
    np.testing.assert_allclose(floors.values, [0.25, 0.25, 0.0])
    assert floors.sel(benchmark="GSM8K").item() == 0.0
    with pytest.raises(UnknownBenchmarkError, match="HumanEval"):
        default_registry().floors(["MMLU", "HumanEval"])


def test_n_items_dataarray_is_nan_where_unknown() -> None:
    reg = default_registry().register("NoCount", floor=0.5)
    counts = reg.n_items(["ARC", "HumanEval", "NoCount"])
    assert counts.dims == ("benchmark",)
    assert counts["benchmark"].values.tolist() == ["ARC", "HumanEval", "NoCount"]
    assert counts.values[0] == 1172
    assert np.isnan(counts.values[1:]).all()


def test_benchmark_sets_match_protocol(protocol: dict) -> None:
    assert set(BENCHMARK_SETS) == {"leaderboard_v1", "leaderboard_v2", "all12"}
    for name, members in protocol["benchmark_sets"].items():
        assert BENCHMARK_SETS[name] == tuple(members)
        assert benchmark_set(name) == members
    assert benchmark_set("all12") == benchmark_set("leaderboard_v1") + benchmark_set("leaderboard_v2")
    assert benchmark_set("all12") == ALL12


def test_benchmark_sets_are_read_only() -> None:
    with pytest.raises(TypeError):
        BENCHMARK_SETS["mine"] = ("MMLU",)  # type: ignore[index]
    members = benchmark_set("leaderboard_v1")
    members.append("HumanEval")  # a copy: the registry's sets are unaffected
    assert "HumanEval" not in benchmark_set("leaderboard_v1")


def test_unknown_benchmark_set() -> None:
    expected = (
        r"Unknown benchmark set 'leaderboard-v1'.*Did you mean 'leaderboard_v1'"
        r".*Available sets: leaderboard_v1, leaderboard_v2, all12"
    )
    with pytest.raises(DataValidationError, match=expected):
        benchmark_set("leaderboard-v1")


def test_benchmark_is_frozen() -> None:
    bench = default_registry().get("ARC")
    with pytest.raises(AttributeError):
        bench.floor = 0.5  # type: ignore[misc]
