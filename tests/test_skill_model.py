"""End-to-end on a small real subset: fit, predict (three cases), save/load, reproducibility."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from scaling_bayes import ConvergenceWarning, ExtrapolationWarning, LatentSkillModel
from scaling_bayes.compute_optimal import compute_optimal_split, default_budgets
from scaling_bayes.skill_model import NotFittedError

pytestmark = pytest.mark.slow

FAST = dict(chains=2, draws=150, tune=300, progressbar=False)
#: The opt-in terms' end-to-end tests check structure (dims, cases, reload), not convergence:
#: fewer draws and one MAP start instead of four (each start compiles and optimises anew,
#: ~2 s apiece on this subset, measured).
OPT_IN_FIT = dict(chains=2, draws=60, tune=150, mode_starts=1, progressbar=False)


@pytest.fixture(scope="module")
def fitted(small_v2):
    model = LatentSkillModel(n_skills=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 150 draws: ESS is low by design
        model.fit(small_v2, random_seed=3, **FAST)
    return model


@pytest.fixture
def requests():
    return pd.DataFrame(
        {
            "model": ["qwen2-30b", "qwen2-new-chat-7b", "newfam-7b", "newfam-70b"],
            "family": ["qwen2", "qwen2-new-chat", "newfam", "newfam"],
            "base_family": ["qwen2", "qwen2", "newfam", "newfam"],
            "instruct": [False, True, False, False],
            "params_b": [30.0, 7.0, 7.0, 70.0],
            "tokens_t": [7.0, 7.0, 2.0, 2.0],
        }
    )


def test_fit_returns_datatree_with_labelled_posterior(fitted, small_v2):
    post = fitted.posterior
    assert post["theta"].dims == ("chain", "draw", "model", "skill")
    assert list(post["skill"].values) == ["MMLU-PRO", "MATH Lvl 5"]
    assert set(post["variant"].values) == set(small_v2.models["family"])
    assert fitted.diagnostics.n_samples == 300
    assert np.isfinite(fitted.diagnostics.max_rhat)
    # anchors: fixed unit loading on their own skill, zero on the others
    lam = post["loadings"].isel(chain=0, draw=0)
    assert float(lam.sel(benchmark="MMLU-PRO", skill="MMLU-PRO")) == 1.0
    assert float(lam.sel(benchmark="MMLU-PRO", skill="MATH Lvl 5")) == 0.0
    assert float(post["loadings"].min()) >= 0.0


def test_prior_posterior_conflict_covers_every_normal_prior_parameter(fitted):
    table = fitted.prior_posterior_conflict()
    n_bench, n_skill = len(fitted.design.benchmarks), 2
    counts = table["variable"].value_counts().to_dict()
    n_cov = fitted.design.covariates.sizes["covariate"]  # 5: the second-order translog
    assert counts == {"slopes": n_cov * n_skill, "skill_mean": n_skill, "instruct_offset": n_skill,
                      "intercept_free": n_bench - n_skill, "log_nu": n_bench, "log_phi": n_bench}
    assert (table["prior_sd"] > 0).all() and table["z"].abs().is_monotonic_decreasing
    assert set(table.loc[table["variable"] == "log_nu", "element"]) == set(fitted.design.benchmarks)
    slopes = table[table["variable"] == "slopes"]
    squared = slopes["element"].str.contains("_sq,")  # each covariate carries its own prior sd
    assert squared.sum() == 2 * n_skill
    assert (slopes.loc[squared, "prior_sd"] == fitted.config.priors.curvature_sd).all()
    assert (slopes.loc[~squared, "prior_sd"] == fitted.config.priors.slope_sd).all()


def test_predict_covers_the_three_cases(fitted, requests):
    pred = fitted.predict(requests, prob=0.9)
    t = pred.table
    assert set(t["benchmark"]) == set(fitted.design.benchmarks)
    cases = t.drop_duplicates("model").set_index("model")["case"]
    assert cases["qwen2-30b"] == "known_variant"
    assert cases["qwen2-new-chat-7b"] == "new_variant"
    assert cases["newfam-7b"] == "new_family"
    assert ((t["lower"] <= t["median"]) & (t["median"] <= t["upper"])).all()
    assert ((t["lower"] >= 0) & (t["upper"] <= 1)).all()
    width = (t["upper"] - t["lower"]).groupby(t["case"]).mean()
    # less is known about an unseen family than about a known one
    assert width["new_family"] > width["known_variant"]
    # the latent-mean interval sits inside the predictive one
    assert (t["mu_upper"] - t["mu_lower"]).mean() < (t["upper"] - t["lower"]).mean()
    assert pred.draws["predictions"]["score"].dims == ("chain", "draw", "model", "benchmark")
    # bigger model of the same family scores higher on average
    m = t.set_index(["model", "benchmark"])["mean"]
    assert m["newfam-70b"].mean() > m["newfam-7b"].mean()


def test_insample_draws_are_the_training_models_predictive_draws_without_model_effects(fitted, small_v2):
    """Without per-model deviations a training model's skills are its variant's line, so the
    in-sample means equal the predictive means of the same models (same noise stream too)."""
    own = fitted.insample_draws(random_seed=2)
    new = fitted.predictive_draws(small_v2, random_seed=2, warn_extrapolation=False)
    new = new.sel(model=own["model"], benchmark=own["benchmark"])
    np.testing.assert_allclose(own["mu"].values, new["mu"].values, rtol=1e-9, atol=1e-12)
    assert own["score"].dims == ("chain", "draw", "model", "benchmark")


def test_prediction_is_reproducible_and_seed_dependent(fitted, requests):
    a = fitted.predict(requests, random_seed=11).table
    b = fitted.predict(requests, random_seed=11).table
    c = fitted.predict(requests, random_seed=12).table
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["lower"], c["lower"])


def test_per_model_deviations_leave_the_other_random_draws_unchanged(fitted, requests):
    """Prediction draws family effects, per-model deviations and Beta noise from separate
    streams: a fit whose deviations are negligible (σ_m = 1e-9) predicts what a fit without
    them predicts, draw for draw."""
    import copy

    def with_posterior(post):
        clone = copy.copy(fitted)
        clone.idata = fitted.idata.copy()
        clone.idata["posterior"] = xr.DataTree(post)
        return clone

    post = fitted.posterior.drop_vars("model_sd", errors="ignore")
    tiny = post.assign(model_sd=xr.full_like(post["variant_sd"], 1e-9))
    a = with_posterior(post).predictive_draws(requests, random_seed=7)
    b = with_posterior(tiny).predictive_draws(requests, random_seed=7)
    xr.testing.assert_allclose(a["mu"], b["mu"], atol=1e-6)
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-6)


def test_loo_log_likelihood_is_each_training_cells_beta_density(fitted, tmp_path):
    """PSIS-LOO's pointwise log likelihood, draw by draw, is the Beta density of each observed
    cell at the latent mean that prediction gives the same (training) model.

    ``loo()`` caches the log likelihood in the fit's idata, so it runs on a reloaded copy and
    leaves the module's shared ``fitted`` as the other tests expect it."""
    fitted.save(tmp_path / "run")
    reloaded = LatentSkillModel.load(tmp_path / "run")
    loo = reloaded.loo()
    assert "log_likelihood" in reloaded.idata and "log_likelihood" not in fitted.idata
    design = reloaded.design
    log_lik = reloaded.idata["log_likelihood"]["score"]
    assert log_lik.dims == ("chain", "draw", "cell")
    names = np.asarray(design.data.models.index)
    mu = fitted.predictive_draws(design.data, random_seed=0)["mu"].sel(model=names)
    mu_cell = mu.values[:, :, design.cell_model, design.cell_benchmark]
    phi = fitted.posterior["phi"].values[:, :, design.cell_benchmark]
    expected = stats.beta.logpdf(design.y, mu_cell * phi, (1 - mu_cell) * phi)
    np.testing.assert_allclose(log_lik.values, expected, rtol=1e-6, atol=1e-8)
    assert np.isfinite(loo.elpd) and loo.n_data_points == len(design.y)


