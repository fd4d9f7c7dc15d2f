"""Stacking forecasters: mixture weights from held-out log scores, and the stacked model.

Stacking of predictive distributions (Yao, Vehtari, Simpson & Gelman 2018, *Bayesian
Analysis* 13(3)) forecasts with the mixture ``Σ_k w_k p_k`` of several fitted models, with
the weights ``w`` on the simplex that maximise the log score of held-out data,
``Σ_i log Σ_k w_k p_k(y_i)``.  Unlike choosing one model, it uses each where it forecasts
better: the latent-skill model pools what a family shows across benchmarks through its
skills, the FLOPs law with per-benchmark family intercepts follows each benchmark's own
family level (see ``docs/findings.md``).

The held-out data matter.  PSIS-LOO's cells measure in-sample fit, which rewarded terms that
then forecast worse (``docs/findings.md``); here the weights are learned on forecasts of
models a fit has not seen: in :class:`StackedModel`, each family's largest size held out
(:func:`~scaling_bayes.evaluation.holdout.largest_model_fold`); in the protocol, the other
test families of a setting (:func:`~scaling_bayes.evaluation.stacking.cross_fold_stacking`).

>>> from scaling_bayes import FlopsLawBaseline, LatentSkillModel, StackedModel
>>> stack = StackedModel({"latent": LatentSkillModel(), "flops": FlopsLawBaseline()})
>>> stack.fit(data)                       # doctest: +SKIP  (learns the weights, then fits both)
>>> stack.predict(new_models).table       # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from arviz_stats.utils import ELPDDataLOO, ELPDDataLOOKFold

from scaling_bayes.data import ScoreTable, _read_csv_keeping_names
from scaling_bayes.inference import (
    Diagnostics, SamplerConfig, diagnose, evenly_spaced, largest_remainder_counts, sample, warn_on_problems,
)
from scaling_bayes.prediction import Prediction, family_cases, family_size_ratio, summarize

__all__ = ["StackedModel", "hierarchical_stacking_weights", "mix_draws", "mix_draws_by", "mixture_mean",
           "stacking_weights"]

#: NUTS settings of :func:`hierarchical_stacking_weights`: a model with a few dozen parameters,
#: non-centred, whose level scale can approach 0 (a funnel), hence the high target_accept.
HIERARCHICAL_STACKING_SAMPLER = SamplerConfig(chains=2, draws=1000, tune=1000, target_accept=0.95, init="jitter")


def stacking_weights(lpd: pd.DataFrame) -> pd.Series:
    """Stacking weights from held-out log predictive densities (ArviZ ``compare``,
    ``method="stacking"``).

    Parameters
    ----------
    lpd : DataFrame
        One row per held-out cell, one column per forecaster: ``log p_k(y_i)``.

    Returns
    -------
    Series
        One weight per forecaster (indexed like ``lpd.columns``), non-negative, summing to 1.

    Raises
    ------
    ValueError
        If a column has missing or non-finite values, or there are fewer than two forecasters.
    """
    _checked_lpd(lpd)
    n = len(lpd)
    elpds = {
        str(name): ELPDDataLOOKFold(
            elpd=float(col.sum()), se=float(np.sqrt(n) * col.std()), p=0.0, n_samples=1, n_data_points=n,
            scale="log", warning=False, good_k=None, n_folds=n,
            elpd_i=xr.DataArray(col.to_numpy(dtype=float), dims="cell"),
        )
        for name, col in lpd.items()
    }
    table = az.compare(elpds, method="stacking", round_to="none")
    weights = np.clip(table["weight"].reindex([str(c) for c in lpd.columns]).to_numpy(dtype=float), 0.0, None)
    return pd.Series(weights / weights.sum(), index=lpd.columns, name="weight")


def _checked_lpd(lpd: pd.DataFrame) -> np.ndarray:
    """``lpd`` as a float array, after checking it has ≥ 2 forecasters and only finite values."""
    if lpd.shape[1] < 2:
        raise ValueError(f"stacking needs at least two forecasters; got columns {list(lpd.columns)}")
    values = lpd.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        raise ValueError(
            f"log predictive density column {lpd.columns[column]!r} has {int(bad[:, column].sum())} "
            "missing or non-finite values; drop the cells without an observed score first."
        )
    return values


def hierarchical_stacking_weights(
    lpd: pd.DataFrame,
    by: pd.Series,
    *,
    levels: list[str] | None = None,
    random_seed: int = 0,
    config: SamplerConfig = HIERARCHICAL_STACKING_SAMPLER,
) -> tuple[pd.DataFrame, Diagnostics]:
    """Stacking weights that vary by a discrete input (e.g. the benchmark), partially pooled.

    Bayesian hierarchical stacking (Yao, Pirš, Vehtari & Gelman 2022, *Bayesian Analysis*
    17(4)) with one categorical input: level ``b``'s weights are ``softmax(η_b)``, with the
    last forecaster as reference (η = 0) and, for every other forecaster ``k``,
    ``η_bk = μ_k + σ_k z_bk``; priors μ_k ~ N(0, 1), σ_k ~ HalfNormal(1), z_bk ~ N(0, 1).  The
    log score ``Σ_i log Σ_k w_{b_i k} p_k(y_i)`` is the likelihood.  σ → 0 is pooled stacking
    (one weight vector, :func:`stacking_weights`); a large σ gives each level its own; the
    held-out cells decide between them, so a level with few cells borrows from the others.
    The weights returned are the posterior means of ``w_b``: the posterior predictive of the
    stacked forecast is the mixture with those weights.

    Parameters
    ----------
    lpd : DataFrame
        One row per held-out cell, one column per forecaster: ``log p_k(y_i)``.
    by : Series
        The level of every row of ``lpd`` (same length, e.g. each cell's benchmark).
    levels : list of str, optional
        Levels to return weights for (default: those in ``by``, sorted).  A level without
        cells gets the population's weights (its z from the prior).
    random_seed : int
        Seed of the NUTS run.
    config : SamplerConfig
        NUTS settings (default :data:`HIERARCHICAL_STACKING_SAMPLER`).

    Returns
    -------
    weights : DataFrame
        Index the levels (named like ``by``), one column per forecaster; rows sum to 1.
    diagnostics : Diagnostics
        The NUTS run's convergence (also warned about, :class:`~scaling_bayes.inference.ConvergenceWarning`).

    Raises
    ------
    ValueError
        As :func:`stacking_weights`, or if ``by`` does not have one level per row.
    """
    values = _checked_lpd(lpd)
    if len(by) != len(lpd) or pd.isna(by).any():
        raise ValueError(f"`by` must give a level for each of the {len(lpd)} rows of lpd; got {len(by)} values "
                         f"({int(pd.isna(by).sum())} missing)")
    levels = sorted(pd.unique(by).astype(str)) if levels is None else [str(v) for v in levels]
    unknown = sorted(set(pd.Series(by).astype(str)) - set(levels))
    if unknown:
        raise ValueError(f"`by` has levels {unknown} that are not in levels={levels}")
    names = [str(c) for c in lpd.columns]
    index = pd.Index(levels).get_indexer(pd.Series(by).astype(str))
    coords = {"level": levels, "contrast": names[:-1], "forecaster": names}
    with pm.Model(coords=coords) as model:
        cells = pm.Data("lpd", values)
        level = pm.Data("level_index", index)
        mu = pm.Normal("mu", 0.0, 1.0, dims="contrast")
        sigma = pm.HalfNormal("sigma", 1.0, dims="contrast")
        z = pm.Normal("z", 0.0, 1.0, dims=("level", "contrast"))
        eta = pt.concatenate([mu + sigma * z, pt.zeros((len(levels), 1))], axis=1)
        log_w = eta - pt.logsumexp(eta, axis=1, keepdims=True)
        pm.Potential("log_score", pt.logsumexp(log_w[level] + cells, axis=1).sum())
        pm.Deterministic("weight", pt.exp(log_w), dims=("level", "forecaster"))
    idata = sample(model, config, random_seed=random_seed, progressbar=False)
    diagnostics = diagnose(idata, ["mu", "sigma", "z"])
    warn_on_problems(diagnostics)
    mean = idata["posterior"]["weight"].mean(("chain", "draw")).to_pandas()
    mean = mean.div(mean.sum(axis=1), axis=0)
    mean.index.name = getattr(by, "name", None) or "level"
    mean.columns = list(lpd.columns)
    return mean, diagnostics


def mix_draws_by(draws: Mapping[str, xr.DataArray], weights: pd.DataFrame, dim: str = "benchmark") -> xr.DataArray:
    """:func:`mix_draws` with weights that vary along ``dim``: each label of ``dim`` is mixed
    with its own row of ``weights`` (index the labels, one column per forecaster).

    Each label's draws are its own mixture, so one draw index may come from one forecaster on
    one benchmark and from another on the next: every benchmark's (marginal) forecast is right,
    but a quantity across benchmarks (their average, a joint interval) computed from these
    draws is not a draw of any one forecaster's joint distribution.

    Returns
    -------
    DataArray
        Dims (chain, draw, model, benchmark), ``dim`` in the first forecaster's order.
    """
    names = list(draws)
    labels = [str(v) for v in draws[names[0]][dim].values]
    missing = sorted(set(labels) - set(weights.index.astype(str)))
    if missing:
        raise ValueError(f"weights have no row for {dim} {missing}; give one row per {dim}")
    rows = weights.set_axis(weights.index.astype(str))
    pieces = [mix_draws({n: d.sel({dim: [label]}) for n, d in draws.items()}, rows.loc[label].to_dict())
              for label in labels]
    return xr.concat(pieces, dim=dim)


def mixture_mean(draws: Mapping[str, xr.DataArray], weights: Mapping[str, float] | pd.Series | pd.DataFrame) -> xr.DataArray:
    """The mixture's mean ``Σ_k w_k E_k[y]``, each ``E_k`` over *all* of forecaster ``k``'s draws.

    :func:`mix_draws` keeps ``w_k D`` of forecaster ``k``'s ``D`` draws, so the mean of its
    output carries more Monte Carlo error than this (and moves when a weight changes by
    less than one draw's share).  Stacked forecasts report this mean, and take their
    intervals from the mixed draws.

    Parameters
    ----------
    draws : mapping of name to DataArray
        Dims (chain, draw, model, benchmark), the same labels for every name.
    weights : mapping, Series or DataFrame
        One weight per forecaster, or a DataFrame with one row per benchmark and one column
        per forecaster (:func:`mix_draws_by`).

    Returns
    -------
    DataArray
        Dims (model, benchmark), labelled like the first forecaster's draws.
    """
    names = list(draws)
    first = draws[names[0]].mean(("chain", "draw")).transpose("model", "benchmark")
    total = xr.zeros_like(first, dtype=float)
    for name in names:
        mean = draws[name].mean(("chain", "draw")).astype(float).reindex_like(first)
        if isinstance(weights, pd.DataFrame):
            column = weights[name].set_axis(weights.index.astype(str))
            w = xr.DataArray(column.reindex([str(b) for b in first["benchmark"].values]).to_numpy(float),
                             dims="benchmark", coords={"benchmark": first["benchmark"].values})
        else:
            w = float(weights[name])
        total = total + w * mean
    return total


def mix_draws(draws: Mapping[str, xr.DataArray], weights: Mapping[str, float]) -> xr.DataArray:
    """Draws from the mixture ``Σ_k w_k p_k`` of several forecasters' predictive draws.

    When every forecaster has the same (chain, draw) sizes, every chain keeps its length
    ``D``: forecaster ``k`` contributes ``n_k`` of its own chain's draws, ``n_k`` the
    largest-remainder rounding of ``w_k D``, taken evenly spaced along the chain.  When the
    sizes differ (say a chain-stacked fit, one chain of ``C·D`` draws, beside an unstacked
    one), the result is one chain of ``S`` draws, ``S`` the largest number of draws any
    forecaster has: forecaster ``k`` contributes the rounding of ``w_k S`` draws evenly
    spaced over all of its own draws, repeated where it has fewer.  Either way the draws are
    deterministic (no random numbers, the same draws for every variable mixed with the same
    weights), and a forecaster with weight 0 contributes nothing.

    Parameters
    ----------
    draws : mapping of name to DataArray
        Dims (chain, draw, model, benchmark), the same model and benchmark labels for every
        name (they may come in another order).
    weights : mapping of name to float
        Non-negative mixture weights over the same names, summing to 1.

    Returns
    -------
    DataArray
        Dims (chain, draw, model, benchmark); ``draw`` renumbered from 0.
    """
    names = list(draws)
    if set(weights) != set(names):
        raise ValueError(f"weights name {sorted(weights)} but the draws come from {sorted(names)}")
    w = np.array([weights[n] for n in names], dtype=float)
    if (w < 0).any() or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"weights {dict(zip(names, w.tolist()))} must be non-negative and sum to 1")
    first = draws[names[0]].transpose("chain", "draw", "model", "benchmark")
    labels = first.isel(chain=0, draw=0, drop=True)
    def cell_labels(array: xr.DataArray) -> dict[str, list[str]]:
        return {d: sorted(map(str, array[d].values)) if d in array.coords else [] for d in ("model", "benchmark")}

    for name in names[1:]:
        if cell_labels(draws[name]) != cell_labels(first):
            raise ValueError(
                f"draws of {name!r} cover models/benchmarks {cell_labels(draws[name])}, those of {names[0]!r} "
                f"{cell_labels(first)}: every forecaster must predict the same models and benchmarks"
            )
    pools = {n: draws[n].transpose(*first.dims) for n in names}
    if len({(d.sizes["chain"], d.sizes["draw"]) for d in pools.values()}) == 1:
        n_draws = first.sizes["draw"]
    else:  # differing (chain, draw) shapes: pool each forecaster's draws into one chain
        pools = {n: d.stack(sample=("chain", "draw")).drop_vars(["sample", "chain", "draw"])
                 .rename(sample="draw").expand_dims(chain=[0]).transpose(*first.dims) for n, d in pools.items()}
        n_draws = max(p.sizes["draw"] for p in pools.values())
    counts = largest_remainder_counts(w, n_draws)
    pieces = []
    for name, count in zip(names, counts):
        if count:
            piece = pools[name].isel(draw=evenly_spaced(count, pools[name].sizes["draw"])).reindex_like(labels)
            pieces.append(piece.drop_vars("draw", errors="ignore"))
    mixed = xr.concat(pieces, dim="draw")
    return mixed.assign_coords(draw=np.arange(n_draws))


def _combined_diagnostics(parts: Mapping[str, Diagnostics]) -> Diagnostics:
    """The worst of each convergence number over the components; times and counts summed."""
    d = list(parts.values())
    return Diagnostics(
        max_rhat=max(x.max_rhat for x in d), min_ess_bulk=min(x.min_ess_bulk for x in d),
        min_ess_tail=min(x.min_ess_tail for x in d), divergences=sum(x.divergences for x in d),
        n_samples=min(x.n_samples for x in d), fit_seconds=sum(x.fit_seconds for x in d),
        resampled=sum(x.resampled for x in d),
        slowest=tuple(f"{name}: {x.slowest[0]}" for name, x in parts.items() if x.slowest),
    )


class StackedModel:
    """A stacking mixture of forecasters, with the model-class interface (fit, predict, save, load).

    Parameters
    ----------
    components : mapping of name to model
        Unfitted (or, with ``weights``, fitted) models with the
        :class:`~scaling_bayes.skill_model.LatentSkillModel` interface, e.g.
        ``{"latent": LatentSkillModel(), "flops": FlopsLawBaseline()}``.
    weights : mapping of name to float, or DataFrame, optional
        Fixed mixture weights: one per component, or (with ``by="benchmark"``) a DataFrame
        with one row per benchmark and one column per component.  Without them, :meth:`fit`
        learns them first (:meth:`learn_weights`), which fits every component twice.
    by : {"benchmark"}, optional
        None (default): one weight per component.  ``"benchmark"``: weights per benchmark,
        partially pooled across benchmarks (:func:`hierarchical_stacking_weights`).

    Attributes
    ----------
    weights : Series or DataFrame
        The mixture weights, by component (Series), or by benchmark and component
        (DataFrame, with ``by="benchmark"``); after fitting or when given.
    weight_check : DataFrame or None
        The held-out cells the weights were learned on, with each component's log density.
    """

    def __init__(self, components: Mapping[str, Any], weights: Mapping[str, float] | pd.DataFrame | None = None,
                 by: str | None = None) -> None:
        if len(components) < 2:
            raise ValueError(f"a stack needs at least two components; got {list(components)}")
        if isinstance(weights, pd.DataFrame) and by is None:
            by = "benchmark"
        if by not in (None, "benchmark"):
            raise ValueError(f"by={by!r}: use None (one weight per component) or 'benchmark'")
        self.components = dict(components)
        self.by = by
        self.weights = None if weights is None else self._checked(weights)
        #: weights given by the user stay; learned ones are relearned by every fit
        self._weights_given = weights is not None
        self.weight_check: pd.DataFrame | None = None
        self.fit_seconds: float = float("nan")

    def _checked(self, weights: Mapping[str, float] | pd.DataFrame) -> pd.Series | pd.DataFrame:
        names = list(self.components)
        if self.by is None:
            w = pd.Series(dict(weights), dtype=float).reindex(names)
            if w.isna().any() or (w < 0).any() or not np.isclose(w.sum(), 1.0):
                raise ValueError(
                    f"weights {dict(weights)} must give every component {names} a "
                    "non-negative weight, summing to 1."
                )
            return w.rename("weight")
        if not isinstance(weights, pd.DataFrame):
            raise ValueError("with by='benchmark' give weights as a DataFrame: one row per benchmark, one column per component")
        table = weights.astype(float).reindex(columns=names)
        bad = table.index[table.isna().any(axis=1) | (table < 0).any(axis=1) | ~np.isclose(table.sum(axis=1), 1.0)]
        if len(bad):
            raise ValueError(
                f"weights of benchmark(s) {list(bad)} must give every component {names} a "
                "non-negative weight, summing to 1."
            )
        table.index = table.index.astype(str).rename("benchmark")
        return table

    def learn_weights(self, data: ScoreTable, *, random_seed: int = 0, min_sizes: int = 3,
                      **sampler_overrides: Any) -> pd.Series:
        """Learn the weights on ``data`` alone: hold out the largest size of every variant
        family with ≥ ``min_sizes`` sizes (:func:`~scaling_bayes.evaluation.holdout.largest_model_fold`),
        fit each component on the rest, and stack their log densities of the held-out cells."""
        from scaling_bayes.evaluation.holdout import largest_model_fold
        from scaling_bayes.evaluation.protocol import fold_split

        data = data.fittable()  # models without tokens can be neither fitted nor held out
        fold = largest_model_fold(data, data.name, min_sizes=min_sizes)
        train, test_models, test_scores = fold_split(fold, data)
        columns = {}
        for name, component in self.components.items():
            component.fit(train, random_seed=random_seed, **sampler_overrides)
            draws = component.predictive_draws(test_models, random_seed=random_seed, warn_extrapolation=False)
            columns[name] = component.log_predictive_density(draws, test_scores).to_series()
        check = pd.DataFrame(columns).dropna()
        self.weight_check = check
        self.weights = self.weights_from(check, levels=list(data.benchmarks), random_seed=random_seed)
        return self.weights

    def weights_from(self, check: pd.DataFrame, *, levels: list[str] | None = None,
                     random_seed: int = 0) -> pd.Series | pd.DataFrame:
        """Stacking weights from held-out cells ``check`` (index (model, benchmark), one
        column of log densities per component): :func:`stacking_weights`, or with
        ``by="benchmark"`` :func:`hierarchical_stacking_weights` over ``levels``."""
        if self.by is None:
            return stacking_weights(check)
        benchmarks = check.index.get_level_values("benchmark").astype(str).to_series(index=check.index, name="benchmark")
        weights, _ = hierarchical_stacking_weights(check, benchmarks, levels=levels, random_seed=random_seed)
        return weights

    def prior_predictive(self, data: ScoreTable, *, draws: int = 500, random_seed: int = 0) -> xr.DataTree:
        """Every component's prior predictive at ``data``'s observed cells (each with
        ``random_seed``), one child per component named as in ``components``.

        A stack has no prior of its own: its weights are learned from held-out forecasts, not
        drawn, so the check before fitting is each component's.  Leaves the stack unfitted.
        """
        return xr.DataTree(children={
            name: component.prior_predictive(data, draws=draws, random_seed=random_seed)
            for name, component in self.components.items()
        })

    def fit(self, data: ScoreTable, *, random_seed: int = 0, progressbar: bool = True,
            **sampler_overrides: Any) -> xr.DataTree:
        """Fit every component on ``data`` (each with ``random_seed``), learning the weights
        first if none were given; warns on convergence problems (the worst component's).

        Returns a DataTree with one child per component, named as in ``components``: that
        component's fit (what its own ``fit`` returns, e.g. ``tree["latent"]["posterior"]``).
        """
        start = time.perf_counter()
        data = data.fittable()  # warns once about the models it drops, not once per component fit
        if not self._weights_given:  # learned on this data, not kept from an earlier fit's
            self.learn_weights(data, random_seed=random_seed, progressbar=progressbar, **sampler_overrides)
        fits = {name: component.fit(data, random_seed=random_seed, progressbar=progressbar, **sampler_overrides)
                for name, component in self.components.items()}
        self.fit_seconds = time.perf_counter() - start
        return xr.DataTree(children=fits)

    def loo(self) -> ELPDDataLOO:
        """PSIS-LOO of the stacked forecast over the training cells: each observed cell's
        ``log Σ_k w_k p_k(y_i | y_−i)``, from the components' own pointwise PSIS-LOO
        (``loo()``), with the cell's benchmark's weights under ``by="benchmark"``.

        The result compares with the components' ``loo()`` in ``az.compare`` (same cells).
        Each cell's Pareto k is its worst component's; ``p`` (effective parameters) is NaN,
        as a mixture of fits has none of its own.  The weights were learned on this data's
        largest sizes, so against a single component the estimate is mildly optimistic.
        """
        weights = self._require_weights()
        loos = {name: component.loo() for name, component in self.components.items()}
        designs = [component.design for component in self.components.values()]
        first = designs[0]
        for name, design in zip(list(self.components)[1:], designs[1:]):
            same = (design.benchmarks == first.benchmarks
                    and list(design.data.models.index) == list(first.data.models.index)
                    and np.array_equal(design.cell_model, first.cell_model)
                    and np.array_equal(design.cell_benchmark, first.cell_benchmark))
            if not same:
                raise ValueError(f"component {name!r} was fitted on other cells than {next(iter(self.components))!r}: "
                                 "fit the stack (StackedModel.fit) so every component sees the same data.")
        names = list(self.components)
        benchmark = np.asarray(first.benchmarks, dtype=object)[first.cell_benchmark]
        if isinstance(weights, pd.DataFrame):  # (cell, component): each cell its benchmark's weights
            absent = sorted(set(first.benchmarks) - set(weights.index))
            if absent:
                raise ValueError(f"the stack's weights have no row for benchmark(s) {absent}: refit the stack "
                                 "on this data, or give weights for every benchmark it was fitted on.")
            w = weights.reindex(index=list(benchmark), columns=names).to_numpy(dtype=float)
        else:
            w = np.broadcast_to(weights.reindex(names).to_numpy(dtype=float), (len(benchmark), len(names)))
        used = w > 0  # a weight of 0 drops its component from the cell's mixture, Pareto k included
        elpd_k = np.column_stack([loos[n].elpd_i.to_numpy().ravel() for n in names])
        with np.errstate(divide="ignore"):
            elpd_i = np.logaddexp.reduce(np.where(used, np.log(w) + elpd_k, -np.inf), axis=1)
        k_all = np.column_stack([loos[n].pareto_k.to_numpy().ravel() for n in names])
        k = np.max(np.where(used, k_all, -np.inf), axis=1)
        dims = {"cell": np.arange(len(elpd_i))}
        return ELPDDataLOO(
            elpd=float(elpd_i.sum()), se=float(np.sqrt(len(elpd_i)) * elpd_i.std()), p=float("nan"),
            n_samples=min(loos[n].n_samples for n in names), n_data_points=len(elpd_i), scale="log",
            warning=any(loos[n].warning for n in names), good_k=min(loos[n].good_k for n in names),
            elpd_i=xr.DataArray(elpd_i, dims="cell", coords=dims),
            pareto_k=xr.DataArray(k, dims="cell", coords=dims),
        )

    @property
    def diagnostics(self) -> Diagnostics | None:
        """The components' convergence, combined: the worst R-hat and ESS, divergences summed."""
        parts = {n: c.diagnostics for n, c in self.components.items()}
        return None if any(d is None for d in parts.values()) else _combined_diagnostics(parts)

    def _require_weights(self) -> pd.Series | pd.DataFrame:
        if self.weights is None:
            raise RuntimeError("this StackedModel has no weights yet: fit it, or pass weights=.")
        return self.weights

    def predictive_draws(self, new_models: pd.DataFrame | ScoreTable, *, random_seed: int = 0,
                         warn_extrapolation: bool = True) -> xr.Dataset:
        """Mixture draws of ``score`` and ``mu``, dims (chain, draw, model, benchmark): each
        component's draws (with ``random_seed``) mixed by :func:`mix_draws`."""
        self._require_weights()
        return self._mixed(self._component_draws(new_models, random_seed, warn_extrapolation))

    def _component_draws(self, new_models: pd.DataFrame | ScoreTable, random_seed: int,
                         warn_extrapolation: bool) -> dict[str, xr.Dataset]:
        # the components share the training data, so the first one's extrapolation warnings speak for all
        return {n: c.predictive_draws(new_models, random_seed=random_seed,
                                      warn_extrapolation=warn_extrapolation and i == 0)
                for i, (n, c) in enumerate(self.components.items())}

    def _mixed(self, parts: Mapping[str, xr.Dataset]) -> xr.Dataset:
        weights = self._require_weights()

        def mixed(variable: str) -> xr.DataArray:
            draws = {n: p[variable] for n, p in parts.items()}
            if isinstance(weights, pd.DataFrame):
                return mix_draws_by(draws, weights, dim="benchmark")
            return mix_draws(draws, weights.to_dict())

        return xr.Dataset({v: mixed(v) for v in ("score", "mu")})

    def predict(self, new_models: pd.DataFrame | ScoreTable, prob: float = 0.9, *, random_seed: int = 0) -> Prediction:
        """Credible intervals of the stacked forecast; the same table as
        :meth:`LatentSkillModel.predict <scaling_bayes.skill_model.LatentSkillModel.predict>`,
        its means from every component draw (:func:`mixture_mean`), its intervals and
        medians from the mixed draws (:meth:`predictive_draws`)."""
        if not 0 < prob < 1:
            raise ValueError(f"prob={prob} must lie strictly between 0 and 1 (e.g. 0.9).")
        weights = self._require_weights()
        first = next(iter(self.components.values()))
        models = first._resolved(new_models)  # once for all components (a clashing row warns once)
        parts = self._component_draws(models, random_seed, True)
        draws = self._mixed(parts)
        table = summarize(draws, models, family_cases(models, first.design.families), prob,
                          family_size_ratio(models, first.design.data.models))
        # the mean over every component draw (mixture_mean), not only the mixed ones
        for variable, column in (("score", "mean"), ("mu", "mu_mean")):
            exact = mixture_mean({n: p[variable] for n, p in parts.items()}, weights)
            table[column] = exact.to_series().reindex(pd.MultiIndex.from_frame(table[["model", "benchmark"]])).to_numpy()
        return Prediction(table=table, draws=xr.DataTree.from_dict({"predictions": draws}), prob=prob)

    def save(self, path: str | Path) -> Path:
        """Save every component to ``path/<name>`` and the weights to ``path/stack.json``."""
        path = Path(path)
        weights = self._require_weights()
        for name, component in self.components.items():
            component.save(path / name)
        record = {"components": {n: type(c).__name__ for n, c in self.components.items()},
                  "by": self.by,
                  "weights": weights.to_dict(orient="index") if isinstance(weights, pd.DataFrame) else weights.to_dict()}
        (path / "stack.json").write_text(json.dumps(record, indent=2))
        if self.weight_check is not None:
            self.weight_check.reset_index().to_csv(path / "weight_check.csv", index=False)
        else:  # given weights: a check left by an earlier save here would be attached on load
            (path / "weight_check.csv").unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> StackedModel:
        """Load a stack saved with :meth:`save` (no refitting)."""
        from scaling_bayes.baselines import MODEL_CLASSES

        path = Path(path)
        if not (path / "stack.json").is_file():
            raise FileNotFoundError(f"{path} is not a saved stack: expected stack.json there (StackedModel.save).")
        record = json.loads((path / "stack.json").read_text())
        unknown = sorted(set(record["components"].values()) - set(MODEL_CLASSES))
        if unknown:
            raise ValueError(f"{path / 'stack.json'} names unknown component classes {unknown}; known: {sorted(MODEL_CLASSES)}")
        components = {n: MODEL_CLASSES[c].load(path / n) for n, c in record["components"].items()}
        by = record.get("by")
        weights = record["weights"] if by is None else pd.DataFrame.from_dict(record["weights"], orient="index")
        stack = cls(components, weights=weights, by=by)
        if (path / "weight_check.csv").is_file():  # the held-out cells the weights were learned on
            check = _read_csv_keeping_names(path / "weight_check.csv", names=("model", "benchmark"))
            stack.weight_check = check.set_index(["model", "benchmark"])
            stack._weights_given = False  # learned, so a refit on other data learns them afresh
        return stack

    def __repr__(self) -> str:
        if self.weights is None:
            weights = "unfitted"
        elif isinstance(self.weights, pd.DataFrame):
            weights = "per benchmark, mean " + ", ".join(f"{n}={w:.2f}" for n, w in self.weights.mean().items())
        else:
            weights = ", ".join(f"{n}={w:.2f}" for n, w in self.weights.items())
        return f"StackedModel({', '.join(self.components)}; weights: {weights})"
