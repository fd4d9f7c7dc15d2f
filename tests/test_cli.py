"""CLI smoke test: fit -> predict on a small real subset."""

import json
import re

import pandas as pd
import pytest

from scaling_bayes.cli import build_parser, main


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("fit", "predict", "demo", "evaluate"):
        assert cmd in out


def test_unknown_data_source_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="neither a bundled dataset"):
        main(["fit", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "run")])


@pytest.mark.slow
def test_fit_then_predict(tmp_path, small_v2, capsys):
    # one score column under a name the package does not know, registered on the command line
    csv = tmp_path / "scores.csv"
    small_v2.models.join(small_v2.scores).reset_index().rename(columns={"MUSR": "MyMUSR"}).to_csv(csv, index=False)
    run = tmp_path / "run"
    assert main(["fit", "--data", str(csv), "--register", "MyMUSR=0.3:756", "-k", "2", "--chains", "1",
                 "--draws", "30", "--tune", "30", "--init", "jitter", "--no-progress", "--out", str(run)]) == 0
    assert (run / "posterior.nc").exists() and (run / "config.json").exists()
    assert "diagnostics" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert "MyMUSR" in config["benchmarks"] and config["registry"]["MyMUSR"] == {"floor": 0.3, "n_items": 756}

    new = tmp_path / "new.csv"
    pd.DataFrame({"model": ["qwen2-30b", "alien-3b"], "family": ["qwen2", "alien"],
                  "params_b": [30, 3], "tokens_t": [7, 1]}).to_csv(new, index=False)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), "--models", str(new), "--prob", "0.8", "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert set(pred["model"]) == {"qwen2-30b", "alien-3b"}
    assert len(pred) == 2 * len(small_v2.benchmarks)
    assert set(pred.drop_duplicates("model")["case"]) == {"known_variant", "new_family"}
    assert "MyMUSR" in set(pred["benchmark"])


def test_register_option_parses_floors_and_names_bad_entries():
    from scaling_bayes.cli import _registry

    registry = _registry(["MyQA=0.25:800", "Free form=0"])
    assert registry.get("MyQA").floor == 0.25 and registry.get("MyQA").n_items == 800
    assert registry.get("Free form").floor == 0.0 and registry.get("Free form").n_items is None
    assert "MMLU" in registry  # the defaults stay
    for bad in ("MyQA", "MyQA=quarter", "=0.25", "MyQA=1.5"):
        with pytest.raises(SystemExit, match=rf"--register '{re.escape(bad)}': give NAME=FLOOR"):
            _registry([bad])
    with pytest.raises(SystemExit, match="--register choose the data of --protocol families"):
        main(["evaluate", "--register", "MyQA=0.25", "--out", "x"])


def test_parser_defaults():
    from scaling_bayes.inference import SamplerConfig

    args = build_parser().parse_args(["evaluate"])
    assert args.protocol == "sloth" and args.chains == 4
    # the CLI's sampler defaults (literal, so --help needs no PyMC import) match the library's
    default = SamplerConfig()
    for command in ("fit", "demo", "evaluate"):
        extra = ["--out", "x"] if command == "fit" else []
        a = build_parser().parse_args([command, *extra])
        assert (a.chains, a.draws, a.tune, a.target_accept, a.sampler, a.init) == (
            default.chains, default.draws, default.tune, default.target_accept, default.sampler, default.init
        ), command


def test_evaluation_settings():
    from scaling_bayes.cli import evaluation_settings
    from scaling_bayes.evaluation import SETTINGS, UNSEEN_SETTINGS

    assert evaluation_settings(None, None) == [tuple(s) for s in SETTINGS]  # n=0 only when asked
    assert evaluation_settings("all12", None) == [("all12", 1), ("all12", 2)]
    assert evaluation_settings(None, 0) == [tuple(s) for s in UNSEEN_SETTINGS]
    assert evaluation_settings("leaderboard_v2", 0) == [("leaderboard_v2", 0)]
    assert build_parser().parse_args(["evaluate", "--n-train", "0"]).n_train == 0


