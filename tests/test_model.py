import numpy as np
import pytensor.tensor as pt
import pytest

from scaling_bayes.benchmarks import benchmark_set
from scaling_bayes.design import build_design
from scaling_bayes.model import (
    ModelConfig,
    Priors,
    build_model,
    choose_anchors,
    link_mean,
    loading_mask,
    resolve_anchors,
)


@pytest.mark.parametrize(
    "bset, expected",
    [
        ("all12", ("MMLU", "GSM8K", "IFEval")),
        ("leaderboard_v2", ("MMLU-PRO", "MATH Lvl 5", "IFEval")),
        ("leaderboard_v1", ("MMLU", "GSM8K", "TruthfulQA")),
    ],
)
def test_default_anchors_name_distinct_abilities(bset, expected):
    assert choose_anchors(benchmark_set(bset), 3) == expected


def test_anchor_errors_are_clear():
    with pytest.raises(ValueError, match="lower n_skills"):
        choose_anchors(["MMLU", "ARC"], 3)
    with pytest.raises(ValueError, match="not in the data"):
        resolve_anchors(ModelConfig(n_skills=1, anchors=("Nope",)), ["MMLU"])
    with pytest.raises(ValueError, match="distinct"):
        resolve_anchors(ModelConfig(n_skills=2, anchors=("MMLU", "MMLU")), ["MMLU", "ARC"])


def test_loading_mask_pins_anchor_rows():
    fixed = loading_mask(["A", "B", "C", "D"], ("C", "A"), fixed=True)
    free = loading_mask(["A", "B", "C", "D"], ("C", "A"))
    np.testing.assert_array_equal(fixed[2], [True, False])  # anchor C: skill 0 only
    np.testing.assert_array_equal(fixed[0], [False, True])
    assert fixed.sum() == 2
    assert not free[[0, 2]].any() and free[[1, 3]].all()


def test_link_is_logistic_at_nu_one_and_matches_pytensor():
    z = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(link_mean(z, 0.25, 1.0), 0.25 + 0.75 / (1 + np.exp(-z)))
    for nu in (0.5, 2.5, 8.0):
        pt_val = link_mean(pt.as_tensor(z), 0.1, nu, backend="pytensor").eval()
        np.testing.assert_allclose(pt_val, link_mean(z, 0.1, nu), rtol=1e-10)
        assert np.all(link_mean(z, 0.25, nu) > 0.25)
        # z = 0 is the midpoint between floor and 1 whatever the exponent
        np.testing.assert_allclose(link_mean(0.0, 0.25, nu), 0.625)
        # with the logistic slope (1 - c)/4 there
        h = 1e-6
        slope = (link_mean(h, 0.25, nu) - link_mean(-h, 0.25, nu)) / (2 * h)
        np.testing.assert_allclose(slope, 0.75 / 4, rtol=1e-6)
        # and it is the Richards curve c + (1-c) sigmoid(k z + s)^nu
        p = 0.5 ** (1 / nu)
        s, k = np.log(p / (1 - p)), 1 / (2 * nu * (1 - p))
        np.testing.assert_allclose(link_mean(z, 0.1, nu), 0.1 + 0.9 / (1 + np.exp(-(k * z + s))) ** nu)


def test_model_has_named_dims_and_finite_logp(small_v2):
    design = build_design(small_v2)
    model = build_model(design, ModelConfig(n_skills=2))
    for dim in ("model", "benchmark", "family", "variant", "skill", "covariate", "cell"):
        assert dim in model.coords
    assert model.named_vars_to_dims["theta"] == ("model", "skill")
    assert model.named_vars_to_dims["loadings"] == ("benchmark", "skill")
    assert model.named_vars_to_dims["alpha_variant"] == ("variant", "skill")
    logp = model.compile_logp()(model.initial_point())
    assert np.isfinite(logp)
    assert list(model.coords["skill"]) == ["MMLU-PRO", "MATH Lvl 5"]


