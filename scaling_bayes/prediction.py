"""Prediction: posterior-predictive scores for new models, known or unseen families.

Step 5 of the data flow (… → inference → **prediction**).

Everything here is labelled xarray arithmetic over the posterior draws, so a saved
fit predicts without rebuilding or recompiling the PyMC graph.  Each new model's
family effect ``α`` (dims ``chain, draw, model, skill``) is chosen by case:

``known_variant``
    its variant family was in training: the posterior ``alpha_variant`` (the
    "larger model of a known family" case; where the fit integrated the variant effect
    out, a draw from its exact conditional, ``alpha_variant ± alpha_variant_sd``); its base
    family and instruct flag are the fitted variant's, whatever the row says
    (:func:`known_variant_families`);
``new_variant``
    a new variant (e.g. a new instruct line) of a known base family: the base
    family's posterior ``alpha_family`` + ``δ·instruct`` + ``τ ⊙ ε``;
``new_family``
    a wholly unseen family: a fresh ``α_f ~ MvNormal(m, Σ)`` from the population,
    then as above.

New models that share a family share one draw of its effect per posterior draw.

With family-specific slopes (``family_slope`` in the posterior) a model's effect also
holds ``γ_f · u_i``: its base family's slope deviation (posterior for a known base family,
a fresh population draw for an unseen one) times its standardised ln params.

With per-model skill deviations (``model_sd`` in the posterior) every new model also
gets its own fresh deviation ``σ_m ⊙ ε_i`` (:func:`model_deviations`): two models of one
family, even of one size, do not share it.

With variant × benchmark deviations (``variant_benchmark`` in the posterior) a model of a
known variant carries its variant's posterior deviation on each benchmark, and a model of a
new variant a fresh ``ψ ⊙ ε`` (:func:`benchmark_deviations`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import special, stats

from scaling_bayes.data import _fmt
from scaling_bayes.design import FamilyStructure, clip_scores
from scaling_bayes.model import link_mean, lower_asymptote

CASES = ("known_variant", "new_variant", "new_family")
SAMPLE_DIMS = ("chain", "draw")


def family_cases(new_models: pd.DataFrame, families: FamilyStructure) -> pd.Series:
    """The prediction case of each new model (see module docstring), indexed by model."""
    known_variant = new_models["family"].isin(families.variants)
    known_family = new_models["base_family"].isin(families.families)
    case = np.where(known_variant, CASES[0], np.where(known_family, CASES[1], CASES[2]))
    return pd.Series(case, index=new_models.index, name="case")


def _name_key(name: str) -> str:
    """A family name compared without case or punctuation: ``"Llama 2"`` and ``"llama-2"`` agree."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def warn_near_miss_families(new_models: pd.DataFrame, families: FamilyStructure) -> None:
    """Warn about each new model whose family is not a fitted name but equals one up to case
    and punctuation (``"Qwen2"`` for ``"qwen2"``): such a row would silently be forecast as a
    new variant or a family never seen, with far wider intervals.  Other new names are
    legitimate and pass silently."""
    rows = []
    # a variant name is compared with the fitted variants, a base family with the base families
    # (Sloth's table has a variant "open_llama_" of the base family "openllama")
    for column, known in (("family", families.variants), ("base_family", families.families)):
        fitted = {_name_key(n): n for n in known}
        unknown = new_models.loc[~new_models[column].isin(known), column]
        for model, name in unknown.items():
            match = fitted.get(_name_key(name))
            if match is not None and match != name:
                rows.append(f"model {model!r}: {column} {name!r} (did you mean {match!r}?)")
    if rows:
        warnings.warn(
            f"family name(s) not in the fit but equal to a fitted one up to case or punctuation: "
            f"{'; '.join(dict.fromkeys(rows))}. Such a row is forecast as a family the fit has not seen; "
            "use the fitted name to forecast it as a known family.",
            UserWarning,
            stacklevel=3,
        )