def test_generated_source_goes_to_the_compile_cache_unless_configured(monkeypatch):
    import os
    from pathlib import Path

    import pytensor

    from scaling_bayes.cli import keep_generated_source_in_cache

    base = Path(pytensor.config.base_compiledir)
    monkeypatch.setattr(pytensor.config, "generated_src_dir", "")
    monkeypatch.setenv("PYTENSOR_FLAGS", "floatX=float64")
    keep_generated_source_in_cache()
    assert pytensor.config.generated_src_dir == str(base / "generated_src")
    # child processes (Dask workers, chains) read it from the environment
    assert os.environ["PYTENSOR_FLAGS"] == f"floatX=float64,generated_src_dir={base / 'generated_src'}"
    # a user's own choice is kept
    monkeypatch.setattr(pytensor.config, "generated_src_dir", "")
    monkeypatch.setenv("PYTENSOR_FLAGS", "generated_src_dir=/somewhere")
    keep_generated_source_in_cache()
    assert pytensor.config.generated_src_dir == "" and os.environ["PYTENSOR_FLAGS"] == "generated_src_dir=/somewhere"


def test_prior_overrides_reach_the_model_and_bad_ones_are_named():
    from scaling_bayes.cli import parse_priors
    from scaling_bayes.model import Priors

    args = build_parser().parse_args(["evaluate", "--prior", "log_nu_sd=1.5", "--prior", "family_sd=1"])
    priors = parse_priors(args.prior)
    assert priors == Priors(log_nu_sd=1.5, family_sd=1.0)
    assert parse_priors([]) == Priors()
    with pytest.raises(SystemExit, match="'nu_sd=1'.*log_nu_sd"):
        parse_priors(["nu_sd=1"])
    with pytest.raises(SystemExit, match="'wide' is not a number"):
        parse_priors(["log_nu_sd=wide"])


