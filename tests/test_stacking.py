"""Stacking: weights from held-out log densities, mixture draws, and the StackedModel class."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from scaling_bayes import ConvergenceWarning, FlopsLawBaseline, LatentSkillModel, StackedModel
from scaling_bayes.stacking import (hierarchical_stacking_weights, mix_draws, mix_draws_by, mixture_mean,
                                   stacking_weights)
from scaling_bayes.data import load_dataset
from scaling_bayes.workflows import load_fitted


def test_stacking_weights_recover_a_mixtures_proportion():
    """Data from 0.3 N(−2, 0.5) + 0.7 N(2, 0.5), forecasters the two components: the stacking
    weights are the maximum-likelihood mixing proportion, whose sd at n = 4000 is
    √(0.21 / 4000) ≈ 0.007 (the components barely overlap); tolerance 0.03 ≈ 4 sd.  As the
    components are 8 sds apart, every responsibility is 0 or 1 to ~1e-14, so the maximum-
    likelihood proportion is the sample's share of low draws: the optimiser must find it."""
    rng = np.random.default_rng(0)
    n = 4000
    low = rng.uniform(size=n) < 0.3
    y = np.where(low, rng.normal(-2, 0.5, n), rng.normal(2, 0.5, n))
    lpd = pd.DataFrame({"low": stats.norm.logpdf(y, -2, 0.5), "high": stats.norm.logpdf(y, 2, 0.5)})
    w = stacking_weights(lpd)
    assert list(w.index) == ["low", "high"] and w.sum() == pytest.approx(1.0)
    assert w["low"] == pytest.approx(0.3, abs=0.03)
    assert w["low"] == pytest.approx(low.mean(), abs=1e-3)
    # a forecaster that is worse everywhere gets (almost) no weight
    lpd["wide"] = stats.norm.logpdf(y, 0, 10)
    assert stacking_weights(lpd)["wide"] < 0.02


def test_stacking_weights_reject_missing_densities():
    lpd = pd.DataFrame({"a": [0.1, np.nan], "b": [0.2, 0.3]})
    with pytest.raises(ValueError, match="'a' has 1 missing"):
        stacking_weights(lpd)
    with pytest.raises(ValueError, match="at least two forecasters"):
        stacking_weights(lpd[["b"]])


def two_component_cells(proportions: dict[str, float], n: int, seed: int = 0):
    """``n`` cells per level from p N(−2, 0.5) + (1 − p) N(2, 0.5); the two components'
    log densities, each cell's level, and each level's realised share of the first component."""
    rng = np.random.default_rng(seed)
    frames, shares = [], {}
    for level, p in proportions.items():
        low = rng.uniform(size=n) < p
        y = np.where(low, rng.normal(-2, 0.5, n), rng.normal(2, 0.5, n))
        frames.append(pd.DataFrame({"low": stats.norm.logpdf(y, -2, 0.5), "high": stats.norm.logpdf(y, 2, 0.5),
                                    "level": level}))
        shares[level] = low.mean()
    cells = pd.concat(frames, ignore_index=True)
    return cells[["low", "high"]], cells["level"], pd.Series(shares)


