"""Prediction maths on a hand-built posterior (no sampling needed)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from scaling_bayes.design import FamilyStructure
from scaling_bayes.prediction import (
    benchmark_deviations,
    family_cases,
    family_effects,
    model_deviations,
    model_precision,
    score_draws,
    summarize,
)

SKILLS = ["s1", "s2"]


@pytest.fixture
def families():
    return FamilyStructure(
        variants=["fam-a", "fam-a-chat", "fam-b"],
        families=["fam-a", "fam-b"],
        family_of_variant=["fam-a", "fam-a", "fam-b"],
        instruct_of_variant=[False, True, False],
    )


@pytest.fixture
def posterior():
    rng = np.random.default_rng(1)
    c, d = 2, 2000
    dims = ("chain", "draw")
    return xr.Dataset(
        {
            "alpha_family": (dims + ("family", "skill"), rng.normal(size=(c, d, 2, 2))),
            "alpha_variant": (dims + ("variant", "skill"), rng.normal(size=(c, d, 3, 2))),
            "instruct_offset": (dims + ("skill",), np.full((c, d, 2), 0.5)),
            "variant_sd": (dims + ("skill",), np.full((c, d, 2), 0.3)),
            "skill_corr": (dims + ("skill", "skill_"), np.broadcast_to(np.eye(2), (c, d, 2, 2)).copy()),
            "skill_mean": (dims + ("skill",), np.full((c, d, 2), 1.0)),
            "family_sd": (dims + ("skill",), np.full((c, d, 2), 2.0)),
            "slopes": (dims + ("covariate", "skill"), rng.normal(size=(c, d, 3, 2)) * 0.1 + 0.5),
            "loadings": (dims + ("benchmark", "skill"), np.abs(rng.normal(size=(c, d, 2, 2)))),
            "intercept": (dims + ("benchmark",), rng.normal(size=(c, d, 2)) * 0.1),
            "nu": (dims + ("benchmark",), np.ones((c, d, 2))),
            "phi": (dims + ("benchmark",), np.full((c, d, 2), 200.0)),
        },
        coords={"skill": SKILLS, "skill_": SKILLS, "family": ["fam-a", "fam-b"],
                "variant": ["fam-a", "fam-a-chat", "fam-b"], "benchmark": ["B1", "B2"],
                "covariate": ["log_params", "log_tokens", "log_params_x_log_tokens"]},
    )


@pytest.fixture
def new_models():
    return pd.DataFrame(
        {
            "family": ["fam-a", "fam-a-new-chat", "zeta", "zeta"],
            "base_family": ["fam-a", "fam-a", "zeta", "zeta"],
            "instruct": [False, True, False, False],
            "params_b": [70.0, 7.0, 1.0, 7.0],
            "tokens_t": [2.0, 2.0, 1.0, 1.0],
        },
        index=pd.Index(["a-70b", "a-chat-7b", "zeta-1b", "zeta-7b"], name="model"),
    )


def test_cases(new_models, families):
    assert list(family_cases(new_models, families)) == ["known_variant", "new_variant", "new_family", "new_family"]


def test_family_effects_by_case(posterior, families, new_models):
    alpha = family_effects(posterior, families, new_models, np.random.default_rng(0))
    assert alpha.dims == ("model", "chain", "draw", "skill") or set(alpha.dims) == {"model", "chain", "draw", "skill"}
    # known variant: exactly its posterior effect
    xr.testing.assert_allclose(
        alpha.sel(model="a-70b", drop=True).transpose("chain", "draw", "skill"),
        posterior["alpha_variant"].sel(variant="fam-a", drop=True),
    )
    # new variant: base effect + instruct offset + tau * eps -> mean offset 0.5, sd 0.3
    dev = alpha.sel(model="a-chat-7b") - posterior["alpha_family"].sel(family="fam-a")
    assert abs(float(dev.mean()) - 0.5) < 4 * 0.3 / np.sqrt(dev.size)
    # sd of a sample sd ≈ σ/√(2n) for Normal draws: 0.3/√16000 ≈ 0.0024, tolerance 4 of them
    assert abs(float(dev.std()) - 0.3) < 4 * 0.3 / np.sqrt(2 * dev.size)
    # new family: population draw, mean 1, variance sd^2 + tau^2, shared by the family's models
    z = alpha.sel(model="zeta-1b")
    assert abs(float(z.mean()) - 1.0) < 4 * np.sqrt(4.09 / z.size)
    assert abs(float(z.var()) - (4 + 0.09)) < 0.25
    xr.testing.assert_equal(alpha.sel(model="zeta-1b", drop=True), alpha.sel(model="zeta-7b", drop=True))


def test_robust_families_draw_a_new_family_from_a_multivariate_t(posterior, families, new_models):
    """With ``family_dof`` (``robust_families=True``) a new family's effect is
    skill_mean + family_sd · ε / √w with one w ~ Gamma(ν/2, ν/2) per family and draw, shared by
    its skills: variance family_sd² ν/(ν − 2) + τ², and the skills' sizes correlated even though
    the skill correlation is the identity (independent Normals would give 0)."""
    dof = 6.0
    robust = posterior.assign(family_dof=(("chain", "draw"), np.full((2, 2000), dof)))
    alpha = family_effects(robust, families, new_models, np.random.default_rng(0))
    z = alpha.sel(model="zeta-1b") - 1.0
    var = 4.0 * dof / (dof - 2.0) + 0.09  # 6.09; Normal effects would give 4.09
    # sd of a sample variance ≈ var·√((kurtosis − 1)/n), kurtosis 6 for t_6; n = 8000
    assert abs(float(z.var()) - var) < 4 * var * np.sqrt(5 / z.size)
    # |z| of the two skills: correlation 0.166 ± 0.023 for t_6 with this τ, 0.00 ± 0.017 for
    # independent Normals (200 simulated replicates of n = 4000 each)
    size = np.abs(z).transpose("chain", "draw", "skill").values.reshape(-1, 2)
    assert np.corrcoef(size.T)[0, 1] > 0.07
    xr.testing.assert_equal(alpha.sel(model="zeta-1b", drop=True), alpha.sel(model="zeta-7b", drop=True))
    # seen families keep their own posterior effects
    xr.testing.assert_allclose(alpha.sel(model="a-70b", drop=True).transpose("chain", "draw", "skill"),
                               posterior["alpha_variant"].sel(variant="fam-a", drop=True))


def test_score_draws_respect_floors_and_dims(posterior, families, new_models):
    rng = np.random.default_rng(0)
    alpha = family_effects(posterior, families, new_models, rng)
    cov = xr.DataArray(
        np.zeros((4, 3)), dims=("model", "covariate"),
        coords={"model": new_models.index, "covariate": posterior["covariate"].values},
    )
    floors = xr.DataArray([0.25, 0.0], dims="benchmark", coords={"benchmark": ["B1", "B2"]})
    draws = score_draws(posterior, cov, alpha, floors, rng)
    assert draws["score"].dims == ("chain", "draw", "model", "benchmark")
    assert float(draws["mu"].sel(benchmark="B1").min()) > 0.25
    assert float(draws["score"].min()) >= 0 and float(draws["score"].max()) <= 1
    # predictive variance = Var(mu) + E[mu(1-mu)/(phi+1)] (Beta noise is included)
    mu = draws["mu"]
    expected = mu.var(("chain", "draw")) + (mu * (1 - mu) / 201).mean(("chain", "draw"))
    ratio = draws["score"].var(("chain", "draw")) / expected
    assert float(abs(ratio - 1).max()) < 0.1  # 4000 draws: MC error on a variance ~ 2-5%

    table = summarize(draws, new_models, family_cases(new_models, families), prob=0.9)
    assert set(table.columns) >= {"model", "family", "case", "benchmark", "mean", "median", "lower", "upper", "mu_lower", "mu_upper"}
    assert len(table) == 8
    assert (table["lower"] <= table["median"]).all() and (table["median"] <= table["upper"]).all()
    # the columns are the draws' own summaries: mean, median and the 5% / 95% quantiles (a 90% ETI)
    cells = table.set_index(["model", "benchmark"])
    for variable, prefix in (("score", ""), ("mu", "mu_")):
        flat = draws[variable].stack(sample=("chain", "draw")).transpose("model", "benchmark", "sample").values
        for column, value in ((f"{prefix}lower", np.quantile(flat, 0.05, axis=-1)),
                              (f"{prefix}upper", np.quantile(flat, 0.95, axis=-1)),
                              (f"{prefix}mean", flat.mean(axis=-1))):
            got = cells[column].unstack("benchmark").loc[list(new_models.index), ["B1", "B2"]].to_numpy()
            np.testing.assert_allclose(got, value, rtol=1e-10, err_msg=column)
    got = cells["median"].unstack("benchmark").loc[list(new_models.index), ["B1", "B2"]].to_numpy()
    np.testing.assert_allclose(got, np.median(draws["score"].stack(sample=("chain", "draw"))
                                              .transpose("model", "benchmark", "sample").values, axis=-1))
    near_floor = table["benchmark"] == "B1"
    assert (table["mu_lower"] > 0.25)[near_floor].all()


def test_instruct_precision_scales_only_the_instruct_models_beta_noise(posterior, families, new_models):
    """With ``instruct_log_precision`` κ, an instruct model's scores are Beta with precision
    φ·e^κ and a base model's with φ: the same latent means, wider noise where κ < 0.  A fit
    with κ needs the flags (a clear error); a fit without it ignores them."""
    kappa = np.log(0.25)
    fitted = posterior.assign(instruct_log_precision=(("chain", "draw"), np.full((2, 2000), kappa)))
    instruct = xr.DataArray([False, True, False, False], dims="model", coords={"model": new_models.index})
    phi = model_precision(fitted, instruct)
    assert phi.dims == ("chain", "draw", "model", "benchmark")
    np.testing.assert_allclose(phi.sel(model=new_models.index[1]), 50.0)
    np.testing.assert_allclose(phi.sel(model=new_models.index[[0, 2, 3]]), 200.0)
    with pytest.raises(ValueError, match="instruct flags"):
        model_precision(fitted)
    xr.testing.assert_identical(model_precision(posterior, instruct), posterior["phi"])

    cov = xr.DataArray(np.zeros((4, 3)), dims=("model", "covariate"),
                       coords={"model": new_models.index, "covariate": posterior["covariate"].values})
    floors = xr.DataArray([0.25, 0.0], dims="benchmark", coords={"benchmark": ["B1", "B2"]})
    alpha = family_effects(posterior, families, new_models, np.random.default_rng(0))
    draws = score_draws(fitted, cov, alpha, floors, np.random.default_rng(1), instruct=instruct)
    plain = score_draws(posterior, cov, alpha, floors, np.random.default_rng(1))
    xr.testing.assert_allclose(draws["mu"], plain["mu"])
    # the Beta part of the predictive variance, E[mu(1 - mu)/(phi + 1)], per model
    mu = draws["mu"]
    noise = draws["score"] - mu
    expected = (mu * (1 - mu) / (phi + 1)).mean(("chain", "draw"))
    ratio = (noise**2).mean(("chain", "draw")) / expected
    assert float(abs(ratio - 1).max()) < 0.1  # 4000 draws: MC error on a variance ~ 2-5%


def test_family_slopes_add_gamma_times_log_size_in_every_case(posterior, families, new_models):
    """With family slopes, each model's effect gains γ_f·u (u = standardised ln params): the
    posterior γ_f for a known base family, a fresh N(0, ω) draw for an unseen one, so the
    spread of an unseen family grows with |u| by u²ω²."""
    rng = np.random.default_rng(2)
    c, d = posterior.sizes["chain"], posterior.sizes["draw"]
    slope = rng.normal(size=(c, d, 2, 2)) * 0.2 + 0.3
    with_slopes = posterior.assign(
        family_slope=(("chain", "draw", "family", "skill"), slope),
        family_slope_sd=(("chain", "draw", "skill"), np.full((c, d, 2), 0.4)),
    )
    u = np.array([2.0, -1.0, 0.0, 3.0])  # per new model
    cov = xr.DataArray(
        np.column_stack([u, np.zeros(4), np.zeros(4)]), dims=("model", "covariate"),
        coords={"model": new_models.index, "covariate": posterior["covariate"].values},
    )
    # known base family only (no fresh family draws, so both calls use the rng alike)
    known = new_models.loc[["a-70b", "a-chat-7b"]]
    plain = family_effects(posterior, families, known, np.random.default_rng(0))
    sloped = family_effects(with_slopes, families, known, np.random.default_rng(0), cov)
    # known variant: exactly its posterior effect + u * gamma_f
    xr.testing.assert_allclose(
        (sloped - plain).sel(model="a-70b", drop=True).transpose("chain", "draw", "skill"),
        2.0 * with_slopes["family_slope"].sel(family="fam-a", drop=True),
    )
    # new variant of a known family: the same base-family slope at its own u
    xr.testing.assert_allclose(
        (sloped - plain).sel(model="a-chat-7b", drop=True).transpose("chain", "draw", "skill"),
        -1.0 * with_slopes["family_slope"].sel(family="fam-a", drop=True),
    )
    plain = family_effects(posterior, families, new_models, np.random.default_rng(0))
    sloped = family_effects(with_slopes, families, new_models, np.random.default_rng(0), cov)
    # unseen family: its models share one fresh γ ~ N(0, ω = 0.4), so between u = 0 and u = 3
    # the effect moves by exactly 3γ, with variance 9 · 0.16 = 1.44 (MC sd of a variance over
    # 2 × 2000 × 2 draws: 1.44 · sqrt(2 / 8000) = 0.023)
    step = sloped.sel(model="zeta-7b") - sloped.sel(model="zeta-1b")
    assert abs(float(step.mean())) < 4 * 1.2 / np.sqrt(step.size)
    assert abs(float(step.var()) - 1.44) < 4 * 0.023
    xr.testing.assert_equal(plain.sel(model="zeta-7b", drop=True), plain.sel(model="zeta-1b", drop=True))


def test_known_variant_takes_base_family_and_instruct_from_the_fit(posterior, families):
    """A model of a known variant uses the fitted variant's base family (for its family slope)
    and instruct flag, not its row's: the default base_family (= family) of a known variant
    is no family of the fit, and a wrong but known one would pick another family's slope.  A
    value given that disagrees with the fit draws a UserWarning naming the row."""
    import warnings

    rng = np.random.default_rng(2)
    c, d = posterior.sizes["chain"], posterior.sizes["draw"]
    with_slopes = posterior.assign(
        family_slope=(("chain", "draw", "family", "skill"), rng.normal(size=(c, d, 2, 2))),
        family_slope_sd=(("chain", "draw", "skill"), np.full((c, d, 2), 0.4)),
    )
    rows = pd.DataFrame(
        {"family": ["fam-a-chat", "fam-a"], "base_family": ["fam-a-chat", "fam-b"],
         "instruct": [False, True], "params_b": [70.0, 8.0], "tokens_t": [2.0, 2.0]},
        index=pd.Index(["chat-70b", "a-8b"], name="model"),
    )
    u = xr.DataArray(np.array([[2.0, 0, 0], [-1.0, 0, 0]]), dims=("model", "covariate"),
                     coords={"model": rows.index, "covariate": posterior["covariate"].values})
    slope_a = with_slopes["family_slope"].sel(family="fam-a", drop=True)
    with warnings.catch_warnings():  # base_family left at its default: fixed silently
        warnings.simplefilter("error")
        alpha = family_effects(with_slopes, families, rows.iloc[:1], np.random.default_rng(0), u)
    xr.testing.assert_allclose(
        alpha.sel(model="chat-70b", drop=True).transpose("chain", "draw", "skill"),
        posterior["alpha_variant"].sel(variant="fam-a-chat", drop=True) + 2.0 * slope_a,
    )
    with pytest.warns(UserWarning) as record:
        alpha = family_effects(with_slopes, families, rows, np.random.default_rng(0), u)
    messages = " ".join(str(w.message) for w in record)
    assert "model 'a-8b'" in messages and "chat-70b" not in messages
    assert "base_family='fam-b' given, 'fam-a' fitted" in messages
    assert "instruct=True given, False fitted" in messages
    xr.testing.assert_allclose(
        alpha.sel(model="a-8b", drop=True).transpose("chain", "draw", "skill"),
        posterior["alpha_variant"].sel(variant="fam-a", drop=True) - 1.0 * slope_a,
    )
    from scaling_bayes.prediction import known_variant_families

    with pytest.warns(UserWarning):
        fixed = known_variant_families(rows, families)
    assert fixed["base_family"].tolist() == ["fam-a", "fam-a"]
    assert fixed["instruct"].tolist() == [True, False]
    # new variants and new families keep their rows' own base family and instruct flag
    others = pd.DataFrame(
        {"family": ["fam-a-new-chat", "zeta"], "base_family": ["fam-a", "zeta"], "instruct": [True, False],
         "params_b": [7.0, 1.0], "tokens_t": [2.0, 1.0]},
        index=pd.Index(["a-chat-7b", "zeta-1b"], name="model"),
    )
    pd.testing.assert_frame_equal(known_variant_families(others, families), others)


def test_family_size_ratio_is_the_distance_outside_the_familys_training_sizes():
    from scaling_bayes.prediction import family_size_ratio

    train = pd.DataFrame({"base_family": ["a", "a", "a", "b"], "params_b": [1.0, 7.0, 7.0, 70.0]},
                         index=pd.Index(["a-1b", "a-7b", "a-7b-chat", "b-70b"], name="model"))
    new = pd.DataFrame({"base_family": ["a", "a", "a", "b", "c"], "params_b": [3.0, 70.0, 0.25, 7.0, 5.0]},
                       index=pd.Index(["in", "above", "below", "b-7b", "new"], name="model"))
    ratio = family_size_ratio(new, train)
    assert ratio.name == "family_size_ratio" and list(ratio.index) == list(new.index)
    np.testing.assert_allclose(ratio.to_numpy(), [1.0, 10.0, 4.0, 10.0, np.nan])


def test_family_names_equal_to_a_fitted_one_up_to_case_warn(families):
    """"FAM-A" or "fam_b" would silently be forecast as families never seen: warn, naming the
    fitted spelling; a name that matches nothing fitted is a legitimate new family and passes."""
    from scaling_bayes.prediction import warn_near_miss_families

    rows = pd.DataFrame(
        {"family": ["FAM-A", "fam_b-new", "zeta", "fam-a"], "base_family": ["FAM-A", "fam_b", "zeta", "fam-a"],
         "instruct": [False] * 4, "params_b": [7.0] * 4, "tokens_t": [2.0] * 4},
        index=pd.Index(["a-7b", "b-7b", "zeta-1b", "a-1b"], name="model"),
    )
    with pytest.warns(UserWarning, match="did you mean") as record:
        warn_near_miss_families(rows, families)
    message = str(record[0].message)
    assert "model 'a-7b': family 'FAM-A' (did you mean 'fam-a'?)" in message
    assert "model 'b-7b': base_family 'fam_b' (did you mean 'fam-b'?)" in message
    assert "zeta" not in message and "a-1b" not in message and "fam_b-new" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_near_miss_families(rows.loc[["zeta-1b", "a-1b"]], families)
        # a new variant spelled like a fitted *base* family is compared with the variants only
        # (Sloth's table: variant "open_llama_" of base family "openllama")
        renamed = FamilyStructure(variants=["fam_a-v2", "fam-b"], families=["fama", "fam-b"],
                                  family_of_variant=["fama", "fam-b"], instruct_of_variant=[False, False])
        warn_near_miss_families(rows.loc[["a-1b"]].assign(family="fam_a", base_family="fama"), renamed)


def test_model_deviations_are_fresh_per_model_with_sd_model_sd(posterior, new_models):
    """Without ``model_sd`` there is no deviation; with it every new model gets its own
    N(0, σ_m²) draw, independent of every other model's (MC sd over 4000 draws of a variance
    σ² is σ²·sqrt(2/4000) ≈ 0.022σ², of a correlation ≈ 0.016)."""
    assert model_deviations(posterior, new_models, np.random.default_rng(0)) == 0.0
    c, d = posterior.sizes["chain"], posterior.sizes["draw"]
    sd = np.array([0.2, 0.5])
    with_dev = posterior.assign(model_sd=(("chain", "draw", "skill"), np.broadcast_to(sd, (c, d, 2)).copy()))
    dev = model_deviations(with_dev, new_models, np.random.default_rng(0))
    assert dev.dims == ("chain", "draw", "model", "skill")
    assert list(dev["model"].values) == list(new_models.index)
    var = dev.var(("chain", "draw")).values  # (model, skill)
    np.testing.assert_allclose(var, np.broadcast_to(sd**2, var.shape), rtol=4 * 0.022)
    a = dev.sel(model="zeta-1b").values.ravel()
    b = dev.sel(model="zeta-7b").values.ravel()  # same family, still independent
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 * 0.016


def test_benchmark_deviations_by_case_and_in_the_linear_predictor(posterior, families, new_models):
    """Without ``variant_benchmark`` there is none.  With it a known variant's model carries
    its variant's posterior deviation exactly; every other variant gets a fresh N(0, ψ_j²)
    draw shared by its own models (MC sd of a variance over 4000 draws ≈ 0.022ψ²) and
    independent of other variants'; ``score_draws`` adds it to the linear predictor."""
    rng = np.random.default_rng(0)
    assert benchmark_deviations(posterior, families, new_models, rng) == 0.0
    c, d = posterior.sizes["chain"], posterior.sizes["draw"]
    psi = np.array([0.2, 0.6])
    with_dev = posterior.assign(
        benchmark_effect_sd=(("chain", "draw", "benchmark"), np.broadcast_to(psi, (c, d, 2)).copy()),
        variant_benchmark=(("chain", "draw", "variant", "benchmark"), rng.normal(size=(c, d, 3, 2))),
    )
    u = benchmark_deviations(with_dev, families, new_models, np.random.default_rng(1))
    assert u.dims == ("chain", "draw", "model", "benchmark")
    assert list(u["model"].values) == list(new_models.index)
    xr.testing.assert_equal(u.sel(model="a-70b", drop=True), with_dev["variant_benchmark"].sel(variant="fam-a", drop=True))
    for fresh in ("a-chat-7b", "zeta-1b"):
        var = u.sel(model=fresh).var(("chain", "draw")).values
        np.testing.assert_allclose(var, psi**2, rtol=4 * 0.022)
    xr.testing.assert_equal(u.sel(model="zeta-1b", drop=True), u.sel(model="zeta-7b", drop=True))
    a, b = u.sel(model="a-chat-7b").values.ravel(), u.sel(model="zeta-1b").values.ravel()
    assert abs(np.corrcoef(a, b)[0, 1]) < 4 * 0.016

    alpha = family_effects(posterior, families, new_models, np.random.default_rng(2))
    cov = xr.DataArray(
        np.zeros((4, 3)), dims=("model", "covariate"),
        coords={"model": new_models.index, "covariate": posterior["covariate"].values},
    )
    floors = xr.DataArray([0.25, 0.0], dims="benchmark", coords={"benchmark": ["B1", "B2"]})
    plain = score_draws(posterior, cov, alpha, floors, np.random.default_rng(3))["mu"]
    shifted = score_draws(posterior, cov, alpha, floors, np.random.default_rng(3), u)["mu"]
    logit = lambda mu: np.log((mu - floors) / (1 - mu))  # noqa: E731  (nu = 1: logistic link)
    inside = lambda mu: (mu - floors > 1e-4) & (1 - mu > 1e-4)  # noqa: E731  (mu is clipped at the edges)
    keep = (inside(plain) & inside(shifted)).values
    assert keep.mean() > 0.5
    diff = (logit(shifted) - logit(plain) - u.transpose(*plain.dims)).values[keep]
    np.testing.assert_allclose(diff, 0.0, atol=1e-6)


