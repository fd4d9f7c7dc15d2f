"""Convergence regression guard on the bundled data.

The default model on the bundled Sloth data (all 12 benchmarks, K=4), at test size
(2 chains × 500 draws after 500 tuning steps, fixed seed).  Measured: max R-hat 1.059, min bulk
ESS 33, 0 divergences (the naive parameterisation gave R-hat 1.8–2.4 and up to 100+
divergences).  At 2 × 300 draws the same seed gives R-hat 1.109 and ESS 16, all of it in the
known slow direction (the IFEval skill's ``variant_sd``): slow mixing, not separate modes, but
too few draws for the threshold to tell the two apart.  Session 21, with the base-family
effects integrated out of the graph: R-hat 1.018, bulk ESS 93 (tail 160), 0 divergences in
124 s, the slowest direction the Richards exponents (``log_nu``); after the between-family
density's Cholesky was unrolled (the same density, rounded differently), R-hat 1.030, bulk ESS
110 (tail 193), 0 divergences in 83 s, the slowest the family scales (``family_sd``).  The thresholds are
left where they were: they guard against separate modes and funnels, and one seed on one
machine does not show how far another machine's chains may wander.  With a fixed seed the result is deterministic on one machine;
the thresholds leave room for platform differences, not for a regression to
multi-modal chains or a funnel.
"""

import warnings

import pytest

from scaling_bayes import ConvergenceWarning, LatentSkillModel

pytestmark = pytest.mark.slow


def test_default_model_converges_on_bundled_data(sloth):
    model = LatentSkillModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # ESS < 400 at test size
        model.fit(sloth, chains=2, draws=500, tune=500, random_seed=0, progressbar=False)
    d = model.diagnostics
    assert d.max_rhat < 1.10, d
    assert d.divergences <= 3, d
    assert d.min_ess_bulk > 20, d