def known_variant_families(new_models: pd.DataFrame, families: FamilyStructure) -> pd.DataFrame:
    """``new_models`` with the base family and instruct flag of each known-variant model taken
    from the fitted family structure: both are properties of the fitted variant, not of the row.

    A UserWarning names each row whose own value disagrees (and is not the default that
    :func:`~scaling_bayes.data.validate_new_models` fills in: ``base_family`` = family,
    ``instruct`` = False, which cannot be told from a value given).  Other rows are unchanged.
    """
    known = new_models["family"].isin(families.variants)
    if not known.any():
        return new_models
    variant = new_models.loc[known, "family"]
    fitted = {
        "base_family": variant.map(dict(zip(families.variants, families.family_of_variant))),
        "instruct": variant.map(dict(zip(families.variants, families.instruct_of_variant))).astype(bool),
    }
    given = {
        "base_family": new_models.loc[known, "base_family"],
        "instruct": new_models.loc[known, "instruct"].astype(bool),
    }
    defaults = {"base_family": variant, "instruct": pd.Series(False, index=variant.index)}
    out = new_models.copy()
    for column in ("base_family", "instruct"):
        clash = (given[column] != fitted[column]) & (given[column] != defaults[column])
        if clash.any():
            rows = "; ".join(
                f"model {m!r} (family {variant[m]!r}): {column}={_fmt(given[column][m])} "
                f"given, {_fmt(fitted[column][m])} fitted"
                for m in clash.index[clash]
            )
            warnings.warn(
                f"{column} of a known variant family is fixed by the fit; ignoring the given "
                f"value: {rows}. To predict these models as another variant, give them a new "
                "family name.",
                UserWarning,
                stacklevel=3,
            )
        out.loc[known, column] = fitted[column]
    return out


def _standard_normal(
    rng: np.random.Generator, posterior: xr.Dataset, labels: list[str], dim: str
) -> xr.DataArray:
    """iid N(0, 1) draws with dims (chain, draw, <dim>, skill)."""
    shape = (
        posterior.sizes["chain"],
        posterior.sizes["draw"],
        len(labels),
        posterior.sizes["skill"],
    )
    return xr.DataArray(
        rng.standard_normal(shape),
        dims=(*SAMPLE_DIMS, dim, "skill"),
        coords={dim: labels, "skill": posterior["skill"].values},
    )


def family_effects(
    posterior: xr.Dataset,
    families: FamilyStructure,
    new_models: pd.DataFrame,
    rng: np.random.Generator,
    covariates: xr.DataArray | None = None,
) -> xr.DataArray:
    """Family effect draws for each new model, dims (chain, draw, model, skill).

    ``covariates`` (dims model, covariate: the new models' standardised covariates) is
    needed only when the fit has family-specific slopes; the effect then includes
    ``γ_f · u_i``.
    """
    new_models = known_variant_families(new_models, families)
    cases = family_cases(new_models, families)
    delta, tau = posterior["instruct_offset"], posterior["variant_sd"]
    has_slopes = "family_slope" in posterior
    if has_slopes and covariates is None:
        raise ValueError(
            "this fit has family-specific slopes: pass the new models' covariates "
            "(design.transform(new_models)) to family_effects."
        )

    # population draw α_f ~ MvNormal(skill_mean, diag(σ) R diag(σ)) for every unseen base family
    # (a multivariate t with ν_t degrees of freedom where the fit has robust_families)
    new_bases = sorted(set(new_models.loc[cases == "new_family", "base_family"]))
    # absent from draws of a graph that integrates the base families out, until drawn
    # (model.add_family_effects); only a new variant of a known base family needs it
    base_effect = posterior["alpha_family"] if "alpha_family" in posterior else None
    base_slope = posterior["family_slope"] if has_slopes else None
    if new_bases:
        eps = _standard_normal(rng, posterior, new_bases, "family")
        if "skill_corr" in posterior:
            chol = xr.apply_ufunc(
                np.linalg.cholesky, posterior["skill_corr"], input_core_dims=[["skill", "skill_"]],
                output_core_dims=[["skill", "skill_"]],
            )
            eps = xr.dot(chol, eps.rename(skill="skill_"), dim="skill_")
        if "family_dof" in posterior:  # multivariate t: a fresh mixing weight per family
            half_dof = posterior["family_dof"].values[..., None] / 2.0  # (chain, draw, 1)
            shape = (*half_dof.shape[:2], len(new_bases))
            weight = xr.DataArray(rng.gamma(half_dof, 1.0 / half_dof, size=shape),
                                  dims=(*SAMPLE_DIMS, "family"), coords={"family": new_bases})
            eps = eps / np.sqrt(weight)
        fresh = posterior["skill_mean"] + posterior["family_sd"] * eps
        fresh = fresh.transpose(*SAMPLE_DIMS, "family", "skill")
        base_effect = fresh if base_effect is None else xr.concat([base_effect, fresh], dim="family")
        if has_slopes:  # γ_f ~ N(0, ω) for the fresh family
            eta = _standard_normal(rng, posterior, new_bases, "family")
            slope = posterior["family_slope_sd"] * eta
            base_slope = xr.concat([base_slope, slope.transpose(*base_slope.dims)], dim="family")

    # a fresh variant deviation for every variant not seen in training
    new_variants = sorted(set(new_models.loc[cases != "known_variant", "family"]))
    eps_v = _standard_normal(rng, posterior, new_variants, "variant")

    known_effect = posterior["alpha_variant"]
    if "alpha_variant_sd" in posterior:  # variant effect integrated out in the fit: draw it
        known = sorted(set(new_models.loc[cases == "known_variant", "family"]))
        eps_known = _standard_normal(rng, posterior, known, "variant")
        known_effect = known_effect.sel(variant=known) + posterior["alpha_variant_sd"].sel(variant=known) * eps_known

    pieces = []
    for model, row in new_models.iterrows():
        if cases[model] == "known_variant":
            alpha = known_effect.sel(variant=row["family"], drop=True)
        else:
            if base_effect is None:
                raise ValueError(
                    f"model {model!r} is a new variant of the known base family "
                    f"{row['base_family']!r}, but these draws have no alpha_family: add it with "
                    "scaling_bayes.model.add_family_effects (LatentSkillModel.fit does)."
                )
            alpha = (
                base_effect.sel(family=row["base_family"], drop=True)
                + float(bool(row["instruct"])) * delta
                + tau * eps_v.sel(variant=row["family"], drop=True)
            )
        if has_slopes:
            u = float(covariates.sel(model=model).isel(covariate=0))
            alpha = alpha + u * base_slope.sel(family=row["base_family"], drop=True)
        pieces.append(alpha)
    return xr.concat(pieces, dim=pd.Index(new_models.index, name="model"))


