"""Design: turn a validated :class:`~scaling_bayes.data.ScoreTable` into model inputs.

Step 2 of the data flow (load → **design** → model → inference → prediction).

The design holds everything the PyMC graph needs, all labelled:

* ``covariates`` — standardised translog covariates, dims ``(model, covariate)``;
* the family structure — each model's variant family (Sloth's ``Family2``), each
  variant's base family (``Family``) and instruct flag;
* the observed cells — flattened ``(model, benchmark)`` pairs with a score
  (missing scores are *masked out*, never imputed), dim ``cell``;
* per-benchmark guessing floors and item counts.

The covariate transform is fitted on the training rows and kept, so new models at
prediction time are standardised exactly like the training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from scaling_bayes.benchmarks import BenchmarkRegistry, default_registry
from scaling_bayes.data import DataValidationError, ScoreTable, _fmt, _listing

COVARIATES: tuple[str, ...] = ("log_params", "log_tokens", "log_params_x_log_tokens")
#: The squared standardised logs of the full translog (centred: u² − 1, v² − 1).
SQUARED_COVARIATES: tuple[str, ...] = ("log_params_sq", "log_tokens_sq")
#: An instruct line's extra slope on the standardised ln params (instruct × u; 0 for base lines).
INSTRUCT_COVARIATES: tuple[str, ...] = ("instruct_x_log_params",)
#: The covariate form a model uses unless told otherwise (see :mod:`scaling_bayes.model`).
DEFAULT_COVARIATES = "translog_sq"
#: Covariate forms: the translog of (params, tokens) as Sloth uses it (no squares), the full
#: second-order translog (with the centred squares u² − 1 and v² − 1), the latter with an
#: instruct × ln params term (instruct lines scale at their own rate), or log compute alone.
FORMS: dict[str, tuple[str, ...]] = {
    "translog": COVARIATES,
    "translog_sq": (*COVARIATES, *SQUARED_COVARIATES),
    "translog_sq_instruct": (*COVARIATES, *SQUARED_COVARIATES, *INSTRUCT_COVARIATES),
    "flops": ("log_flops",),
}


@dataclass(frozen=True)
class CovariateTransform:
    """Standardised covariates of one :data:`FORMS` entry (``form``), one column per name.

    ``u = (ln params_b − m_u) / s_u`` and ``v = (ln tokens_t − m_v) / s_v`` are
    standardised on the training rows.  ``"translog"`` gives ``x = [u, v, u·v]``, which spans
    exactly the translog function space ``a + b ln N + c ln D + d ln N ln D`` (the centring
    only re-parameterises it) while keeping the columns on a unit scale and weakly
    correlated, which matters for NUTS; ``"translog_sq"`` (the package default, see
    :class:`~scaling_bayes.model.ModelConfig`) adds ``u² − 1, v² − 1``,
    ``"translog_sq_instruct"`` also instruct × u, and ``"flops"`` is the standardised ln FLOPs alone.
    """

    log_params_mean: float
    log_params_sd: float
    log_tokens_mean: float
    log_tokens_sd: float
    log_params_range: tuple[float, float]
    log_tokens_range: tuple[float, float]
    form: str = "translog"

    @property
    def names(self) -> tuple[str, ...]:
        return FORMS[self.form]

    @classmethod
    def fit(cls, models: pd.DataFrame, form: str = "translog") -> CovariateTransform:
        """Fit on the ``params_b`` / ``tokens_t`` columns of the training models."""
        lp = np.log(models["params_b"].to_numpy(float))
        lt = np.log(models["tokens_t"].to_numpy(float))
        return cls(
            log_params_mean=float(lp.mean()),
            log_params_sd=float(lp.std()) or 1.0,
            log_tokens_mean=float(lt.mean()),
            log_tokens_sd=float(lt.std()) or 1.0,
            log_params_range=(float(lp.min()), float(lp.max())),
            log_tokens_range=(float(lt.min()), float(lt.max())),
            form=form,
        )

    def __call__(self, models: pd.DataFrame) -> xr.DataArray:
        """Covariates of ``models`` (indexed by model name), dims ``(model, covariate)``."""
        u = (np.log(models["params_b"].to_numpy(float)) - self.log_params_mean) / self.log_params_sd
        v = (np.log(models["tokens_t"].to_numpy(float)) - self.log_tokens_mean) / self.log_tokens_sd
        if self.form == "flops":  # ln C = ln 6 + ln N + ln D, standardised on the training rows
            scale = np.hypot(self.log_params_sd, self.log_tokens_sd)
            columns = [(u * self.log_params_sd + v * self.log_tokens_sd) / scale]
        else:
            columns = [u, v, u * v]
            if SQUARED_COVARIATES[0] in self.names:  # centred: u, v standardised on the training rows
                columns += [u**2 - 1.0, v**2 - 1.0]
            if INSTRUCT_COVARIATES[0] in self.names:
                columns += [models["instruct"].to_numpy(bool) * u]
        return xr.DataArray(
            np.column_stack(columns),
            dims=("model", "covariate"),
            coords={"model": models.index.to_numpy(), "covariate": list(self.names)},
            name="covariates",
        )

    def extrapolation(self, models: pd.DataFrame, factor: float = 2.0) -> pd.DataFrame:
        """Rows of ``models`` whose params or tokens lie more than ``factor``× outside
        the training range, with the offending quantity and the training range."""
        margin = np.log(factor)
        rows = []
        for column, (lo, hi) in (
            ("params_b", self.log_params_range),
            ("tokens_t", self.log_tokens_range),
        ):
            logs = np.log(models[column].to_numpy(float))
            far = (logs > hi + margin) | (logs < lo - margin)
            for name, value in zip(models.index[far], models[column].to_numpy()[far]):
                rows.append(
                    {
                        "model": name,
                        "column": column,
                        "value": float(value),
                        "train_min": float(np.exp(lo)),
                        "train_max": float(np.exp(hi)),
                    }
                )
        return pd.DataFrame(rows, columns=["model", "column", "value", "train_min", "train_max"])

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CovariateTransform:
        d = dict(d)
        d["log_params_range"] = tuple(d["log_params_range"])
        d["log_tokens_range"] = tuple(d["log_tokens_range"])
        return cls(**d)


def _check_variants_agree(models: pd.DataFrame) -> None:
    """Raise :class:`DataValidationError` if the models of one variant family (``family``)
    disagree on ``base_family`` or ``instruct``: each is a property of the variant."""
    fixes = {
        "base_family": "A variant family belongs to one base family: give these models the "
        "same base_family, or move the models of the other base family into a variant "
        "family of their own.",
        "instruct": "A variant family is either an instruct/chat line or not: give the "
        "instruct models their own family (e.g. '{variant}-instruct' next to {variant!r}), "
        "or fix the instruct column.",
    }
    for column, fix in fixes.items():
        values = models[column].astype(bool) if column == "instruct" else models[column].astype(str)
        split = values.groupby(models["family"], sort=True).nunique()
        for variant in split.index[split > 1]:
            rows = values[models["family"] == variant]
            groups = "; ".join(
                f"{column}={_fmt(value)} for model(s) "
                f"{_listing(rows.index[rows == value].tolist())}"
                for value in pd.unique(rows)
            )
            raise DataValidationError(
                f"Column {column!r} disagrees within variant family {variant!r}: {groups}. "
                + fix.format(variant=variant)
            )


@dataclass(frozen=True)
class FamilyStructure:
    """Two-level family hierarchy: base family → variant family → model.

    ``variant_of_model`` (dim model) names each model's variant; ``family_of_variant``
    and ``instruct_of_variant`` (dim variant) give each variant's base family and
    whether it is an instruct/chat/fine-tune line, which all its models must share
    (:meth:`from_models` raises :class:`DataValidationError` if they disagree).
    """

    variants: list[str]
    families: list[str]
    family_of_variant: list[str]
    instruct_of_variant: list[bool]

    @classmethod
    def from_models(cls, models: pd.DataFrame) -> FamilyStructure:
        _check_variants_agree(models)
        by_variant = models.groupby("family", sort=True)
        base = by_variant["base_family"].first()
        instruct = by_variant["instruct"].first().astype(bool)
        return cls(
            variants=list(base.index),
            families=sorted(base.unique()),
            family_of_variant=list(base.to_numpy()),
            instruct_of_variant=[bool(x) for x in instruct.to_numpy()],
        )

    @property
    def family_index(self) -> np.ndarray:
        """Index into ``families`` for each variant, shape (variant,)."""
        lookup = {f: i for i, f in enumerate(self.families)}
        return np.array([lookup[f] for f in self.family_of_variant], dtype=int)

    def variant_index(self, variant_names: pd.Series | np.ndarray) -> np.ndarray:
        lookup = {v: i for i, v in enumerate(self.variants)}
        return np.array([lookup[v] for v in variant_names], dtype=int)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FamilyStructure:
        return cls(**d)


@dataclass(frozen=True)
class Design:
    """Everything the PyMC graph needs, labelled.

    Attributes
    ----------
    data : ScoreTable
        The (fittable) training table.
    covariates : xr.DataArray
        Standardised covariates, dims ``(model, covariate)``.
    transform : CovariateTransform
        The fitted standardisation, reused for new models.
    families : FamilyStructure
        Base-family → variant hierarchy.
    cell_model, cell_benchmark : np.ndarray
        Integer indices (into ``model`` / ``benchmark``) of each observed cell, shape (cell,).
    y : np.ndarray
        Observed scores of the cells, shape (cell,), clipped to
        ``[0.5/n_items, 1 − 0.5/n_items]`` (a continuity correction: the Beta density
        is undefined at exactly 0 or 1, e.g. MATH Lvl 5 scores of 0).
    floors : xr.DataArray
        Guessing floor per benchmark, dims ``(benchmark,)``.
    """

    data: ScoreTable
    covariates: xr.DataArray
    transform: CovariateTransform
    families: FamilyStructure
    cell_model: np.ndarray
    cell_benchmark: np.ndarray
    y: np.ndarray
    floors: xr.DataArray

    @property
    def benchmarks(self) -> list[str]:
        return self.data.benchmarks

    @property
    def model_variant_index(self) -> np.ndarray:
        """Variant index of each training model, shape (model,)."""
        return self.families.variant_index(self.data.models["family"])

    @property
    def variant_mean_covariates(self) -> xr.DataArray:
        """Mean covariates of each variant's training models, dims (variant, covariate)."""
        means = (
            self.covariates.assign_coords(variant=("model", self.data.models["family"].to_numpy()))
            .groupby("variant")
            .mean()
        )
        return means.sel(variant=self.families.variants)

    def coords(self, skills: list[str]) -> dict[str, list]:
        """PyMC coords: model, benchmark, family, variant, skill, covariate, cell."""
        return {
            "model": list(self.data.models.index),
            "benchmark": self.benchmarks,
            "family": self.families.families,
            "variant": self.families.variants,
            "skill": list(skills),
            "skill_": list(skills),
            "covariate": list(self.transform.names),
            "cell": list(range(len(self.y))),
        }


