"""Simulation-based calibration (SBC; Talts et al. 2018, Modrák et al. 2023) of the latent-skill model.

Usage::

    python benchmarks/sbc.py [--worlds 100] [--n-skills 2] [--chains 2 --draws 500 --tune 600]
        [--thin 5] [--seed 20261205] [--out benchmarks/results/sbc]

Worlds are drawn from the model's own prior predictive on real covariates and family
structure (leaderboard_v2 benchmarks, the 12 variant families of the tests' small subset),
and each is refitted.  If the sampler and the model's code agree, the rank of every true
parameter among its posterior draws is uniform over worlds, and so is its randomised
fractional rank, the PIT value (:func:`randomised_pit`).  Skewed PITs say the posterior is
biased; PITs piled at 0 and 1 say it is overconfident (too narrow), piled at 0.5 that it is
too wide.

As in ``tests/test_parameter_recovery.py``, worlds with more than 1% of their scores outside
[0.001, 0.999] are skipped (the weakly informative prior generates many; the likelihood's
mean clipping cannot represent them).  The filter looks at the data only, so the posterior
given an accepted world is unchanged and SBC stays valid for the accepted worlds.

Each world's PIT values go to ``OUT/pit.csv`` as it finishes (an interrupted run resumes
from there); ``OUT/summary.csv`` holds, per checked variable, the number of elements, the
smallest p-value of ArviZ's uniformity test (``pot_c``) over its elements, how many
elements have p < 0.01, and the share of truths inside the central 50% and 90% intervals;
``OUT/sbc_ecdf.png`` plots the PIT-ECDF differences with ArviZ (``plot_ecdf_pit``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from pathlib import Path

import arviz_base as azb
import arviz_plots as azp
import arviz_stats  # noqa: F401  (registers the ``azstats`` accessor)
import numpy as np
import pandas as pd
import xarray as xr

from scaling_bayes import load_dataset
from scaling_bayes.design import Design, build_design
from scaling_bayes.inference import ConvergenceWarning, SamplerConfig, diagnose, sample, sample_prior_predictive
from scaling_bayes.model import SCALE_VARIABLES, ModelConfig, add_family_effects, build_model

RESULTS = Path(__file__).parent / "results"
#: The tests' small real subset (``tests/conftest.py``, ``small_v2``).
FAMILIES = ("qwen2", "qwen2-instruct", "meta-llama-3", "meta-llama-3-instruct", "gemma-2", "gemma-2-it",
            "pythia", "falcon", "yi-1.5", "yi-1.5-chat", "olmo", "smollm")
CHECKED = ("slopes", "skill_mean", "family_sd", "variant_sd", "instruct_offset", "alpha_family",
           "alpha_variant", "loadings_free", "intercept_free", "log_nu", "log_phi")
#: A world is kept when at most this share of its scores lies outside [EDGE, 1 − EDGE].
EDGE, MAX_EDGE_SHARE = 1e-3, 0.01


def realistic_worlds(design: Design, config: ModelConfig, n_worlds: int, seed: int, batch: int = 2000,
                     max_batches: int = 50) -> xr.Dataset:
    """Prior draws (dims world, …) whose scores pass the edge filter, with their ``score``
    (world, cell) and ``alpha_family`` drawn from its conditional (the graph integrates it out).
    At most ``n_worlds``; fewer (the caller prints how many) when ``max_batches`` batches of
    ``batch`` prior draws hold fewer that pass (K=4: 95 in 100 000 draws)."""
    model = build_model(design, config)
    kept = []
    for b in range(max_batches):
        prior = sample_prior_predictive(model, draws=batch, random_seed=seed + b)
        scores = prior["prior_predictive"]["score"].isel(chain=0)
        ok = (((scores < EDGE) | (scores > 1 - EDGE)).mean("cell") <= MAX_EDGE_SHARE).values
        if ok.any():
            params = prior["prior"].to_dataset().isel(chain=[0])
            params = add_family_effects(params, design, seed + b).isel(chain=0)
            picked = params.isel(draw=np.flatnonzero(ok)).assign(score=scores.isel(draw=np.flatnonzero(ok)))
            kept.append(picked.drop_vars("draw").rename(draw="world"))
        if sum(k.sizes["world"] for k in kept) >= n_worlds:
            break
    worlds = xr.concat(kept, dim="world").isel(world=slice(0, n_worlds))
    return worlds.assign_coords(world=np.arange(worlds.sizes["world"]))


def world_pits(posterior: xr.Dataset, truth: xr.Dataset, thin: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per checked element: ``variable, element, rank, n_draws, pit``.

    ``rank`` counts the (thinned) posterior draws below the true value, out of ``n_draws``;
    ``pit`` is the randomised fractional rank ``(rank + u) / (n_draws + 1)`` with ``u`` ~
    Uniform(0, 1) (:func:`randomised_pit`), exactly Uniform(0, 1) when the draws and the truth
    are exchangeable, and never 0 or 1 (where a uniformity test would reject outright)."""
    rows = []
    for name in CHECKED:
        if name not in posterior:
            continue
        draws = posterior[name].isel(draw=slice(None, None, thin)).stack(sample=("chain", "draw"))
        rank = (draws < truth[name]).sum("sample")
        for index, value in np.ndenumerate(rank.values):
            label = ", ".join(str(rank[d].values[i]) if d in rank.coords else str(i) for d, i in zip(rank.dims, index))
            rows.append({"variable": name, "element": label, "rank": int(value), "n_draws": draws.sizes["sample"]})
    frame = pd.DataFrame(rows)
    return frame.assign(pit=randomised_pit(frame["rank"].to_numpy(), frame["n_draws"].to_numpy(), rng))