def model_deviations(
    posterior: xr.Dataset, new_models: pd.DataFrame, rng: np.random.Generator
) -> xr.DataArray | float:
    """Fresh per-model skill deviations ``σ_m ⊙ ε_i``, dims (chain, draw, model, skill);
    ``0.0`` when the fit has no per-model deviations (no ``model_sd`` in the posterior)."""
    if "model_sd" not in posterior:
        return 0.0
    eps = _standard_normal(rng, posterior, list(new_models.index), "model")
    return (posterior["model_sd"] * eps).transpose(*eps.dims)


def benchmark_deviations(
    posterior: xr.Dataset,
    families: FamilyStructure,
    new_models: pd.DataFrame,
    rng: np.random.Generator,
) -> xr.DataArray | float:
    """Variant × benchmark deviations ``u`` of each new model, dims (chain, draw, model,
    benchmark); ``0.0`` when the fit has none (no ``variant_benchmark`` in the posterior).

    A known variant keeps its posterior ``variant_benchmark``; every other variant gets one
    fresh ``ψ ⊙ ε`` per posterior draw, shared by its new models.
    """
    if "variant_benchmark" not in posterior:
        return 0.0
    cases = family_cases(new_models, families)
    new_variants = sorted(set(new_models.loc[cases != "known_variant", "family"]))
    psi = posterior["benchmark_effect_sd"]
    eps = xr.DataArray(
        rng.standard_normal((posterior.sizes["chain"], posterior.sizes["draw"], len(new_variants), psi.sizes["benchmark"])),
        dims=(*SAMPLE_DIMS, "variant", "benchmark"),
        coords={"variant": new_variants, "benchmark": psi["benchmark"].values},
    )
    effects = xr.concat([posterior["variant_benchmark"], (psi * eps).transpose(*eps.dims)], dim="variant")
    u = effects.sel(variant=xr.DataArray(new_models["family"].to_numpy(), dims="model"), drop=True)
    return u.drop_vars("variant").assign_coords(model=new_models.index.to_numpy())


def score_draws(
    posterior: xr.Dataset,
    covariates: xr.DataArray,
    alpha: xr.DataArray,
    floors: xr.DataArray,
    rng: np.random.Generator,
    deviation: xr.DataArray | float = 0.0,
    instruct: xr.DataArray | None = None,
) -> xr.Dataset:
    """Latent mean ``mu`` and predictive ``score`` draws, dims (chain, draw, model, benchmark),
    and the Beta precision ``phi`` they were drawn with (:func:`model_precision`).

    ``covariates`` has dims (model, covariate); ``alpha`` (chain, draw, model, skill);
    ``deviation`` (chain, draw, model, benchmark; :func:`benchmark_deviations`) is added to
    the linear predictor.  ``floors`` (benchmark) are the guessing floors, used unless the fit
    learned its lower asymptotes (:func:`~scaling_bayes.model.lower_asymptote`).  ``instruct``
    (model; 0/1) is needed where the fit has ``instruct_log_precision``.
    """
    theta = xr.dot(covariates, posterior["slopes"], dim="covariate") + alpha
    return skill_score_draws(posterior, theta, floors, rng, deviation, instruct)