def test_log_predictive_density_averages_the_beta_density_over_draws(fitted):
    """The held-out log score used for stacking: log of the draw-averaged Beta density of each
    observed cell (continuity-corrected as in the fit), NaN for missing cells; checked here on
    the training cells, where the design holds the corrected scores."""
    from scipy.special import logsumexp

    design = fitted.design
    draws = fitted.predictive_draws(design.data, random_seed=0, warn_extrapolation=False)
    scores = design.data.scores.copy()
    scores.iloc[0, 0] = np.nan
    lpd = fitted.log_predictive_density(draws, scores)
    assert lpd.dims == ("model", "benchmark") and np.isnan(lpd.values[0, 0])
    names = np.asarray(design.data.models.index)
    mu = draws["mu"].sel(model=names).values[:, :, design.cell_model, design.cell_benchmark]
    phi = fitted.posterior["phi"].values[:, :, design.cell_benchmark]
    logpdf = stats.beta.logpdf(design.y, mu * phi, (1 - mu) * phi).reshape(-1, len(design.y))
    expected = logsumexp(logpdf, axis=0) - np.log(logpdf.shape[0])
    got = lpd.sel(model=names).values[design.cell_model, design.cell_benchmark]
    keep = ~((design.cell_model == 0) & (design.cell_benchmark == 0))
    np.testing.assert_allclose(got[keep], expected[keep], rtol=1e-9)


