"""Workflows: end-to-end recipes built from the model, prediction and plotting steps.

Kept apart from the statistical model (``skill_model``) and from plotting (``plots``),
CausalPy-style.  The CLI is a thin layer over these functions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scaling_bayes.data import ScoreTable, load_dataset
from scaling_bayes.inference import Diagnostics
from scaling_bayes.plots import plot_scaling_curves
from scaling_bayes.skill_model import LatentSkillModel

#: Demo hold-outs: the largest model of a known family, and a whole unseen family.
DEMO_KNOWN_FAMILY_HOLDOUT = "qwen2-72b"
DEMO_UNSEEN_FAMILY = "olmo"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` produced."""

    diagnostics: Diagnostics
    intervals: pd.DataFrame
    figure_path: Path
    run_dir: Path


def demo_split(data: ScoreTable) -> tuple[ScoreTable, pd.DataFrame]:
    """Training table without the demo hold-outs, and the held-out models' rows."""
    models = data.models
    held = models.index[
        (models.index == DEMO_KNOWN_FAMILY_HOLDOUT) | (models["family"] == DEMO_UNSEEN_FAMILY)
    ]
    train = data.select(models=[m for m in models.index if m not in set(held)])
    return train, models.loc[held].reset_index()


def run_demo(
    out_dir: str | Path = "scaling_bayes_demo",
    *,
    draws: int = 500,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int = 0,
    progressbar: bool = True,
) -> DemoResult:
    """Fit the bundled default data minus two hold-outs, then forecast them.

    Hold-outs: ``qwen2-72b`` (a larger model of a known family: qwen2 0.5–7B stay in
    training) and the whole ``olmo`` family (never seen).  Writes the fit to
    ``out_dir/fit``, the 90% intervals to ``out_dir/demo_intervals.csv`` and the
    scaling-curve figure to ``out_dir/scaling_curves.png``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rows without tokens: reported by fittable()
        data = load_dataset("sloth_curated").fittable()
    train, held = demo_split(data)
    model = LatentSkillModel()
    model.fit(train, draws=draws, tune=tune, chains=chains, random_seed=random_seed,
              progressbar=progressbar)
    model.save(out / "fit")

    pred = model.predict(held, prob=0.9, random_seed=random_seed)
    observed = data.scores.loc[held["model"]].stack().rename("observed")
    observed.index.names = ["model", "benchmark"]
    intervals = pred.table.merge(observed.reset_index(), on=["model", "benchmark"], how="left")
    intervals["covered"] = intervals["observed"].between(intervals["lower"], intervals["upper"])
    intervals.to_csv(out / "demo_intervals.csv", index=False)

    curves = pd.DataFrame(
        [
            {"family": "qwen2", "base_family": "qwen2", "instruct": False, "tokens_t": 7.0,
             "label": "qwen2 (known; 72B held out), 7T tokens"},
            {"family": "olmo", "base_family": "olmo", "instruct": False, "tokens_t": 2.5,
             "label": "olmo (never seen), 2.5T tokens"},
        ]
    )
    observed_wide = data.models.join(data.scores)
    observed_wide = observed_wide[observed_wide["family"].isin(["qwen2", "olmo"])]
    fig = plot_scaling_curves(model, curves, observed=observed_wide, random_seed=random_seed)
    figure_path = out / "scaling_curves.png"
    fig.savefig(figure_path, dpi=120)
    return DemoResult(
        diagnostics=model.diagnostics,  # type: ignore[arg-type]
        intervals=intervals,
        figure_path=figure_path,
        run_dir=out / "fit",
    )
