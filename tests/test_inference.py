import os
import warnings

import numpy as np
import pytest
import xarray as xr

from scaling_bayes.inference import (
    ConvergenceWarning,
    Diagnostics,
    available_cores,
    diagnose,
    prior_predictive_summary,
    resample_stuck,
    slowest_elements,
    warn_on_problems,
)


def _tree(chain_offsets, diverging=0, n_draws=1000, seed=0) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(chain_offsets), n_draws, 3)) + np.array(chain_offsets)[:, None, None]
    post = xr.Dataset({"x": (("chain", "draw", "k"), x)})
    div = np.zeros((len(chain_offsets), n_draws), dtype=bool)
    div.flat[:diverging] = True
    stats = xr.Dataset({"diverging": (("chain", "draw"), div)})
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


def test_diagnose_passes_well_mixed_chains():
    d = diagnose(_tree([0.0, 0.0, 0.0, 0.0]))
    assert d.max_rhat < 1.01 and d.min_ess_bulk > 400 and d.divergences == 0
    assert d.ok and d.problems() == []
    assert d.n_samples == 4000


def test_diagnose_flags_chains_in_different_modes_and_divergences():
    d = diagnose(_tree([0.0, 0.0, 3.0, 3.0], diverging=7))
    assert d.max_rhat > 1.5
    assert d.divergences == 7
    assert not d.ok
    text = " ".join(d.problems())
    assert "R-hat" in text and "divergent" in text and "ESS" in text


def test_diagnose_ignores_entries_constant_by_construction_without_warning():
    """An anchor's fixed loading has no R-hat (zero variance): NaN, silently left out, so
    the mixing of the other entries decides."""
    tree = _tree([0.0, 0.0, 3.0, 3.0])
    post = tree["posterior"].to_dataset()
    post["anchor"] = xr.ones_like(post["x"])
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": tree["sample_stats"].to_dataset()})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        d = diagnose(tree)
    assert np.isfinite(d.max_rhat) and d.max_rhat > 1.5  # the chains of x still disagree


def test_stuck_chain_is_reported():
    tree = _tree([0.0, 0.0, 0.0, 0.0])
    div = np.zeros((4, 1000), dtype=bool)
    div[2, :600] = True  # chain 2: 60% divergent, as when its step size collapsed in tuning
    div[0, :100] = True  # chain 0: 10%, a hard region but not stuck
    stats = xr.Dataset({"diverging": (("chain", "draw"), div)})
    d = diagnose(xr.DataTree.from_dict({"posterior": tree["posterior"].to_dataset(), "sample_stats": stats}))
    assert d.stuck_chains == (2,) and d.divergences == 700
    assert any("chain(s) [2] stuck" in p for p in d.problems())
    assert Diagnostics(**{**d.to_dict(), "stuck_chains": [2]}) == d  # JSON round trip


def test_ok_means_no_problem_reported_tail_ess_included():
    good = Diagnostics(max_rhat=1.0, min_ess_bulk=1000, min_ess_tail=1000, divergences=0, n_samples=4000)
    assert good.ok and str(good).startswith("OK")
    low_tail = Diagnostics(max_rhat=1.0, min_ess_bulk=1000, min_ess_tail=50, divergences=0, n_samples=4000)
    assert not low_tail.ok and str(low_tail).startswith("PROBLEMS")
    assert low_tail.problems() and "tail 50" in low_tail.problems()[0]


def test_warn_on_problems_warns_with_advice():
    bad = Diagnostics(max_rhat=1.2, min_ess_bulk=50, min_ess_tail=60, divergences=3, n_samples=400)
    with pytest.warns(ConvergenceWarning) as record:
        warn_on_problems(bad)
    assert len(record) == 3
    assert any("target_accept" in str(w.message) for w in record)
    assert Diagnostics(**bad.to_dict()) == bad


