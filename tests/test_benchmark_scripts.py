"""Tests for the helpers the scripts in benchmarks/ share (they are scripts, not package modules)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from scaling_bayes.model import Priors

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def loo_compare():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("loo_compare")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_parse_variant_sets_only_the_named_keywords(loo_compare) -> None:
    assert loo_compare.parse_variant("k3") == {"n_skills": 3}
    assert loo_compare.parse_variant("k4-floor-slopes") == {
        "n_skills": 4, "learned_floors": True, "family_slopes": True}
    assert loo_compare.parse_variant("k4-nosq")["covariates"] == "translog"
    assert loo_compare.parse_variant("k4-sq-robust") == {
        "n_skills": 4, "covariates": "translog_sq", "robust_families": True}


def test_parse_variant_reads_prior_overrides(loo_compare) -> None:
    kwargs = loo_compare.parse_variant("k4-bench@log_nu_sd=1.5")
    assert kwargs["benchmark_effects"] is True
    assert kwargs["priors"] == Priors(log_nu_sd=1.5)


@pytest.mark.parametrize("spec, message", [
    ("k4-slope", "unknown suffix 'slope'"),
    ("four", "expected k<K>"),
    ("k4-floor-floor", "expected k<K>"),
    ("k4-sq-nosq", "'nosq' sets ['covariates'] again"),
])
def test_parse_variant_rejects_bad_specs_by_name(loo_compare, spec: str, message: str) -> None:
    with pytest.raises(SystemExit) as err:
        loo_compare.parse_variant(spec)
    assert message in str(err.value) and spec in str(err.value)