def test_observed_scores_are_data_so_one_compiled_logp_serves_other_scores(small_v2):
    """The scores enter as the ``score_observed`` data container, not graph constants: a
    function compiled once gives, after ``set_data``, the log density of a model built on
    the other scores (what lets the parameter-recovery worlds share one compile)."""
    import dataclasses

    import pymc as pm

    design = build_design(small_v2)
    model = build_model(design, ModelConfig(n_skills=2))
    point = model.initial_point()
    logp = model.compile_logp()
    before = logp(point)
    other = np.clip(design.y[::-1], 0.01, 0.99)  # the scores in reverse cell order
    with model:
        pm.set_data({"score_observed": other})
    after = logp(point)
    rebuilt = build_model(dataclasses.replace(design, y=other), ModelConfig(n_skills=2))
    assert after != pytest.approx(before)
    assert after == pytest.approx(rebuilt.compile_logp()(point), rel=1e-10)


def test_design_is_data_so_one_compiled_logp_serves_another_subset_of_the_same_families(small_v2):
    """Every array the design contributes (covariates, scores, index arrays, floors, the
    loading layout) is a data container and no dim length is fixed, so a function compiled
    for one subset gives, after ``set_data``, the log density of the model built on another
    subset with the same families and benchmarks: here each family without its largest
    model, fewer models and cells (what lets the folds of a protocol setting and the
    StackedModel's held-out refits share one compile)."""
    import pymc as pm

    full = build_model(build_design(small_v2), ModelConfig(n_skills=2))
    sizes = small_v2.models.groupby("family")["params_b"]
    largest = set(sizes.idxmax()[sizes.size() > 1])  # families of one model keep it
    keep = [m for m in small_v2.models.index if m not in largest]
    subset = build_model(build_design(small_v2.select(models=keep)), ModelConfig(n_skills=2))
    assert len(subset.coords["cell"]) < len(full.coords["cell"])
    assert subset.coords["variant"] == full.coords["variant"]
    point = full.initial_point()
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in point.items()}
    logp = full.compile_logp()
    before = logp(point)
    with full:
        pm.set_data({d.name: d.get_value() for d in subset.data_vars},
                    coords={"model": subset.coords["model"], "cell": subset.coords["cell"]})
    after = logp(point)
    assert after != pytest.approx(before)
    assert after == pytest.approx(subset.compile_logp()(point), rel=1e-10)


def test_robust_families_scale_each_familys_effect_by_its_own_weight(small_v2):
    """``robust_families=True`` (with ``model_effects``): a scalar ``family_dof`` and one ``family_weight`` per base
    family, and at a prior draw α_f − m = (ε_f / √w_f) · (diag(σ) chol(R))ᵀ exactly, so a family
    with a small weight sits further from the population mean in every skill."""
    import pymc as pm

    design = build_design(small_v2)
    # with model_effects the base-family effects are sampled (non-centred), not integrated out
    model = build_model(design, ModelConfig(n_skills=2, robust_families=True, model_effects=True))
    assert model.named_vars_to_dims["family_weight"] == ("family",)
    assert "family_dof" not in model.named_vars_to_dims  # a scalar
    with model:
        prior = pm.sample_prior_predictive(draws=1, random_seed=3)["prior"].to_dataset().isel(chain=0, draw=0)
    chol = np.diag(prior["family_sd"].values) @ np.linalg.cholesky(prior["skill_corr"].values)
    raw = prior["alpha_family_raw"].values / np.sqrt(prior["family_weight"].values)[:, None]
    np.testing.assert_allclose(prior["alpha_family"].values - prior["skill_mean"].values, raw @ chol.T, rtol=1e-6)
    assert not np.allclose(prior["family_weight"].values, 1.0)


