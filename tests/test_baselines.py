import warnings

import numpy as np
import pandas as pd
import pytest

from scaling_bayes import ConvergenceWarning, LatentSkillModel
from scaling_bayes.baselines import FlopsLawBaseline
from scaling_bayes.workflows import load_fitted

pytestmark = pytest.mark.slow


def test_flops_baseline_fits_and_predicts_per_benchmark(small_v2, tmp_path):
    model = FlopsLawBaseline()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(small_v2, chains=1, draws=40, tune=60, init="jitter", progressbar=False)
    post = model.posterior
    # one "skill" per benchmark, each its own anchor: no shared skills
    assert list(post["skill"].values) == list(post["benchmark"].values)
    assert list(post["covariate"].values) == ["log_flops"]
    lam = post["loadings"].isel(chain=0, draw=0).values
    assert (lam == np.eye(len(small_v2.benchmarks))).all()
    new = pd.DataFrame({"family": ["qwen2", "alien"], "params_b": [30, 3], "tokens_t": [7, 1]})
    table = model.predict(new).table
    assert len(table) == 2 * len(small_v2.benchmarks)
    model.save(tmp_path / "b")
    loaded = FlopsLawBaseline.load(tmp_path / "b")
    assert isinstance(loaded, FlopsLawBaseline)
    pd.testing.assert_frame_equal(loaded.predict(new).table, table)
    # the saved class is checked: a baseline does not load as the latent model (whose refit
    # would build another graph), and load_fitted picks the class the fit was saved from
    with pytest.raises(ValueError, match=r"saved FlopsLawBaseline, not a LatentSkillModel.*FlopsLawBaseline.load"):
        LatentSkillModel.load(tmp_path / "b")
    assert type(load_fitted(tmp_path / "b")) is FlopsLawBaseline


def test_flops_baseline_rejects_a_number_of_skills_or_anchors():
    # fixed by the benchmarks at fit time: accepting them would silently discard them
    with pytest.raises(TypeError, match=r"does not take \['n_skills'\].*one skill per benchmark"):
        FlopsLawBaseline(n_skills=7)
    with pytest.raises(TypeError, match=r"\['anchors'\]"):
        FlopsLawBaseline(anchors=["MMLU"])


def test_flops_baseline_default_priors_keep_the_tight_exponent_prior():
    # the baseline's own default (module docstring): log_nu_sd 0.75, the rest the main model's
    from scaling_bayes.baselines import FLOPS_BASELINE_PRIORS
    from scaling_bayes.model import Priors

    assert FlopsLawBaseline().config.priors == FLOPS_BASELINE_PRIORS
    assert FLOPS_BASELINE_PRIORS.log_nu_sd == 0.75
    assert FLOPS_BASELINE_PRIORS.slope_sd == Priors().slope_sd
    # priors given explicitly are used as given
    assert FlopsLawBaseline(priors=Priors()).config.priors.log_nu_sd == Priors().log_nu_sd


def test_flops_baseline_has_one_skill_per_benchmark_before_any_fit(small_v2):
    """The prior predictive (which never calls ``build``) and a build see the same baseline:
    one "skill" per benchmark, each its own anchor, not the one-skill latent model."""
    baseline = FlopsLawBaseline()
    _, config = baseline._design(small_v2)
    assert config.n_skills == len(small_v2.benchmarks) and config.anchors == tuple(small_v2.benchmarks)
    model = baseline.build(small_v2)
    assert list(model.coords["skill"]) == list(small_v2.benchmarks)