def model_precision(posterior: xr.Dataset, instruct: xr.DataArray | None = None) -> xr.DataArray:
    """The Beta precision of each model's scores: ``phi`` (chain, draw, benchmark), times
    ``exp(instruct_log_precision · instruct)`` (dims then chain, draw, model, benchmark) where
    the fit has an instruct precision (``instruct_precision=True``).  ``instruct`` (model) is
    0/1 or boolean; a clear error asks for it where the fit needs it."""
    phi = posterior["phi"]
    if "instruct_log_precision" not in posterior:
        return phi
    if instruct is None:
        raise ValueError(
            "this fit gives instruct models their own Beta precision "
            "(instruct_log_precision): pass the models' instruct flags (dims model)."
        )
    ratio = np.exp(posterior["instruct_log_precision"] * instruct.astype(float))
    return (phi * ratio).transpose(*SAMPLE_DIMS, "model", "benchmark")


def skill_score_draws(
    posterior: xr.Dataset,
    theta: xr.DataArray,
    floors: xr.DataArray,
    rng: np.random.Generator,
    deviation: xr.DataArray | float = 0.0,
    instruct: xr.DataArray | None = None,
) -> xr.Dataset:
    """:func:`score_draws` from the skills themselves, ``theta`` (chain, draw, model, skill):
    e.g. the training models' posterior ``theta``.  Same outputs and dims."""
    z = xr.dot(theta, posterior["loadings"], dim="skill") + posterior["intercept"] + deviation
    nu = posterior["nu"] if "nu" in posterior else 1.0
    mu = link_mean(z, lower_asymptote(posterior, floors), nu).clip(1e-6, 1 - 1e-6)
    mu = mu.transpose(*SAMPLE_DIMS, "model", "benchmark")
    phi = model_precision(posterior, instruct)
    a, b = (mu * phi).transpose(*mu.dims), ((1 - mu) * phi).transpose(*mu.dims)
    score = xr.DataArray(rng.beta(a.values, b.values), dims=mu.dims, coords=mu.coords)
    return xr.Dataset({"mu": mu, "score": score, "phi": phi})


def as_score_array(observed: pd.DataFrame | xr.DataArray) -> xr.DataArray:
    """Observed scores as a DataArray, dims (model, benchmark); a DataFrame is indexed by
    model with one column per benchmark."""
    if isinstance(observed, xr.DataArray):
        return observed
    return xr.DataArray(
        observed.to_numpy(dtype=float),
        dims=("model", "benchmark"),
        coords={"model": observed.index.to_numpy(), "benchmark": observed.columns.to_numpy()},
    )


def log_predictive_density(
    mu: xr.DataArray, phi: xr.DataArray, observed: pd.DataFrame | xr.DataArray, n_items: xr.DataArray
) -> xr.DataArray:
    """Log posterior-predictive density of observed scores, dims (model, benchmark).

    ``log p(y | data) = log (1/S) Σ_s Beta(y; μ_s φ_s, (1 − μ_s) φ_s)`` over the S posterior
    draws: the held-out counterpart of the pointwise log likelihood that PSIS-LOO uses, so
    forecasters can be compared and stacked on the cells they forecast
    (:mod:`scaling_bayes.evaluation.stacking`).  ``mu`` has dims (chain, draw, model,
    benchmark), ``phi`` (chain, draw, benchmark, or with model: :func:`model_precision`),
    ``observed`` (model, benchmark, or a DataFrame
    indexed by model; NaN where not observed, and NaN there in the result) and ``n_items`` (benchmark): the scores are
    continuity-corrected as in the fit (:func:`~scaling_bayes.design.clip_scores`).
    """
    observed = as_score_array(observed).reindex(model=mu["model"].values, benchmark=mu["benchmark"].values)
    n = n_items.reindex(benchmark=observed["benchmark"].values)
    y = xr.apply_ufunc(clip_scores, observed, n)
    a, b = mu * phi, (1.0 - mu) * phi
    logpdf = xr.apply_ufunc(stats.beta.logpdf, y, a, b).stack(sample=SAMPLE_DIMS)
    n_draws = logpdf.sizes["sample"]
    lpd = xr.apply_ufunc(
        special.logsumexp, logpdf, input_core_dims=[["sample"]], kwargs={"axis": -1}
    ) - np.log(n_draws)
    return lpd.where(observed.notnull()).transpose("model", "benchmark").rename("lpd")


