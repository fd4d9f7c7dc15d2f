"""``LatentSkillModel``: the user-facing model class (fit, predict, save, load).

It wires the data flow together — design → PyMC graph → NUTS → diagnostics →
posterior-predictive prediction — in the style of pymc-marketing's model classes.

>>> from scaling_bayes import LatentSkillModel, load_dataset
>>> model = LatentSkillModel(n_skills=4)
>>> idata = model.fit(load_dataset("sloth_curated"))          # doctest: +SKIP
>>> model.predict(new_models, prob=0.9).table                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from scaling_bayes.benchmarks import BenchmarkRegistry, default_registry
from scaling_bayes.data import ScoreTable, _read_csv_keeping_names, from_wide, validate_new_models
from scaling_bayes.design import DEFAULT_COVARIATES, Design, build_design
from scaling_bayes.inference import (
    Diagnostics,
    SamplerConfig,
    chain_stacking_weights,
    compute_log_likelihood,
    diagnose,
    mix_chains,
    prior_posterior_conflict,
    sample,
    sample_prior_predictive,
    warn_on_problems,
)
from scaling_bayes.model import (
    SCALE_VARIABLES,
    ModelConfig,
    Priors,
    add_family_effects,
    build_model,
    normal_priors,
    resolve_anchors,
)
from scaling_bayes.prediction import (
    FAMILY_SIZE_WARNING_RATIO,
    Prediction,
    benchmark_deviations,
    family_cases,
    family_effects,
    family_size_ratio,
    known_variant_families,
    log_predictive_density,
    model_deviations,
    score_draws,
    skill_score_draws,
    summarize,
    warn_near_miss_families,
)

__all__ = ["LatentSkillModel", "ExtrapolationWarning", "NotFittedError"]


class ExtrapolationWarning(UserWarning):
    """A prediction request lies far outside the training range of params or tokens."""


class NotFittedError(RuntimeError):
    """The model has no posterior yet: call ``fit`` or ``load`` first."""


def _package_version() -> str:
    try:
        return version("scaling-bayes")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class LatentSkillModel:
    """Hierarchical latent-skill scaling model (see :mod:`scaling_bayes.model`).

    Parameters
    ----------
    n_skills : number of latent skills ``K`` (default 4: PSIS-LOO's choice over K=2-4 on the
        bundled data, all 12 benchmarks; under the current default elpd_loo K=3 3020, K=4
        3170, K=5 3230, but K=5 mixes poorly even at 4 × 1500 draws (R-hat 1.05, ESS 110)
        and forecast no better on the protocol's all12 settings (MAE 3.61 → 3.61 and
        3.66 → 3.82 pp); see ``benchmarks/results/choose_k_all12_sq05*.csv``,
        ``sloth_k5_all12_sq/`` and ``docs/findings.md``).
    anchors : one anchor benchmark per skill (default: :func:`~scaling_bayes.model.choose_anchors`).
    link : ``"richards"`` (asymmetric, default) or ``"logistic"``.
    priors : :class:`~scaling_bayes.model.Priors` overrides.
    sampler : :class:`~scaling_bayes.inference.SamplerConfig`.
    registry : benchmark registry (floors, item counts); default the bundled one.
    covariates : ``"translog_sq"`` (default; ln N, ln D, ln N·ln D and the squared logs),
        ``"translog"`` (Sloth's form, without the squares), ``"translog_sq_instruct"`` (the
        default plus instruct × ln N; off by default: worse on the within-training
        extrapolation check, measured) or ``"flops"`` (ln 6ND).
    family_slopes : give each base family its own, partially pooled slope on ln params
        (see :mod:`scaling_bayes.model`; off by default: wider, better-covering intervals
        but worse point forecasts on Sloth's protocol, measured).
    model_effects : give each model its own skill deviation from its family's line,
        ``θ_i ~ N(line, σ_m)`` (see :mod:`scaling_bayes.model`); a new model's forecast then
        carries a fresh deviation (off by default: better calibrated when a family shows two
        sizes, worse point forecasts from one size and on six-benchmark sets, measured).
    benchmark_effects : give each variant family its own deviation on each benchmark,
        ``u_vj ~ N(0, ψ_j)`` on the logit scale, beyond what its K skills explain (see
        :mod:`scaling_bayes.model`); a larger model of a seen variant carries it over.
    learned_floors : learn each benchmark's lower asymptote, at or above its guessing floor
        (see :mod:`scaling_bayes.model`), rather than fixing it at the floor.
    robust_families : draw base-family effects from a multivariate t (a learned ν_t) rather
        than a Normal, so an outlying family is shrunk less towards the population.
    instruct_precision : give instruct models' scores their own Beta precision,
        ``φ_j · exp(κ)`` with one learned log ratio ``κ`` (``instruct_log_precision``):
        instruct lines scatter more about their family's line than base models.
    """

    def __init__(
        self,
        n_skills: int = 4,
        *,
        anchors: tuple[str, ...] | list[str] | None = None,
        link: str = "richards",
        priors: Priors | None = None,
        sampler: SamplerConfig | None = None,
        registry: BenchmarkRegistry | None = None,
        covariates: str = DEFAULT_COVARIATES,
        family_slopes: bool = False,
        model_effects: bool = False,
        benchmark_effects: bool = False,
        learned_floors: bool = False,
        robust_families: bool = False,
        instruct_precision: bool = False,
    ) -> None:
        self.config = ModelConfig(
            n_skills=n_skills,
            anchors=tuple(anchors) if anchors else None,
            link=link,  # type: ignore[arg-type]
            priors=priors or Priors(),
            covariates=covariates,
            family_slopes=family_slopes,
            model_effects=model_effects,
            benchmark_effects=benchmark_effects,
            learned_floors=learned_floors,
            robust_families=robust_families,
            instruct_precision=instruct_precision,
        )
        #: The configuration as asked for; ``config`` becomes it with the anchors resolved on the
        #: data of the last ``build``/``fit``, so a refit on other benchmarks resolves them afresh.
        self._requested_config = self.config
        self.sampler = sampler or SamplerConfig()
        self.registry = registry or default_registry()
        self.design: Design | None = None
        self.idata: xr.DataTree | None = None
        self.diagnostics: Diagnostics | None = None
        self.random_seed: int | None = None

    # ------------------------------------------------------------------ fitting
    def settings(self) -> dict[str, Any]:
        """Everything that decides a fit, defaults included: the model configuration as
        requested (anchors unresolved), the sampler configuration and the class.  A protocol
        run's fold cache is keyed on it (:func:`~scaling_bayes.evaluation.run_protocol`)."""
        return {"class": type(self).__name__, "model": self._requested_config.to_dict(),
                "sampler": self.sampler.to_dict()}

    def _config_for(self, benchmarks: list[str]) -> ModelConfig:
        """The requested configuration for data with these benchmarks (anchors unresolved)."""
        return self._requested_config

    def _design(self, data: ScoreTable) -> tuple[Design, ModelConfig]:
        """The design for ``data`` and the model configuration with its anchors resolved."""
        design = build_design(data, self.registry, self._requested_config.covariates)
        config = self._config_for(list(design.benchmarks))
        return design, replace(config, anchors=resolve_anchors(config, design.benchmarks))

    def build(self, data: ScoreTable) -> pm.Model:
        """Build the design and the PyMC model for ``data`` (no sampling)."""
        self.design, self.config = self._design(data)
        return build_model(self.design, self.config)

    def prior_predictive(self, data: ScoreTable, *, draws: int = 500, random_seed: int = 0) -> xr.DataTree:
        """Draw from the prior and the prior predictive at ``data``'s observed cells.

        The first check of the Bayesian workflow, before any fit: do the priors imply
        plausible scores?  Summarise it with
        :func:`~scaling_bayes.inference.prior_predictive_summary` and draw it with
        :func:`~scaling_bayes.plots.plot_prior_predictive`.  Leaves the model's own fit
        (``design``, ``idata``) untouched.

        Returns
        -------
        DataTree
            Groups ``prior`` (parameters), ``prior_predictive`` (``score``, dims chain, draw,
            cell), ``observed_data`` (``score``, dim cell) and ``constant_data``; the ``cell``
            dim carries ``model``, ``benchmark`` and ``floor`` coordinates.
        """
        design, config = self._design(data)
        tree = sample_prior_predictive(build_model(design, config), draws=draws, random_seed=random_seed)
        cells = {
            "model": ("cell", np.asarray(design.data.models.index)[design.cell_model]),
            "benchmark": ("cell", np.asarray(design.benchmarks)[design.cell_benchmark]),
            "floor": ("cell", design.floors.to_numpy()[design.cell_benchmark]),
        }
        tree["prior"] = xr.DataTree(add_family_effects(tree["prior"].to_dataset(), design, random_seed))
        for group in ("prior_predictive", "observed_data"):
            tree[group] = xr.DataTree(tree[group].to_dataset().assign_coords(cells))
        return tree

    def fit(
        self,
        data: ScoreTable,
        *,
        random_seed: int = 0,
        progressbar: bool = True,
        **sampler_overrides: Any,
    ) -> xr.DataTree:
        """Sample the posterior with NUTS; warns (:class:`ConvergenceWarning`) on problems.

        ``sampler_overrides`` replace fields of the :class:`SamplerConfig`
        (``chains``, ``draws``, ``tune``, ``target_accept``, ``sampler``, ``init``,
        ``stack_chains``…; with ``stack_chains`` the posterior is then the stacking-weighted
        mixture of the chains, :meth:`stack_chains`, and the diagnostics the sampled chains'); the
        replaced configuration is this model's ``sampler`` from then on, for later fits too,
        and :meth:`save` records it.
        Returns the DataTree (posterior, sample_stats, observed_data).
        """
        if sampler_overrides:
            self.sampler = replace(self.sampler, **sampler_overrides)
        model = self.build(data)
        start = time.perf_counter()
        self.idata = sample(
            model, self.sampler, random_seed=random_seed, progressbar=progressbar,
            hold_fixed_in_init=SCALE_VARIABLES,
        )
        elapsed = time.perf_counter() - start
        self.idata["posterior"] = xr.DataTree(
            add_family_effects(self.idata["posterior"].to_dataset(), self.design, random_seed)
        )
        self.random_seed = random_seed
        self.diagnostics = replace(diagnose(self.idata), fit_seconds=elapsed)
        warn_on_problems(self.diagnostics)
        if self.sampler.stack_chains:
            self.stack_chains()
        return self.idata

    def _require_fit(self) -> tuple[Design, xr.DataTree]:
        if self.design is None or self.idata is None:
            raise NotFittedError("this LatentSkillModel is not fitted: call fit(data) or load(path).")
        return self.design, self.idata

    @property
    def posterior(self) -> xr.Dataset:
        """Posterior draws as an xarray Dataset (chain, draw, ...)."""
        return self._require_fit()[1]["posterior"].to_dataset()

    def prior_posterior_conflict(self, *, z_max: float = 2.0) -> pd.DataFrame:
        """Posterior z-score and contraction of every Normal-prior parameter
        (:func:`~scaling_bayes.inference.prior_posterior_conflict`): where the data pull a
        parameter into its prior's tail."""
        design, _ = self._require_fit()
        priors = normal_priors(self.config.priors, design.covariates["covariate"].values)
        return prior_posterior_conflict(self.posterior, priors, z_max=z_max)

    def loo(self) -> Any:
        """PSIS-LOO over the observed cells (ArviZ ``loo``); computes the pointwise
        log likelihood on first use."""
        design, idata = self._require_fit()
        if "log_likelihood" not in idata:
            compute_log_likelihood(build_model(design, self.config), idata)
        return az.loo(idata, var_name="score")

    def chain_weights(self, concentration: float = 2.0) -> xr.DataArray:
        """Stacking weights of the fit's chains, dims (chain,)
        (:func:`~scaling_bayes.inference.chain_stacking_weights`: each chain's PSIS-LOO on the
        observed cells, stacked under a Dirichlet(``concentration``) prior).  Near-equal weights:
        the chains predict alike.  Weights near 0: chains in modes that predict the training
        scores worse.  Computes the pointwise log likelihood on first use."""
        design, idata = self._require_fit()
        if "log_likelihood" not in idata:
            compute_log_likelihood(build_model(design, self.config), idata)
        tree = xr.DataTree.from_dict({"posterior": self._sampled_chains(),
                                      "log_likelihood": idata["log_likelihood"].to_dataset()})
        return chain_stacking_weights(tree, "score", concentration)

    def _sampled_chains(self) -> xr.Dataset:
        """The chains as sampled: ``posterior_chains`` once :meth:`stack_chains` has run."""
        _, idata = self._require_fit()
        return (idata["posterior_chains"] if "posterior_chains" in idata else idata["posterior"]).to_dataset()

    def stack_chains(self, concentration: float = 2.0) -> xr.DataArray:
        """Replace the posterior by the stacking-weighted mixture of its chains (Yao, Vehtari &
        Gelman 2022) and return the weights (:meth:`chain_weights`).

        For fits whose chains sit in separate modes (``init="modes"`` starts each chain from
        its own MAP optimisation, so they can): the mixture drops or down-weights the modes
        that predict the observed scores worse, instead of weighting every chain equally.  The
        posterior becomes one chain of ``chains × draws`` draws (:func:`~scaling_bayes.inference.mix_chains`),
        so :meth:`predict`, :meth:`save` and :meth:`load` use it unchanged; the sampled chains
        stay in ``idata["posterior_chains"]`` and the diagnostics are still theirs.  Calling
        it again restacks those chains."""
        weights = self.chain_weights(concentration)
        chains = self._sampled_chains()
        mixed = mix_chains(chains, weights)
        mixed.attrs["chain_weights"] = weights.to_numpy().tolist()
        self.idata["posterior_chains"] = xr.DataTree(chains)
        self.idata["posterior"] = xr.DataTree(mixed)
        return weights

    # --------------------------------------------------------------- prediction
    def _prepare(self, new_models: pd.DataFrame | ScoreTable) -> pd.DataFrame:
        if isinstance(new_models, ScoreTable):
            new_models = new_models.models.reset_index()
        return validate_new_models(new_models)

    def predictive_draws(
        self,
        new_models: pd.DataFrame | ScoreTable,
        *,
        random_seed: int = 0,
        warn_extrapolation: bool = True,
    ) -> xr.Dataset:
        """Draws of ``score`` (posterior predictive) and ``mu`` (latent mean), dims (chain,
        draw, model, benchmark), and the Beta precision ``phi`` they were drawn with
        (:func:`~scaling_bayes.prediction.model_precision`)."""
        design, _ = self._require_fit()
        models = self._resolved(new_models)
        if warn_extrapolation:
            far = design.transform.extrapolation(models)
            if len(far):
                lines = "; ".join(
                    f"{r.model}: {r.column}={r.value:g} (training range {r.train_min:g}–{r.train_max:g})"
                    for r in far.itertuples()
                )
                warnings.warn(
                    f"extrapolating more than 2x outside the training data: {lines}. "
                    "Predictions there rest on the translog form alone; treat them with care.",
                    ExtrapolationWarning,
                    stacklevel=2,
                )
            ratio = family_size_ratio(models, design.data.models)  # models: resolved above
            beyond = ratio[ratio > FAMILY_SIZE_WARNING_RATIO]
            if len(beyond):
                lines = "; ".join(f"{m} {r:.0f}x ({models.at[m, 'base_family']!r})" for m, r in beyond.items())
                warnings.warn(
                    f"forecasting more than {FAMILY_SIZE_WARNING_RATIO:g}x outside the sizes the model's family "
                    f"shows in training: {lines}. Family-level shifts grow with this distance (on Sloth's protocol "
                    "MAE 4.3 pp beyond 10x against 2.7 pp within 2x; README); the table's family_size_ratio "
                    "column gives it for every model.",
                    ExtrapolationWarning,
                    stacklevel=2,
                )
        # one independent stream per source of randomness, so that turning per-model
        # deviations on leaves the family-effect and observation-noise draws unchanged
        # (spawned children are fixed by their index, so a fourth stream leaves the first
        # three, and the predictions of fits without benchmark deviations, unchanged)
        rng_family, rng_model, rng_noise, rng_bench = np.random.default_rng(random_seed).spawn(4)
        posterior = self.posterior
        covariates = design.transform(models)
        alpha = family_effects(posterior, design.families, models, rng_family, covariates)
        alpha = alpha + model_deviations(posterior, models, rng_model)
        deviation = benchmark_deviations(posterior, design.families, models, rng_bench)
        return score_draws(posterior, covariates, alpha, design.floors, rng_noise, deviation,
                           instruct=self._instruct_flags(models))

    def _resolved(self, new_models: pd.DataFrame | ScoreTable) -> pd.DataFrame:
        """Validated new models with a known variant's base family and instruct flag the fit's,
        for every use downstream (the covariates of an instruct form, the family effects, the
        Beta precision, the distance from the family's sizes); warns about near-miss family
        names first.  Resolving twice is a no-op: a resolved row no longer clashes."""
        design, _ = self._require_fit()
        models = self._prepare(new_models)
        warn_near_miss_families(models, design.families)
        return known_variant_families(models, design.families)

    def insample_draws(self, *, random_seed: int = 0) -> xr.Dataset:
        """Draws of ``score`` and ``mu`` for the training models, from their posterior skills
        ``theta``: dims (chain, draw, model, benchmark).

        The replicates of a posterior predictive check and the means of the pointwise
        likelihood.  Unlike :meth:`predictive_draws` of the same models, nothing but the Beta
        noise is drawn afresh: a training model keeps its own sampled skills (with
        ``model_effects``, its own deviation from the family line, not a new one).  The
        noise uses :meth:`predictive_draws`' stream for the same seed.
        """
        design, _ = self._require_fit()
        posterior = self.posterior
        models = self._resolved(design.data.models.reset_index())
        _, _, rng_noise, rng_bench = np.random.default_rng(random_seed).spawn(4)
        deviation = benchmark_deviations(posterior, design.families, models, rng_bench)  # fitted, not drawn
        return skill_score_draws(posterior, posterior["theta"], design.floors, rng_noise, deviation,
                                 instruct=self._instruct_flags(models))

    @staticmethod
    def _instruct_flags(models: pd.DataFrame) -> xr.DataArray:
        """Each model's instruct flag (dims model); a known variant's must already be the fit's
        (:func:`~scaling_bayes.prediction.known_variant_families`)."""
        return xr.DataArray(models["instruct"].astype(bool).to_numpy(), dims="model",
                            coords={"model": models.index.to_numpy()})

    def log_predictive_density(
        self, draws: xr.Dataset, observed: pd.DataFrame | xr.DataArray
    ) -> xr.DataArray:
        """Log posterior-predictive density of ``observed`` scores, dims (model, benchmark).

        ``draws`` come from :meth:`predictive_draws` for the same models; ``observed`` has one
        row per model and one column per benchmark (NaN: not observed).  See
        :func:`~scaling_bayes.prediction.log_predictive_density`; its sum over held-out cells
        is their elpd, which :func:`~scaling_bayes.evaluation.stacking.stacking_weights` uses.
        """
        design, _ = self._require_fit()
        n_items = self.registry.n_items(design.benchmarks)
        phi = draws["phi"] if "phi" in draws else self.posterior["phi"]
        return log_predictive_density(draws["mu"], phi, observed, n_items)

    def predict(
        self,
        new_models: pd.DataFrame | ScoreTable,
        prob: float = 0.9,
        *,
        random_seed: int = 0,
    ) -> Prediction:
        """Posterior-predictive credible intervals for new models.

        ``new_models`` needs ``params_b, tokens_t, family`` (+ optional ``model``,
        ``base_family``, ``instruct``).  Returns a :class:`Prediction` whose ``table``
        has one row per (model, benchmark): ``model, family, case, family_size_ratio, benchmark,
        mean, median, lower, upper, mu_mean, mu_lower, mu_upper`` (``family_size_ratio``:
        :func:`~scaling_bayes.prediction.family_size_ratio`, how many times outside its base
        family's training sizes the model lies; NaN for a family never seen).
        """
        if not 0 < prob < 1:
            raise ValueError(f"prob={prob} must lie strictly between 0 and 1 (e.g. 0.9).")
        design, _ = self._require_fit()
        models = self._resolved(new_models)
        draws = self.predictive_draws(models, random_seed=random_seed)
        cases = family_cases(models, design.families)
        table = summarize(draws, models, cases, prob, family_size_ratio(models, design.data.models))
        tree = xr.DataTree.from_dict(
            {
                "predictions": draws,
                "constant_data": design.transform(models).to_dataset(),
            }
        )
        return Prediction(table=table, draws=tree, prob=prob)

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Save to a directory: ``posterior.nc`` (netCDF DataTree), ``config.json`` and
        ``training_data.csv``.  :meth:`load` restores a model that predicts identically."""
        design, idata = self._require_fit()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        idata.to_netcdf(path / "posterior.nc", engine="h5netcdf")
        table = design.data.models.join(design.data.scores)
        table.reset_index().to_csv(path / "training_data.csv", index=False)
        benchmarks = design.benchmarks
        config = {
            "scaling_bayes_version": _package_version(),
            "model_class": type(self).__name__,
            "model": self.config.to_dict(),
            "sampler": self.sampler.to_dict(),
            "random_seed": self.random_seed,
            "dataset": design.data.name,
            "benchmarks": benchmarks,
            "registry": self.registry.to_record(benchmarks),
            "diagnostics": self.diagnostics.to_dict() if self.diagnostics else None,
        }
        (path / "config.json").write_text(json.dumps(config, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatentSkillModel:
        """Load a model saved with :meth:`save` (no refitting)."""
        path = Path(path)
        if not (path / "config.json").exists():
            stack = " It holds stack.json: load a saved stack with StackedModel.load." if (path / "stack.json").exists() else ""
            raise FileNotFoundError(
                f"{path} is not a saved fit: expected config.json and posterior.nc there "
                f"(create one with LatentSkillModel.save or `scaling-bayes fit --out`).{stack}"
            )
        config = json.loads((path / "config.json").read_text())
        saved_class = config.get("model_class", cls.__name__)
        if saved_class != cls.__name__:
            raise ValueError(
                f"{path} holds a saved {saved_class}, not a {cls.__name__}: load it with {saved_class}.load "
                "(or scaling_bayes.workflows.load_fitted, which picks the class)."
            )
        registry = BenchmarkRegistry.from_record(config["registry"])
        model_cfg = ModelConfig.from_dict(config["model"])
        self = cls.__new__(cls)
        LatentSkillModel.__init__(self, sampler=SamplerConfig(**config["sampler"]), registry=registry)
        self.config = model_cfg  # the whole saved configuration, every option included
        self._requested_config = model_cfg  # a refit keeps the saved anchors
        data = from_wide(  # names such as "1.10" or "NA" read back verbatim, not as 1.1 / NaN
            _read_csv_keeping_names(path / "training_data.csv"),
            benchmarks=config["benchmarks"],
            registry=registry,
            name=config["dataset"],
        )
        self.design = build_design(data, registry, model_cfg.covariates)
        with xr.open_datatree(path / "posterior.nc", engine="h5netcdf") as tree:
            # read into memory and close, so the fit can be saved back over this directory
            self.idata = tree.load()
        self.random_seed = config["random_seed"]
        if config.get("diagnostics"):
            self.diagnostics = Diagnostics(**config["diagnostics"])
        return self

    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        return (
            f"LatentSkillModel(n_skills={self.config.n_skills}, link={self.config.link!r}, "
            f"anchors={self.config.anchors}, {state})"
        )
