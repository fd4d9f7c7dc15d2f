"""The hierarchical latent-skill model: the one place that builds the PyMC graph.

Step 3 of the data flow (load → design → **model** → inference → prediction).

Generative model
----------------
For model ``i`` in variant family ``v(i)`` of base family ``f(v)``, skill ``k`` and
benchmark ``j``::

    x_i          = [u, v, u·v, u² − 1, v² − 1],  u, v = standardised ln N, ln D  (covariate)
    Σ            = diag(σ) R diag(σ),  R ~ LKJ(eta)   family-effect covariance
    α_f          ~ MvNormal(m, Σ)                   base-family effect        (family, skill)
    α_v          ~ Normal(α_f(v) + δ · instruct_v, τ)                         (variant, skill)
    θ_i          = Bᵀ x_i + α_v(i)                  latent skills             (model, skill)
    z_ij         = λ_jᵀ θ_i + b_j
    μ_ij         = c_j + (1 − c_j) · sigmoid(k(ν_j) z_ij + s(ν_j)) ^ ν_j   Richards link
    y_ij         ~ Beta(μ_ij φ_j, (1 − μ_ij) φ_j)              observed cells only

``c_j`` is the benchmark's guessing floor from the registry.

Covariates: the full second-order translog (``covariates="translog_sq"``, the default)
----------------------------------------------------------------------------------------
Sloth's translog has ln N, ln D and ln N·ln D but no squares, so along a family (tokens
fixed) each skill is linear in ln N on the logit scale: returns to size never diminish
before the link saturates.  On the bundled data that line over-predicts each family's
largest model: holding the largest size of every family with ≥ 3 sizes out, the forecasts
were biased upwards on 11 of 12 benchmarks (ARC +3.7, MMLU +4.5, MMLU-PRO +3.3,
HellaSwag +2.6 pp).  The squares of the standardised logs (centred, with a tighter prior,
``Priors.curvature_sd``) let returns bend.  Chosen on training data only:

* PSIS-LOO on the whole bundled data: Δelpd = 90 ± 15 over Sloth's form
  (``benchmarks/results/loo_compare_sq.csv``);
* the within-training extrapolation check (``extrapolation_check_sq.csv``, ``_v2_sq.csv``,
  2 × 500 draws): all12 MAE 3.71 → 3.18 pp, CRPS 2.71 → 2.30, 50/90% coverage 43/83% →
  51/91%; leaderboard_v2 MAE 2.75 → 2.71, CRPS 2.02 → 2.00, 90% coverage 91 → 90%.  The
  gains are largest on the saturating benchmarks (ARC 4.35 → 1.95, HellaSwag 2.94 → 1.28,
  Winogrande 2.31 → 1.50 pp) and for BLOOM (11.5 → 7.2 pp).

(Those fits had the curvature prior at ``slope_sd`` = 2; the default 0.5 was set afterwards
from the prior predictive, and the fitted curvatures, ≤ 0.14, sit well inside it.)
``covariates="translog"`` gives Sloth's form.

Family-specific slopes (``ModelConfig(family_slopes=True)``)
-----------------------------------------------------------
Sloth and the LVF paper share the slopes ``B`` across families.  With
``family_slopes=True`` each base family also gets its own slope on standardised ln params
``u_i`` (the first covariate), partially pooled::

    γ_fk ~ N(0, ω_k)          (non-centred)
    θ_i  = Bᵀ x_i + γ_f(i) u_i + α_v(i)

Its purpose is honest extrapolation: a family seen at one size has a slope known only up
to ``ω``, so its predictive spread grows with the distance from the sizes it was observed
at, while families seen at several sizes get their own slope.  (A version that also
coupled ``γ_f`` to the family's standardised effect ``α_f`` found the coupling at ≈ 0 on
the bundled data: posterior means −0.13 to 0.04, sd 0.05–0.22; it was dropped.)

Off by default, by measurement: PSIS-LOO prefers it (Δelpd 80 ± 15 on the bundled data),
but on Sloth's leave-family-out protocol (n=1) it widened the intervals (90% coverage
86/84/84% → 89/82/90% on v1/v2/all12) and worsened the point forecasts (family-macro MAE
4.05/2.94/3.85 → 4.20/3.34/3.96 pp); see ``benchmarks/results/sloth_family_slopes``.

Per-model skill deviations (``ModelConfig(model_effects=True)``)
---------------------------------------------------------------
Sloth and the LVF paper put every model exactly on its family's line: all of a model's
departure from the line is per-cell noise, independent across benchmarks.  But a model
that is better trained than its siblings is better on every benchmark that loads on the
same skills.  With ``model_effects=True`` each model's skills scatter about the line::

    θ_ik ~ N(Bᵀ x_i + α_v(i), σ_mk)          σ_mk ~ Gamma(2, 2 / model_sd)

so a forecast for a new model carries its own fresh deviation, correlated across
benchmarks through the loadings, beside the Beta noise.

Off by default, by measurement.  On the within-training extrapolation check (all 12
benchmarks; each family's largest size held out) it is better on every count: MAE
3.81 → 3.56 pp, CRPS 2.77 → 2.61, 50/90% coverage 41/82% → 50/89%.  On Sloth's protocol
(``benchmarks/results/sloth_model_effects``, all six settings) it helps where a family shows
two sizes or where 12 benchmarks pin each skill (all12 n=2: MAE 3.84 → 3.77, 90% coverage
78 → 84%; leaderboard_v1 n=2: 4.46 → 4.38, 71 → 78%), and hurts on leaderboard_v2 (MAE
2.97 → 3.63 at n=1, 3.12 → 3.49 at n=2; all12 n=1 3.86 → 3.93, leaderboard_v1 n=1
4.04 → 4.09).  Two reasons, both
visible in the fits:

* a family seen at one size now splits that model's departure from the population between
  the family and the model, so the family effect is shrunk by ``σ_m²`` and less of it is
  carried to the larger sizes;
* a skill measured by one benchmark alone (with K=4 on leaderboard_v2's six benchmarks,
  every anchor) cannot tell its models' deviations from that benchmark's Beta noise, so
  chains split between the two explanations (R-hat up to 2.2 on a training subset at
  2 × 500 draws).  One σ_m shared by all skills mixed no better on the extrapolation check
  (R-hat 1.22 vs 1.13) and forecast worse (MAE 3.78 vs 3.56 pp).

Variant × benchmark deviations (``ModelConfig(benchmark_effects=True)``)
----------------------------------------------------------------------
K skills explain a variant's scores only up to what its recipe does to one benchmark alone
(a code-heavy mix on GSM8K, a chat template on IFEval).  With ``benchmark_effects=True``::

    z_ij = λ_jᵀ θ_i + b_j + u_v(i)j,     u_vj = ψ_j ε_vj,  ψ_j ~ HalfNormal(0.3)

shared by all of a variant's models, so a larger model of a seen variant carries its
variant's deviations, and a new variant gets fresh ones.  Off by default: on the
within-training extrapolation check it moved all12 MAE 3.84 → 3.74 pp and CRPS 2.78 → 2.70,
but 90% coverage 83 → 80%; on leaderboard_v2 MAE 2.74 → 2.73 pp with R-hat 1.21 and 11
divergences (``benchmarks/results/extrapolation_check_bench.csv``, ``_v2_bench.csv``).

Learned lower asymptotes (``ModelConfig(learned_floors=True)``)
--------------------------------------------------------------
The registry's guessing floor ``c_j`` (1/#choices) is where a model that guesses lands, but
weak models sit above it on several benchmarks: MMLU-PRO at 0.11 (floor 0.10), IFEval at
0.16–0.22 (floor 0), TruthfulQA at 0.32–0.37 (floor 0.31).  With ``learned_floors=True``
the link's lower asymptote is learned, at or above the floor::

    lower_j = c_j + (1 − c_j) κ_j,     κ_j ~ Beta(1, 9)

Fitted to the whole bundled data (2 × 500 draws) it lands at 0.11 for MMLU-PRO, 0.20 for
IFEval, 0.37 for TruthfulQA, 0.36 for MUSR, 0.30 for BBH, 0.013 for GSM8K and within 0.01 of
the floor elsewhere.  PSIS-LOO prefers it (Δelpd = 50 ± 10, ``loo_compare_floor.csv``; both
fits have ~70 cells with Pareto k̂ > 0.67, so LOO is only indicative); the within-training
extrapolation check is neutral (all12 MAE 3.82 → 3.80 pp, CRPS 2.77 → 2.75; leaderboard_v2
MAE 2.78 → 2.85, CRPS 2.05 → 2.08; ``extrapolation_check_floor.csv``, ``_v2_floor.csv``).
On Sloth's protocol it forecast worse (``benchmarks/results/sloth_learned_floors``, stopped
after two settings): family-macro MAE 4.04 → 4.15 pp (leaderboard_v1, n=1) and 2.97 → 3.14
(leaderboard_v2, n=1), 90% coverage 87 → 86% and 84 → 84%.  So it is off by default: a
better in-sample fit of the weak models, which cell-level LOO rewards, is not a better
forecast of a family's larger models.

Multivariate-t family effects (``ModelConfig(robust_families=True)``)
--------------------------------------------------------------------
At n = 1 a family is seen through one model, and a Normal population shrinks it towards the
mean: the families that forecast worst are strong ones forecast too low (Qwen2) and weak
ones too high (OPT, BLOOM).  A heavier-tailed population shrinks an outlying family less::

    α_f = m + (ε_f / √w_f) · chol(Σ)ᵀ,   w_f ~ Gamma(ν_t/2, ν_t/2),   ν_t ~ Gamma(2, 0.1)

and a new family is drawn from the same multivariate t.  Off by default, by measurement on
the whole bundled data (``benchmarks/results/loo_compare_robust.csv``,
``extrapolation_check_robust.csv``, ``_v2_robust.csv``; 2 × 500 draws): the data do not ask
for heavy tails (ν_t = 26 ± 15 against the prior's 20 ± 14); PSIS-LOO is a little better
(Δelpd 10 ± 2.5) and the within-training extrapolation check a little worse (all12 MAE
3.71 → 3.76 pp, CRPS 2.71 → 2.73, 90% coverage 83 → 82%; leaderboard_v2 MAE 2.75 → 2.79,
CRPS 2.02 → 2.04).  Not run on Sloth's protocol.

Tried and dropped
-----------------
Judged on training data only, with ``benchmarks/extrapolation_check.py`` (each family's
largest size held out; all 12 benchmarks, 222 cells, and leaderboard_v2, 102 cells;
2 × 500 draws), against the default's MAE 3.81 / 2.77 pp:

* **a Mundlak term** (commit ``1babf89``): variant effects ``α_v ~ N(α_f + δ·instruct +
  x̄_v·Γ, τ)`` depend on the variants' mean covariates, so the shared slopes are identified
  by within-variant variation alone, as with Sloth's fixed family intercepts.  Worse on
  both: MAE 3.94 / 3.21 pp, CRPS 2.88 / 2.32 (default 2.77 / 2.04).  Within a variant the
  data hold few sizes and almost no spread in tokens, so the within slopes forecast the
  larger sizes worse than the pooled ones;
* **a rank-one per-model deviation** (commit ``494f588``): one "training quality"
  ``q_i ~ N(0, 1)`` per model times a non-negative loading per skill, identified by
  co-movement across all benchmarks.  All 12 benchmarks: MAE 3.98 pp, 90% coverage 90%,
  but R-hat 2.24 and bulk ESS 3 (332 s, against 42 s for the default): a model's mean
  quality and its variant's effect form a ridge the sampler did not cross.

Parameterisation
----------------
Chosen per level, by measurement (``benchmarks/``):

* **variants: centred within variant.**  The data pin every model's skills tightly
  (hundreds of cells, Beta precisions of ~100–600), so a non-centred
  ``α_v = α_f + τ ε_v`` turns the well-identified sum into a thin ridge and NUTS
  saturates its tree depth (depth 10, step size 0.006).  We sample
  ``α̃_v = α_v + x̄_v·B``, the variant's skill at its own mean covariates, which the data
  identify directly, and recover ``α_v = α̃_v − x̄_v·B`` (a unit-Jacobian linear change
  of variables: the model is unchanged; with family slopes ``α̃_v`` also holds
  ``γ_f·ū_v``).  This also removes the correlation between
  the variant effects and the slopes.
  With per-model deviations the data pin ``θ_i`` instead, and the variant effect is
  known only to ``σ_m/√n_v``; it is integrated out analytically (see
  :func:`_variant_marginal_skills`), which needs no centring choice at all.
* **base families: integrated out** (:func:`_family_marginal_variant_centres`).  A base
  family is seen only through its variants, and how well depends on the family: most have
  one variant, which pins only the sum ``α_f + τ ε_v``; Llama-2 has six.  No single
  parameterisation suits them all.  Non-centred (``α_f = m + ε_f · chol(Σ)ᵀ``, the default
  until session 21), the fit of the whole bundled data mixed slowly in ``α_f`` and ``σ``
  (seed 0: R-hat 1.042, bulk ESS 62 in 4 × 1500 draws; at 4 × 3000, 1.015 and 296);
  centred, it funnelled in σ (72 and 160 divergences at seeds 0 and 1; earlier, 100+ on
  leaderboard_v2).  Gaussian given the variants, ``α_f`` integrates out exactly: the
  variants' centres are sampled under their joint marginal, family by family, and
  ``alpha_family`` is then drawn from its exact conditional given each posterior draw
  (:func:`add_family_effects`, called by ``LatentSkillModel.fit``), so the posterior holds
  exact joint draws, as before.  The model is unchanged.  Measured on the same whole-data
  fit (4 × 1500 draws): seeds 0 and 1 give max R-hat 1.004 / 1.005, min bulk ESS 949 / 997
  and 1 / 2 divergent transitions (non-centred, seeds 0–2: R-hat 1.042 / 1.008 / 1.009, ESS
  62 / 922 / 806, 0 / 0 / 1 divergences).  With per-model deviations
  (``model_effects=True``), where the variants are integrated out instead, the base
  families stay non-centred.

Identification
--------------
A factor model is invariant to rotations, reflections and permutations of its skills;
left alone, NUTS chains settle in different modes (R-hat ≈ 1.8 measured).  We pin
every one of these symmetries:

* **rotation and permutation** — each skill ``k`` has an *anchor benchmark* that
  loads on skill ``k`` only (the LVF paper's anchors).  The default anchors name
  distinct abilities: knowledge (MMLU / MMLU-PRO), mathematical reasoning (GSM8K /
  MATH Lvl 5) and instruction following (IFEval / TruthfulQA).  With non-negative loadings
  another anchor set is another model; on all 12 benchmarks the first choices beat the
  second ones on the within-training extrapolation check (``docs/findings.md``, "Anchor
  choice");
* **location and scale** — the anchor's loading is fixed at 1 and its intercept at 0,
  so skill ``k`` is measured on its anchor's logit scale (θ_k = 0: the anchor sits
  midway between its floor and 1).  The population mean of the skills is a parameter
  (``skill_mean``).  Fixing the location through zero-mean family effects instead
  leaves every family's effect sliding together against the intercepts (posterior
  correlations ≈ 0.96 measured).  (Fixing the scale through unit-variance family effects
  instead leaves a curved scale ridge, θ·c with λ/c, that only ~35 families pin down;
  NUTS then needs 2⁸–2¹⁰ leapfrog steps per draw.  Measured, see ``benchmarks/``);
* **sign** — every loading is non-negative (more of any skill never lowers a score).

``Σ = diag(σ) R diag(σ)`` with ``R ~ LKJ(eta)`` and ``σ_k ~ HalfNormal``.

Priors (all overridable through :class:`Priors`) are weakly informative on the
standardised scale; see the field docstrings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from scaling_bayes.design import DEFAULT_COVARIATES, INSTRUCT_COVARIATES, SQUARED_COVARIATES, Design, FactorDesign

LinkName = Literal["logistic", "richards"]

#: Hierarchical scale parameters: held at their starting values by the initial
#: optimisation (:func:`scaling_bayes.inference.sample`), whose joint mode is degenerate in them.
SCALE_VARIABLES: tuple[str, ...] = (
    "variant_sd", "family_chol", "family_sd", "family_slope_sd", "model_sd", "benchmark_effect_sd",
    "family_weight", "family_dof",
)

#: Second word of the seed of the random stream that draws ``alpha_family`` after sampling
#: (:func:`draw_family_effects`), apart from the sampler's own streams.
FAMILY_EFFECT_STREAM: int = 7919

#: Anchor preference, one list per ability; the first available benchmark of each
#: list becomes that skill's anchor, in this order.
ANCHOR_PREFERENCE: tuple[tuple[str, ...], ...] = (
    ("MMLU", "MMLU-PRO", "ARC", "HellaSwag"),
    ("GSM8K", "MATH Lvl 5", "BBH"),
    ("IFEval", "TruthfulQA"),
    ("HellaSwag", "Winogrande", "MUSR", "ARC"),
    ("GPQA", "BBH", "Winogrande"),
)

#: The skill factor model's anchor preference (:func:`build_factor_model`): knowledge, then
#: commonsense before maths.  Across the leaderboard's fine-tunes and merges GSM8K is the
#: benchmark the skills explain least (Beta precision 4.8 against 45-580 on the other v1
#: benchmarks, ``benchmarks/results/leaderboard_scale/``), a poor anchor; with K=3 and it
#: among the anchors the fit did not mix (``docs/findings.md``).
FACTOR_ANCHOR_PREFERENCE: tuple[tuple[str, ...], ...] = (
    ("MMLU", "MMLU-PRO", "ARC", "HellaSwag"),
    ("HellaSwag", "Winogrande", "BBH", "ARC"),
    ("IFEval", "TruthfulQA"),
    ("GSM8K", "MATH Lvl 5", "MUSR"),
    ("GPQA", "Winogrande"),
)


@dataclass(frozen=True)
class Priors:
    """Weakly informative priors on the standardised scale.

    Attributes
    ----------
    slope_sd : sd of the Normal prior on the covariate slopes ``B`` (logit units of the
        anchor benchmark per standardised covariate unit; MMLU rises ~3–4 logits from
        0.1B to 70B params, i.e. ~2 per sd of ln params).
    curvature_sd : sd of the Normal prior on the slopes of the squared standardised logs
        (``covariates="translog_sq"``).  0.5, a quarter of ``slope_sd``: over the data's range
        (|u| ≤ 2.5, so u² − 1 ≤ 5.3) a 1-sd curvature bends a skill by ≤ 2.7 logits, where
        at ``slope_sd`` = 2 they would add up to ±10.  Measured on the bundled data's prior
        predictive (500 draws): with 0.5 its mass above 98% is 27%, as without the squares;
        with 2.0 it is 30%.  Fitted to the whole bundled data (with sd 2.0) the curvatures are
        ≤ 0.14 in size (posterior sd 0.01–0.09), so 0.5 does not hold them back.
    family_sd : scale of the HalfNormal prior on the between-family sd of each skill.
    lkj_eta : LKJ shape for the family-effect correlation (2 = mild shrinkage to 0).
    instruct_sd : sd of the Normal prior on the instruct offset ``δ`` per skill.
    variant_sd : prior mean of the variant spread ``τ`` per skill, a zero-avoiding
        ``Gamma(2, 2 / variant_sd)`` (P(τ < 0.1·mean) ≈ 2%): variant lines differ from their
        base family, and the τ → 0 boundary is where the centred variant level funnels.
    loading_sd : scale of the HalfNormal prior on the free (non-negative) loadings ``λ``,
        relative to the anchors' loading of 1.
    intercept_sd : sd of the Normal prior on benchmark intercepts ``b`` (logit scale).
    log_nu_sd : sd of the Normal(0, ·) prior on the log Richards exponent ``ln ν``.  1.5, not
        the earlier 0.75: under 0.75 the knowledge and commonsense benchmarks' exponents sat
        2.6–2.9 prior sds out (MMLU ln ν = 1.96 ± 0.45, ARC 2.19 ± 0.43; posterior sd still
        60% of the prior's), a prior–data conflict
        (:func:`~scaling_bayes.inference.prior_posterior_conflict`).  Under 1.5 they move to
        3.0–3.4 (ν ≈ 20–30: a Gompertz-like curve that leaves the floor late and steeply), and
        the within-training extrapolation check improves on both benchmark sets (all12 MAE
        3.82 → 3.71 pp, CRPS 2.77 → 2.71; leaderboard_v2 MAE 2.78 → 2.75, CRPS 2.05 → 2.02;
        ``benchmarks/results/extrapolation_check_nu.csv``, ``_v2_nu.csv``).
    log_phi_mu, log_phi_sd : Normal prior on the log Beta precision ``ln φ``
        (exp(5) ≈ 150 ↔ a residual sd of ~4 pp at a 50% score).
    family_slope_sd : scale of the HalfNormal prior on the between-family sd of the
        family-specific slope on ln params (``family_slopes=True`` only), per skill; 0.5 is
        a quarter of ``slope_sd``: families scale differently, but not in sign.
    model_sd : prior mean of the per-model skill deviation ``σ_m`` per skill
        (``model_effects=True`` only), a zero-avoiding ``Gamma(2, 2 / model_sd)`` as for
        ``variant_sd``: two sizes of one family are trained by one recipe, so a model
        deviates from its family's line by less than a variant deviates from its base family.
    family_dof_rate : with ``robust_families=True``, the degrees of freedom ``ν_t`` of the
        multivariate-t family effects have a ``Gamma(2, family_dof_rate)`` prior (Juárez & Steel
        2010): mean 2 / rate = 20, P(ν_t < 5) ≈ 9%, so heavy tails are possible but not assumed.
    floor_lift_beta : with ``learned_floors=True``, the lower asymptote of benchmark ``j`` is
        ``c_j + (1 − c_j) κ_j`` with ``κ_j ~ Beta(1, floor_lift_beta)``: at or above the guessing
        floor ``c_j``, 0.1 of the way to 1 on average for the default 9 (P(κ_j > 0.2) = 13%).
    instruct_precision_sd : sd of the Normal(0, ·) prior on ``instruct_log_precision``, the log
        ratio of an instruct model's Beta precision to a base model's on every benchmark
        (``instruct_precision=True`` only); 0.5 puts 95% of the prior on ratios within
        e^{±1}.
    benchmark_effect_sd : scale of the HalfNormal prior on the sd ``ψ_j`` of the
        variant × benchmark deviations (``benchmark_effects=True`` only), logit units;
        0.3 is ~7 pp at a 50% score: a recipe's quirks on one benchmark, well below the
        between-family spread of the skills.
    """

    slope_sd: float = 2.0
    curvature_sd: float = 0.5
    family_sd: float = 1.5
    lkj_eta: float = 2.0
    instruct_sd: float = 1.0
    variant_sd: float = 0.5
    loading_sd: float = 1.0
    intercept_sd: float = 2.0
    log_nu_sd: float = 1.5
    log_phi_mu: float = 5.0
    log_phi_sd: float = 1.0
    family_slope_sd: float = 0.5
    model_sd: float = 0.25
    benchmark_effect_sd: float = 0.3
    instruct_precision_sd: float = 0.5
    floor_lift_beta: float = 9.0
    family_dof_rate: float = 0.1


class _ConfigRecord:
    """``to_dict`` / ``from_dict`` (a JSON-ready record, as ``save`` writes it) of a frozen
    configuration dataclass with ``anchors`` and ``priors`` fields."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        d["anchors"] = list(self.anchors) if self.anchors else None  # type: ignore[attr-defined]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        d = dict(d)
        d["priors"] = Priors(**d.get("priors", {}))
        d["anchors"] = tuple(d["anchors"]) if d.get("anchors") else None
        return cls(**d)


@dataclass(frozen=True)
class ModelConfig(_ConfigRecord):
    """What to fit: number of skills, anchors, link and priors."""

    n_skills: int = 4
    anchors: tuple[str, ...] | None = None
    link: LinkName = "richards"
    priors: Priors = field(default_factory=Priors)
    covariates: str = DEFAULT_COVARIATES
    family_slopes: bool = False
    model_effects: bool = False
    benchmark_effects: bool = False
    learned_floors: bool = False
    robust_families: bool = False
    instruct_precision: bool = False



def slope_prior_sd(priors: Priors, covariates: Sequence[str]) -> xr.DataArray:
    """Prior sd of the slopes on each covariate, dims ``covariate``: ``curvature_sd`` on the
    second-order terms (the squared logs, :data:`~scaling_bayes.design.SQUARED_COVARIATES`, and
    the instruct × ln params term, :data:`~scaling_bayes.design.INSTRUCT_COVARIATES`),
    ``slope_sd`` elsewhere."""
    second_order = (*SQUARED_COVARIATES, *INSTRUCT_COVARIATES)
    sd = [priors.curvature_sd if c in second_order else priors.slope_sd for c in covariates]
    return xr.DataArray(np.asarray(sd, dtype=float), dims="covariate", coords={"covariate": list(covariates)})


def normal_priors(priors: Priors, covariates: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """``{variable: (prior mean, prior sd)}`` for every free variable of the graph whose prior
    is an independent Normal (elementwise), for prior–posterior checks; the slopes' sd is a
    DataArray over ``covariates`` (:func:`slope_prior_sd`)."""
    return {
        "slopes": (0.0, slope_prior_sd(priors, covariates)),
        "skill_mean": (0.0, priors.intercept_sd),
        "instruct_offset": (0.0, priors.instruct_sd),
        "intercept_free": (0.0, priors.intercept_sd),
        "log_nu": (0.0, priors.log_nu_sd),
        "log_phi": (priors.log_phi_mu, priors.log_phi_sd),
        "instruct_log_precision": (0.0, priors.instruct_precision_sd),
    }


def choose_anchors(benchmarks: list[str], n_skills: int,
                   preference: tuple[tuple[str, ...], ...] = ANCHOR_PREFERENCE) -> tuple[str, ...]:
    """Pick one distinct anchor benchmark per skill from ``preference`` (default
    :data:`ANCHOR_PREFERENCE`), falling back to the remaining benchmarks in table order."""
    chosen: list[str] = []
    for options in preference:
        pick = next((b for b in options if b in benchmarks and b not in chosen), None)
        if pick is not None:
            chosen.append(pick)
        if len(chosen) == n_skills:
            return tuple(chosen)
    rest = [b for b in benchmarks if b not in chosen]
    chosen.extend(rest[: n_skills - len(chosen)])
    if len(chosen) < n_skills:
        raise ValueError(
            f"n_skills={n_skills} needs {n_skills} anchor benchmarks but the data has only "
            f"{len(benchmarks)} benchmarks ({benchmarks}); lower n_skills."
        )
    return tuple(chosen)


def resolve_anchors(config: ModelConfig | FactorConfig, benchmarks: list[str]) -> tuple[str, ...]:
    """The anchors to use: the configured ones (validated) or :func:`choose_anchors` (with
    :data:`FACTOR_ANCHOR_PREFERENCE` for a :class:`FactorConfig`)."""
    if config.anchors is None:
        preference = FACTOR_ANCHOR_PREFERENCE if isinstance(config, FactorConfig) else ANCHOR_PREFERENCE
        return choose_anchors(benchmarks, config.n_skills, preference)
    anchors = tuple(config.anchors)
    if len(anchors) != config.n_skills or len(set(anchors)) != len(anchors):
        raise ValueError(
            f"anchors={list(anchors)} must name {config.n_skills} distinct benchmarks, "
            f"one per skill (n_skills={config.n_skills})."
        )
    missing = [a for a in anchors if a not in benchmarks]
    if missing:
        raise ValueError(
            f"anchor benchmark(s) {missing} are not in the data's benchmarks {benchmarks}; "
            "choose anchors among them or pass anchors=None for the default."
        )
    return anchors


def loading_mask(benchmarks: list[str], anchors: tuple[str, ...], *, fixed: bool = False) -> np.ndarray:
    """Loading masks, shape (benchmark, skill).

    ``fixed=False``: the free (non-negative, sampled) loadings — every row but the anchors'.
    ``fixed=True``: the anchor loadings, fixed at 1 — anchor ``k`` loads on skill ``k`` only.
    """
    anchor = np.zeros((len(benchmarks), len(anchors)), dtype=bool)
    for k, name in enumerate(anchors):
        anchor[benchmarks.index(name), k] = True
    if fixed:
        return anchor
    free = np.ones_like(anchor)
    free[anchor.any(axis=1)] = False
    return free


def link_mean(z, floor, nu, *, backend: Literal["numpy", "pytensor"] = "numpy"):
    """Richards link with a guessing floor, normalised at its midpoint.

    ``μ = c + (1 − c) · sigmoid(k_ν z + s_ν)^ν`` with ``s_ν = logit(0.5^{1/ν})`` and
    ``k_ν = 1 / (2ν(1 − 0.5^{1/ν}))``: whatever the exponent, ``z = 0`` maps to the
    midpoint ``c + (1 − c)/2`` and the slope there is the logistic one, ``(1 − c)/4``.
    So ν only bends the curve (asymmetry), and does not trade off against the
    intercept or the scale of the skills.  (Un-normalised, ln ν and the intercept
    had a posterior correlation of 0.99 and the skills' scale drifted with ν; NUTS
    needed tree depth 8–10 and chains did not mix — measured.)  ``ν = 1`` is the
    logistic link.  Computed in log space as ``exp(−ν · softplus(−(k_ν z + s_ν)))``.
    Works on numpy/xarray or PyTensor inputs.
    """
    if backend == "pytensor":
        exp, log, expm1, softplus = pt.exp, pt.log, pt.expm1, pt.softplus
    else:
        exp, log, expm1 = np.exp, np.log, np.expm1
        softplus = lambda a: np.logaddexp(0.0, a)  # noqa: E731
    a = np.log(2.0) / nu  # −ln(0.5^{1/ν})
    one_minus_p = -expm1(-a)  # 1 − 0.5^{1/ν}
    shift = -a - log(one_minus_p)  # logit(0.5^{1/ν})
    scale = 1.0 / (2.0 * nu * one_minus_p)
    return floor + (1.0 - floor) * exp(-nu * softplus(-(scale * z + shift)))


def lower_asymptote(posterior, floors):
    """The lower asymptote of each benchmark's link: the posterior ``lower_asymptote``
    (dims chain, draw, benchmark) where the fit learned it (``learned_floors=True``), the
    registry's guessing ``floors`` (dims benchmark) otherwise."""
    return posterior["lower_asymptote"] if "lower_asymptote" in posterior else floors


def benchmark_parameters(
    benchmarks: list[str], anchors: tuple[str, ...], floors: xr.DataArray, p: Priors, link: str
) -> tuple[Any, Any, Any, Any, Any]:
    """The benchmarks' side of the graph, inside the model context: ``loadings`` (benchmark,
    skill; each anchor loads 1 on its own skill alone, the others are non-negative and free),
    ``intercept`` (benchmark; 0 on the anchors), the guessing ``floor`` (data), the Richards
    exponent ``nu`` (benchmark; 1 under ``link="logistic"``) and the Beta precision ``phi``.
    Shared by :func:`build_model` and :func:`build_factor_model`."""
    anchor_rows = loading_mask(benchmarks, anchors, fixed=True)
    free_benchmark, free_skill = np.nonzero(loading_mask(benchmarks, anchors))
    is_anchor = anchor_rows.any(axis=1)
    # anchor loadings fixed at 1, the others free at (free_benchmark, free_skill)
    anchor = pm.Data("loading_anchor", anchor_rows.astype(float), dims=("benchmark", "skill"))
    free_j = pm.Data("loading_free_benchmark", free_benchmark)
    free_k = pm.Data("loading_free_skill", free_skill)
    free = pm.HalfNormal("loadings_free", p.loading_sd, shape=free_j.shape)
    loadings = pt.set_subtensor(anchor[free_j, free_k], free)
    loadings = pm.Deterministic("loadings", loadings, dims=("benchmark", "skill"))
    floor = pm.Data("guessing_floor", floors.to_numpy(), dims="benchmark")
    intercept_j = pm.Data("intercept_free_benchmark", np.flatnonzero(~is_anchor))
    intercept_free = pm.Normal("intercept_free", 0.0, p.intercept_sd, shape=intercept_j.shape)
    intercept = pt.set_subtensor(pt.zeros_like(floor)[intercept_j], intercept_free)
    intercept = pm.Deterministic("intercept", intercept, dims="benchmark")
    if link == "richards":
        log_nu = pm.Normal("log_nu", 0.0, p.log_nu_sd, dims="benchmark")
        nu = pm.Deterministic("nu", pt.exp(log_nu), dims="benchmark")
    elif link == "logistic":
        nu = pt.ones_like(floor)
    else:
        raise ValueError(f"link={link!r}: use 'richards' or 'logistic'.")
    log_phi = pm.Normal("log_phi", p.log_phi_mu, p.log_phi_sd, dims="benchmark")
    phi = pm.Deterministic("phi", pt.exp(log_phi), dims="benchmark")
    return loadings, intercept, floor, nu, phi


def build_model(design: Design, config: ModelConfig) -> pm.Model:
    """Build the PyMC model for ``design``.

    Variables (dims): ``slopes`` (covariate, skill), ``family_chol`` / ``skill_corr``,
    ``instruct_offset`` (skill), ``variant_sd`` (skill), ``alpha_variant_centre`` and
    ``alpha_variant`` (variant, skill), ``theta`` (model, skill); ``alpha_family`` (family,
    skill) is integrated out (:func:`add_family_effects` draws it after sampling), except with
    ``model_effects``, where it is sampled non-centred; with
    ``family_slopes``: ``family_slope`` (family, skill) and ``family_slope_sd`` (skill);
    ``loadings``
    (benchmark, skill), ``intercept`` (benchmark), ``nu`` (benchmark), ``phi``
    (benchmark), likelihood ``score`` (cell).

    Everything the design contributes is a data container, not a graph constant:
    ``covariates`` (model, covariate), ``score_observed`` (cell), the index arrays
    ``variant_family`` (variant), ``model_variant`` (model), ``cell_model`` and
    ``cell_benchmark`` (cell), ``variant_instruct`` (variant), ``variant_covariates``
    (variant, covariate), ``guessing_floor`` (benchmark), and the loading and intercept
    layout ``loading_anchor`` (benchmark, skill), ``loading_free_benchmark`` /
    ``loading_free_skill`` and ``intercept_free_benchmark``.  No dim length is fixed in
    the graph either.  PyTensor keys its compile cache on the graph, a constant's value
    included, and PyMC's NUTS and MAP functions fix only the length of the parameter
    vector; so models of one configuration on data with the same families, variants and
    benchmarks share their compiled functions whatever their models and cells: the folds
    of one protocol setting, the StackedModel's held-out refits, refits on other scores.
    """
    p = config.priors
    benchmarks = design.benchmarks
    anchors = resolve_anchors(config, benchmarks)
    skills = list(anchors)
    K = config.n_skills
    fam = design.families
    variant_of_model = design.model_variant_index  # (model,)

    with pm.Model(coords=design.coords(skills)) as model:
        X = pm.Data("covariates", design.covariates.to_numpy(), dims=("model", "covariate"))
        family_of_variant = pm.Data("variant_family", fam.family_index, dims="variant")
        v = pm.Data("model_variant", variant_of_model, dims="model")
        instruct_v = pm.Data(
            "variant_instruct", np.asarray(fam.instruct_of_variant, dtype=float), dims="variant"
        )
        xbar = pm.Data(  # the variants' mean covariates
            "variant_covariates", design.variant_mean_covariates.to_numpy(), dims=("variant", "covariate")
        )
        slope_sd = slope_prior_sd(p, design.covariates["covariate"].values).values[:, None]
        slopes = pm.Normal("slopes", 0.0, slope_sd, dims=("covariate", "skill"))

        # the base-family population α_f ~ MvNormal(m, Σ), Σ = chol(Σ) chol(Σ)ᵀ (a multivariate
        # t with robust_families: Σ / w_f, w_f ~ Gamma(ν_t/2, ν_t/2))
        skill_mean = pm.Normal("skill_mean", 0.0, p.intercept_sd, dims="skill")
        if K > 1:
            chol, corr, family_sd = pm.LKJCholeskyCov(
                "family_chol",
                n=K,
                eta=p.lkj_eta,
                sd_dist=pm.HalfNormal.dist(p.family_sd, shape=K),
                compute_corr=True,
            )
            pm.Deterministic("skill_corr", corr, dims=("skill", "skill_"))
            pm.Deterministic("family_sd", family_sd, dims="skill")
        else:
            family_sd = pm.HalfNormal("family_sd", p.family_sd, dims="skill")
            chol = family_sd[:, None]  # (1, 1)
        n_families = model.dim_lengths["family"]
        if config.robust_families:
            dof = pm.Gamma("family_dof", alpha=2.0, beta=p.family_dof_rate)
            weight = pm.Gamma("family_weight", alpha=dof / 2.0, beta=dof / 2.0, dims="family")
        else:
            weight = pt.ones((n_families,))
        delta = pm.Normal("instruct_offset", 0.0, p.instruct_sd, dims="skill")
        # zero-avoiding Gamma(2, 2/mean): variant lines do differ from their base family, and
        # τ → 0 is where the centred variant level funnels (measured: a leaderboard_v1 fold with
        # one chain stuck at τ ≈ 0.02 and 261 divergences under a HalfNormal prior).
        tau = pm.Gamma("variant_sd", alpha=2.0, beta=2.0 / p.variant_sd, dims="skill")
        if config.family_slopes:
            # γ_f = ω·η_f, non-centred; enters θ as γ_f(i)·u_i
            eta = pm.Normal("family_slope_raw", 0.0, 1.0, dims=("family", "skill"))
            omega = pm.HalfNormal("family_slope_sd", p.family_slope_sd, dims="skill")
            gamma = pm.Deterministic("family_slope", omega * eta, dims=("family", "skill"))
            gamma_v = gamma[family_of_variant]  # (variant, skill)
            u_bar = xbar[:, 0][:, None]  # the variants' mean standardised ln params, (variant, 1)
        if config.model_effects:
            # base families non-centred, α_f = m + (ε_f / √w_f) · chol(Σ)ᵀ: here the variants
            # are integrated out instead (see _variant_marginal_skills)
            eps_f = pm.Normal("alpha_family_raw", 0.0, 1.0, dims=("family", "skill"))
            alpha_f = pm.Deterministic(
                "alpha_family", skill_mean + (eps_f / pt.sqrt(weight)[:, None]) @ chol.T,
                dims=("family", "skill"),
            )
            base_v = alpha_f[family_of_variant] + instruct_v[:, None] * delta
            line = X @ slopes + base_v[v]
            if config.family_slopes:
                line = line + X[:, 0][:, None] * gamma_v[v]
            # a σ_m per skill: the shared-σ_m alternative mixed no better on the
            # extrapolation check (R-hat 1.22 vs 1.13) and forecast worse (MAE 3.78 vs 3.56 pp)
            sigma_m = pm.Gamma("model_sd", alpha=2.0, beta=2.0 / p.model_sd, dims="skill")
            theta = _variant_marginal_skills(line, base_v, tau, sigma_m, variant_of_model, len(fam.variants))
        else:
            # variants, centred *within variant*: a variant's skill at its own mean
            # covariates, alpha_centre_v = alpha_v + xbar_v·B, is what the data pin down, so
            # sampling it (rather than alpha_v) removes the posterior correlation between the
            # variant effects and the slopes.  Its expected value without the base family:
            loc = skill_mean + instruct_v[:, None] * delta + xbar @ slopes
            if config.family_slopes:
                loc = loc + u_bar * gamma_v
            # the base-family effects integrated out (see _family_marginal_variant_centres);
            # alpha_family is drawn from its exact conditional after sampling
            alpha_c = _family_marginal_variant_centres(loc, chol, tau, family_of_variant, weight, K)
            alpha_v = alpha_c - xbar @ slopes
            theta = (X - xbar[v]) @ slopes + alpha_c[v]
            if config.family_slopes:
                alpha_v = alpha_v - u_bar * gamma_v
                theta = theta + (X[:, 0][:, None] - u_bar[v]) * gamma_v[v]
            pm.Deterministic("alpha_variant", alpha_v, dims=("variant", "skill"))
            theta = pm.Deterministic("theta", theta, dims=("model", "skill"))

        loadings, intercept, floor, nu, phi = benchmark_parameters(benchmarks, anchors, design.floors, p, config.link)

        # latent mean of every (model, benchmark) pair, then gather the observed cells
        z = theta @ loadings.T + intercept
        if config.benchmark_effects:
            # u_vj = ψ_j ε_vj, non-centred: a variant's own deviation on each benchmark,
            # beyond what its K skills explain; shared by all of the variant's models
            psi = pm.HalfNormal("benchmark_effect_sd", p.benchmark_effect_sd, dims="benchmark")
            eps_u = pm.Normal("variant_benchmark_raw", 0.0, 1.0, dims=("variant", "benchmark"))
            u = pm.Deterministic("variant_benchmark", psi * eps_u, dims=("variant", "benchmark"))
            z = z + u[v]
        if config.learned_floors:
            # the lower asymptote, at or above the guessing floor: weak models sit above chance
            # on some benchmarks (MMLU-PRO 0.11 vs 0.10, IFEval 0.16-0.22 vs 0)
            lift = pm.Beta("floor_lift", alpha=1.0, beta=p.floor_lift_beta, dims="benchmark")
            floor = pm.Deterministic("lower_asymptote", floor + (1.0 - floor) * lift, dims="benchmark")
        mu_all = link_mean(z, floor, nu, backend="pytensor")
        m = pm.Data("cell_model", design.cell_model, dims="cell")
        j = pm.Data("cell_benchmark", design.cell_benchmark, dims="cell")
        mu = pt.clip(mu_all[m, j], 1e-6, 1.0 - 1e-6)
        # the scores as data, not graph constants: fits that differ only in their scores
        # (simulated worlds, refits) share one compiled function
        y = pm.Data("score_observed", design.y, dims="cell")
        phi_cell = phi[j]
        if config.instruct_precision:
            # instruct models' scores scatter more about their line (measured on the
            # within-training extrapolation check): their own precision, φ_j·exp(κ)
            kappa = pm.Normal("instruct_log_precision", 0.0, p.instruct_precision_sd)
            phi_cell = phi_cell * pt.exp(kappa * instruct_v[v][m])
        pm.Beta("score", alpha=mu * phi_cell, beta=(1.0 - mu) * phi_cell, observed=y, dims="cell")
    return model


def _variant_marginal_skills(line, base_v, tau, sigma, variant_index: np.ndarray, n_variants: int):
    """Per-model skills with the variant effect integrated out (``model_effects=True``).

    Within variant ``v`` and skill ``k`` the models' skills are
    ``θ_i = line_i + a_v + e_i`` with ``a_v ~ N(0, τ_k)`` (the variant's deviation from its
    base family) and ``e_i ~ N(0, σ_k)`` (the model's own), so the residuals
    ``r_i = θ_i − line_i`` of a variant's ``n`` models are jointly Normal with covariance
    ``σ² I + τ² J``.  Its closed form (``d = σ² + n τ²``)::

        −2 log p = (n − 1) ln σ² + ln d + (Σ r² − τ² (Σ r)² / d) / σ² + n ln 2π

    is the density of ``theta`` (dims model, skill).  Sampling ``a_v`` instead leaves a
    two-level Gaussian whose best parameterisation depends on ``τ / (σ/√n)``, which varies
    by skill and variant: centred, variant_sd mixed with ESS 13 in 2 × 500 draws; non-centred,
    R-hat 1.38 on a training subset (measured).  Integrated out, there is no such choice.

    ``a_v`` is recovered exactly: given θ it is Normal with precision
    ``P = 1/τ² + n/σ²`` and mean ``Σ r / (σ² P)``.  ``alpha_variant`` (variant, skill)
    holds ``base_v + E[a_v | θ]`` and ``alpha_variant_sd`` its conditional sd
    ``P^{-1/2}``; prediction draws ``a_v`` from them.
    """
    n = np.bincount(variant_index, minlength=n_variants)[:, None].astype(float)  # (variant, 1)

    def segment_sum(x):  # (model, skill) -> (variant, skill), scatter-add by variant
        return pt.inc_subtensor(pt.zeros((n_variants, x.shape[-1]))[variant_index], x)

    def sums(r):
        return segment_sum(r), segment_sum(r**2)  # (variant, skill) each

    def logp(value, line, sigma, tau):
        s1, s2 = sums(value - line)
        var_m, var_v = sigma**2, tau**2
        d = var_m + n * var_v
        lp = -0.5 * ((n - 1) * pt.log(var_m) + pt.log(d)
                     + (s2 - var_v * s1**2 / d) / var_m + n * np.log(2 * np.pi))
        return pt.sum(lp)  # one joint density: the models of a variant are not independent

    def random(line, sigma, tau, rng=None, size=None):
        a = rng.normal(size=(n_variants, line.shape[-1])) * tau
        return line + a[variant_index] + rng.normal(size=line.shape) * sigma

    theta = pm.CustomDist("theta", line, sigma, tau, logp=logp, random=random,
                          signature="(m,k),(k),(k)->(m,k)", dims=("model", "skill"))
    s1, _ = sums(theta - line)
    precision = 1.0 / tau**2 + n / sigma**2
    pm.Deterministic("alpha_variant", base_v + s1 / (sigma**2 * precision), dims=("variant", "skill"))
    pm.Deterministic("alpha_variant_sd", pt.ones_like(s1) / pt.sqrt(precision), dims=("variant", "skill"))
    return theta


def _batched_normal_logp(x, cov, n_dims: int):
    """``Σ_f log N(x_f; 0, cov_f)`` for ``x`` (batch, n_dims) and ``cov`` (batch, n_dims, n_dims).

    The Cholesky factor and the forward substitution are unrolled over the ``n_dims`` (a
    Python int) into elementwise operations on (batch,) vectors.  The same density as
    ``pm.MvNormal`` with a batched ``cov`` (tested against it), at a quarter of the cost: for
    33 families and 4 skills, value and gradient took 23 µs against 99 µs (measured in session
    21), where PyTensor's batched Cholesky and its gradient dominated the whole model's.
    """
    low = [[None] * n_dims for _ in range(n_dims)]  # low[i][j], j ≤ i: (batch,) entries of chol(cov)
    for i in range(n_dims):
        for j in range(i + 1):
            s = cov[:, i, j]
            for k in range(j):
                s = s - low[i][k] * low[j][k]
            low[i][j] = pt.sqrt(s) if i == j else s / low[j][j]
    z: list = []  # chol(cov)⁻¹ x, one (batch,) vector per dimension
    for i in range(n_dims):
        s = x[:, i]
        for k in range(i):
            s = s - low[i][k] * z[k]
        z.append(s / low[i][i])
    per_batch = -0.5 * sum(zi**2 for zi in z) - sum(pt.log(low[i][i]) for i in range(n_dims))
    return pt.sum(per_batch) - 0.5 * n_dims * np.log(2.0 * np.pi) * pt.cast(x.shape[0], "float64")


def _family_marginal_variant_centres(loc, chol, tau, family_index, weight, n_skills: int):
    """``alpha_variant_centre`` (variant, skill) with the base-family effects integrated out.

    Given the base family, a variant's centre is ``loc_v + a_f(v) + τ ⊙ ε_v`` with
    ``a_f ~ N(0, Σ / w_f)`` (``Σ = chol cholᵀ``; ``w_f = 1`` without ``robust_families``) and
    ``ε_v ~ N(0, I)``.  For base family ``f`` with ``n`` variants, residuals ``r_v`` and their
    mean ``r̄``, the joint density factorises (``D = diag(τ²)``)::

        log p = log N(r̄; 0, Σ / w_f + D / n)
                − ½ Σ_v Σ_k (r_vk − r̄_k)² / τ_k² − ½ (n − 1) Σ_k ln(2π τ_k²) − ½ K ln n

    so no base-family effect is sampled (why, with the measurements: the module docstring's
    "Parameterisation").  ``alpha_family`` is drawn afterwards from its exact Gaussian conditional
    (:func:`draw_family_effects`).  ``n_skills`` (K, a Python int) unrolls the
    between-family term (:func:`_batched_normal_logp`).
    """

    def logp(value, loc, chol, tau, family_index, weight):
        r = value - loc  # (variant, skill)
        # n_f: the variants of each family; a data container's counts, not a graph constant
        counts = pt.inc_subtensor(pt.zeros(weight.shape)[family_index], 1.0)  # n_f, (family,)
        r_bar = pt.inc_subtensor(pt.zeros((weight.shape[0], r.shape[1]))[family_index], r) / counts[:, None]
        var_v = tau**2
        within = -0.5 * (pt.sum((r - r_bar[family_index]) ** 2 / var_v)
                         + pt.sum((counts - 1.0)[:, None] * pt.log(2.0 * np.pi * var_v))
                         + n_skills * pt.sum(pt.log(counts)))
        cov = (chol @ chol.T)[None] / weight[:, None, None] + pt.diag(var_v)[None] / counts[:, None, None]
        between = _batched_normal_logp(r_bar, cov, n_skills)
        return within + between  # one joint density: a family's variants are not independent

    def random(loc, chol, tau, family_index, weight, rng=None, size=None):
        a = rng.normal(size=(len(weight), len(tau))) @ chol.T / np.sqrt(weight)[:, None]
        return loc + a[family_index] + rng.normal(size=loc.shape) * tau

    def support_point(rv, size, loc, chol, tau, family_index, weight):
        return loc

    return pm.CustomDist(
        "alpha_variant_centre", loc, chol, tau, family_index, weight, logp=logp, random=random,
        support_point=support_point, signature="(v,k),(k,k),(k),(v),(f)->(v,k)",
        dims=("variant", "skill"),
    )


def family_conditional(
    residual_sum: np.ndarray, counts: np.ndarray, cov: np.ndarray, variant_var: np.ndarray,
    weight: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and Cholesky factor of the covariance of ``a_f`` given its variants' residuals.

    ``a_f ~ N(0, cov / w_f)`` and ``r_v ~ N(a_f, diag(variant_var))`` for the ``n_f``
    variants of ``f``; ``residual_sum`` (..., family, skill) is ``Σ_v r_v``, ``counts``
    (family,) is ``n_f``, ``cov`` (..., skill, skill), ``variant_var`` (..., skill) and
    ``weight`` (..., family).  The conditional precision is ``w_f cov⁻¹ + n_f diag(1/τ²)``.
    Returns the mean (..., family, skill) and the lower Cholesky factor of the conditional
    covariance (..., family, skill, skill).
    """
    prior_precision = np.linalg.inv(cov)[..., None, :, :] * weight[..., None, None]
    data_precision = counts[:, None] / variant_var[..., None, :]  # (..., family, skill)
    precision = prior_precision + data_precision[..., :, None] * np.eye(cov.shape[-1])
    cond_cov = np.linalg.inv(precision)
    mean = np.einsum("...ij,...j->...i", cond_cov, residual_sum / variant_var[..., None, :])
    return mean, np.linalg.cholesky(cond_cov)


def draw_family_effects(
    posterior: xr.Dataset, variant_family: np.ndarray, variant_instruct: np.ndarray,
    families: Sequence[str], rng: np.random.Generator,
) -> xr.DataArray:
    """Posterior draws of ``alpha_family`` (chain, draw, family, skill) for a fit whose
    base-family effects were integrated out (:func:`_family_marginal_variant_centres`).

    Each draw comes from the exact conditional of ``α_f`` given that draw's variant effects
    ``alpha_variant`` (variant, skill), instruct offset, population mean and covariance, and
    variant sd (:func:`family_conditional`); with the sampled draws it forms exact joint
    posterior draws.  ``variant_family`` (variant,) indexes ``families``; ``variant_instruct``
    (variant,) is 0/1.
    """
    sd = posterior["family_sd"].transpose("chain", "draw", "skill").values
    if "skill_corr" in posterior:
        corr = posterior["skill_corr"].transpose("chain", "draw", "skill", "skill_").values
        cov = sd[..., :, None] * corr * sd[..., None, :]
    else:
        cov = sd[..., :, None] ** 2
    mean = posterior["skill_mean"].transpose("chain", "draw", "skill").values
    delta = posterior["instruct_offset"].transpose("chain", "draw", "skill").values
    alpha_v = posterior["alpha_variant"].transpose("chain", "draw", "variant", "skill").values
    residual = alpha_v - mean[..., None, :] - np.asarray(variant_instruct, float)[:, None] * delta[..., None, :]
    onehot = np.eye(len(families))[np.asarray(variant_family)]  # (variant, family)
    residual_sum = np.einsum("vf,cdvk->cdfk", onehot, residual)
    counts = onehot.sum(axis=0)
    weight = (posterior["family_weight"].transpose("chain", "draw", "family").values
              if "family_weight" in posterior else np.ones(residual_sum.shape[:-1]))
    variant_var = posterior["variant_sd"].transpose("chain", "draw", "skill").values ** 2
    eps = rng.standard_normal(residual_sum.shape)
    draws = np.empty_like(residual_sum)
    for c in range(draws.shape[0]):  # chain by chain: (draw, family, skill, skill) arrays, not all at once
        cond_mean, cond_chol = family_conditional(residual_sum[c], counts, cov[c], variant_var[c], weight[c])
        draws[c] = mean[c, :, None, :] + cond_mean + np.einsum("...ij,...j->...i", cond_chol, eps[c])
    skill = posterior["skill_mean"]["skill"].values
    return xr.DataArray(
        draws, dims=("chain", "draw", "family", "skill"),
        coords={"chain": posterior["chain"].values, "draw": posterior["draw"].values,
                "family": list(families), "skill": skill},
    )


def add_family_effects(draws: xr.Dataset, design: Design, random_seed: int) -> xr.Dataset:
    """``draws`` (prior or posterior, dims chain, draw, …) with ``alpha_family`` (chain, draw,
    family, skill) added where the graph integrated the base-family effects out: exact draws
    from its conditional (:func:`draw_family_effects`), from the random stream
    ``[random_seed, FAMILY_EFFECT_STREAM]``.  Unchanged where the draws already hold it."""
    if "alpha_family" in draws:
        return draws
    fam = design.families
    rng = np.random.default_rng([random_seed, FAMILY_EFFECT_STREAM])
    alpha_f = draw_family_effects(draws, fam.family_index, np.asarray(fam.instruct_of_variant), fam.families, rng)
    return draws.assign(alpha_family=alpha_f)


@dataclass(frozen=True)
class FactorConfig(_ConfigRecord):
    """What the skill factor model fits: number of skills, anchors, link and priors.

    K = 2 and the logistic link are the defaults here: on 500 leaderboard_v1 models, K = 3
    (MMLU, GSM8K and HellaSwag anchors) with the Richards link did not mix in 2 × 300 draws
    (R-hat 2.4, 339 divergent transitions, a stuck chain), where K = 2 (MMLU, HellaSwag) with
    the logistic link had no divergences and R-hat 1.07 (``docs/findings.md``).
    """

    n_skills: int = 2
    anchors: tuple[str, ...] | None = None
    link: LinkName = "logistic"
    priors: Priors = field(default_factory=Priors)



def build_factor_model(design: FactorDesign, config: FactorConfig) -> pm.Model:
    """The measurement half of the latent-skill model, for score tables without params or
    tokens (e.g. the leaderboard's thousands of fine-tunes and merges).

    Each model's skills are a draw from the population, ``θ_i ~ MvNormal(m, Σ)`` (dims model,
    skill; non-centred, ``Σ`` with an LKJ correlation and HalfNormal(``family_sd``) scales,
    ``m ~ Normal(0, intercept_sd)``); the benchmarks' side is :func:`build_model`'s
    (:func:`benchmark_parameters`: anchored non-negative loadings, intercepts, link, Beta
    precision), and so is the likelihood on the observed cells.

    Variables (dims): ``skill_mean`` (skill), ``skill_sd`` (skill), ``skill_corr`` (skill,
    skill_), ``theta_raw`` and ``theta`` (model, skill), ``loadings`` (benchmark, skill),
    ``intercept``, ``nu`` (Richards only), ``phi`` (benchmark), likelihood ``score`` (cell).
    """
    p = config.priors
    anchors = resolve_anchors(config, design.benchmarks)
    K = config.n_skills
    with pm.Model(coords=design.coords(list(anchors))) as model:
        skill_mean = pm.Normal("skill_mean", 0.0, p.intercept_sd, dims="skill")
        if K > 1:
            chol, corr, sd = pm.LKJCholeskyCov(
                "skill_chol", n=K, eta=p.lkj_eta, sd_dist=pm.HalfNormal.dist(p.family_sd, shape=K),
                compute_corr=True,
            )
            pm.Deterministic("skill_corr", corr, dims=("skill", "skill_"))
            pm.Deterministic("skill_sd", sd, dims="skill")
        else:
            sd = pm.HalfNormal("skill_sd", p.family_sd, dims="skill")
            chol = sd[:, None]
        raw = pm.Normal("theta_raw", 0.0, 1.0, dims=("model", "skill"))
        theta = pm.Deterministic("theta", skill_mean + raw @ chol.T, dims=("model", "skill"))
        loadings, intercept, floor, nu, phi = benchmark_parameters(
            design.benchmarks, anchors, design.floors, p, config.link
        )
        m = pm.Data("cell_model", design.cell_model, dims="cell")
        j = pm.Data("cell_benchmark", design.cell_benchmark, dims="cell")
        z = (theta[m] * loadings[j]).sum(axis=-1) + intercept[j]  # only the observed cells
        mu = pt.clip(link_mean(z, floor[j], nu[j], backend="pytensor"), 1e-6, 1.0 - 1e-6)
        y = pm.Data("score_observed", design.y, dims="cell")
        pm.Beta("score", alpha=mu * phi[j], beta=(1.0 - mu) * phi[j], observed=y, dims="cell")
    return model