def randomised_pit(rank: np.ndarray, n_draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(rank + u) / (n_draws + 1)``, ``u`` ~ Uniform(0, 1): a rank among ``n_draws`` draws
    spread uniformly over its bin of width ``1 / (n_draws + 1)``."""
    return (rank + rng.uniform(size=len(rank))) / (n_draws + 1)


def summarise(pits: pd.DataFrame) -> pd.DataFrame:
    """Per variable: elements, worlds, the smallest uniformity p-value (ArviZ ``pot_c``) over
    its elements and how many are below 0.01, and central 50% / 90% interval coverage."""
    wide = pits.pivot_table(index="world", columns=["variable", "element"], values="pit")
    rows = []
    for name in dict.fromkeys(pits["variable"]):
        block = wide[name].dropna()
        ds = xr.Dataset({str(e): (("world",), block[e].to_numpy()) for e in block.columns})
        pvalues = np.array([float(v) for v in ds.azstats.uniformity_test(dim="world")[0].data_vars.values()])
        values = block.to_numpy()
        rows.append({"variable": name, "n_elements": block.shape[1], "n_worlds": block.shape[0],
                     "min_p_uniform": pvalues.min(), "n_p_below_0.01": int((pvalues < 0.01).sum()),
                     "coverage_50": float(((values > 0.25) & (values < 0.75)).mean()),
                     "coverage_90": float(((values > 0.05) & (values < 0.95)).mean())})
    return pd.DataFrame(rows)


#: Plotted, one panel per element: the low-dimensional variables.
PLOTTED = ("slopes", "skill_mean", "family_sd", "variant_sd", "instruct_offset", "log_nu", "log_phi")


def plot(pits: pd.DataFrame, path: Path) -> None:
    """ArviZ's PIT-ECDF difference plot with its simultaneous 95% band, one panel per element
    of :data:`PLOTTED` (each element's PITs over worlds are independent; pooling a variable's
    elements would not be, and the band would be too narrow)."""
    wide = pits.pivot_table(index="world", columns=["variable", "element"], values="pit").dropna()
    data = {}
    for name in PLOTTED:
        if name in wide.columns.get_level_values(0):
            block = wide[name]
            data[name] = xr.DataArray(block.to_numpy()[None], dims=("chain", "draw", f"{name}_element"),
                                      coords={f"{name}_element": [str(e) for e in block.columns]})
    n_panels = sum(d.shape[-1] for d in data.values())
    with azb.rc_context({"plot.max_subplots": max(n_panels, azb.rcParams["plot.max_subplots"])}):
        pc = azp.plot_ecdf_pit(xr.DataTree.from_dict({"prior_sbc": xr.Dataset(data)}), backend="matplotlib",
                               sample_dims=["chain", "draw"], col_wrap=6)
    pc.savefig(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worlds", type=int, default=100)
    p.add_argument("--n-skills", type=int, default=2)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=600)
    p.add_argument("--thin", type=int, default=5, help="keep every THIN-th draw for the ranks")
    p.add_argument("--seed", type=int, default=20261205)
    p.add_argument("--out", type=Path, default=RESULTS / "sbc")
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sloth = load_dataset("sloth_curated")
        models = sloth.models.index[sloth.models["family"].isin(FAMILIES)]
        data = sloth.select(benchmarks="leaderboard_v2", models=list(models)).fittable()
    design = build_design(data)
    config = ModelConfig(n_skills=args.n_skills)
    worlds = realistic_worlds(design, config, args.worlds, args.seed)
    print(f"{worlds.sizes['world']} worlds; {len(data.models)} models, {len(design.y)} cells", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    pit_path = args.out / "pit.csv"
    done = pd.read_csv(pit_path) if pit_path.is_file() else pd.DataFrame(columns=["world"])
    sampler = SamplerConfig(chains=args.chains, draws=args.draws, tune=args.tune)
    for world in worlds["world"].values:
        if world in set(done["world"]):
            continue
        truth = worlds.sel(world=world)
        y = np.clip(truth["score"].values, 1e-12, 1 - 1e-12)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            idata = sample(build_model(dataclasses.replace(design, y=y), config), sampler, random_seed=args.seed + int(world),
                           progressbar=False, hold_fixed_in_init=SCALE_VARIABLES)
        posterior = add_family_effects(idata["posterior"].to_dataset(), design, args.seed + int(world))
        diag = diagnose(idata)
        rows = world_pits(posterior, truth, args.thin, np.random.default_rng([args.seed, int(world)])).assign(
            world=int(world), max_rhat=diag.max_rhat, min_ess_bulk=diag.min_ess_bulk,
            divergences=diag.divergences, fit_seconds=time.perf_counter() - start)
        rows.to_csv(pit_path, mode="a", header=not pit_path.is_file(), index=False)
        print(f"world {world}: R-hat {diag.max_rhat:.3f}, ESS {diag.min_ess_bulk:.0f}, "
              f"{diag.divergences} div, {time.perf_counter() - start:.0f} s", flush=True)

    pits = pd.read_csv(pit_path)
    table = summarise(pits)
    table.to_csv(args.out / "summary.csv", index=False)
    per_world = pits.groupby("world")[["max_rhat", "min_ess_bulk", "divergences", "fit_seconds"]].first()
    print(table.round(3).to_string(index=False))
    print(per_world.describe().round(3).to_string())
    plot(pits, args.out / "sbc_ecdf.png")


if __name__ == "__main__":
    main()
