"""Stacking protocol runs across folds: cross-fold bookkeeping, and end to end from the runner's caches."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from scaling_bayes.evaluation import run_protocol, sloth_folds
from scaling_bayes.evaluation.stacking import cross_fold_stacking, load_fold_draws, stack_runs
from test_evaluation_runner import ClimatologyForecaster
from test_stacking import constant_draws


def _runs(lpd_a: dict[str, float | tuple[float, float]], n_models: int = 1):
    """Two fake runs over one setting of test groups (``n_models`` models, two benchmarks each):
    run ``a`` forecasts 0.2 everywhere, ``b`` 0.6; ``a``'s log density per group as given
    (one value, or one per benchmark B1, B2), ``b``'s 0."""
    rows, draws = {"a": [], "b": []}, {"a": {}, "b": {}}
    for group, lpd in lpd_a.items():
        per_bench = dict(zip(("B1", "B2"), lpd if isinstance(lpd, tuple) else (lpd, lpd)))
        models = [f"{group}-{i + 7}b" for i in range(n_models)]
        for name, value in (("a", 0.2), ("b", 0.6)):
            for model in models:
                for bench in ("B1", "B2"):
                    rows[name].append({"benchmark_set": "s", "n_train_per_family": 1, "test_group": group,
                                       "model": model, "family2": group, "case": "known_variant",
                                       "benchmark": bench, "observed": 0.3,
                                       "lpd": per_bench[bench] if name == "a" else 0.0})
            draws[name][("s", 1, group)] = constant_draws(value, models=models)
    return {n: pd.DataFrame(r) for n, r in rows.items()}, draws


def test_cross_fold_stacking_learns_each_groups_weights_from_the_other_groups_only():
    predictions, draws = _runs({"g1": 1.0, "g2": 1.0, "g3": -1.0})
    stacked, weights = cross_fold_stacking(predictions, draws, probs=(0.5, 0.9))
    weights = weights.set_index("test_group")
    # g3's calibration set is g1 and g2, where `a` is better everywhere: all weight on `a`
    assert weights.loc["g3", "weight_a"] == pytest.approx(1.0, abs=1e-6)
    assert (weights["n_calibration"] == 4).all()
    # changing g3's own densities leaves its weights unchanged, and moves the others'
    again, weights_again = cross_fold_stacking(_runs({"g1": 1.0, "g2": 1.0, "g3": 5.0})[0], draws, probs=(0.5, 0.9))
    weights_again = weights_again.set_index("test_group")
    assert weights_again.loc["g3", "weight_a"] == weights.loc["g3", "weight_a"]
    assert weights_again.loc["g1", "weight_a"] > weights.loc["g1", "weight_a"]
    # the mixture's draws and its log density
    row = stacked.set_index(["test_group", "benchmark"]).loc[("g1", "B1")]
    w = weights.loc["g1", "weight_a"]
    assert row["mean"] == pytest.approx(0.2 * w + 0.6 * (1 - w))  # the exact mixture mean
    assert row["lpd"] == pytest.approx(np.log(w * np.e + (1 - w)))
    assert row["weight_a"] == w and {"lower_90", "upper_90", "crps", "family2", "case"} <= set(stacked.columns)


def test_cross_fold_stacking_by_benchmark_learns_each_benchmarks_weights_from_the_other_groups():
    # `a` forecasts B1 better than `b` and B2 worse, in every group but g3 (the reverse); 20
    # models per group, so the other groups' 40 cells per benchmark decide each weight clearly
    lpd = {"g1": (1.0, -1.0), "g2": (1.0, -1.0), "g3": (-1.0, 1.0)}
    predictions, draws = _runs(lpd, n_models=20)
    stacked, weights = cross_fold_stacking(predictions, draws, probs=(0.5, 0.9), by="benchmark", random_seed=3)
    assert len(weights) == 6 and {"benchmark", "max_rhat", "min_ess_bulk", "divergences"} <= set(weights.columns)
    w = weights.set_index(["test_group", "benchmark"])["weight_a"]
    assert w[("g3", "B1")] > 0.9 and w[("g3", "B2")] < 0.1  # learned on g1 and g2 only
    assert (weights["n_calibration"] == 40).all()
    # a stacked row mixes with its own benchmark's weight
    row = stacked.set_index(["test_group", "model", "benchmark"]).loc[("g3", "g3-7b", "B2")]
    assert row["weight_a"] == w[("g3", "B2")]
    assert row["lpd"] == pytest.approx(np.log(w[("g3", "B2")] * np.e + (1 - w[("g3", "B2")])))
    with pytest.raises(ValueError, match="by='family'"):
        cross_fold_stacking(predictions, draws, by="family")


