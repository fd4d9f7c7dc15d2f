
import numpy as np
import pytest
import xarray as xr

from scaling_bayes.data import load_dataset
from scaling_bayes.design import COVARIATES, CovariateTransform, FamilyStructure, build_design


def test_transform_standardises_training_rows(sloth):
    t = CovariateTransform.fit(sloth.models)
    x = t(sloth.models)
    assert x.dims == ("model", "covariate")
    assert list(x["covariate"].values) == list(COVARIATES)
    np.testing.assert_allclose(x.sel(covariate="log_params").mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(x.sel(covariate="log_params").std(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(x.sel(covariate="log_tokens").std(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        x.sel(covariate="log_params_x_log_tokens"),
        x.sel(covariate="log_params") * x.sel(covariate="log_tokens"),
    )


def test_squared_translog_adds_centred_squares_and_survives_a_round_trip(sloth):
    """``translog_sq``: Sloth's three columns, then u² − 1 and v² − 1, which average 0 on the
    training rows; a saved transform recomputes them for new models."""
    t = CovariateTransform.fit(sloth.models, form="translog_sq")
    x = t(sloth.models)
    assert list(x["covariate"].values) == [*COVARIATES, "log_params_sq", "log_tokens_sq"]
    u, v = x.sel(covariate="log_params"), x.sel(covariate="log_tokens")
    np.testing.assert_allclose(x.sel(covariate="log_params_sq"), u**2 - 1.0)
    np.testing.assert_allclose(x.sel(covariate="log_tokens_sq"), v**2 - 1.0)
    np.testing.assert_allclose(x.sel(covariate=["log_params_sq", "log_tokens_sq"]).mean("model"), 0.0, atol=1e-12)
    xr.testing.assert_equal(CovariateTransform.from_dict(t.to_dict())(sloth.models.iloc[:3]), x.isel(model=slice(0, 3)))
    assert build_design(sloth, covariates="translog_sq").covariates.sizes["covariate"] == 5
    with pytest.raises(ValueError, match="covariates='quadratic'"):
        build_design(sloth, covariates="quadratic")


def test_instruct_form_adds_instruct_times_log_params_zero_on_base_lines(sloth):
    """``translog_sq_instruct``: the five ``translog_sq`` columns, then instruct × u, which is u
    on instruct lines and 0 on base lines; its slope gets the second-order prior sd."""
    from scaling_bayes.model import Priors, slope_prior_sd

    t = CovariateTransform.fit(sloth.models, form="translog_sq_instruct")
    x = t(sloth.models)
    sq = CovariateTransform.fit(sloth.models, form="translog_sq")(sloth.models)
    xr.testing.assert_equal(x.isel(covariate=slice(0, 5)), sq)
    instruct = sloth.models["instruct"].to_numpy(bool)
    assert 0 < instruct.sum() < len(instruct)
    extra = x.sel(covariate="instruct_x_log_params").values
    np.testing.assert_array_equal(extra[~instruct], 0.0)
    np.testing.assert_allclose(extra[instruct], x.sel(covariate="log_params").values[instruct])
    sd = slope_prior_sd(Priors(slope_sd=2.0, curvature_sd=0.5), list(x["covariate"].values))
    assert sd.sel(covariate="instruct_x_log_params") == 0.5 and sd.sel(covariate="log_params") == 2.0


def test_transform_round_trips_and_flags_extrapolation(sloth):
    t = CovariateTransform.fit(sloth.models)
    assert CovariateTransform.from_dict(t.to_dict()) == t
    new = sloth.models.iloc[:2].copy()
    new.index = ["huge", "normal"]
    new.loc["huge", "params_b"] = sloth.models["params_b"].max() * 5
    far = t.extrapolation(new)
    assert list(far["model"]) == ["huge"]
    assert far.iloc[0]["column"] == "params_b"


def test_family_structure_nests_variants_in_base_families(sloth):
    fam = FamilyStructure.from_models(sloth.models)
    lookup = dict(zip(fam.variants, fam.family_of_variant))
    assert lookup["codellama-instruct"] == "codellama"
    assert lookup["qwen2-instruct"] == "qwen2"
    assert lookup["dolphin-2.9.2-qwen2"] == "qwen2"
    instruct = dict(zip(fam.variants, fam.instruct_of_variant))
    assert instruct["qwen2-instruct"] and not instruct["qwen2"]
    assert len(fam.variants) == sloth.models["family"].nunique()
    idx = fam.family_index
    assert [fam.families[i] for i in idx] == fam.family_of_variant


def test_family_structure_rejects_variant_families_whose_models_disagree(sloth):
    """Base family and instruct flag belong to a variant family: rows of one variant that
    disagree raise DataValidationError naming the column, the variant and the rows (no silent
    majority vote).  The bundled datasets are consistent."""
    import warnings

    from scaling_bayes.data import DataValidationError, available_datasets

    models = sloth.models.loc[["qwen2-7b", "qwen2-72b", "qwen2-7b-instruct"]].copy()
    models["family"] = "qwen2"  # the instruct model filed under the base line
    with pytest.raises(DataValidationError, match=(
        r"'instruct'.*'qwen2'.*instruct=False for model\(s\) 'qwen2-7b', 'qwen2-72b'; "
        r"instruct=True for model\(s\) 'qwen2-7b-instruct'.*'qwen2-instruct'"
    )):
        FamilyStructure.from_models(models)
    models["instruct"] = False
    models.loc["qwen2-72b", "base_family"] = "qwen"
    with pytest.raises(DataValidationError, match=r"'base_family'.*'qwen2'.*base_family='qwen' for model\(s\) 'qwen2-72b'"):
        FamilyStructure.from_models(models)
    models.loc["qwen2-72b", "base_family"] = "qwen2"
    assert FamilyStructure.from_models(models).family_of_variant == ["qwen2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name in available_datasets():
            FamilyStructure.from_models(load_dataset(name).models)


def test_design_masks_missing_scores_and_clips_zeros(sloth):
    d = build_design(sloth)
    n_obs = int(np.isfinite(sloth.scores.to_numpy(float)).sum())
    assert len(d.y) == n_obs < sloth.scores.size  # missing cells are left out, not imputed
    assert np.all((d.y > 0) & (d.y < 1))
    math = d.benchmarks.index("MATH Lvl 5")
    zeros = (d.cell_benchmark == math) & np.isclose(
        sloth.scores.to_numpy(float)[d.cell_model, d.cell_benchmark], 0.0
    )
    assert zeros.any()
    np.testing.assert_allclose(d.y[zeros], 0.5 / 1324)
    assert d.floors.sel(benchmark="MMLU") == 0.25


def test_design_drops_rows_without_tokens_with_a_warning():
    raw = load_dataset("sloth_curated")
    with pytest.warns(UserWarning, match="mixtral"):
        d = build_design(raw)
    assert raw.models["tokens_t"].isna().sum() == 13
    assert d.data.n_models == raw.n_models - 13