@dataclass(frozen=True)
class Prediction:
    """Result of a prediction request.

    Attributes
    ----------
    table : pd.DataFrame
        Tidy: one row per (model, benchmark) with ``model, family, case, family_size_ratio,
        benchmark, mean, median, lower, upper`` (posterior-predictive) and ``mu_mean, mu_lower,
        mu_upper`` (mean and interval of the latent mean score, without Beta observation noise);
        ``family_size_ratio`` is :func:`family_size_ratio`.
    draws : xr.DataTree
        ``predictions`` group: ``score`` and ``mu`` draws (chain, draw, model, benchmark);
        ``constant_data`` group: the new models' covariates.
    prob : float
        Interval probability (equal-tailed).
    """

    table: pd.DataFrame
    draws: xr.DataTree
    prob: float


#: Beyond this many times its family's largest (or below its smallest) training size a forecast
#: warns.  Measured on Sloth's protocol (the stack of record's 1578 cells; README): errors grow
#: with the distance, pooled MAE 2.7 pp within 2x, 3.3 at 2-5x, 3.9 at 5-10x and 4.3 pp beyond
#: 10x, while the 90% intervals widen only from 13.0 to 17.4 pp.
FAMILY_SIZE_WARNING_RATIO = 10.0


def family_size_ratio(new_models: pd.DataFrame, train_models: pd.DataFrame) -> pd.Series:
    """How far outside its base family's training sizes each new model lies.

    ``max(params / largest, smallest / params, 1)`` over the training models of the row's
    ``base_family`` (every variant line of it): 1 within the sizes the family shows, 28 for a
    200B model of a family trained up to 7B; NaN for a family with no training model.
    ``new_models`` and ``train_models`` are indexed by model with ``base_family`` and
    ``params_b`` columns.  Returns a Series indexed like ``new_models``, name
    ``family_size_ratio``.
    """
    sizes = train_models.groupby("base_family")["params_b"].agg(["min", "max"])
    bounds = sizes.reindex(new_models["base_family"].to_numpy())
    params = new_models["params_b"].to_numpy(float)
    ratio = np.maximum.reduce([params / bounds["max"].to_numpy(float), bounds["min"].to_numpy(float) / params,
                               np.ones_like(params)])
    ratio = np.where(bounds["max"].isna().to_numpy(), np.nan, ratio)
    return pd.Series(ratio, index=new_models.index, name="family_size_ratio")


def draw_summary(draws: xr.Dataset, prob: float) -> pd.DataFrame:
    """One row per (model, benchmark), model-major: ``model, benchmark, mean, median, lower,
    upper`` of the ``score`` draws (equal-tailed ``prob`` interval, ArviZ ``eti``) and
    ``mu_mean, mu_lower, mu_upper`` of the latent mean ``mu``; draws dims (chain, draw, model,
    benchmark)."""
    score, mu = draws["score"], draws["mu"]
    eti = az.eti(score, prob=prob, dim=list(SAMPLE_DIMS))
    eti_mu = az.eti(mu, prob=prob, dim=list(SAMPLE_DIMS))
    out = xr.Dataset(
        {
            "mean": score.mean(SAMPLE_DIMS),
            "median": score.median(SAMPLE_DIMS),
            "lower": eti.isel(ci_bound=0, drop=True),
            "upper": eti.isel(ci_bound=1, drop=True),
            "mu_mean": mu.mean(SAMPLE_DIMS),
            "mu_lower": eti_mu.isel(ci_bound=0, drop=True),
            "mu_upper": eti_mu.isel(ci_bound=1, drop=True),
        }
    )
    return out.to_dataframe(dim_order=["model", "benchmark"]).reset_index()


def summarize(
    draws: xr.Dataset, new_models: pd.DataFrame, cases: pd.Series, prob: float,
    size_ratio: pd.Series | None = None,
) -> pd.DataFrame:
    """Tidy table of means, medians and equal-tailed ``prob`` intervals (ArviZ ``eti``), with
    the column ``family_size_ratio`` after ``case`` when ``size_ratio`` (:func:`family_size_ratio`)
    is given."""
    table = draw_summary(draws, prob)
    table.insert(1, "family", table["model"].map(new_models["family"]))
    table.insert(2, "case", table["model"].map(cases))
    if size_ratio is not None:
        table.insert(3, "family_size_ratio", table["model"].map(size_ratio))
    return table