@pytest.mark.parametrize("robust", [False, True])
def test_integrated_family_density_equals_the_joint_normal(small_v2, robust):
    """``alpha_variant_centre``'s density with the base-family effects integrated out equals,
    family by family, the Normal of all its variants' centres jointly, with covariance
    J ⊗ Σ/w_f + I ⊗ diag(τ²) about their locations (brute force with scipy), at an arbitrary
    point; with ``robust_families`` each family's own weight w_f scales its Σ."""
    import pytensor
    from scipy.stats import multivariate_normal

    design = build_design(small_v2)
    model = build_model(design, ModelConfig(n_skills=2, robust_families=robust))
    assert "alpha_family_raw" not in model.named_vars and "alpha_family" not in model.named_vars
    rng = np.random.default_rng(3)
    point = {k: v + rng.normal(scale=0.3, size=v.shape) for k, v in model.initial_point().items()}
    rv = model["alpha_variant_centre"]
    inputs = rv.owner.inputs[2:7]  # loc, chol, tau, family index, weight
    outputs = model.replace_rvs_by_values([model.logp(vars=[rv], sum=True), *inputs])
    fn = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    logp, loc, chol, tau, family, weight = fn(*[point[v.name] for v in model.value_vars])
    np.testing.assert_array_equal(family, design.families.family_index)
    assert np.allclose(weight, 1.0) != robust
    value = point["alpha_variant_centre"]
    sigma = chol @ chol.T
    expected = 0.0
    for f in np.unique(family):
        idx = np.flatnonzero(family == f)
        n = len(idx)
        cov = np.kron(np.ones((n, n)), sigma / weight[f]) + np.kron(np.eye(n), np.diag(tau**2))
        expected += multivariate_normal(loc[idx].ravel(), cov).logpdf(value[idx].ravel())
    assert np.bincount(family).max() > 1  # some family has several variants
    np.testing.assert_allclose(logp, expected, rtol=1e-8)


def test_family_conditional_is_gaussian_conditioning():
    """:func:`family_conditional` equals the conditional of a_f given its variants' residuals
    computed from the joint covariance of (a_f, r_1, …, r_n) by the textbook formula."""
    from scaling_bayes.model import family_conditional

    rng = np.random.default_rng(0)
    k, counts, weight = 3, np.array([1.0, 3.0]), np.array([0.7, 1.8])
    a = rng.normal(size=(k, k))
    cov = a @ a.T + np.eye(k)
    tau2 = rng.uniform(0.1, 0.6, size=k)
    residuals = [rng.normal(size=(int(n), k)) for n in counts]
    mean, chol = family_conditional(np.stack([r.sum(0) for r in residuals]), counts, cov, tau2, weight)
    for f, r in enumerate(residuals):
        n, prior = len(r), cov / weight[f]
        joint_rr = np.kron(np.ones((n, n)), prior) + np.kron(np.eye(n), np.diag(tau2))
        joint_ar = np.tile(prior, (1, n))  # Cov(a, r_1…r_n), (k, n·k)
        gain = joint_ar @ np.linalg.inv(joint_rr)
        np.testing.assert_allclose(mean[f], gain @ r.ravel(), rtol=1e-10)
        np.testing.assert_allclose(chol[f] @ chol[f].T, prior - gain @ joint_ar.T, rtol=1e-10, atol=1e-12)