def test_problems_name_the_slowest_elements_and_advise_on_the_richards_exponent():
    """Problems name the elements that fail, by their coordinate labels, worst first, with
    R-hat and bulk ESS: by R-hat where any exceeds 1.01, by bulk ESS otherwise; ``nu`` beside
    ``log_nu`` (the same ranks) is named once; a slow ``log_nu`` brings the advice to try
    the logistic link; a JSON round trip keeps it all."""
    rng = np.random.default_rng(0)
    dims = ("chain", "draw", "benchmark")
    log_nu = rng.normal(size=(4, 500, 3))
    log_nu[0, :, 1] += 3.0  # one chain elsewhere for benchmark B: R-hat far above 1.01
    post = xr.Dataset({"log_nu": (dims, log_nu), "nu": (dims, np.exp(log_nu)),
                       "slope": (("chain", "draw"), rng.normal(size=(4, 500)))},
                      coords={"benchmark": ["A", "B", "C"]})
    d = diagnose(xr.DataTree.from_dict({"posterior": post}))
    assert d.slowest[0].startswith("log_nu[B]: R-hat ")
    assert not any(e.startswith(("nu[", "log_nu[A]", "log_nu[C]", "slope")) for e in d.slowest)  # these pass
    rhat = float(d.slowest[0].split("R-hat ")[1].split(",")[0])
    assert rhat == pytest.approx(d.max_rhat, abs=1e-3)
    (rhat_problem,) = [p for p in d.problems() if p.startswith("max R-hat")]
    assert "Slowest: log_nu[B]" in rhat_problem and "--link logistic" in rhat_problem
    assert Diagnostics(**{**d.to_dict(), "slowest": list(d.slowest)}) == d

    # every R-hat fine: the elements below the ESS bar, lowest first, without the advice
    rhat = xr.Dataset({"slope": ((), 1.004), "log_nu": (("benchmark",), [1.0, 1.002, 1.001])},
                      coords={"benchmark": ["A", "B", "C"]})
    ess = xr.Dataset({"slope": ((), 250.0), "log_nu": (("benchmark",), [900.0, 120.0, 500.0])},
                     coords={"benchmark": ["A", "B", "C"]})
    assert slowest_elements(rhat, ess) == ("log_nu[B]: R-hat 1.002, bulk ESS 120", "slope: R-hat 1.004, bulk ESS 250")
    assert slowest_elements(rhat, ess.assign(slope=((), 450.0), log_nu=ess["log_nu"] + 400)) == ()


def test_available_cores_counts_the_cpus_this_process_may_use(monkeypatch):
    """The CPUs of this process's affinity mask (not the machine's count), at least one; where
    the OS has no affinity call, the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        assert available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert available_cores() == 3  # the mask, not cpu_count
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set())
    assert available_cores() == 1
    monkeypatch.delattr(os, "sched_getaffinity")
    assert available_cores() == 64
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # undeterminable
    assert available_cores() == 1


_FIT_SCRIPT = """
import sys, warnings
import numpy as np
from scaling_bayes import LatentSkillModel, load_dataset
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    data = load_dataset("sloth_curated", benchmarks="leaderboard_v2").fittable()
    fams = ["qwen2", "pythia", "falcon", "olmo", "yi-1.5", "gemma-2"]
    data = data.select(models=list(data.models.index[data.models["family"].isin(fams)]))
    m = LatentSkillModel(n_skills=1, link="logistic")
    prior = m.prior_predictive(data, draws=100, random_seed=3)
    m.fit(data, chains=2, draws=40, tune=60, mode_starts=1, random_seed=7, progressbar=False)
np.save(sys.argv[1], np.concatenate([m.posterior["slopes"].values.ravel(),
                                     prior["prior_predictive"]["score"].values.ravel()]))