def test_log_predictive_density_is_the_log_mean_beta_density_over_draws():
    """lpd = log (1/S) Σ_s Beta(y; μ_s φ_s, (1 − μ_s) φ_s), with the fit's continuity correction
    (a score of 0 on a 100-item benchmark is read as 0.005), NaN where nothing was observed."""
    from scipy import stats

    from scaling_bayes.prediction import log_predictive_density

    rng = np.random.default_rng(0)
    mu = xr.DataArray(rng.uniform(0.05, 0.9, size=(2, 50, 2, 2)), dims=("chain", "draw", "model", "benchmark"),
                      coords={"model": ["m1", "m2"], "benchmark": ["B1", "B2"]})
    phi = xr.DataArray(rng.uniform(50, 300, size=(2, 50, 2)), dims=("chain", "draw", "benchmark"),
                       coords={"benchmark": ["B1", "B2"]})
    observed = pd.DataFrame({"B2": [0.0, np.nan], "B1": [0.4, 0.7]}, index=["m1", "m2"])
    n_items = xr.DataArray([1000.0, 100.0], dims="benchmark", coords={"benchmark": ["B1", "B2"]})
    lpd = log_predictive_density(mu, phi, observed, n_items)
    assert lpd.dims == ("model", "benchmark")
    for model, bench, y in [("m1", "B1", 0.4), ("m2", "B1", 0.7), ("m1", "B2", 0.005)]:
        m = mu.sel(model=model, benchmark=bench).values.ravel()
        p = phi.sel(benchmark=bench).values.ravel()
        expected = np.log(np.mean(stats.beta.pdf(y, m * p, (1 - m) * p)))
        assert float(lpd.sel(model=model, benchmark=bench)) == pytest.approx(expected, rel=1e-9)
    assert np.isnan(float(lpd.sel(model="m2", benchmark="B2")))