def test_structure_options_reach_the_model_with_the_library_defaults():
    """``fit`` and ``evaluate`` build the model from one set of structure options, whose
    defaults are ``ModelConfig``'s; each option given on the command line reaches it."""
    from scaling_bayes.cli import _structure_kwargs
    from scaling_bayes.model import ModelConfig
    from scaling_bayes.skill_model import LatentSkillModel

    default = ModelConfig()
    for command in (["evaluate"], ["fit", "--out", "x"]):
        config = LatentSkillModel(**_structure_kwargs(build_parser().parse_args(command))).config
        assert config == default, command
    args = build_parser().parse_args(["evaluate", "--covariates", "translog_sq", "--robust-families",
                                      "--learned-floors"])
    config = LatentSkillModel(**_structure_kwargs(args)).config
    assert (config.covariates, config.robust_families, config.learned_floors) == ("translog_sq", True, True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--covariates", "cubic"])


class _Stop(Exception):
    pass


def test_sampler_options_reach_evaluate_demo_and_figures(monkeypatch, tmp_path, capsys):
    """``--sampler``, ``--target-accept``, ``--init``, ``--stack-chains``, ``--no-progress`` and ``--seed`` are
    forwarded, not parsed and dropped; left at their defaults they do not enter the fold
    cache's key."""
    import scaling_bayes.evaluation as evaluation
    import scaling_bayes.workflows as workflows
    from scaling_bayes.skill_model import LatentSkillModel

    calls = {}
    monkeypatch.setattr(evaluation, "run_protocol", lambda factory, **kw: calls.setdefault("evaluate", kw))
    main(["evaluate", "--setting", "all12", "--n-train", "1", "--target-accept", "0.95", "--init", "modes",
          "--stack-chains", "--no-progress", "--out", str(tmp_path / "e")])
    kw = calls.pop("evaluate")
    assert kw["sample_kwargs"] == {"chains": 4, "draws": 1500, "tune": 1000, "progressbar": False,
                                   "target_accept": 0.95, "init": "modes", "stack_chains": True}
    assert kw["progress"] is False and kw["settings"] == [("all12", 1)]
    main(["evaluate", "--out", str(tmp_path / "e")])
    assert calls.pop("evaluate")["sample_kwargs"] == {"chains": 4, "draws": 1500, "tune": 1000, "progressbar": False}

    def fake_demo(out, **kw):
        calls["demo"] = kw
        raise _Stop
    monkeypatch.setattr(workflows, "run_demo", fake_demo)
    with pytest.raises(_Stop):
        main(["demo", "--sampler", "nutpie", "--seed", "3", "--out", str(tmp_path / "d")])
    assert calls["demo"]["sampler"] == "nutpie" and calls["demo"]["random_seed"] == 3

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    monkeypatch.setattr(LatentSkillModel, "load", classmethod(lambda cls, path: "loaded fit"))
    monkeypatch.setattr(workflows, "make_figures",
                        lambda model, out, evaluation=None, random_seed=0: calls.setdefault("figures", (model, random_seed)) and [])
    main(["figures", "--run", str(run), "--evaluation", "", "--seed", "7", "--out", str(tmp_path / "f")])
    assert calls["figures"] == ("loaded fit", 7)


def test_flops_baseline_rejects_the_latent_models_structure_options():
    with pytest.raises(SystemExit, match="--family-slopes.*fixed structure"):
        main(["evaluate", "--model", "flops-baseline", "--family-slopes"])
    with pytest.raises(SystemExit, match="--n-skills"):
        main(["evaluate", "--model", "flops-baseline", "-k", "3"])


def test_evaluate_families_protocol_runs_random_family_folds_of_the_given_data(monkeypatch, tmp_path):
    """``--protocol families`` hands ``run_protocol`` the folds of
    :func:`~scaling_bayes.evaluation.family_holdout_folds` on ``--data``, with the seed and
    fold count given; options of the other protocol are refused by name."""
    import warnings

    import scaling_bayes.evaluation as evaluation
    from scaling_bayes import load_dataset

    calls = {}
    monkeypatch.setattr(evaluation, "run_protocol", lambda factory, **kw: calls.setdefault("evaluate", kw))
    main(["evaluate", "--protocol", "families", "--data", "lvf_leaderboard_v2", "--n-train", "1", "--folds", "4",
          "--fold-seed", "2", "--out", str(tmp_path / "e")])
    kw = calls.pop("evaluate")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_dataset("lvf_leaderboard_v2").fittable()
    assert kw["folds"] == evaluation.family_holdout_folds(data, "lvf_leaderboard_v2", n_train=1, n_folds=4, random_seed=2)
    assert set(kw["data"].models.index) == set(data.models.index) and "settings" not in kw
    # both n_train settings by default; a benchmark subset names the folds' benchmark set
    main(["evaluate", "--protocol", "families", "--benchmarks", "leaderboard_v2", "--out", str(tmp_path / "e")])
    folds = calls.pop("evaluate")["folds"]
    assert {f.setting for f in folds} == {("sloth_curated_leaderboard_v2", 1), ("sloth_curated_leaderboard_v2", 2)}
    assert len(folds) == 10
    with pytest.raises(SystemExit, match="--setting names one of Sloth's"):
        main(["evaluate", "--protocol", "families", "--setting", "all12"])
    with pytest.raises(SystemExit, match="use --n-train 1 or 2"):
        main(["evaluate", "--protocol", "families", "--n-train", "0"])
    with pytest.raises(SystemExit, match="n_folds=500: use 2 to"):
        main(["evaluate", "--protocol", "families", "--folds", "500"])
    with pytest.raises(SystemExit, match="--protocol sloth runs on the bundled Sloth data"):
        main(["evaluate", "--data", "lvf_leaderboard_v2"])


def test_only_the_chosen_benchmark_columns_of_a_csv_are_validated(tmp_path, small_v2):
    from scaling_bayes.cli import _load_table
    from scaling_bayes.data import DataValidationError

    table = small_v2.models.join(small_v2.scores).reset_index()
    table["MUSR"] = table["MUSR"].astype(object)
    table.loc[0, "MUSR"] = "n.a."  # a bad cell in a column the user does not fit
    csv = tmp_path / "scores.csv"
    table.to_csv(csv, index=False)
    chosen = _load_table(str(csv), "IFEval,BBH")
    assert chosen.benchmarks == ["IFEval", "BBH"] and chosen.n_models == small_v2.n_models
    with pytest.raises(DataValidationError, match="Non-numeric score.*'MUSR': 'n.a.'"):
        _load_table(str(csv), None)