"""


@pytest.mark.slow
def test_same_seed_same_posterior_on_cold_and_warm_compile_cache(tmp_path):
    """Same seed, same posterior and prior predictive: two separate processes (two parallel
    chains each), the first on a fresh PyTensor/numba cache (cold compile), the second on the
    cache it left, must give identical draws.  With numba fastmath the posteriors did not
    (max |Δ| 0.82, measured), which is why ``SamplerConfig.fastmath`` defaults to False.  The
    prior predictive passes this check even with fastmath on; what it missed (a long-used
    cache and a fresh one drew different prior-predictive worlds, session 9) is why every
    sampler call, prior predictive and LOO included, runs under
    ``inference.reproducible_compilation``.

    The settings under test are the compiler's, not the graph's, so the fit is the smallest
    model the package builds (one skill, logistic link, six families): on a quiet 2-core
    machine its two processes took 68 s and 8 s, against 79 s and 12 s for two skills and the
    Richards link (session 19)."""
    import os
    import subprocess
    import sys

    env = {**os.environ,  # a fresh cache; generated source beside it, not in /tmp
           "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'pytensor'},generated_src_dir={tmp_path / 'src'}"}
    outs = []
    for run in ("cold", "warm"):
        path = tmp_path / f"{run}.npy"
        subprocess.run([sys.executable, "-c", _FIT_SCRIPT, str(path)], env=env, check=True,
                       capture_output=True, timeout=600)
        outs.append(np.load(path))
    np.testing.assert_array_equal(outs[0], outs[1])


def _stuck_tree(stuck: bool) -> xr.DataTree:
    tree = _tree([0.0, 0.0])
    div = np.zeros((2, 1000), dtype=bool)
    if stuck:
        div[1] = True  # chain 1: every draw divergent
    stats = xr.Dataset({"diverging": (("chain", "draw"), div)})
    return xr.DataTree.from_dict({"posterior": tree["posterior"].to_dataset(), "sample_stats": stats})


def test_stuck_chains_are_resampled_with_derived_seeds_and_reported():
    seen = []

    def draw(seed):
        seen.append(seed)
        return _stuck_tree(stuck=len(seen) == 1)  # only the first attempt gets stuck

    with pytest.warns(ConvergenceWarning, match="stuck"):
        tree = resample_stuck(draw, random_seed=5, retries=2)
    assert len(seen) == 2 and seen[0] == 5 and seen[1] != 5
    d = diagnose(tree)
    assert d.stuck_chains == () and d.resampled == 1 and "resampled 1x" in str(d)
    # deterministic in the seed
    seen2 = []
    with pytest.warns(ConvergenceWarning):
        resample_stuck(lambda s: (seen2.append(s), _stuck_tree(len(seen2) == 1))[1], 5, 2)
    assert seen2 == seen


def test_resampling_stops_after_the_allowed_retries_and_still_reports_the_stuck_chain():
    calls = []
    with pytest.warns(ConvergenceWarning):
        tree = resample_stuck(lambda s: (calls.append(s), _stuck_tree(True))[1], 0, retries=1)
    assert len(calls) == 2
    d = diagnose(tree)
    assert d.stuck_chains == (1,) and d.resampled == 1


def test_no_resampling_when_no_chain_is_stuck():
    calls = []
    tree = resample_stuck(lambda s: (calls.append(s), _stuck_tree(False))[1], 3, retries=1)
    assert calls == [3] and diagnose(tree).resampled == 0


def test_prior_predictive_summary_by_hand():
    # two benchmarks, floors 0.25 and 0; prior draws chosen so every statistic is known
    draws = np.array([[[0.10, 0.20, 0.5], [0.99, 0.30, 0.6], [0.26, 0.40, 0.7], [0.50, 0.50, 0.999]]])
    cells = {"benchmark": ("cell", ["A", "A", "B"]), "floor": ("cell", [0.25, 0.25, 0.0])}
    tree = xr.DataTree.from_dict({
        "prior_predictive": xr.Dataset({"score": (("chain", "draw", "cell"), draws)}, coords=cells),
        "observed_data": xr.Dataset({"score": (("cell",), [0.3, 0.95, 0.6])}, coords=cells),
    })
    table = prior_predictive_summary(tree, prob=0.5, edge=0.02)
    assert list(table.index) == ["A", "B"]
    a = table.loc["A"]  # A's 8 draws: .10 .20 .99 .30 .26 .40 .50 .50
    assert a["floor"] == 0.25 and a["prior_median"] == pytest.approx(0.35)
    assert a["prior_at_floor"] == pytest.approx(3 / 8)  # .10, .20, .26 lie below 0.25 + 0.02
    assert a["prior_at_ceiling"] == pytest.approx(1 / 8)  # .99
    lo, hi = np.quantile([0.10, 0.20, 0.99, 0.30, 0.26, 0.40, 0.50, 0.50], [0.25, 0.75])
    assert (a["prior_lower"], a["prior_upper"]) == pytest.approx((lo, hi), abs=0.03)  # ETI quantile rule
    assert a["observed_in_interval"] == pytest.approx(0.5)  # 0.3 inside, 0.95 outside
    b = table.loc["B"]
    assert b["prior_at_ceiling"] == pytest.approx(0.25) and b["observed_median"] == pytest.approx(0.6)


def test_weakly_informative_priors_cover_the_observed_scores(prior_v2):
    """The default priors must not rule out real scores: every benchmark's 90% prior
    predictive interval holds (nearly) all observed cells of the small real subset."""
    table = prior_predictive_summary(prior_v2)
    assert set(table.index) == set(prior_v2["observed_data"]["score"]["benchmark"].values.tolist())
    assert (table["observed_in_interval"] >= 0.95).all(), table
    assert ((table["prior_lower"] < table["observed_median"]) & (table["observed_median"] < table["prior_upper"])).all()


def test_prior_posterior_conflict_by_hand():
    """z-scores and contractions from draws whose mean and sd are known exactly."""
    import xarray as xr

    from scaling_bayes.inference import prior_posterior_conflict
    from scaling_bayes.model import Priors, normal_priors

    unit = np.array([-1.0, 1.0] * 50)  # mean 0, population sd 1
    draws = lambda mean, sd: (mean + sd * unit).reshape(2, 50)  # noqa: E731  (chain, draw)
    posterior = xr.Dataset(
        {
            "log_nu": (("chain", "draw", "benchmark"), np.stack([draws(2.0, 0.45), draws(0.3, 0.6)], axis=-1)),
            "log_phi": (("chain", "draw"), draws(5.0, 0.1)),
            "slopes": (("chain", "draw", "covariate", "skill"),
                       np.stack([draws(1.0, 0.1), draws(-0.25, 0.1)], axis=-1)[..., None]),
        },
        coords={"benchmark": ["MMLU", "GPQA"], "covariate": ["log_params", "log_params_sq"], "skill": ["MMLU"]},
    )
    priors = normal_priors(Priors(log_nu_sd=0.75, slope_sd=2.0, curvature_sd=0.5), ["log_params", "log_params_sq"])
    table = prior_posterior_conflict(posterior, priors)
    assert set(table["variable"]) == {"log_nu", "log_phi", "slopes"}  # absent variables are skipped
    slopes = table[table["variable"] == "slopes"].set_index("element")
    # each covariate's own prior sd: slope_sd on ln params, curvature_sd on its square
    assert slopes["prior_sd"].to_dict() == {"log_params, MMLU": 2.0, "log_params_sq, MMLU": 0.5}
    np.testing.assert_allclose(slopes.loc["log_params_sq, MMLU", "z"], -0.25 / 0.5)
    np.testing.assert_allclose(slopes.loc["log_params, MMLU", "contraction"], 1 - (0.1 / 2.0) ** 2)
    row = table.set_index(["variable", "element"])
    np.testing.assert_allclose(row.loc[("log_nu", "MMLU"), "z"], 2.0 / 0.75)
    np.testing.assert_allclose(row.loc[("log_nu", "MMLU"), "contraction"], 1 - (0.45 / 0.75) ** 2)
    np.testing.assert_allclose(row.loc[("log_nu", "GPQA"), "z"], 0.3 / 0.75)
    np.testing.assert_allclose(row.loc[("log_phi", ""), "z"], 0.0, atol=1e-12)  # prior mean 5
    assert row["conflict"].to_dict() == {("log_nu", "MMLU"): True, ("log_nu", "GPQA"): False, ("log_phi", ""): False,
                                         ("slopes", "log_params, MMLU"): False, ("slopes", "log_params_sq, MMLU"): False}
    assert table.iloc[0]["element"] == "MMLU"  # largest |z| first


def test_single_mode_start_skips_the_comparison_compile_and_several_are_compared(monkeypatch):
    """One start: the MAP point itself (held-fixed scale at its initial value, the free
    location at its exact conditional mode), without compiling the log density used to
    compare starts.  Several starts: that log density is compiled once and compares them."""
    import pymc as pm

    from scaling_bayes.inference import _mode_start

    with pm.Model() as toy:
        scale = pm.HalfNormal("scale", 1.0, initval=0.5)
        loc = pm.Normal("loc", 0.0, 10.0)
        pm.Normal("y", loc, scale, observed=np.array([1.0, 2.0, 4.0]))
    compiled = []
    original = toy.compile_logp
    monkeypatch.setattr(toy, "compile_logp", lambda *a, **k: compiled.append(1) or original(*a, **k))

    start = _mode_start(toy, n_starts=1, seed=3, hold_fixed=("scale",))
    assert compiled == []
    assert set(start) == {"scale", "loc"}
    np.testing.assert_allclose(start["scale"], 0.5, rtol=1e-12)
    data_precision, prior_precision = 3 / 0.5**2, 1 / 10.0**2  # precision-weighted mean
    np.testing.assert_allclose(start["loc"], 7 / 3 * data_precision / (data_precision + prior_precision), rtol=1e-5)

    several = _mode_start(toy, n_starts=3, seed=3, hold_fixed=("scale",))
    assert compiled == [1]
    np.testing.assert_allclose(several["loc"], start["loc"], rtol=1e-5)


def test_modes_init_starts_each_chain_from_its_own_map_optimisation(monkeypatch):
    import pymc as pm

    from scaling_bayes import inference
    from scaling_bayes.inference import SamplerConfig, _sample

    with pm.Model() as toy:
        pm.Normal("loc", 0.0, 1.0)
    seeds, captured = [], {}

    def fake_mode_start(model, n_starts, seed, hold_fixed=()):
        seeds.append((n_starts, seed))
        return {"loc": np.array(float(seed % 97))}

    monkeypatch.setattr(inference, "_mode_start", fake_mode_start)
    monkeypatch.setattr(inference.pm, "sample", lambda **kw: captured.update(kw) or xr.DataTree())
    _sample(toy, SamplerConfig(chains=3, init="modes"), 11, False, ())
    assert [n for n, _ in seeds] == [1, 1, 1] and len({s for _, s in seeds}) == 3
    assert [float(v["loc"]) for v in captured["initvals"]] == [float(s % 97) for _, s in seeds]
    assert captured["init"] == "adapt_diag"

    seeds.clear()
    _sample(toy, SamplerConfig(chains=3, init="mode"), 11, False, ())  # one best start, shared
    assert len(seeds) == 1 and captured["initvals"] == [captured["initvals"][0]] * 3
    with pytest.raises(ValueError, match="init='modes'.*sampler='pymc'"):
        _sample(toy, SamplerConfig(chains=3, init="modes", sampler="nutpie"), 11, False, ())


def test_dirichlet_stacking_weights_match_arviz_stacking_and_split_evenly_between_identical_chains():
    import pandas as pd

    from scaling_bayes.inference import dirichlet_stacking_weights
    from scaling_bayes.stacking import stacking_weights

    # chain A gives density 0.9 to 70% of the cells and 0.1 to the rest, chain B the reverse:
    # the log score 0.7 log(0.1 + 0.8 w) + 0.3 log(0.9 − 0.8 w) peaks at w_A = 0.75
    a = np.log(np.r_[np.full(70, 0.9), np.full(30, 0.1)])
    b = np.log(np.r_[np.full(70, 0.1), np.full(30, 0.9)])
    lpd = np.c_[a, b]
    np.testing.assert_allclose(dirichlet_stacking_weights(lpd, concentration=1.0), [0.75, 0.25], atol=1e-4)
    arviz = stacking_weights(pd.DataFrame(lpd, columns=["a", "b"]))
    np.testing.assert_allclose(arviz.to_numpy(), [0.75, 0.25], atol=1e-3)

    # three identical good chains and one far worse: plain stacking is not identified among
    # the three; the Dirichlet prior splits their weight evenly and leaves the bad one ~(α−1)/n
    rng = np.random.default_rng(0)
    good = rng.normal(-1.0, 0.3, size=400)
    lpd = np.c_[good, good, good, good - 5.0]
    w = dirichlet_stacking_weights(lpd, concentration=2.0)
    np.testing.assert_allclose(w[:3], 1 / 3 * (1 - w[3]), rtol=1e-4)
    assert w[3] < 5 / 400 and np.isclose(w.sum(), 1.0)
    with pytest.raises(ValueError, match="concentration"):
        dirichlet_stacking_weights(lpd, concentration=0.5)


def test_chain_stacking_weights_drop_a_chain_stuck_in_a_worse_mode():
    from scaling_bayes.inference import chain_elpd, chain_stacking_weights

    rng = np.random.default_rng(1)
    y = rng.normal(0.0, 1.0, size=200)
    mu = np.stack([rng.normal(0.0 if c < 3 else 3.0, 0.1, size=300) for c in range(4)])  # chain 3: wrong mode
    ll = -0.5 * (y[None, None, :] - mu[..., None]) ** 2 - 0.5 * np.log(2 * np.pi)
    tree = xr.DataTree.from_dict({
        "posterior": xr.Dataset({"mu": (("chain", "draw"), mu)}, coords={"chain": np.arange(4), "draw": np.arange(300)}),
        "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), ll)}, coords={"chain": np.arange(4), "draw": np.arange(300)}),
    })
    elpd = chain_elpd(tree, "y")
    assert elpd.shape == (200, 4) and list(elpd.columns) == [0, 1, 2, 3]
    assert elpd[3].sum() < elpd[0].sum() - 20  # the stuck chain predicts far worse
    w = chain_stacking_weights(tree, "y")
    assert w.dims == ("chain",) and np.isclose(float(w.sum()), 1.0)
    assert float(w.sel(chain=3)) < 2 / 200  # of order (concentration − 1) / cells
    np.testing.assert_allclose(w.sel(chain=[0, 1, 2]).to_numpy(), 1 / 3, atol=0.05)  # same mode: shared
    assert len(w.attrs["elpd_loo"]) == 4
    assert elpd.attrs["high_pareto_k"] == dict(enumerate(w.attrs["high_pareto_k"]))


def test_mix_chains_takes_each_chain_in_proportion_to_its_weight():
    from scaling_bayes.inference import largest_remainder_counts, mix_chains

    post = xr.Dataset({"x": (("chain", "draw", "k"), np.arange(4)[:, None, None] + np.zeros((4, 10, 2)))},
                      coords={"chain": [0, 1, 2, 3], "k": ["a", "b"]})
    weights = xr.DataArray([0.5, 0.0, 0.3, 0.2], dims="chain", coords={"chain": [0, 1, 2, 3]})
    mixed = mix_chains(post, weights)
    assert dict(mixed.sizes) == {"chain": 1, "draw": 40, "k": 2}
    assert list(mixed["k"].values) == ["a", "b"]
    values, counts = np.unique(mixed["x"].isel(k=0).values, return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {0.0: 20, 2.0: 12, 3.0: 8}  # 40 × w
    assert float(mixed["x"].mean()) == pytest.approx(0.5 * 0 + 0.3 * 2 + 0.2 * 3)
    assert largest_remainder_counts(np.array([1 / 3, 1 / 3, 1 / 3]), 10).tolist() == [4, 3, 3]


def test_stack_chains_enters_the_sampler_settings_only_when_set():
    """At its default the new field leaves the settings, and so the protocol's fold-cache keys, as before."""
    from scaling_bayes.inference import SamplerConfig

    assert "stack_chains" not in SamplerConfig().to_dict()
    assert SamplerConfig(stack_chains=True).to_dict()["stack_chains"] is True
    assert SamplerConfig(**SamplerConfig(stack_chains=True).to_dict()) == SamplerConfig(stack_chains=True)


def test_chain_stacking_warns_when_a_chains_psis_estimates_are_unreliable():
    from scaling_bayes.inference import chain_stacking_weights

    rng = np.random.default_rng(2)
    y = np.r_[rng.normal(0.0, 1.0, size=30), 6.0]  # an outlier the draws cannot reach
    mu = rng.normal(0.0, 0.5, size=(2, 100))  # the outlier dominates its importance weights
    ll = -0.5 * (y[None, None, :] - mu[..., None]) ** 2 / 0.25 - 0.5 * np.log(2 * np.pi * 0.25)
    tree = xr.DataTree.from_dict({
        "posterior": xr.Dataset({"mu": (("chain", "draw"), mu)}, coords={"chain": [0, 1], "draw": np.arange(100)}),
        "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), ll)}, coords={"chain": [0, 1], "draw": np.arange(100)}),
    })
    with pytest.warns(ConvergenceWarning, match="high Pareto k"):
        w = chain_stacking_weights(tree, "y")
    assert sum(w.attrs["high_pareto_k"]) >= 1