def test_save_load_round_trip_predicts_identically(fitted, requests, tmp_path):
    fitted.save(tmp_path / "run")
    loaded = LatentSkillModel.load(tmp_path / "run")
    assert loaded.config == fitted.config
    assert loaded.diagnostics == fitted.diagnostics
    pd.testing.assert_frame_equal(
        loaded.predict(requests, random_seed=5).table, fitted.predict(requests, random_seed=5).table
    )
    xr.testing.assert_allclose(loaded.posterior["theta"], fitted.posterior["theta"])
    # a loaded fit holds no open file: it can be saved back over the directory it came from
    LatentSkillModel.load(loaded.save(tmp_path / "run")).predict(requests, random_seed=5)


def test_stack_chains_mixes_the_chains_by_their_weights_and_survives_save_load(fitted, requests, tmp_path):
    """On a copy of the shared fit (loaded from disk, so the fixture is left unstacked)."""
    model = LatentSkillModel.load(fitted.save(tmp_path / "run"))
    weights = model.stack_chains()
    assert weights.dims == ("chain",) and np.isclose(float(weights.sum()), 1.0) and (weights >= 0).all()
    assert model.chain_weights().to_numpy() == pytest.approx(weights.to_numpy())  # restacks the sampled chains
    chains, mixed = model.idata["posterior_chains"].to_dataset(), model.posterior
    assert dict(chains.sizes)["chain"] == 2 and dict(mixed.sizes)["chain"] == 1
    assert mixed.sizes["draw"] == chains.sizes["chain"] * chains.sizes["draw"]
    # the mixture holds each chain's draws in proportion to its weight
    per_chain = chains["log_phi"].isel(benchmark=0).stack(s=("chain", "draw")).to_numpy()
    origin = {float(v): c for v, c in zip(per_chain, np.repeat([0, 1], chains.sizes["draw"]))}
    taken = np.array([origin[float(v)] for v in mixed["log_phi"].isel(benchmark=0, chain=0).to_numpy()])
    assert np.bincount(taken, minlength=2) / taken.size == pytest.approx(weights.to_numpy(), abs=1 / taken.size)
    stacked = model.predict(requests, random_seed=5).table
    reloaded = LatentSkillModel.load(model.save(tmp_path / "stacked"))
    assert "posterior_chains" in reloaded.idata
    pd.testing.assert_frame_equal(reloaded.predict(requests, random_seed=5).table, stacked)


def test_extrapolation_warns(fitted):
    far = pd.DataFrame({"family": ["qwen2"], "params_b": [5000.0], "tokens_t": [7.0]})
    with pytest.warns(ExtrapolationWarning, match="params_b=5000"):
        fitted.predict(far)


