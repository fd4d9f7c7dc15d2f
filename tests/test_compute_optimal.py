"""``scaling_bayes.compute_optimal`` on the notebooks' tiny real fit.

The ``model`` fixture is ``fast_fit`` (``tests/conftest.py``): the notebooks' fast fit, fitted
once per session and shared through the session cache, so this module compiles no model graph
of its own.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from scaling_bayes import LatentSkillModel
from scaling_bayes.compute_optimal import (
    FLOPS_PER_PARAM_TOKEN,
    compute_optimal_split,
    data_box,
    default_budgets,
    summarize_split,
)
from scaling_bayes.design import build_design

N_GRID = 25


@pytest.fixture(scope="module")
def model(fast_fit) -> LatentSkillModel:
    return fast_fit

@pytest.fixture(scope="module")
def budgets(model) -> np.ndarray:
    """Four budgets inside the data box, and one below and one above it."""
    return np.r_[1e15, default_budgets(model, n=4), 1e30]

@pytest.fixture(scope="module")
def split(model, budgets):
    return compute_optimal_split(model, budgets, target="average", n_grid=N_GRID)

def grid_argmax(split) -> np.ndarray:
    """Index of the best grid split per (budget, chain, draw), computed here from value_grid."""
    values = split["value_grid"].transpose("budget", "grid", "chain", "draw").values
    return np.argmax(np.where(np.isnan(values), -np.inf, values), axis=1)

def test_split_stays_inside_the_data_range_and_spends_the_budget(model, budgets, split):
    (p_lo, p_hi), (t_lo, t_hi) = data_box(model)
    assert split["params_b"].dims == ("budget", "chain", "draw")
    assert split.sizes["chain"] == model.posterior.sizes["chain"]
    assert split["feasible"].values.tolist() == [False, True, True, True, True, False]
    assert np.isnan(split["params_b"].isel(budget=[0, -1])).all()

    inside = split.isel(budget=slice(1, -1))
    params, tokens = inside["params_b"].values, inside["tokens_t"].values
    assert np.isfinite(params).all()
    assert (params >= p_lo * (1 - 1e-9)).all() and (params <= p_hi * (1 + 1e-9)).all()
    assert (tokens >= t_lo * (1 - 1e-9)).all() and (tokens <= t_hi * (1 + 1e-9)).all()
    spent = FLOPS_PER_PARAM_TOKEN * params * tokens
    np.testing.assert_allclose(spent, np.broadcast_to(inside["budget"].values[:, None, None], spent.shape),
                               rtol=1e-9)
    np.testing.assert_allclose(inside["tokens_per_param"], 1000 * tokens / params)

def test_optimum_is_the_argmax_of_the_value_grid(split):
    """``params_b`` and ``value`` are read at the per-draw argmax of ``value_grid`` (not at a
    fixed grid point): guards the take-along-axis of the optimum."""
    idx = grid_argmax(split)
    ok = split["feasible"].values
    grid = split["grid_params_b"].transpose("budget", "grid").values
    expected_params = np.take_along_axis(np.broadcast_to(grid[:, :, None, None], (*grid.shape, *idx.shape[1:])),
                                         idx[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(split["params_b"].values[ok], expected_params[ok], rtol=1e-12)
    np.testing.assert_allclose(split["value"].values[ok], split["value_grid"].max("grid").values[ok])
    # the fixture's optima are spread over the grid, so a fixed index could not pass by chance
    assert len(np.unique(idx[ok])) > 2

def test_value_grid_matches_the_models_own_predictions(model, budgets):
    """Each grid point's value is the mean over benchmarks of ``predictive_draws``' latent
    mean for a model of that size and token count in the same (known) family."""
    split = compute_optimal_split(model, budgets[2:3], target="average", family="qwen2", n_grid=7)
    params = split["grid_params_b"].values[0]
    requests = pd.DataFrame(
        {"family": "qwen2", "base_family": "qwen2", "instruct": False, "params_b": params,
         "tokens_t": budgets[2] / FLOPS_PER_PARAM_TOKEN / params},
        index=pd.Index([f"g{i}" for i in range(len(params))], name="model"),
    )
    mu = model.predictive_draws(requests, warn_extrapolation=False)["mu"]
    expected = mu.mean("benchmark").transpose("model", "chain", "draw").values
    np.testing.assert_allclose(split["value_grid"].isel(budget=0).transpose("grid", "chain", "draw"),
                               expected, rtol=1e-9, atol=1e-9)

def test_at_edge_flags_optima_on_the_first_or_last_grid_point(split):
    """``at_edge`` is exactly "argmax at grid index 0 or n_grid-1" on feasible budgets and
    False elsewhere; the fixture has both kinds of draws, so a constant flag fails."""
    idx = grid_argmax(split)
    ok = split["feasible"].values
    expected = ((idx == 0) | (idx == N_GRID - 1)) & ok[:, None, None]
    np.testing.assert_array_equal(split["at_edge"].values, expected)
    assert expected[ok].any() and not expected[ok].all()

def test_summarize_split_reports_the_split_and_its_edge_share(budgets, split):
    table = summarize_split(split)
    assert list(table["budget_flops"]) == list(budgets)
    ok = split["feasible"].values
    assert (table["params_b_lower"] <= table["params_b_median"]).iloc[1:-1].all()
    assert (table["params_b_median"] <= table["params_b_upper"]).iloc[1:-1].all()
    np.testing.assert_allclose(table["params_b_median"][ok], split["params_b"].median(("chain", "draw"))[ok])
    # share_at_edge: the share of draws flagged at_edge; NaN where the line misses the data
    np.testing.assert_allclose(table["share_at_edge"][ok], split["at_edge"].mean(("chain", "draw")).values[ok])
    assert table["share_at_edge"][~ok].isna().all()
    assert table["share_at_edge"][ok].between(0, 1).all() and table["share_at_edge"][ok].gt(0).any()

def test_family_shifts_the_value_not_the_split_of_a_benchmark_or_skill_target(model):
    """A family effect is additive in the skills and the link is monotone, so for a single
    benchmark or skill the optimal split is the same for every family (by construction),
    while the value at the optimum must move with the family: guards that ``family`` is used."""
    budgets = default_budgets(model, n=3)
    bench = "MATH Lvl 5"
    assert bench in model.design.benchmarks and "qwen2" in model.design.families.families
    unseen = compute_optimal_split(model, budgets, target=bench, n_grid=15)
    qwen2 = compute_optimal_split(model, budgets, target=bench, family="qwen2", n_grid=15)
    np.testing.assert_allclose(unseen["params_b"], qwen2["params_b"])
    assert not np.allclose(unseen["value"], qwen2["value"])
    assert ((qwen2["value"] > 0) & (qwen2["value"] < 1)).all()
    assert qwen2.attrs["family"] == "qwen2" and "unseen" in unseen.attrs["family"]

    skill = f"skill:{model.posterior['skill'].values[1]}"
    by_skill = compute_optimal_split(model, budgets, target=skill, n_grid=15)
    by_skill_qwen2 = compute_optimal_split(model, budgets, target=skill, family="qwen2", n_grid=15)
    np.testing.assert_allclose(by_skill["params_b"], by_skill_qwen2["params_b"])
    assert not np.allclose(by_skill["value"], by_skill_qwen2["value"])
    # the "average" target's split may move with the family (nonlinear mean over benchmarks),
    # but need not on a given fit, so only its value is checked
    average = compute_optimal_split(model, budgets, n_grid=15)
    average_qwen2 = compute_optimal_split(model, budgets, family="qwen2", n_grid=15)
    assert not np.allclose(average["value"], average_qwen2["value"])

def test_arguments_are_checked(model):
    budgets = default_budgets(model, n=3)
    with pytest.raises(ValueError, match=r"target='no-such-benchmark'"):
        compute_optimal_split(model, budgets, target="no-such-benchmark")
    with pytest.raises(ValueError, match=r"unknown skill"):
        compute_optimal_split(model, budgets, target="skill:no-such-skill")
    with pytest.raises(ValueError, match=r"budgets must be positive"):
        compute_optimal_split(model, [-1.0])
    with pytest.raises(ValueError, match=r"n_grid=2: use at least 3 grid points"):
        compute_optimal_split(model, budgets, n_grid=2)

def test_flops_covariates_have_no_optimal_split(model):
    """A fit with ``covariates='flops'`` predicts the same for every split of a budget: it is
    refused.  The fit's design rebuilt with that form (no sampling) stands in for such a fit."""
    flops_model = copy.copy(model)
    flops_model.design = build_design(model.design.data, model.registry, covariates="flops")
    assert flops_model.design.transform.form == "flops"
    with pytest.raises(ValueError, match=r"covariates='flops'.*every split of a budget predicts the same"):
        compute_optimal_split(flops_model, default_budgets(model, n=3))
