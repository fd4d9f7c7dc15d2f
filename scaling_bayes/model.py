"""The hierarchical latent-skill model: the one place that builds the PyMC graph.

Step 3 of the data flow (load → design → **model** → inference → prediction).

Generative model
----------------
For model ``i`` in variant family ``v(i)`` of base family ``f(v)``, skill ``k`` and
benchmark ``j``::

    x_i          = standardised [ln N, ln D, ln N · ln D]                     (covariate)
    L            ~ LKJCorr(K, eta)                 family-effect correlation (unit variances)
    α_f          = L · ε_f,  ε_f ~ N(0, I)          base-family effect        (family, skill)
    α_v          = α_f(v) + δ · instruct_v + τ ⊙ ε_v,  ε_v ~ N(0, I)           (variant, skill)
    θ_i          = Bᵀ x_i + α_v(i)                  latent skills             (model, skill)
    z_ij         = λ_jᵀ θ_i + b_j
    μ_ij         = c_j + (1 − c_j) · sigmoid(z_ij) ^ ν_j       Richards link (ν_j = 1: logistic)
    y_ij         ~ Beta(μ_ij φ_j, (1 − μ_ij) φ_j)              observed cells only

``c_j`` is the benchmark's guessing floor from the registry.  Both family levels are
non-centred.

Identification
--------------
A factor model is invariant to rotations, reflections and permutations of its skills;
left alone, NUTS chains settle in different modes (R-hat ≈ 1.8 measured).  We pin
every one of these symmetries:

* **scale** — base-family effects have unit variance (an LKJ *correlation* matrix),
  so a skill is measured in between-family standard deviations;
* **sign** — every loading is non-negative (more of any skill never lowers a score);
* **rotation and permutation** — each skill ``k`` has an *anchor benchmark* that
  loads on skill ``k`` only (the LVF paper's anchors).  The default anchors name
  distinct abilities: knowledge (MMLU / MMLU-PRO), mathematical reasoning (GSM8K /
  MATH Lvl 5) and instruction following (IFEval / TruthfulQA).

Priors (all overridable through :class:`Priors`) are weakly informative on the
standardised scale; see the field docstrings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from scaling_bayes.design import Design

LinkName = Literal["logistic", "richards"]

#: Anchor preference, one list per ability; the first available benchmark of each
#: list becomes that skill's anchor, in this order.
ANCHOR_PREFERENCE: tuple[tuple[str, ...], ...] = (
    ("MMLU", "MMLU-PRO", "ARC", "HellaSwag"),
    ("GSM8K", "MATH Lvl 5", "BBH"),
    ("IFEval", "TruthfulQA"),
    ("HellaSwag", "Winogrande", "MUSR", "ARC"),
    ("GPQA", "BBH", "Winogrande"),
)


@dataclass(frozen=True)
class Priors:
    """Weakly informative priors on the standardised scale.

    Attributes
    ----------
    slope_sd : sd of the Normal prior on the covariate slopes ``B`` (one standardised
        covariate unit moves a skill by ~1 between-family sd).
    lkj_eta : LKJ shape for the family-effect correlation (2 = mild shrinkage to 0).
    instruct_sd : sd of the Normal prior on the instruct offset ``δ`` per skill.
    variant_sd : scale of the HalfNormal prior on the variant spread ``τ`` per skill.
    loading_sd : scale of the HalfNormal prior on the (non-negative) loadings ``λ``.
    intercept_sd : sd of the Normal prior on benchmark intercepts ``b`` (logit scale).
    log_nu_sd : sd of the Normal(0, ·) prior on the log Richards exponent ``ln ν``.
    log_phi_mu, log_phi_sd : Normal prior on the log Beta precision ``ln φ``
        (exp(5) ≈ 150 ↔ a residual sd of ~4 pp at a 50% score).
    """

    slope_sd: float = 1.0
    lkj_eta: float = 2.0
    instruct_sd: float = 1.0
    variant_sd: float = 0.5
    loading_sd: float = 1.0
    intercept_sd: float = 2.0
    log_nu_sd: float = 0.75
    log_phi_mu: float = 5.0
    log_phi_sd: float = 1.0


@dataclass(frozen=True)
class ModelConfig:
    """What to fit: number of skills, anchors, link and priors."""

    n_skills: int = 3
    anchors: tuple[str, ...] | None = None
    link: LinkName = "richards"
    priors: Priors = field(default_factory=Priors)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["anchors"] = list(self.anchors) if self.anchors else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        d = dict(d)
        d["priors"] = Priors(**d.get("priors", {}))
        d["anchors"] = tuple(d["anchors"]) if d.get("anchors") else None
        return cls(**d)


def choose_anchors(benchmarks: list[str], n_skills: int) -> tuple[str, ...]:
    """Pick one distinct anchor benchmark per skill from :data:`ANCHOR_PREFERENCE`,
    falling back to the remaining benchmarks in table order."""
    chosen: list[str] = []
    for options in ANCHOR_PREFERENCE:
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


def resolve_anchors(config: ModelConfig, benchmarks: list[str]) -> tuple[str, ...]:
    """The anchors to use: the configured ones (validated) or :func:`choose_anchors`."""
    if config.anchors is None:
        return choose_anchors(benchmarks, config.n_skills)
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


def loading_mask(benchmarks: list[str], anchors: tuple[str, ...]) -> np.ndarray:
    """Free-loading mask, shape (benchmark, skill): anchor ``k`` loads on skill ``k`` only."""
    mask = np.ones((len(benchmarks), len(anchors)), dtype=bool)
    for k, anchor in enumerate(anchors):
        j = benchmarks.index(anchor)
        mask[j, :] = False
        mask[j, k] = True
    return mask


def link_mean(z, floor, nu, *, exp=np.exp, softplus=None):
    """Richards link ``c + (1 − c) · sigmoid(z)^ν``, computed as ``exp(−ν softplus(−z))``.

    Works on numpy/xarray (default) and PyTensor tensors (pass ``exp=pt.exp,
    softplus=pt.softplus``).  ``ν = 1`` gives the logistic link.
    """
    if softplus is None:
        softplus = lambda a: np.logaddexp(0.0, a)  # noqa: E731
    return floor + (1.0 - floor) * exp(-nu * softplus(-z))


def build_model(design: Design, config: ModelConfig) -> pm.Model:
    """Build the PyMC model for ``design``.

    Variables (dims): ``slopes`` (covariate, skill), ``family_chol`` / ``skill_corr``,
    ``alpha_family`` (family, skill), ``instruct_offset`` (skill), ``variant_sd`` (skill),
    ``alpha_variant`` (variant, skill), ``theta`` (model, skill), ``loadings``
    (benchmark, skill), ``intercept`` (benchmark), ``nu`` (benchmark), ``phi``
    (benchmark), likelihood ``score`` (cell).
    """
    p = config.priors
    benchmarks = design.benchmarks
    anchors = resolve_anchors(config, benchmarks)
    skills = list(anchors)
    K = config.n_skills
    mask = loading_mask(benchmarks, anchors)
    fam = design.families
    instruct_v = np.asarray(fam.instruct_of_variant, dtype=float)

    with pm.Model(coords=design.coords(skills)) as model:
        X = pm.Data("covariates", design.covariates.to_numpy(), dims=("model", "covariate"))
        slopes = pm.Normal("slopes", 0.0, p.slope_sd, dims=("covariate", "skill"))

        if K > 1:
            chol = pm.LKJCorr("family_chol", n=K, eta=p.lkj_eta)
            pm.Deterministic("skill_corr", chol @ chol.T, dims=("skill", "skill_"))
        else:
            chol = pt.ones((1, 1))
        eps_f = pm.Normal("alpha_family_raw", 0.0, 1.0, dims=("family", "skill"))
        alpha_f = pm.Deterministic("alpha_family", eps_f @ chol.T, dims=("family", "skill"))

        delta = pm.Normal("instruct_offset", 0.0, p.instruct_sd, dims="skill")
        tau = pm.HalfNormal("variant_sd", p.variant_sd, dims="skill")
        eps_v = pm.Normal("alpha_variant_raw", 0.0, 1.0, dims=("variant", "skill"))
        alpha_v = pm.Deterministic(
            "alpha_variant",
            alpha_f[fam.family_index] + instruct_v[:, None] * delta + tau * eps_v,
            dims=("variant", "skill"),
        )
        theta = pm.Deterministic(
            "theta", X @ slopes + alpha_v[design.model_variant_index], dims=("model", "skill")
        )

        free = pm.HalfNormal("loadings_free", p.loading_sd, shape=int(mask.sum()))
        loadings = pt.zeros(mask.shape)
        loadings = pt.set_subtensor(loadings[np.nonzero(mask)], free)
        loadings = pm.Deterministic("loadings", loadings, dims=("benchmark", "skill"))
        intercept = pm.Normal("intercept", 0.0, p.intercept_sd, dims="benchmark")
        if config.link == "richards":
            log_nu = pm.Normal("log_nu", 0.0, p.log_nu_sd, dims="benchmark")
            nu = pm.Deterministic("nu", pt.exp(log_nu), dims="benchmark")
        elif config.link == "logistic":
            nu = pt.ones(len(benchmarks))
        else:
            raise ValueError(f"link={config.link!r}: use 'richards' or 'logistic'.")
        log_phi = pm.Normal("log_phi", p.log_phi_mu, p.log_phi_sd, dims="benchmark")
        phi = pm.Deterministic("phi", pt.exp(log_phi), dims="benchmark")

        m, j = design.cell_model, design.cell_benchmark
        z = (theta[m] * loadings[j]).sum(axis=-1) + intercept[j]
        floors = design.floors.to_numpy()[j]
        mu = link_mean(z, floors, nu[j], exp=pt.exp, softplus=pt.softplus)
        mu = pt.clip(mu, 1e-6, 1.0 - 1e-6)
        pm.Beta(
            "score", alpha=mu * phi[j], beta=(1.0 - mu) * phi[j], observed=design.y, dims="cell"
        )
    return model
