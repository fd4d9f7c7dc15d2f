"""Shared fixtures: real bundled data, small enough for fast tests."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import pytest

# keep caches out of $HOME (PyTensor base_compiledir, which also holds the numba cache; matplotlib),
# and PyTensor's generated numba source in one pruned, content-addressed directory rather than a
# new never-removed file in the system temp directory per compiled function
_CACHE = Path(os.environ.get("CACHE_ROOT", Path(tempfile.gettempdir()) / "scaling_bayes_test_cache"))
os.environ.setdefault("MPLCONFIGDIR", str(_CACHE / "matplotlib"))
os.environ.setdefault(
    "PYTENSOR_FLAGS", f"base_compiledir={_CACHE / 'pytensor'},generated_src_dir={_CACHE / 'pytensor_src'}"
)

from scaling_bayes.data import ScoreTable, load_dataset  # noqa: E402


@pytest.fixture(scope="session")
def sloth() -> ScoreTable:
    """The bundled Sloth data, all 12 benchmarks, rows with tokens only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_dataset("sloth_curated").fittable()


@pytest.fixture(scope="session")
def small_v2(sloth: ScoreTable) -> ScoreTable:
    """A small real subset: leaderboard_v2 benchmarks, 12 variant families."""
    families = [
        "qwen2", "qwen2-instruct", "meta-llama-3", "meta-llama-3-instruct", "gemma-2",
        "gemma-2-it", "pythia", "falcon", "yi-1.5", "yi-1.5-chat", "olmo", "smollm",
    ]
    models = sloth.models.index[sloth.models["family"].isin(families)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return sloth.select(benchmarks="leaderboard_v2", models=list(models)).fittable()


@pytest.fixture(scope="session")
def fast_examples(tmp_path_factory):
    """``SCALING_BAYES_FAST=1`` and a fresh per-session ``SCALING_BAYES_CACHE`` (where the
    notebooks and ``tests/test_plots.py`` share one tiny fit); restored afterwards."""
    cache = tmp_path_factory.mktemp("examples")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCALING_BAYES_FAST", "1")
        mp.setenv("SCALING_BAYES_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def fast_fit(small_v2, fast_examples):
    """The notebooks' fast fit of ``small_v2`` (2 skills, a few dozen draws; far from converged,
    which the figure and compute-optimal tests do not need), fitted once per test session and
    worker and shared through the session cache with ``tests/test_notebooks.py``: whichever
    runs first fits and saves it, the others load it."""
    from scaling_bayes import LatentSkillModel
    from scaling_bayes.workflows import example_cache_dir, example_setup

    path = example_cache_dir(fast=True)
    if (path / "config.json").exists():
        fitted = LatentSkillModel.load(path)
    else:
        setup = example_setup(fast=True)
        fitted = LatentSkillModel(n_skills=setup.n_skills)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few dozen draws: convergence warnings by design
            fitted.fit(small_v2, random_seed=setup.random_seed, **setup.sample_kwargs)
        fitted.save(path)
    assert set(fitted.design.data.models.index) == set(small_v2.models.index)
    return fitted


@pytest.fixture(scope="session")
def prior_v2(small_v2):
    """Prior and prior-predictive draws (100) of a K=2 model at ``small_v2``'s cells."""
    from scaling_bayes import LatentSkillModel

    return LatentSkillModel(n_skills=2).prior_predictive(small_v2, draws=100, random_seed=5)
