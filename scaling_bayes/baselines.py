"""Bayesian baselines to compare the latent-skill model against.

:class:`FlopsLawBaseline` is a per-benchmark compute scaling law with family
intercepts: for benchmark ``j``, ``μ_ij = c_j + (1 − c_j)·sigmoid(a_vj + b_j ln C_i)``
(with the same Richards link, Beta likelihood and two-level family pooling as the main
model).  It is the latent-skill model with one skill per benchmark (every benchmark its
own anchor, so no skill is shared) and ln FLOPs as the only covariate; the family
intercepts are partially pooled across families and correlated across benchmarks.
This is the Bayesian counterpart of Sloth's "FLOPs + family intercept" baseline.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pymc as pm

from scaling_bayes.data import ScoreTable
from scaling_bayes.skill_model import LatentSkillModel


class FlopsLawBaseline(LatentSkillModel):
    """Per-benchmark FLOPs law with partially pooled family intercepts.

    Same ``fit``/``predict``/``save``/``load`` interface as :class:`LatentSkillModel`;
    the number of "skills" is set to the number of benchmarks when fitting.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("covariates", "flops")
        kwargs.pop("n_skills", None)
        super().__init__(n_skills=1, **kwargs)

    def build(self, data: ScoreTable) -> pm.Model:
        self.config = replace(
            self.config, n_skills=len(data.benchmarks), anchors=tuple(data.benchmarks)
        )
        return super().build(data)
