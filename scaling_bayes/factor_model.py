"""SkillFactorModel: the latent skills of thousands of leaderboard models, without params or tokens.

Step 5 of the data flow for score tables that have no scaling covariates, e.g. the Open LLM
Leaderboard's fine-tunes and merges (:func:`~scaling_bayes.data.load_leaderboard_scores`,
6,812 models on leaderboard_v1).  It is the measurement half of
:class:`~scaling_bayes.skill_model.LatentSkillModel`: the same anchored loadings, link and Beta
likelihood (:func:`~scaling_bayes.model.build_factor_model`), with each model's skills drawn
from one population instead of a family's scaling law.  A fit gives every model's skills with
their uncertainty, the benchmarks' loadings, and forecasts of the scores a model has not
reported, from the ones it has.

>>> from scaling_bayes import SkillFactorModel, load_leaderboard_scores
>>> scores = load_leaderboard_scores("leaderboard_v1")   # doctest: +SKIP
>>> model = SkillFactorModel(n_skills=2)                # anchors MMLU and HellaSwag on these
>>> model.fit(scores.sample(n=2000, random_state=0), draws=500, tune=500)  # doctest: +SKIP  (~16 min, 2 cores)
>>> model.predict(prob=0.9).table                       # doctest: +SKIP  (every model x benchmark)
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from scaling_bayes.benchmarks import BenchmarkRegistry, default_registry
from scaling_bayes.data import _read_csv_keeping_names, validate_score_matrix
from scaling_bayes.design import FactorDesign, build_factor_design
from scaling_bayes.inference import (
    Diagnostics,
    SamplerConfig,
    compute_log_likelihood,
    diagnose,
    sample,
    warn_on_problems,
)
from scaling_bayes.model import FactorConfig, Priors, build_factor_model, resolve_anchors
from scaling_bayes.prediction import Prediction, draw_summary, skill_score_draws
from scaling_bayes.skill_model import NotFittedError

__all__ = ["FACTOR_SAMPLER", "SkillFactorModel"]

#: The default sampler: thousands of models' skills are thousands of parameters, so 2 chains ×
#: 1000 draws (one chain per core of the development machine), started by jitter (a MAP start
#: per chain costs more than it saves here).
FACTOR_SAMPLER = SamplerConfig(chains=2, draws=1000, tune=1000, init="jitter")


class SkillFactorModel:
    """Latent skills of models without params or tokens: fit, predict, save and load.

    Parameters
    ----------
    n_skills : number of skills K (each anchored on one benchmark).
    anchors : anchor benchmarks, one per skill; default the first available of each ability in
        :data:`~scaling_bayes.model.FACTOR_ANCHOR_PREFERENCE` (MMLU and HellaSwag on leaderboard_v1).
    link : ``"logistic"`` (default) or ``"richards"``.
    priors : :class:`~scaling_bayes.model.Priors` overrides (``intercept_sd`` for the skills'
        population mean, ``family_sd`` for their population sd, ``lkj_eta``, and the benchmarks'
        priors as in the latent-skill model).
    sampler : :class:`~scaling_bayes.inference.SamplerConfig`; default :data:`FACTOR_SAMPLER`.
    registry : benchmark registry (floors, item counts); default the bundled one.
    """

    def __init__(
        self,
        n_skills: int = 2,
        *,
        anchors: tuple[str, ...] | list[str] | None = None,
        link: str = "logistic",
        priors: Priors | None = None,
        sampler: SamplerConfig | None = None,
        registry: BenchmarkRegistry | None = None,
    ) -> None:
        self.config = FactorConfig(n_skills=n_skills, anchors=tuple(anchors) if anchors else None,
                                   link=link, priors=priors or Priors())  # type: ignore[arg-type]
        #: as asked for: ``config`` holds the anchors resolved on the last fit's benchmarks, so a
        #: refit on other benchmarks resolves them afresh
        self._requested_config = self.config
        self.sampler = sampler or FACTOR_SAMPLER
        self.registry = registry or default_registry()
        self.design: FactorDesign | None = None
        self.idata: xr.DataTree | None = None
        self.diagnostics: Diagnostics | None = None
        self.random_seed: int | None = None

    def fit(self, scores: pd.DataFrame, *, random_seed: int = 0, progressbar: bool = True,
            **sampler_overrides: Any) -> xr.DataTree:
        """Sample the posterior with NUTS; warns (:class:`~scaling_bayes.ConvergenceWarning`)
        on R-hat > 1.01, low ESS or divergences, over every parameter and every model's skills.

        ``scores``: one row per model (index or ``model`` column), one column per registered
        benchmark, fractions in [0, 1], NaN where missing (:func:`~scaling_bayes.data.validate_score_matrix`).
        ``sampler_overrides`` replace fields of the sampler configuration, as in
        :meth:`LatentSkillModel.fit <scaling_bayes.skill_model.LatentSkillModel.fit>`.
        Returns the DataTree (posterior, sample_stats, observed_data).
        """
        if sampler_overrides:
            self.sampler = replace(self.sampler, **sampler_overrides)
        # built aside and kept only once sampling succeeds: a failed refit leaves the last fit whole
        design = build_factor_design(validate_score_matrix(scores, registry=self.registry), self.registry)
        config = replace(self._requested_config, anchors=resolve_anchors(self._requested_config, design.benchmarks))
        start = time.perf_counter()
        idata = sample(build_factor_model(design, config), self.sampler, random_seed=random_seed,
                       progressbar=progressbar)
        self.design, self.config, self.idata, self.random_seed = design, config, idata, random_seed
        self.diagnostics = replace(diagnose(idata), fit_seconds=time.perf_counter() - start)
        warn_on_problems(self.diagnostics)
        return idata

    def _require_fit(self) -> tuple[FactorDesign, xr.DataTree]:
        if self.design is None or self.idata is None:
            raise NotFittedError("this SkillFactorModel is not fitted: call fit(scores) or load(path).")
        return self.design, self.idata

    @property
    def posterior(self) -> xr.Dataset:
        """Posterior draws (chain, draw, ...): ``theta`` (model, skill), ``loadings``, ..."""
        return self._require_fit()[1]["posterior"].to_dataset()

    def predictive_draws(self, *, random_seed: int = 0) -> xr.Dataset:
        """Draws of ``score`` and ``mu`` for every fitted model and benchmark, observed or not,
        dims (chain, draw, model, benchmark): each model's posterior skills through the
        benchmarks' loadings and link, plus Beta noise (seeded by ``random_seed``)."""
        design, _ = self._require_fit()
        posterior = self.posterior
        return skill_score_draws(posterior, posterior["theta"], design.floors, np.random.default_rng(random_seed))

    def predict(self, prob: float = 0.9, *, random_seed: int = 0) -> Prediction:
        """Posterior-predictive summaries of every fitted model's every benchmark.

        ``table``: one row per (model, benchmark), model-major, with ``observed`` (the fitted
        score, NaN where the model has none: a forecast), ``mean``, ``median`` and the
        equal-tailed ``prob`` interval ``lower``/``upper`` of the score, and ``mu_mean``,
        ``mu_lower``, ``mu_upper`` of the latent mean (:func:`~scaling_bayes.prediction.draw_summary`).
        ``draws``: a DataTree whose ``predictions`` group holds the draws."""
        if not 0 < prob < 1:
            raise ValueError(f"prob={prob} must lie strictly between 0 and 1 (e.g. 0.9).")
        design, _ = self._require_fit()
        draws = self.predictive_draws(random_seed=random_seed)
        table = draw_summary(draws, prob)
        observed = design.scores.stack(future_stack=True)
        table.insert(2, "observed", observed.reindex(pd.MultiIndex.from_frame(table[["model", "benchmark"]])).to_numpy())
        return Prediction(table=table, draws=xr.DataTree.from_dict({"predictions": draws[["score", "mu"]]}), prob=prob)

    def loo(self) -> Any:
        """PSIS-LOO over the observed cells (ArviZ ``loo``); computes the pointwise log
        likelihood on first use."""
        design, idata = self._require_fit()
        if "log_likelihood" not in idata:
            compute_log_likelihood(build_factor_model(design, self.config), idata)
        return az.loo(idata, var_name="score")

    def save(self, path: str | Path) -> Path:
        """Save to a directory: ``posterior.nc``, ``config.json`` and ``scores.csv``;
        :meth:`load` restores a model that predicts identically."""
        design, idata = self._require_fit()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        idata.to_netcdf(path / "posterior.nc", engine="h5netcdf")
        design.scores.reset_index().to_csv(path / "scores.csv", index=False)
        record = {
            "model_class": type(self).__name__,
            "model": self.config.to_dict(),
            "sampler": self.sampler.to_dict(),
            "random_seed": self.random_seed,
            "registry": self.registry.to_record(design.benchmarks),
            "diagnostics": self.diagnostics.to_dict() if self.diagnostics else None,
        }
        (path / "config.json").write_text(json.dumps(record, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SkillFactorModel:
        """Load a model saved with :meth:`save` (no refitting)."""
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a saved fit: expected config.json there (SkillFactorModel.save).")
        record = json.loads((path / "config.json").read_text())
        if record.get("model_class") != cls.__name__:
            raise ValueError(f"{path} holds a saved {record.get('model_class')}, not a {cls.__name__}: "
                             "load it with scaling_bayes.workflows.load_fitted, which picks the class.")
        registry = BenchmarkRegistry.from_record(record["registry"])
        self = cls(sampler=SamplerConfig(**record["sampler"]), registry=registry)
        self.config = self._requested_config = FactorConfig.from_dict(record["model"])
        scores = validate_score_matrix(_read_csv_keeping_names(path / "scores.csv"),
                                       benchmarks=list(record["registry"]), registry=registry)
        self.design = build_factor_design(scores, registry)
        with xr.open_datatree(path / "posterior.nc", engine="h5netcdf") as tree:
            self.idata = tree.load()  # in memory and closed: the fit can be saved back over it
        self.random_seed = record["random_seed"]
        if record.get("diagnostics"):
            self.diagnostics = Diagnostics(**record["diagnostics"])
        return self

    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        n = f", {len(self.design.models)} models" if self.design is not None else ""
        return (f"SkillFactorModel(n_skills={self.config.n_skills}, link={self.config.link!r}, "
                f"anchors={self.config.anchors}{n}, {state})")
