"""Workflows: the demo's hold-outs (no fit; the demo itself takes minutes and is not run here).

``load_fitted`` is tested where the fits it loads are made: ``tests/test_baselines.py`` (a
FLOPs baseline) and ``tests/test_stacking.py`` (a stack).
"""

from __future__ import annotations

import pandas as pd

from scaling_bayes.data import ScoreTable
from scaling_bayes.workflows import demo_split


def test_demo_split_holds_out_qwen2_72b_and_the_olmo_family(sloth: ScoreTable) -> None:
    """What the README promises of the demo: Qwen2-72B is forecast from its 0.5–7B base models
    and three 72B instruct / fine-tuned Qwen2 variants, all in training; the whole OLMo family
    is held out. ``sloth`` is the table ``run_demo`` splits (sloth_curated, fittable rows)."""
    before = sloth.models.copy()
    train, held = demo_split(sloth)

    assert set(held["model"]) == {"qwen2-72b", "olmo-1b", "olmo-7b"}
    assert set(sloth.models.index[sloth.models["family"] == "olmo"]) == {"olmo-1b", "olmo-7b"}  # all of it
    # the held-out models are out of training, and nothing else is
    assert not set(held["model"]) & set(train.models.index)
    assert set(train.models.index) | set(held["model"]) == set(sloth.models.index)
    assert train.n_models == sloth.n_models - 3
    assert not train.models["base_family"].eq("olmo").any() and not train.models["family"].eq("olmo").any()

    # the known family: its smaller base models and the 72B variants of the same base stay in
    qwen2 = train.models[train.models["base_family"] == "qwen2"]
    base = qwen2[qwen2["family"] == "qwen2"]
    assert set(base.index) == {"qwen2-0.5b", "qwen2-1.5b", "qwen2-7b"}
    assert (base["params_b"].min(), base["params_b"].max()) == (0.5, 7.0)
    big = qwen2[qwen2["params_b"] == 72.0]
    assert set(big.index) == {"qwen2-72b-instruct", "dolphin-2.9.2-qwen2-72b", "orca_mini_v7_72b"}
    assert big["instruct"].all() and not big["family"].eq("qwen2").any()

    # the held rows are prediction requests: the metadata of those models, verbatim
    assert list(held.columns) == ["model", *sloth.models.columns]
    pd.testing.assert_frame_equal(held.set_index("model"), sloth.models.loc[held["model"]])
    # training keeps every benchmark and the scores unchanged; the input is not modified
    assert train.benchmarks == sloth.benchmarks
    pd.testing.assert_frame_equal(train.scores, sloth.scores.loc[train.models.index])
    pd.testing.assert_frame_equal(sloth.models, before)