def test_cross_fold_stacking_refuses_runs_that_do_not_line_up():
    predictions, draws = _runs({"g1": 1.0, "g2": 1.0})
    with pytest.raises(ValueError, match="other rows"):
        cross_fold_stacking({"a": predictions["a"], "b": predictions["b"].iloc[1:]}, draws)
    no_lpd = predictions["b"].assign(lpd=np.nan)
    with pytest.raises(ValueError, match="no log predictive densities"):
        cross_fold_stacking({"a": predictions["a"], "b": no_lpd}, draws)
    one_group = {n: p[p["test_group"] == "g1"] for n, p in predictions.items()}
    with pytest.raises(ValueError, match="only test group"):
        cross_fold_stacking(one_group, draws)


class GaussianClimatology(ClimatologyForecaster):
    """The test runner's climatology with a Gaussian predictive density (residual sd), shifted."""

    def __init__(self, log_dir: str, shift: float = 0.0, **kwargs):
        super().__init__(log_dir, **kwargs)
        self.shift = shift

    def predictive_draws(self, new_models, *, random_seed):
        return (super().predictive_draws(new_models, random_seed=random_seed) + self.shift).clip(0.0, 1.0)

    def log_predictive_density(self, draws, observed):
        mean = draws.mean(("chain", "draw")).to_pandas()
        sd = self.residuals_.std(axis=0)
        return xr.DataArray(stats.norm.logpdf(observed.to_numpy(), mean.loc[observed.index, observed.columns], sd),
                            dims=("model", "benchmark"),
                            coords={"model": observed.index.to_numpy(), "benchmark": observed.columns.to_numpy()})