def test_drawn_family_effects_have_the_joint_law_of_the_model():
    """Simulate the base-family level many times (one 'draw' each, hyperparameters fixed):
    α_f ~ N(m, Σ), α_v = α_f + δ·instruct_v + τ ε_v.  Re-drawing α_f from its conditional
    given the α_v (:func:`draw_family_effects`) must reproduce the joint law: mean m,
    Cov(α_f) = Σ and Cov(α_f, α_v) = Σ for v in f, 0 otherwise.  With 20 000 draws the MC sd
    of a covariance entry is ≤ 0.015 here (entries ≤ 1.2); tolerance 0.06, 4 sd."""
    import xarray as xr

    from scaling_bayes.model import draw_family_effects

    rng = np.random.default_rng(11)
    n_draws, m, delta = 20_000, np.array([0.5, -1.0]), np.array([0.3, 0.8])
    sd, corr = np.array([1.1, 0.6]), np.array([[1.0, 0.5], [0.5, 1.0]])
    sigma = np.outer(sd, sd) * corr
    tau = np.array([0.4, 0.3])
    variant_family, instruct = np.array([0, 1, 1, 1]), np.array([0, 1, 0, 1])
    a = rng.multivariate_normal(np.zeros(2), sigma, size=(n_draws, 2))  # (draw, family, skill)
    alpha_v = m + a[:, variant_family] + instruct[:, None] * delta + tau * rng.normal(size=(n_draws, 4, 2))

    def const(x, dims):
        return (("chain", "draw", *dims), np.broadcast_to(x, (1, n_draws, *np.shape(x))))

    posterior = xr.Dataset({
        "skill_mean": const(m, ("skill",)), "instruct_offset": const(delta, ("skill",)),
        "family_sd": const(sd, ("skill",)), "skill_corr": const(corr, ("skill", "skill_")),
        "variant_sd": const(tau, ("skill",)),
        "alpha_variant": (("chain", "draw", "variant", "skill"), alpha_v[None]),
    }, coords={"skill": ["s0", "s1"]})
    drawn = draw_family_effects(posterior, variant_family, instruct, ["f0", "f1"], np.random.default_rng(2))
    assert drawn.dims == ("chain", "draw", "family", "skill")
    x = drawn.values[0]  # (draw, family, skill)
    np.testing.assert_allclose(x.mean(0), np.broadcast_to(m, (2, 2)), atol=0.04)
    for f in range(2):
        np.testing.assert_allclose(np.cov(x[:, f].T), sigma, atol=0.06)
        for v in range(4):
            cross = np.cov(x[:, f].T, alpha_v[:, v].T)[:2, 2:]
            np.testing.assert_allclose(cross, sigma if variant_family[v] == f else 0.0, atol=0.06)


def test_priors_are_overridable(small_v2):
    design = build_design(small_v2)
    tight = build_model(design, ModelConfig(n_skills=1, priors=Priors(log_phi_mu=2.0)))
    default = build_model(design, ModelConfig(n_skills=1))
    point = default.initial_point()  # log_phi = 5 everywhere
    lp_tight = tight.compile_logp(vars=[tight["log_phi"]])(point)
    lp_default = default.compile_logp(vars=[default["log_phi"]])(point)
    n = len(design.benchmarks)
    np.testing.assert_allclose(lp_default - lp_tight, n * 0.5 * 3.0**2)
    assert ModelConfig.from_dict(ModelConfig(priors=Priors(slope_sd=3.0)).to_dict()).priors.slope_sd == 3.0


@pytest.mark.parametrize("family_slopes", [False, True])
def test_prediction_maths_reproduces_the_graphs_skills(small_v2, family_slopes):
    """Draws of the graph (prior draws stand in for posterior ones) pushed through the
    prediction code for the *training* models must give the graph's own ``theta``: the
    centred-within-variant reparameterisation and the family-slope term agree."""
    import pymc as pm
    import xarray as xr

    from scaling_bayes.prediction import family_effects

    design = build_design(small_v2)
    model = build_model(design, ModelConfig(n_skills=2, family_slopes=family_slopes))
    assert ("family_slope" in model.named_vars) == family_slopes
    with model:
        prior = pm.sample_prior_predictive(draws=20, random_seed=1)["prior"].to_dataset()
    models = design.data.models
    covariates = design.covariates
    alpha = family_effects(prior, design.families, models, np.random.default_rng(0), covariates)
    theta = xr.dot(covariates, prior["slopes"], dim="covariate") + alpha
    xr.testing.assert_allclose(theta.transpose(*prior["theta"].dims), prior["theta"], rtol=1e-6)
    if family_slopes:  # the slope term matters: without it theta differs
        without = prior.drop_vars(["family_slope"])
        alpha0 = family_effects(without, design.families, models, np.random.default_rng(0))
        theta0 = xr.dot(covariates, prior["slopes"], dim="covariate") + alpha0
        assert float(abs(theta0 - prior["theta"]).max()) > 0.1
        with pytest.raises(ValueError, match="covariates"):
            family_effects(prior, design.families, models, np.random.default_rng(0))