def test_forecasts_far_outside_their_familys_sizes_warn_and_say_how_far(fitted):
    """SmolLM trains at 0.135-1.7B: 40B lies inside the data's range of sizes but 24x beyond
    its family's largest; a new variant of it is measured against its base family, and a
    family never seen has no ratio."""
    rows = pd.DataFrame({"model": ["smollm-40b", "smollm-new-chat-40b", "smollm-1b", "qwen2-30b", "alien-40b"],
                         "family": ["smollm", "smollm-new-chat", "smollm", "qwen2", "alien"],
                         "base_family": ["smollm", "smollm", "smollm", "qwen2", "alien"],
                         "params_b": [40.0, 40.0, 1.0, 30.0, 40.0], "tokens_t": [1.0, 1.0, 1.0, 7.0, 1.0]})
    with pytest.warns(ExtrapolationWarning) as record:
        table = fitted.predict(rows).table
    messages = " ".join(str(w.message) for w in record)
    assert "params_b=" not in messages  # inside the data's overall range
    assert "smollm-40b 24x ('smollm')" in messages and "smollm-new-chat-40b 24x" in messages
    assert "smollm-1b" not in messages and "qwen2-30b" not in messages and "alien" not in messages
    ratio = table.drop_duplicates("model").set_index("model")["family_size_ratio"]
    assert ratio["smollm-40b"] == pytest.approx(40 / 1.7) and ratio["smollm-1b"] == 1.0
    assert ratio["qwen2-30b"] == 1.0 and np.isnan(ratio["alien-40b"])
    assert list(table.columns[:5]) == ["model", "family", "case", "family_size_ratio", "benchmark"]


def test_bad_requests_get_clear_errors(fitted, tmp_path):
    with pytest.raises(ValueError, match="prob"):
        fitted.predict(pd.DataFrame({"family": ["x"], "params_b": [1.0], "tokens_t": [1.0]}), prob=90)
    with pytest.raises(ValueError, match="tokens_t"):
        fitted.predict(pd.DataFrame({"family": ["x"], "params_b": [1.0]}))
    with pytest.raises(NotFittedError, match=r"not fitted: call fit\(data\) or load\(path\)"):
        LatentSkillModel().predict(pd.DataFrame({"family": ["x"], "params_b": [1.0], "tokens_t": [1.0]}))
    with pytest.raises(FileNotFoundError, match="not a saved fit"):
        LatentSkillModel.load(tmp_path)


def test_load_reads_model_and_family_names_verbatim(tmp_path):
    """Names pandas would parse as numbers or NA ("1.10", "NA", "None", "null") reload
    unchanged. No fit: a design and a stub posterior are enough for save/load."""
    from scaling_bayes.data import from_wide
    from scaling_bayes.design import build_design

    table = from_wide(
        pd.DataFrame(
            {
                "model": ["1.10", "NA", "None", "null"],
                "family": ["1.10", "1.10", "NA", "null"],
                "base_family": ["None", "None", "NA", "nan"],
                "params_b": [1.0, 2.0, 3.0, 4.0],
                "tokens_t": [1.0, 1.0, 2.0, 2.0],
                "MMLU": [0.25, 0.3, 0.4, 0.5],
                "GSM8K": [0.01, np.nan, 0.1, 0.2],
            }
        ),
        benchmarks=["MMLU", "GSM8K"],
    )
    model = LatentSkillModel(n_skills=1)
    model.design = build_design(table, model.registry, model.config.covariates)
    model.idata = xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"theta": (("chain", "draw"), np.zeros((1, 2)))})}
    )
    model.save(tmp_path / "run")
    loaded = LatentSkillModel.load(tmp_path / "run")
    pd.testing.assert_frame_equal(loaded.design.data.models, table.models)
    pd.testing.assert_frame_equal(loaded.design.data.scores, table.scores)