def clip_scores(scores: np.ndarray, n_items: np.ndarray) -> np.ndarray:
    """Continuity-correct scores to ``[0.5/n, 1 − 0.5/n]`` (n = item count, default 1000)."""
    n = np.where(np.isfinite(n_items) & (n_items > 0), n_items, 1000.0)
    eps = 0.5 / n
    return np.clip(scores, eps, 1.0 - eps)


def build_design(
    data: ScoreTable, registry: BenchmarkRegistry | None = None, covariates: str = DEFAULT_COVARIATES
) -> Design:
    """Build the design from a fittable table (rows without tokens are dropped with a warning).

    ``covariates``: ``"translog_sq"`` (the default: ln N, ln D, ln N·ln D and the squares of the
    standardised logs, centred), ``"translog"`` (Sloth's form, without the squares),
    ``"translog_sq_instruct"`` (``translog_sq`` and instruct × u) or ``"flops"`` (ln 6ND only).
    """
    if covariates not in FORMS:
        raise ValueError(f"covariates={covariates!r}: use one of {sorted(FORMS)}.")
    registry = registry or default_registry()
    data = data.fittable()
    transform = CovariateTransform.fit(data.models, form=covariates)
    scores = data.scores.to_numpy(float)
    cell_model, cell_benchmark = np.nonzero(np.isfinite(scores))
    n_items = registry.n_items(data.benchmarks).to_numpy()
    y = clip_scores(scores[cell_model, cell_benchmark], n_items[cell_benchmark])
    return Design(
        data=data,
        covariates=transform(data.models),
        transform=transform,
        families=FamilyStructure.from_models(data.models),
        cell_model=cell_model,
        cell_benchmark=cell_benchmark,
        y=y,
        floors=registry.floors(data.benchmarks),
    )