def test_model_effects_scatter_each_models_skills_about_its_family_line(small_v2):
    """With per-model deviations the graph's θ is the prediction code's family line plus
    N(0, σ_m): standardised by σ_m, the prior residuals are standard normal.  (20 draws ×
    models × 2 skills ≈ 10³ values: the MC sd of their mean is ≈ 0.03 and of their sd ≈ 0.02.)"""
    import pymc as pm
    import xarray as xr

    from scaling_bayes.prediction import family_effects

    design = build_design(small_v2)
    model = build_model(design, ModelConfig(n_skills=2, model_effects=True))
    assert model.named_vars_to_dims["theta"] == ("model", "skill")
    assert {"model_sd", "theta"} <= {rv.name for rv in model.free_RVs}
    with model:
        prior = pm.sample_prior_predictive(draws=20, random_seed=1)["prior"].to_dataset()
    models = design.data.models
    alpha = family_effects(prior, design.families, models, np.random.default_rng(0), design.covariates)
    line = xr.dot(design.covariates, prior["slopes"], dim="covariate") + alpha
    z = ((prior["theta"] - line) / prior["model_sd"]).values.ravel()
    assert z.size > 500
    assert abs(z.mean()) < 4 * 1 / np.sqrt(z.size)
    assert abs(z.std() - 1) < 4 * 1 / np.sqrt(2 * z.size)


def test_integrated_variant_density_equals_the_joint_normal(small_v2):
    """``theta``'s density with the variant effect integrated out equals, variant by
    variant and skill by skill, the multivariate Normal with covariance σ²I + τ²J about
    the line (brute force with scipy), at an arbitrary point of the parameter space."""
    import pytensor
    from scipy.stats import multivariate_normal

    design = build_design(small_v2)
    model = build_model(design, ModelConfig(n_skills=2, model_effects=True))
    rng = np.random.default_rng(3)
    point = {k: v + rng.normal(scale=0.3, size=v.shape) for k, v in model.initial_point().items()}
    theta_rv = model["theta"]
    line, sigma, tau = theta_rv.owner.inputs[2:5]
    outputs = model.replace_rvs_by_values([model.logp(vars=[theta_rv], sum=True), line, sigma, tau])
    fn = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    logp_theta, line_v, sigma_v, tau_v = fn(*[point[v.name] for v in model.value_vars])
    theta_v = point["theta"]
    np.testing.assert_allclose(sigma_v, np.exp(point["model_sd_log__"]))
    v = design.model_variant_index
    expected = 0.0
    for g in np.unique(v):
        idx = np.flatnonzero(v == g)
        for k in range(2):
            cov = sigma_v[k] ** 2 * np.eye(len(idx)) + tau_v[k] ** 2
            expected += multivariate_normal(line_v[idx, k], cov).logpdf(theta_v[idx, k])
    assert np.isfinite(expected)
    np.testing.assert_allclose(logp_theta, expected, rtol=1e-8)