def test_opt_in_terms_together_fit_predict_the_three_cases_and_reload(small_v2, requests, tmp_path):
    """The three opt-in terms end to end, in one fit (one compile instead of three; each term's
    likelihood is checked alone against the prediction code in ``tests/test_model.py``):

    - per-model deviations: labelled, and each variant effect's conditional sd is the exact
      ``(1/variant_sd² + n_v/model_sd²)^-1/2`` of the integrated-out effect, with ``n_v`` the
      variant's count of training models (so it is below ``variant_sd`` whatever the scores,
      and tighter the more models a variant has);
    - variant × benchmark deviations: labelled, and a larger model of a seen variant is moved
      by its variant's own deviations (against the same draws with them zeroed);
    - learned lower asymptotes: one per benchmark, at or above the guessing floor, and every
      predicted latent mean lies above its draw's asymptote;

    prediction covers all three cases, and a saved fit reloads and predicts identically."""
    terms = dict(model_effects=True, benchmark_effects=True, learned_floors=True)
    model = LatentSkillModel(n_skills=2, **terms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(small_v2, random_seed=3, **OPT_IN_FIT)
    post = model.posterior
    assert post["model_sd"].dims == ("chain", "draw", "skill")
    assert post["alpha_variant_sd"].dims == ("chain", "draw", "variant", "skill")
    # the conditional sd given the draws: a property of the design (models per variant), not of the
    # scores; n_v counted here from the training table, independently of the model's own index
    n_v = model.design.data.models.groupby("family").size()
    n_v = xr.DataArray(n_v.reindex(post["variant"].values).to_numpy(dtype=float), dims="variant")
    assert n_v.min() >= 1 and n_v.max() > 1  # some variant has several models: n_v matters
    expected = 1.0 / np.sqrt(1.0 / post["variant_sd"] ** 2 + n_v / post["model_sd"] ** 2)
    np.testing.assert_allclose(post["alpha_variant_sd"].transpose(*expected.dims), expected, rtol=1e-6)
    assert float((post["alpha_variant_sd"] - post["variant_sd"]).max()) < 0.0
    assert post["variant_benchmark"].dims == ("chain", "draw", "variant", "benchmark")
    assert post["benchmark_effect_sd"].dims == ("chain", "draw", "benchmark")
    c = post["lower_asymptote"]
    assert c.dims == ("chain", "draw", "benchmark")
    assert (c >= model.design.floors).all()

    pred = model.predict(requests, prob=0.9, random_seed=5)
    t = pred.table
    assert set(t["case"]) == {"known_variant", "new_variant", "new_family"}
    assert ((t["lower"] <= t["median"]) & (t["median"] <= t["upper"])).all()
    mu = pred.draws["predictions"]["mu"]
    assert (mu >= c.sel(benchmark=mu["benchmark"]) - 1e-9).all()

    zeroed = LatentSkillModel(n_skills=2, model_effects=True, learned_floors=True)
    zeroed.design, zeroed.idata = model.design, model.idata.copy()
    zeroed.idata["posterior"] = post.drop_vars(["variant_benchmark", "benchmark_effect_sd"])
    known = t["case"] == "known_variant"
    t0 = zeroed.predict(requests, prob=0.9, random_seed=5).table
    assert (t.loc[known, "mu_mean"] - t0.loc[known, "mu_mean"]).abs().max() > 1e-3
    # ... and the compute-optimal split's benchmark target of that variant moves with them too
    variant, bench = t.loc[known, "family"].iloc[0], model.design.benchmarks[0]
    budgets = default_budgets(model, n=2)
    with_u, without_u = (compute_optimal_split(m, budgets, family=variant, target=bench, n_grid=5)["value_grid"]
                         for m in (model, zeroed))
    assert float(abs(with_u - without_u).max()) > 1e-3

    # in-sample draws keep each training model's own sampled skills (its deviation from the
    # family line); predictive draws of the same models give each a fresh deviation
    train = small_v2.models.index
    y = small_v2.scores.loc[train].to_numpy()
    own = model.insample_draws(random_seed=5)["mu"].sel(model=train, benchmark=small_v2.benchmarks)
    fresh = model.predictive_draws(small_v2, random_seed=5, warn_extrapolation=False)["mu"]
    fresh = fresh.sel(model=train, benchmark=small_v2.benchmarks)
    err_own, err_fresh = (np.nanmean(np.abs(d.mean(("chain", "draw")).values - y)) for d in (own, fresh))
    sd_own, sd_fresh = (float(d.std(("chain", "draw")).mean()) for d in (own, fresh))
    assert err_own < err_fresh and sd_own < 0.5 * sd_fresh, (err_own, err_fresh, sd_own, sd_fresh)

    model.save(tmp_path / "run")
    loaded = LatentSkillModel.load(tmp_path / "run")
    assert all(getattr(loaded.config, name) for name in terms)
    pd.testing.assert_frame_equal(loaded.predict(requests, prob=0.9, random_seed=5).table, t)


def test_prior_predictive_is_labelled_reproducible_and_leaves_the_model_unfitted(prior_v2, small_v2):
    model = LatentSkillModel(n_skills=2)
    again = model.prior_predictive(small_v2, draws=100, random_seed=5)
    assert model.design is None and model.idata is None  # a check before the fit, not a fit
    score = prior_v2["prior_predictive"]["score"]
    assert score.dims == ("chain", "draw", "cell") and score.sizes["draw"] == 100
    n_cells = int(small_v2.scores.notna().sum().sum())
    assert score.sizes["cell"] == n_cells and prior_v2["observed_data"]["score"].sizes["cell"] == n_cells
    assert ((score >= 0) & (score <= 1)).all()  # Beta draws; float rounding can reach 1.0 exactly
    # the cells are labelled: each observed value sits at its (model, benchmark) in the table
    obs = prior_v2["observed_data"]["score"]
    i = 7
    expected = small_v2.scores.loc[str(obs["model"].values[i]), str(obs["benchmark"].values[i])]
    assert float(obs.values[i]) == pytest.approx(expected, abs=1e-3)  # continuity-clipped
    assert set(np.unique(obs["benchmark"].values)) == set(small_v2.scores.columns)
    xr.testing.assert_equal(again["prior_predictive"].to_dataset(), prior_v2["prior_predictive"].to_dataset())
    other = model.prior_predictive(small_v2, draws=100, random_seed=6)
    assert not np.array_equal(other["prior_predictive"]["score"].values, score.values)


def test_anchors_resolve_afresh_on_other_benchmarks(small_v2, sloth):
    """``build`` records the anchors it resolved in ``config``; building again on other
    benchmarks resolves them from the user's request, not from the previous data."""
    model = LatentSkillModel(n_skills=2)
    model.build(small_v2)
    assert set(model.config.anchors) <= set(small_v2.benchmarks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # models without a leaderboard_v1 score
        v1 = sloth.select(benchmarks="leaderboard_v1", models=list(small_v2.models.index)).fittable()
    model.build(v1)
    assert len(model.config.anchors) == 2 and set(model.config.anchors) <= set(v1.benchmarks)
    pinned = LatentSkillModel(n_skills=2, anchors=model.config.anchors)
    with pytest.raises(ValueError, match="anchor"):
        pinned.build(small_v2)  # anchors the user named are kept, and checked


def test_a_clashing_instruct_flag_of_a_known_variant_warns_once_and_the_fit_wins(fitted):
    """A row that calls a known base variant instruct is predicted as the fitted variant, and
    the user hears about it once (the flag is resolved once per prediction, not per use)."""
    import warnings

    base = next(v for v, ins in zip(fitted.design.families.variants, fitted.design.families.instruct_of_variant) if not ins)
    row = {"model": "probe", "family": base, "params_b": 7.0, "tokens_t": 2.0, "instruct": True}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draws = fitted.predictive_draws(pd.DataFrame([row]), random_seed=0, warn_extrapolation=False)
    clashes = [w for w in caught if "instruct of a known variant family is fixed by the fit" in str(w.message)]
    assert len(clashes) == 1
    plain = fitted.predictive_draws(pd.DataFrame([{**row, "instruct": False}]), random_seed=0, warn_extrapolation=False)
    xr.testing.assert_allclose(draws["mu"], plain["mu"])