def test_stack_runs_end_to_end_from_the_runners_fold_caches(tmp_path):
    from scaling_bayes.data import load_dataset

    data = load_dataset("sloth_curated", benchmarks="all12")
    folds = sloth_folds("leaderboard_v2", 2, data=data)[:3]
    runs = {}
    for name, shift in (("plain", 0.0), ("shifted", 0.2)):
        factory = functools.partial(GaussianClimatology, log_dir=str(tmp_path), shift=shift, n_draws=20)
        result = run_protocol(factory, out_dir=tmp_path / name, data=data, folds=folds, scheduler="sync",
                              progress=False)
        assert result.predictions["lpd"].notna().all()
        runs[name] = tmp_path / name
    cached = load_fold_draws(runs["plain"])
    assert set(cached) == {("leaderboard_v2", 2, f.group_label) for f in folds}
    assert all(d.dtype == np.float32 and d.sizes["draw"] == 20 for d in cached.values())

    stacked = stack_runs(runs, tmp_path / "stacked")
    assert (tmp_path / "stacked" / "summary.md").is_file() and (tmp_path / "stacked" / "stacking_weights.csv").is_file()
    weights = pd.read_csv(tmp_path / "stacked" / "stacking_weights.csv")
    assert len(weights) == 3 and (weights["weight_plain"] > 0.9).all()  # a +20 pp shift is worse everywhere
    plain = pd.read_csv(runs["plain"] / "predictions.csv")
    assert len(stacked.predictions) == len(plain)
    # a stacked fold's diagnostics: the components' worst convergence, their costs summed
    diag = stacked.diagnostics.set_index("test_group")
    parts = [pd.read_csv(runs[n] / "diagnostics.csv").set_index("test_group") for n in runs]
    assert list(diag.index) == [f.group_label for f in folds]
    pd.testing.assert_series_equal(diag["fit_seconds"], parts[0]["fit_seconds"] + parts[1]["fit_seconds"])
    assert (diag["max_rhat"] == 1.0).all() and (diag["n_test"] == parts[0]["n_test"]).all()
    # the stacked mean is the exact mixture mean: each group's weights times its components'
    # means (which the components' runs computed from their own draws; the cache is float32)
    key = ["test_group", "model", "benchmark"]
    shifted = pd.read_csv(runs["shifted"] / "predictions.csv")
    both = plain[[*key, "mean"]].merge(shifted[[*key, "mean"]], on=key, suffixes=("_plain", "_shifted"))
    both = both.merge(weights, on="test_group").merge(stacked.predictions[[*key, "mean"]], on=key)
    expected = both["weight_plain"] * both["mean_plain"] + both["weight_shifted"] * both["mean_shifted"]
    assert len(both) == len(plain)
    np.testing.assert_allclose(both["mean"], expected, atol=1e-6)

    # the same from the command line, and its errors name what to fix
    from scaling_bayes.cli import main

    assert main(["stack", f"plain={runs['plain']}", f"shifted={runs['shifted']}", "--out", str(tmp_path / "cli")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cli" / "predictions.csv"),
                                  pd.read_csv(tmp_path / "stacked" / "predictions.csv"))
    # per-benchmark weights from the command line: one weights row per fold and benchmark
    assert main(["stack", f"plain={runs['plain']}", f"shifted={runs['shifted']}", "--by", "benchmark",
                 "--out", str(tmp_path / "by")]) == 0
    by_benchmark = pd.read_csv(tmp_path / "by" / "stacking_weights.csv")
    assert len(by_benchmark) == 3 * plain["benchmark"].nunique() and (by_benchmark["weight_plain"] > 0.8).all()
    with pytest.raises(SystemExit, match="give NAME=DIR"):
        main(["stack", str(runs["plain"]), "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="has no predictions.csv"):
        main(["stack", f"a={runs['plain']}", f"b={tmp_path / 'nowhere'}", "--out", str(tmp_path / "x")])

    # a run over more settings stacks with the others on the settings they share, when named
    wider = functools.partial(GaussianClimatology, log_dir=str(tmp_path), shift=0.2, n_draws=20)
    run_protocol(wider, out_dir=tmp_path / "wider", data=data, scheduler="sync", progress=False,
                 folds=[*folds, *sloth_folds("leaderboard_v2", 1, data=data)[:2]])
    with pytest.raises(SystemExit, match="covers other rows"):
        main(["stack", f"plain={runs['plain']}", f"shifted={tmp_path / 'wider'}", "--out", str(tmp_path / "x")])
    assert main(["stack", f"plain={runs['plain']}", f"shifted={tmp_path / 'wider'}", "--setting", "leaderboard_v2",
                 "--n-train", "2", "--out", str(tmp_path / "subset")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "subset" / "predictions.csv"),
                                  pd.read_csv(tmp_path / "stacked" / "predictions.csv"))
    assert len(pd.read_csv(tmp_path / "subset" / "diagnostics.csv")) == len(folds)
    with pytest.raises(SystemExit, match="no setting of run 'plain' matches --setting all12.*leaderboard_v2 n=2"):
        main(["stack", f"plain={runs['plain']}", f"shifted={tmp_path / 'wider'}", "--setting", "all12",
              "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match=r"run 'plain' has no rows for setting\(s\) \[\('leaderboard_v2', 1\)\]"):
        main(["stack", f"shifted={tmp_path / 'wider'}", f"plain={runs['plain']}", "--n-train", "1",
              "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match=r"run 'plain' has no rows for setting\(s\) \[\('leaderboard_v2', 1\)\]"):
        stack_runs(runs, tmp_path / "x", settings=[("leaderboard_v2", 1)])

    # another model run into "plain" without saving replaces its fold draws, not its table:
    # stacking refuses to mix the table's densities with the other model's draws
    intruder = functools.partial(GaussianClimatology, log_dir=str(tmp_path), shift=0.1, n_draws=20)
    run_protocol(intruder, out_dir=runs["plain"], data=data, folds=folds, scheduler="sync", progress=False,
                 save=False)
    with pytest.raises(ValueError, match=r"run 'plain', fold .*the cached draws do not give the medians"):
        stack_runs(runs, tmp_path / "y")
