"""Parameter recovery on data simulated from the model's own generative process.

The only synthetic data in the suite: real covariates and family structure (a small
leaderboard_v2 subset), scores drawn from the prior predictive with a fixed seed, then
refitted.  About 90% of the true values must fall inside their 90% intervals.
"""

import dataclasses
import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr

from scaling_bayes.design import build_design
from scaling_bayes.inference import ConvergenceWarning, SamplerConfig, diagnose, sample, sample_prior_predictive
from scaling_bayes.model import SCALE_VARIABLES, ModelConfig, add_family_effects, build_model

pytestmark = pytest.mark.slow

N_WORLDS = 5
CHECKED = ["slopes", "skill_mean", "alpha_family", "alpha_variant", "loadings_free",
           "intercept_free", "log_nu", "log_phi", "instruct_offset"]


def test_true_parameters_fall_in_90pct_intervals_at_a_90pct_rate(small_v2):
    """Pooled over several simulated worlds: one world's parameters are correlated (its
    variant effects, slopes and loadings move together), so a single world's coverage is
    noisy.  Measured with the default model on this subset at the test's 2 × 250 draws after
    600 tuning steps (session 16, the observed scores a ``pm.Data`` container so the five
    refits share one compiled function), the five worlds covered 0.73, 0.91, 0.92, 0.88, 0.99
    of their 78 values (pooled 0.89; max R-hat 1.02-1.06).  After 400 tuning steps one world
    mixed poorly (R-hat 1.12, bulk ESS 12; the others 1.03, pooled coverage 0.87); before the
    change, with the scores graph constants, 400 tuning steps had given R-hat 1.03-1.08 and
    0.72/0.91/0.88/0.90/0.95 (2 × 400 draws: 0.69/0.94/0.92/0.90/0.97).  Bit-level changes
    to the compiled graph move each refit's chains, not the coverage.  The worlds are drawn
    with fastmath off
    (:func:`~scaling_bayes.inference.sample_prior_predictive`): with it on, a long-used and a
    fresh compile cache drew different worlds, and at 2 × 250 draws one refit's R-hat was 1.06
    on one machine but 1.25 in a clean-clone CI run.

    At 2 × 250 draws the max R-hat over a world's posterior variables is itself noisy: its
    slowest direction has a bulk ESS of 10-100.  Session 19, on an AVX-512 machine, the same
    five worlds with seed 1 gave max R-hat 1.02/1.04/1.08/1.06/1.13 (the last with 47
    divergences, bulk ESS 11; a per-world guard of 1.1 failed the suite there) and coverage
    0.68/0.90/0.90/0.88/0.96 (pooled 0.86); with seed 2 R-hat 1.03/1.03/1.07/1.05/1.07; at
    target_accept 0.95 1.05/1.05/1.04/1.05/1.04 (seed 1) and 1.03/1.05/1.07/1.15/1.05 (seed
    2).  So the guard is two-sided: every world below 1.2 (what it is there to catch, chains
    stuck apart or in separate modes, gave R-hat 1.8-2.4 on the bundled data before the model
    was reparameterised; ``tests/test_convergence.py``) and the median world below 1.1
    (measured 1.05-1.06).

    Session 21 integrated the base-family effects out of the graph, which changes how the
    prior is forward-sampled and so which five worlds are drawn.  Both graphs were fitted to
    both sets of worlds (seed 1): on the new worlds the old graph gave max R-hat
    1.04/1.10/1.18/1.06/1.04 with 1/8/7/4/13 divergences, the new 1.02/1.04/1.24/1.04/1.18 with
    0/1/3/0/1; on the old worlds the old graph 1.03/1.03/1.10/1.05/1.03 (0/2/5/4/11), the new
    1.04/1.03/1.03/1.04/1.02 (0/0/0/2/0).  The third new world is slow for both graphs (bulk
    ESS 7-8 in its slopes), so the per-world guard is 1.3, still far below the 1.8-2.4 of
    chains in separate modes.  The new worlds' coverage, new graph: 0.92/0.94/0.94/0.78/0.86
    (pooled 0.89).  After the between-family density's Cholesky was unrolled (the same
    density, rounded differently) the same worlds gave R-hat 1.03/1.02/1.06/1.06/1.05 and
    coverage 0.94/0.92/0.95/0.78/0.90: the third world's 1.24 was its chains' path, not the
    world, but such paths occur, so the guard stays at 1.3."""
    design = build_design(small_v2)
    config = ModelConfig(n_skills=2)
    prior = sample_prior_predictive(build_model(design, config), draws=1000, random_seed=20261125)
    # The weakly informative prior also generates worlds where most scores sit at
    # 0 or 1 to machine precision, which the likelihood's mu-clipping cannot represent.
    # Take the first draws with at most 1% of their scores outside [0.001, 0.999]:
    # conditioning on the data keeps the posterior calibrated, so coverage must still
    # be ~90%.  (The prior predictive is wide: 7 of these 1000 draws pass; forward
    # sampling them takes about a second.)
    scores = prior["prior_predictive"]["score"].isel(chain=0)
    ok = (((scores < 1e-3) | (scores > 1 - 1e-3)).mean("cell") <= 0.01).values
    picks = np.flatnonzero(ok)[:N_WORLDS]
    assert len(picks) == N_WORLDS, f"only {len(picks)} realistic prior draws among 1000"

    inside, per_world, rhats = [], [], []
    for pick in picks:
        # the base-family effects are integrated out of the graph: each world's true
        # alpha_family is drawn from its conditional given that world's other parameters,
        # which with them is a draw from the joint prior, and likewise in the posterior
        truth = add_family_effects(prior["prior"].to_dataset(), design, 0).isel(chain=0, draw=int(pick))
        y = np.clip(scores.isel(draw=int(pick)).values, 1e-12, 1 - 1e-12)
        sim = build_model(dataclasses.replace(design, y=y), config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            idata = sample(sim, SamplerConfig(chains=2, draws=250, tune=600), random_seed=1,
                           progressbar=False, hold_fixed_in_init=SCALE_VARIABLES)
        idata["posterior"] = xr.DataTree(add_family_effects(idata["posterior"].to_dataset(), design, 1))
        rhats.append(diagnose(idata).max_rhat)
        assert rhats[-1] < 1.3, f"world {pick}: max R-hat {rhats[-1]:.3f}"
        world = []
        for name in CHECKED:
            bounds = az.eti(idata["posterior"][name], prob=0.9, dim=["chain", "draw"]).values
            bounds = bounds.reshape(-1, 2)
            value = truth[name].values.ravel()
            world.append((bounds[:, 0] <= value) & (value <= bounds[:, 1]))
        inside.append(np.concatenate(world))
        per_world.append(round(float(inside[-1].mean()), 2))
    assert np.median(rhats) < 1.1, f"max R-hat per world {np.round(rhats, 3)}"
    inside = np.concatenate(inside)
    rate = inside.mean()
    # n ≈ 5 × 78 values.  Worlds vary (sd of one world's rate ≈ 0.1 above), so the mean of
    # five has sd ≈ 0.045; 0.78 is ~2 sd below the measured 0.86-0.89 and survives one world as
    # poor as the worst seen (0.64, in an earlier set of worlds) among four typical ones
    # (pooled ≈ 0.86).
    assert len(inside) > 5 * 60
    assert 0.78 <= rate <= 0.99, f"coverage {rate:.2f} of {len(inside)} true values; per world {per_world}"
