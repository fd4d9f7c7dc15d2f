"""scaling_bayes: Bayesian latent-skill scaling laws for LLM benchmark forecasts.

Data flow, one module per step::

    data / benchmarks  → load and validate one tidy table (ScoreTable)
    design             → covariates, family hierarchy, observed cells
    model              → the PyMC graph (LatentSkill, anchors, Richards link)
    inference          → NUTS + diagnostics
    prediction         → posterior predictive for known / new variants / new families
    skill_model        → LatentSkillModel: fit, predict, save, load
    baselines          → FlopsLawBaseline, the per-benchmark FLOPs law to compare against
    stacking           → StackedModel: a stacking mixture of fitted models
    factor_model       → SkillFactorModel: skills of models without params or tokens (the leaderboard)
    evaluation         → Sloth's leave-family-out protocol and metrics
    plots              → figures
    cli                → the ``scaling-bayes`` command
"""

from scaling_bayes.benchmarks import Benchmark, BenchmarkRegistry, default_registry
from scaling_bayes.data import (
    DataValidationError, ScoreTable, from_wide, load_dataset, load_leaderboard_scores, read_scores,
)
from scaling_bayes.inference import ConvergenceWarning, Diagnostics, SamplerConfig
from scaling_bayes.model import ModelConfig, Priors
from scaling_bayes.skill_model import ExtrapolationWarning, LatentSkillModel
from scaling_bayes.baselines import FlopsLawBaseline  # noqa: E402  (after LatentSkillModel, its base)
from scaling_bayes.stacking import StackedModel
from scaling_bayes.factor_model import SkillFactorModel

__all__ = [
    "Benchmark",
    "BenchmarkRegistry",
    "ConvergenceWarning",
    "DataValidationError",
    "Diagnostics",
    "ExtrapolationWarning",
    "FlopsLawBaseline",
    "LatentSkillModel",
    "ModelConfig",
    "Priors",
    "SamplerConfig",
    "SkillFactorModel",
    "StackedModel",
    "ScoreTable",
    "default_registry",
    "from_wide",
    "load_dataset",
    "load_leaderboard_scores",
    "read_scores",
]