def test_hierarchical_stacking_weights_follow_each_levels_mixture_and_pool_when_levels_agree():
    """Three levels mixing the two components in proportions 0.2 / 0.8 / 0.5, 300 cells each:
    each level's weight estimates that level's maximum-likelihood proportion, which is its
    realised share (the components barely overlap).  What separates the posterior-mean weight
    from the realised share is the posterior mean's distance from the maximum (O(1/n), ≈ 0.003
    at n = 300), partial pooling toward the other levels (small at this n) and Monte Carlo error
    (ESS ≥ ~300 of a weight with posterior sd ≈ 0.03: < 0.002); not the share's own sampling
    sd around p (≈ 0.03), which both sides share.  Tolerance 0.015, about three times their sum;
    seed 1 lands within 0.004."""
    lpd, level, shares = two_component_cells({"A": 0.2, "B": 0.8, "C": 0.5}, n=300)
    weights, diagnostics = hierarchical_stacking_weights(lpd, level, levels=["A", "B", "C", "D"], random_seed=1)
    assert list(weights.columns) == ["low", "high"] and list(weights.index) == ["A", "B", "C", "D"]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(weights.loc[["A", "B", "C"], "low"], shares, atol=0.015)
    assert diagnostics.divergences == 0 and diagnostics.max_rhat < 1.05
    # "D" has no cells: the population's weight, between the levels seen
    assert weights.loc["A", "low"] < weights.loc["D", "low"] < weights.loc["B", "low"]
    # when every level mixes alike, σ shrinks and the levels' weights pool toward one another:
    # 30 cells per level, whose realised shares scatter (sd √(0.21 / 30) ≈ 0.08; here 0.33,
    # 0.40, 0.37), are pulled together (ESS may fall just under the package's 400 here)
    lpd, level, shares = two_component_cells({"A": 0.3, "B": 0.3, "C": 0.3}, n=30, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pooled, diagnostics = hierarchical_stacking_weights(lpd, level, random_seed=1)
        again, _ = hierarchical_stacking_weights(lpd, level, random_seed=1)
    assert diagnostics.divergences == 0 and diagnostics.max_rhat < 1.02
    assert np.ptp(pooled["low"]) < 0.6 * np.ptp(shares) and abs(pooled["low"].mean() - shares.mean()) < 0.05
    pd.testing.assert_frame_equal(pooled, again)  # the same seed gives the same weights


def test_hierarchical_stacking_weights_reject_mismatched_levels():
    lpd = pd.DataFrame({"a": [0.1, 0.2], "b": [0.2, 0.3]})
    with pytest.raises(ValueError, match="a level for each of the 2 rows"):
        hierarchical_stacking_weights(lpd, pd.Series(["x"]))
    with pytest.raises(ValueError, match=r"levels \['y'\] that are not in"):
        hierarchical_stacking_weights(lpd, pd.Series(["x", "y"]), levels=["x"])
    with pytest.raises(ValueError, match="'a' has 1 missing"):
        hierarchical_stacking_weights(lpd.assign(a=[np.nan, 0.1]), pd.Series(["x", "y"]))


def constant_draws(value: float, n_draws: int = 10, models=("m1", "m2"), benchmarks=("B1", "B2")):
    shape = (2, n_draws, len(models), len(benchmarks))
    return xr.DataArray(np.full(shape, value), dims=("chain", "draw", "model", "benchmark"),
                        coords={"model": list(models), "benchmark": list(benchmarks)})


def test_mix_draws_takes_each_forecasters_share_of_every_chain():
    mixed = mix_draws({"a": constant_draws(0.0), "b": constant_draws(1.0)}, {"a": 0.25, "b": 0.75})
    assert mixed.dims == ("chain", "draw", "model", "benchmark") and mixed.sizes["draw"] == 10
    # 2.5 / 7.5 of 10 draws: largest remainders, ties to the first name
    assert (mixed.sum("draw") == 7).all()
    only_b = mix_draws({"a": constant_draws(0.0), "b": constant_draws(1.0)}, {"a": 0.0, "b": 1.0})
    assert (only_b == 1.0).all()
    # the second forecaster's models in another order are aligned by label
    flipped = constant_draws(1.0).isel(model=[1, 0])
    flipped.loc[{"model": "m1"}] = 2.0
    mixed = mix_draws({"a": constant_draws(0.0), "b": flipped}, {"a": 0.5, "b": 0.5})
    assert float(mixed.sel(model="m1").max()) == 2.0 and float(mixed.sel(model="m2").max()) == 1.0
    with pytest.raises(ValueError, match="sum to 1"):
        mix_draws({"a": constant_draws(0.0), "b": constant_draws(1.0)}, {"a": 0.5, "b": 0.6})
    with pytest.raises(ValueError, match="same models and benchmarks"):
        mix_draws({"a": constant_draws(0.0), "b": constant_draws(1.0, models=("m1",))}, {"a": 0.5, "b": 0.5})
    # as many benchmarks, other names: raises rather than mixing into NaN draws
    with pytest.raises(ValueError, match=r"'B3'.*same models and benchmarks"):
        mix_draws({"a": constant_draws(0.0), "b": constant_draws(1.0, benchmarks=("B1", "B3"))}, {"a": 0.5, "b": 0.5})


def test_mix_draws_pools_forecasters_whose_chain_shapes_differ():
    """A chain-stacked fit (one chain of C·D draws) mixes with an unstacked one (C × D): the
    result is one chain of the largest forecaster's number of draws, each forecaster's share
    of it evenly spaced over all its own draws, repeated where it has too few."""
    pooled = constant_draws(1.0).isel(chain=[0]).copy(data=np.arange(10.0)[None, :, None, None] * np.ones((1, 10, 2, 2)))
    pooled = xr.concat([pooled, pooled + 10], dim="draw").assign_coords(draw=np.arange(20))  # 1 × 20: values 0..19
    short = constant_draws(-1.0, n_draws=3)  # 2 × 3 = 6 draws
    mixed = mix_draws({"a": pooled, "b": short}, {"a": 0.25, "b": 0.75})
    assert mixed.dims == ("chain", "draw", "model", "benchmark") and dict(mixed.sizes)["chain"] == 1
    assert mixed.sizes["draw"] == 20
    values = mixed.isel(model=0, benchmark=0).values.ravel()
    # 5 of a's 20 draws, evenly spaced over both of its halves; b's 6 draws repeated to fill 15
    assert (values == -1.0).sum() == 15
    np.testing.assert_array_equal(np.sort(values[values >= 0]), [0, 5, 10, 14, 19])
    assert (mixed.sel(model="m2") == mixed.sel(model="m1")).all()


def test_mix_draws_by_benchmark_uses_each_benchmarks_weights():
    weights = pd.DataFrame({"a": [1.0, 0.3], "b": [0.0, 0.7]}, index=["B2", "B1"])
    mixed = mix_draws_by({"a": constant_draws(0.0), "b": constant_draws(1.0)}, weights)
    assert mixed.dims == ("chain", "draw", "model", "benchmark") and list(mixed["benchmark"].values) == ["B1", "B2"]
    assert (mixed.sel(benchmark="B1").sum("draw") == 7).all() and (mixed.sel(benchmark="B2") == 0.0).all()
    with pytest.raises(ValueError, match=r"no row for benchmark \['B2'\]"):
        mix_draws_by({"a": constant_draws(0.0), "b": constant_draws(1.0)}, weights.loc[["B1"]])


def test_mixture_mean_weighs_every_draw_of_each_forecaster():
    rng = np.random.default_rng(0)
    a = constant_draws(0.0).copy(data=rng.normal(0.0, 1.0, (2, 10, 2, 2)))
    b = constant_draws(1.0)
    exact = mixture_mean({"a": a, "b": b}, {"a": 0.25, "b": 0.75})
    assert exact.dims == ("model", "benchmark")
    np.testing.assert_allclose(exact, 0.25 * a.mean(("chain", "draw")) + 0.75)
    # mix_draws keeps 2 or 3 of a's 10 draws per chain, so its mean differs from the exact one
    mixed = mix_draws({"a": a, "b": b}, {"a": 0.25, "b": 0.75}).mean(("chain", "draw"))
    assert not np.allclose(mixed, exact)
    per_bench = pd.DataFrame({"a": [1.0, 0.5], "b": [0.0, 0.5]}, index=["B1", "B2"])
    exact = mixture_mean({"a": a, "b": b}, per_bench)
    np.testing.assert_allclose(exact.sel(benchmark="B1"), a.mean(("chain", "draw")).sel(benchmark="B1"))
    np.testing.assert_allclose(exact.sel(benchmark="B2"), 0.5 * a.mean(("chain", "draw")).sel(benchmark="B2") + 0.5)


#: structure, not convergence: tiny fits with one MAP start (as the opt-in terms' tests)
TINY_FIT = dict(chains=2, draws=40, tune=100, mode_starts=1, progressbar=False)


@pytest.fixture(scope="module")
def two_benchmarks(small_v2):
    """``small_v2`` on two of its benchmarks: the stack fits each component twice (weights,
    then the whole data), so its test keeps every fit's graph small."""
    return small_v2.select(benchmarks=list(small_v2.benchmarks[:2]))


@pytest.mark.slow
def test_stacked_model_learns_weights_on_held_out_sizes_mixes_and_reloads(two_benchmarks, tmp_path):
    # two cheap components (the FLOPs law with its Richards and its logistic link): the stack
    # treats every component alike, through fit, predictive_draws and log_predictive_density
    stack = StackedModel({"richards": FlopsLawBaseline(), "logistic": FlopsLawBaseline(link="logistic")})
    # a table as load_dataset gives it: a model without tokens, here the largest of its family,
    # is dropped (with one warning) before the weights' held-out sizes are chosen
    largest = two_benchmarks.models["params_b"].idxmax()
    no_tokens = two_benchmarks.select(models=[largest])
    no_tokens = type(no_tokens)(
        models=no_tokens.models.assign(params_b=2 * no_tokens.models["params_b"], tokens_t=np.nan)
        .rename(index={largest: "no-tokens-model"}),
        scores=no_tokens.scores.rename(index={largest: "no-tokens-model"}), name="no_tokens")
    with_gap = type(two_benchmarks).concat([two_benchmarks, no_tokens], name=two_benchmarks.name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = stack.fit(with_gap, random_seed=1, **TINY_FIT)
    assert sum("missing tokens_t" in str(w.message) for w in caught) == 1
    # fit returns, as a single model's fit does, a DataTree: one child per component, its fit
    assert isinstance(tree, xr.DataTree) and set(tree.children) == {"richards", "logistic"}
    for name, component in stack.components.items():
        xr.testing.assert_identical(tree[name]["posterior"].to_dataset(), component.idata["posterior"].to_dataset())
    w = stack.weights
    assert list(w.index) == ["richards", "logistic"] and w.sum() == pytest.approx(1.0) and (w >= 0).all()
    # learned on the largest size of every family with >= 3 sizes, all their observed cells
    check = stack.weight_check
    assert len(check) > 0 and set(check.columns) == {"richards", "logistic"} and np.isfinite(check.values).all()
    assert largest in check.index.get_level_values("model") and "no-tokens-model" not in check.index.get_level_values("model")
    pd.testing.assert_series_equal(w, stacking_weights(check))
    assert stack.diagnostics.max_rhat == max(c.diagnostics.max_rhat for c in stack.components.values())

    new = pd.DataFrame({"model": ["qwen2-30b", "alien-7b"], "family": ["qwen2", "alien"],
                        "params_b": [30.0, 7.0], "tokens_t": [7.0, 2.0]})
    pred = stack.predict(new, prob=0.9, random_seed=2)
    assert len(pred.table) == 2 * len(two_benchmarks.benchmarks)
    assert set(pred.table["case"]) == {"known_variant", "new_family"}
    # every mixture draw is one of the components' own draws, in the weights' shares
    parts = {n: c.predictive_draws(new.set_index("model"), random_seed=2, warn_extrapolation=False)["score"]
             for n, c in stack.components.items()}
    mixed = pred.draws["predictions"]["score"]
    cell = {"model": "qwen2-30b", "benchmark": two_benchmarks.benchmarks[0]}
    from_first = np.isin(mixed.sel(cell).values, parts["richards"].sel(cell).values)
    assert (from_first | np.isin(mixed.sel(cell).values, parts["logistic"].sel(cell).values)).all()
    assert from_first.mean() == pytest.approx(w["richards"], abs=1 / mixed.sizes["draw"])
    # the table's mean: every component draw, weighted (intervals come from the mixed draws)
    exact = sum(w[n] * parts[n].mean(("chain", "draw")) for n in parts)
    table = pred.table.set_index(["model", "benchmark"])
    np.testing.assert_allclose(table["mean"], exact.to_series().reindex(table.index), rtol=1e-6)

    stack.save(tmp_path / "stack")
    loaded = StackedModel.load(tmp_path / "stack")
    pd.testing.assert_series_equal(loaded.weights, w)
    pd.testing.assert_frame_equal(loaded.weight_check, check)  # what the weights were learned on
    pd.testing.assert_frame_equal(loaded.predict(new, prob=0.9, random_seed=2).table, pred.table)

    # per-benchmark weights, from the same held-out cells (no refits): one row per benchmark
    by_bench = StackedModel(stack.components, by="benchmark")
    learned = by_bench.weights_from(check, levels=list(two_benchmarks.benchmarks), random_seed=0)
    assert list(learned.index) == list(two_benchmarks.benchmarks) and list(learned.columns) == ["richards", "logistic"]
    np.testing.assert_allclose(learned.sum(axis=1), 1.0)
    # fixed per-benchmark weights: the first benchmark all Richards, the second all logistic
    first, second = two_benchmarks.benchmarks[:2]
    fixed = pd.DataFrame({"richards": [1.0, 0.0], "logistic": [0.0, 1.0]}, index=[first, second])
    by_bench = StackedModel(stack.components, weights=fixed)
    assert by_bench.by == "benchmark" and "per benchmark" in repr(by_bench)
    draws = by_bench.predict(new, prob=0.9, random_seed=2).draws["predictions"]["score"]
    for bench, name in ((first, "richards"), (second, "logistic")):
        np.testing.assert_array_equal(draws.sel(benchmark=bench).transpose("chain", "draw", "model").values,
                                      parts[name].sel(benchmark=bench).transpose("chain", "draw", "model").values)
    by_bench.save(tmp_path / "by_bench")
    reloaded = StackedModel.load(tmp_path / "by_bench")
    pd.testing.assert_frame_equal(reloaded.weights, by_bench.weights)
    pd.testing.assert_frame_equal(reloaded.predict(new, prob=0.9, random_seed=2).table,
                                  by_bench.predict(new, prob=0.9, random_seed=2).table)
    # saved over the learned stack: its weight check, which these given weights were not
    # learned on, does not come back
    by_bench.save(tmp_path / "stack")
    assert StackedModel.load(tmp_path / "stack").weight_check is None
    assert isinstance(load_fitted(tmp_path / "stack"), StackedModel)
    with pytest.raises(FileNotFoundError, match=r"holds stack.json.*StackedModel.load"):
        LatentSkillModel.load(tmp_path / "stack")


def test_stacked_model_rejects_bad_weights_and_predicting_unfitted():
    with pytest.raises(ValueError, match="at least two components"):
        StackedModel({"latent": LatentSkillModel()})
    with pytest.raises(ValueError, match="sum"):
        StackedModel({"a": LatentSkillModel(), "b": FlopsLawBaseline()}, weights={"a": 0.7, "b": 0.7})
    with pytest.raises(ValueError, match="every component"):
        StackedModel({"a": LatentSkillModel(), "b": FlopsLawBaseline()}, weights={"a": 1.0})
    per_bench = pd.DataFrame({"a": [0.5, 0.9], "b": [0.5, 0.2]}, index=["B1", "B2"])
    with pytest.raises(ValueError, match=r"benchmark\(s\) \['B2'\]"):
        StackedModel({"a": LatentSkillModel(), "b": FlopsLawBaseline()}, weights=per_bench)
    with pytest.raises(ValueError, match="give weights as a DataFrame"):
        StackedModel({"a": LatentSkillModel(), "b": FlopsLawBaseline()}, weights={"a": 0.5, "b": 0.5}, by="benchmark")
    with pytest.raises(ValueError, match="by='family'"):
        StackedModel({"a": LatentSkillModel(), "b": FlopsLawBaseline()}, by="family")
    with pytest.raises(RuntimeError, match="no weights yet"):
        StackedModel({"a": LatentSkillModel(), "b": FlopsLawBaseline()}).predictive_draws(pd.DataFrame())


class _StubComponent:
    """A fitted component's surface that the stack's ``loo`` and ``prior_predictive`` use: its
    design's cells and a PSIS-LOO result (no sampling, nothing compiled)."""

    def __init__(self, name: str, elpd_i: np.ndarray, pareto_k: np.ndarray, models=("m1", "m2", "m3")) -> None:
        from types import SimpleNamespace

        from arviz_stats.utils import ELPDDataLOO

        self.name = name
        cell_model, cell_benchmark = np.repeat(np.arange(len(models)), 2), np.tile([0, 1], len(models))
        self.design = SimpleNamespace(benchmarks=["B1", "B2"], data=SimpleNamespace(models=pd.DataFrame(index=list(models))),
                                      cell_model=cell_model, cell_benchmark=cell_benchmark)
        self._loo = ELPDDataLOO(elpd=float(elpd_i.sum()), se=1.0, p=2.0, n_samples=100, n_data_points=len(elpd_i),
                                scale="log", warning=False, good_k=0.7, elpd_i=xr.DataArray(elpd_i, dims="cell"),
                                pareto_k=xr.DataArray(pareto_k, dims="cell"))
        self.prior_calls: list[tuple] = []

    def loo(self):
        return self._loo

    def prior_predictive(self, data, *, draws, random_seed):
        self.prior_calls.append((data, draws, random_seed))
        return xr.DataTree.from_dict({"prior_predictive": xr.Dataset({"score": ("cell", np.full(2, float(draws)))}),
                                      "prior": xr.Dataset({"who": ((), self.name)})})


def test_stacked_loo_mixes_the_components_pointwise_loo_by_each_cells_weights():
    """The stack's PSIS-LOO: each cell's log Σ_k w_k exp(elpd_k), with the cell's benchmark's
    weights under by="benchmark"; Pareto k the worst component's; comparable in az.compare;
    components fitted on other cells refused."""
    rng = np.random.default_rng(0)
    a_elpd, b_elpd = rng.normal(1.0, 0.5, 6), rng.normal(0.5, 0.5, 6)
    a_k, b_k = rng.uniform(0, 0.8, 6), rng.uniform(0, 0.8, 6)
    parts = {"a": _StubComponent("a", a_elpd, a_k), "b": _StubComponent("b", b_elpd, b_k)}
    pooled = StackedModel(parts, weights={"a": 0.3, "b": 0.7}).loo()
    expected = np.log(0.3 * np.exp(a_elpd) + 0.7 * np.exp(b_elpd))
    np.testing.assert_allclose(pooled.elpd_i.values, expected)
    assert pooled.elpd == pytest.approx(expected.sum()) and pooled.kind == "loo" and np.isnan(pooled.p)
    assert pooled.se == pytest.approx(np.sqrt(6) * expected.std())
    np.testing.assert_array_equal(pooled.pareto_k.values, np.maximum(a_k, b_k))
    assert set(az.compare({"stack": pooled, "a": parts["a"].loo(), "b": parts["b"].loo()}).index) == {"stack", "a", "b"}
    # per benchmark: B1's cells all a's (weight 1), B2's all b's; a zero weight drops a component
    by_bench = StackedModel(parts, weights=pd.DataFrame({"a": [1.0, 0.0], "b": [0.0, 1.0]}, index=["B1", "B2"])).loo()
    np.testing.assert_allclose(by_bench.elpd_i.values[0::2], a_elpd[0::2])
    np.testing.assert_allclose(by_bench.elpd_i.values[1::2], b_elpd[1::2])
    # a zero weight drops the component from the cell's Pareto k too (and its NaN cannot leak)
    parts_nan = {"a": parts["a"], "b": _StubComponent("b", np.full(6, np.nan), np.full(6, 1.5))}
    only_a = StackedModel(parts_nan, weights=pd.DataFrame({"a": [1.0, 1.0], "b": [0.0, 0.0]}, index=["B1", "B2"])).loo()
    np.testing.assert_allclose(only_a.elpd_i.values, a_elpd)
    np.testing.assert_array_equal(only_a.pareto_k.values, a_k)
    with pytest.raises(ValueError, match=r"no row for benchmark\(s\) \['B2'\]"):
        StackedModel(parts, weights=pd.DataFrame({"a": [1.0], "b": [0.0]}, index=["B1"])).loo()
    other = _StubComponent("c", b_elpd[:4], b_k[:4], models=("m1", "m2"))
    with pytest.raises(ValueError, match="'c' was fitted on other cells than 'a'"):
        StackedModel({"a": parts["a"], "c": other}, weights={"a": 0.5, "c": 0.5}).loo()


def test_stacked_prior_predictive_is_each_components_own():
    """One child per component, named as in ``components``, each that component's own prior
    predictive for the same data, draws and seed; the stack stays unfitted."""
    parts = {"a": _StubComponent("a", np.zeros(6), np.zeros(6)), "b": _StubComponent("b", np.zeros(6), np.zeros(6))}
    stack = StackedModel(parts)
    prior = stack.prior_predictive("DATA", draws=7, random_seed=3)
    assert set(prior.children) == {"a", "b"} and stack.weights is None
    for name, part in parts.items():
        assert part.prior_calls == [("DATA", 7, 3)]
        assert prior[name]["prior"]["who"].item() == name
        np.testing.assert_array_equal(prior[name]["prior_predictive"]["score"].values, [7.0, 7.0])


def test_a_refit_relearns_learned_weights_and_keeps_given_ones(monkeypatch):
    """Weights the stack learned belong to the data they were learned on: a second fit, on other
    data, learns them again; weights the user gave stay through every fit."""

    class Fittable(_StubComponent):
        def fit(self, data, **kwargs):
            return xr.DataTree()

    parts = {"a": Fittable("a", np.zeros(6), np.zeros(6)), "b": Fittable("b", np.zeros(6), np.zeros(6))}
    table = load_dataset("sloth_curated", benchmarks=["MMLU"]).fittable()
    learned = StackedModel(parts)
    calls = []

    def learn(self, data, **kwargs):
        calls.append(data.n_models)
        self.weights = pd.Series({"a": 0.5, "b": 0.5}, name="weight")
        return self.weights

    monkeypatch.setattr(StackedModel, "learn_weights", learn)
    learned.fit(table)
    learned.fit(table.select(models=list(table.models.index[:50])))
    assert calls == [table.n_models, 50]
    given = StackedModel(parts, weights={"a": 0.2, "b": 0.8})
    given.fit(table)
    assert calls == [table.n_models, 50] and given.weights["a"] == 0.2