@pytest.mark.parametrize("option", ["benchmark_effects", "learned_floors", "instruct_precision"])
def test_opt_in_terms_enter_the_likelihood_as_the_prediction_code_computes_them(small_v2, option):
    """The graph's likelihood at one prior draw equals the Beta density of the observed
    scores about the ``mu`` and with the ``phi`` that the prediction code computes for the
    training models from the same draw (skills, loadings and the opt-in term: the variant ×
    benchmark deviations, the learned lower asymptotes, or the instruct models' precision
    ratio); and the term matters: without it the density differs."""
    import pymc as pm
    import xarray as xr
    from scipy.stats import beta

    from scaling_bayes.prediction import benchmark_deviations, family_effects, score_draws

    design = build_design(small_v2)
    model = build_model(design, ModelConfig(n_skills=2, **{option: True}))
    extra = {"benchmark_effects": "variant_benchmark", "learned_floors": "lower_asymptote",
             "instruct_precision": "instruct_log_precision"}[option]
    dims = {"benchmark_effects": ("variant", "benchmark"), "learned_floors": ("benchmark",),
            "instruct_precision": None}[option]
    assert model.named_vars_to_dims.get(extra) == dims
    with model:
        prior = pm.sample_prior_predictive(draws=1, random_seed=4)["prior"].to_dataset()
    point = {}
    for rv in model.free_RVs:
        value = prior[rv.name].isel(chain=0, draw=0).values
        transform = model.rvs_to_transforms.get(rv)
        if transform is not None:
            value = transform.forward(pt.as_tensor(value), *rv.owner.inputs).eval()
        point[model.rvs_to_values[rv].name] = value
    logp = model.compile_logp(vars=[model["score"]])(point)

    models = design.data.models
    instruct = xr.DataArray(models["instruct"].astype(bool).to_numpy(), dims="model",
                            coords={"model": models.index.to_numpy()})
    assert 0 < instruct.sum() < instruct.size  # both kinds of model, so a precision ratio shows

    def density(posterior):
        rng = np.random.default_rng(0)
        alpha = family_effects(posterior, design.families, models, rng, design.covariates)
        u = benchmark_deviations(posterior, design.families, models, rng)
        draws = score_draws(posterior, design.covariates, alpha, design.floors, rng, u, instruct).isel(chain=0, draw=0)
        mu, phi = draws["mu"], draws["phi"].broadcast_like(draws["mu"]).transpose(*draws["mu"].dims)
        mu_cells = mu.values[design.cell_model, design.cell_benchmark]
        phi_cells = phi.values[design.cell_model, design.cell_benchmark]
        return beta.logpdf(design.y, mu_cells * phi_cells, (1 - mu_cells) * phi_cells).sum()

    expected = density(prior)
    np.testing.assert_allclose(logp, expected, rtol=1e-6)
    if option == "learned_floors":  # at or above the guessing floor, below 1
        c = prior["lower_asymptote"].isel(chain=0, draw=0)
        assert ((c >= design.floors) & (c < 1)).all() and (c > design.floors).any()
    assert abs(density(prior.drop_vars(extra)) - expected) > 1.0


def test_unrolled_batched_normal_density_equals_pymcs_mvnormal():
    """:func:`_batched_normal_logp` (the Cholesky unrolled over the dimensions) gives the value
    and the gradient of ``pm.MvNormal`` with a batched covariance, for K = 1 and K = 4."""
    import pymc as pm
    import pytensor

    from scaling_bayes.model import _batched_normal_logp

    rng = np.random.default_rng(5)
    for k in (1, 4):
        a = rng.normal(size=(6, k, k))
        cov_v = a @ a.transpose(0, 2, 1) + np.eye(k)
        x, cov = pt.matrix("x"), pt.tensor3("cov")
        ours = _batched_normal_logp(x, cov, k)
        theirs = pt.sum(pm.logp(pm.MvNormal.dist(mu=np.zeros(k), cov=cov), x))
        fn = pytensor.function([x, cov], [ours, theirs, *pt.grad(ours, [x, cov]), *pt.grad(theirs, [x, cov])],
                               mode="FAST_COMPILE")  # no Numba compile: the maths, not the speed
        out = fn(rng.normal(size=(6, k)), cov_v)
        np.testing.assert_allclose(out[0], out[1], rtol=1e-10)
        np.testing.assert_allclose(out[2], out[4], rtol=1e-8)  # d/dx
        # d/dcov: ours reads the lower triangle, MvNormal the symmetric matrix; compare the
        # symmetrised gradients
        sym = lambda g: np.tril(g + g.transpose(0, 2, 1)) - np.eye(k) * g  # noqa: E731
        np.testing.assert_allclose(sym(out[3]), sym(out[5]), rtol=1e-8, atol=1e-12)