@dataclass(frozen=True)
class FactorDesign:
    """The inputs of the skill factor model (:func:`~scaling_bayes.model.build_factor_model`):
    the observed cells of a score matrix, with no covariates and no families.

    Attributes
    ----------
    scores : DataFrame
        Fractions in [0, 1], one row per model (index ``model``), one column per benchmark;
        NaN where a model has no score (masked out, never imputed).
    cell_model, cell_benchmark : np.ndarray
        Integer indices (into ``model`` / ``benchmark``) of each observed cell, shape (cell,).
    y : np.ndarray
        Observed scores of the cells, shape (cell,), clipped as :func:`clip_scores` does.
    floors : xr.DataArray
        Guessing floor per benchmark, dims ``(benchmark,)``.
    """

    scores: pd.DataFrame
    cell_model: np.ndarray
    cell_benchmark: np.ndarray
    y: np.ndarray
    floors: xr.DataArray

    @property
    def models(self) -> list[str]:
        return [str(m) for m in self.scores.index]

    @property
    def benchmarks(self) -> list[str]:
        return [str(b) for b in self.scores.columns]

    def coords(self, skills: list[str]) -> dict[str, list]:
        """PyMC coords: model, benchmark, skill, cell."""
        return {"model": self.models, "benchmark": self.benchmarks, "skill": list(skills),
                "skill_": list(skills), "cell": list(range(len(self.y)))}


def build_factor_design(scores: pd.DataFrame, registry: BenchmarkRegistry | None = None) -> FactorDesign:
    """Cells, clipped scores and floors of a validated score matrix
    (:func:`~scaling_bayes.data.validate_score_matrix`; rows model, columns benchmark)."""
    registry = registry or default_registry()
    benchmarks = [str(b) for b in scores.columns]
    values = scores.to_numpy(dtype=float)
    cell_model, cell_benchmark = np.nonzero(~np.isnan(values))
    n_items = registry.n_items(benchmarks).to_numpy()[cell_benchmark]
    return FactorDesign(
        scores=scores,
        cell_model=cell_model,
        cell_benchmark=cell_benchmark,
        y=clip_scores(values[cell_model, cell_benchmark], n_items),
        floors=registry.floors(benchmarks),
    )
