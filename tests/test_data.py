"""Tests for scaling_bayes.data: bundled datasets, ScoreTable, from_wide validation.

Everything runs on the real bundled data. The only synthetic inputs are tiny
DataFrames built to trigger one validation error each.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling_bayes.benchmarks import benchmark_set, default_registry
from scaling_bayes.data import (
    META_COLUMNS,
    DataValidationError,
    ScoreTable,
    UnknownBenchmarkError,
    available_datasets,
    from_wide,
    load_dataset,
    load_reference_errors,
    read_scores,
    validate_new_models,
    validate_score_matrix,
)
from scaling_bayes.data import _read_csv_keeping_names

ALL12 = benchmark_set("all12")
V1 = benchmark_set("leaderboard_v1")
V2 = benchmark_set("leaderboard_v2")
SLOTH_MAP = {
    "Model": "model",
    "Family2": "family",
    "Family": "base_family",
    "Instruct": "instruct",
    "#Params (B)": "params_b",
    "Pretraining Data Size (T)": "tokens_t",
}
NO_TOKENS = [
    "codellama-13b-instruct", "codellama-34b-instruct", "codellama-7b-instruct",
    "gpt2", "gpt2-large",
    "mixtral-8x22b-instruct-v0.1", "mixtral-8x22b-v0.1",
    "mixtral-8x7b-instruct-v0.1", "mixtral-8x7b-v0.1",
    "qwen1.5-110b", "qwen1.5-110b-chat",
    "recurrentgemma-9b", "recurrentgemma-9b-it",
]


def _bundled(name: str) -> Path:
    return Path(str(resources.files("scaling_bayes") / "datasets" / name))


@pytest.fixture(scope="module")
def sloth() -> ScoreTable:
    return load_dataset()


@pytest.fixture(scope="module")
def sloth_raw() -> pd.DataFrame:
    return pd.read_csv(_bundled("sloth_curated.csv"), index_col=0)


@pytest.fixture(scope="module")
def lvf_v2_raw() -> pd.DataFrame:
    return pd.read_csv(_bundled("lvf_leaderboard_v2.csv"), index_col=0)


def _tiny(**overrides: object) -> pd.DataFrame:
    """A 3-row table of real models (Sloth values) that passes validation."""
    base = {
        "model": ["pythia-1b", "pythia-2.8b", "llama-2-7b-chat"],
        "family": ["pythia", "pythia", "llama-2-chat"],
        "params_b": [1.0, 2.8, 7.0],
        "tokens_t": [0.3, 0.3, 2.0],
        "MMLU": [0.2562, 0.2678, 0.4706],
        "GSM8K": [0.0159, 0.0083, 0.1873],
    }
    base.update(overrides)  # type: ignore[arg-type]
    return pd.DataFrame(base)


# ----------------------------------------------------------------- bundled files


def test_bundled_files_match_provenance_checksums() -> None:
    provenance = _bundled("PROVENANCE.md").read_text(encoding="utf-8")
    assert "2026-11-25" in provenance
    assert "MIT" in provenance and "Felipe Maia Polo" in provenance
    for name in [
        "sloth_curated.csv", "lvf_leaderboard_v1.csv", "lvf_leaderboard_v2.csv",
        "protocol.json", "sloth_reference_errors.csv.gz", "leaderboard_all_models.csv.gz",
    ]:
        digest = hashlib.sha256(_bundled(name).read_bytes()).hexdigest()
        assert re.search(rf"`{re.escape(name)}`[^|]*\| `{digest}`", provenance), name
    # decompressed, the shipped gzip is the original file (its checksum is recorded too)
    original = hashlib.sha256(gzip.decompress(_bundled("leaderboard_all_models.csv.gz").read_bytes())).hexdigest()
    assert re.search(rf"`leaderboard_all_models\.csv` \(the original, uncompressed\) \| `{original}`", provenance)


def test_reference_errors_load() -> None:
    errors = load_reference_errors()
    assert errors.shape == (44184, 8)
    assert list(errors.columns) == [
        "benchmark_set", "n_train_per_family", "test_group", "model",
        "family2", "benchmark", "method", "abs_error",
    ]
    assert set(errors["benchmark"]) == set(ALL12)
    assert (errors["abs_error"] >= 0).all()


# ----------------------------------------------------------------- sloth_curated


def test_load_sloth_curated(sloth: ScoreTable, sloth_raw: pd.DataFrame) -> None:
    assert sloth.name == "sloth_curated"
    assert sloth.n_models == len(sloth) == 188
    assert sloth.benchmarks == ALL12
    assert list(sloth.models.columns) == list(META_COLUMNS)
    assert sloth.models.index.name == "model"
    assert sloth.scores.columns.name == "benchmark"
    assert sloth.scores.index.equals(sloth.models.index)
    assert sloth.models.index.tolist() == sloth_raw["Model"].tolist()
    assert sloth.models["family"].nunique() == 68
    assert sloth.models["base_family"].nunique() == 35
    assert int(sloth.models["instruct"].sum()) == 68
    assert sloth.models["instruct"].dtype == bool
    row = sloth.models.loc["codellama-7b-instruct"]
    assert (row["family"], row["base_family"], bool(row["instruct"])) == (
        "codellama-instruct", "codellama", True,
    )
    assert row["params_b"] == 7.0 and np.isnan(row["tokens_t"])
    assert sloth.models.loc["gemma-7b", "tokens_t"] == 6.0


def test_sloth_scores_are_the_csv_values_with_nan_kept(
    sloth: ScoreTable, sloth_raw: pd.DataFrame
) -> None:
    expected = sloth_raw.set_index("Model")[ALL12]
    np.testing.assert_array_equal(sloth.scores.to_numpy(), expected.to_numpy())
    missing = sloth.scores.isna().sum()
    assert missing[V1].tolist() == [28] * 6
    assert missing[V2].tolist() == [75] * 6
    assert np.isnan(sloth.scores.at["codellama-7b-instruct", "GPQA"])


def test_fittable_drops_rows_without_tokens_with_warning(sloth: ScoreTable) -> None:
    assert sloth.models["tokens_t"].isna().sum() == 13
    with pytest.warns(UserWarning, match=r"13 model\(s\) with missing tokens_t") as record:
        fit = sloth.fittable()
    message = str(record[0].message)
    assert all(repr(name) in message for name in NO_TOKENS)
    assert "supply tokens_t" in message
    assert fit.n_models == 175
    assert not set(NO_TOKENS) & set(fit.models.index)
    assert fit.models["tokens_t"].notna().all()
    assert sloth.n_models == 188  # the original is unchanged


def test_fittable_drops_models_without_any_selected_score(sloth: ScoreTable) -> None:
    v2 = sloth.select(benchmarks="leaderboard_v2")
    with pytest.warns(UserWarning) as record:
        fit = v2.fittable()
    messages = [str(w.message) for w in record]
    no_score = [m for m in messages if "no observed score" in m]
    assert len(no_score) == 1
    assert "'bloom'" in no_score[0]  # bloom (176B) has no Leaderboard v2 scores
    assert "bloom" not in fit.models.index
    assert fit.scores.notna().any(axis=1).all()
    assert fit.n_models == 105
    assert fit.benchmarks == V2


def test_fittable_with_nothing_left_is_an_error() -> None:
    """Every model lacks tokens_t: the warning names them, then the error says none is left."""
    table = from_wide(_tiny(tokens_t=[np.nan, np.nan, np.nan]), name="no-tokens")
    with pytest.warns(UserWarning, match=r"3 model\(s\) with missing tokens_t"):
        with pytest.raises(DataValidationError, match=r"No fittable model left in 'no-tokens': every model lacks "
                                                      r"tokens_t or has no observed score"):
            table.fittable()


def test_fittable_without_anything_to_drop_does_not_warn() -> None:
    table = load_dataset("lvf_leaderboard_v1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert table.fittable().n_models == table.n_models


@pytest.mark.parametrize(
    ("benchmarks", "expected"),
    [
        ("leaderboard_v1", V1),
        ("leaderboard_v2", V2),
        ("all12", ALL12),
        (["GPQA", "MMLU"], ["GPQA", "MMLU"]),
        ("MMLU", ["MMLU"]),
    ],
)
def test_load_dataset_benchmark_argument(benchmarks: object, expected: list[str]) -> None:
    table = load_dataset("sloth_curated", benchmarks=benchmarks)  # type: ignore[arg-type]
    assert table.benchmarks == expected
    assert table.n_models == 188


def test_load_dataset_unknown_name() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"Unknown dataset 'sloth'.*sloth_curated, lvf_leaderboard_v1, lvf_leaderboard_v2",
    ):
        load_dataset("sloth")
    assert available_datasets() == ["sloth_curated", "lvf_leaderboard_v1", "lvf_leaderboard_v2"]


def test_load_dataset_unknown_benchmark_set_name() -> None:
    expected = r"'leaderboard_v3' \(did you mean 'leaderboard_v[12]'.*Named sets: leaderboard_v1"
    with pytest.raises(DataValidationError, match=expected):
        load_dataset(benchmarks="leaderboard_v3")


def test_load_dataset_with_registry_missing_a_benchmark() -> None:
    registry = default_registry()
    small = type(registry)(registry.get(n) for n in V1)
    assert load_dataset(benchmarks="leaderboard_v1", registry=small).benchmarks == V1
    with pytest.raises(UnknownBenchmarkError, match=r"'IFEval'.*register"):
        load_dataset(registry=small)


# ----------------------------------------------------------------- lvf datasets


def test_lvf_v1_loads(sloth: ScoreTable) -> None:
    table = load_dataset("lvf_leaderboard_v1")
    assert table.n_models == 168
    assert table.benchmarks == V1
    assert table.models["family"].nunique() == 75
    assert (table.models["base_family"] == table.models["family"]).all()
    assert table.models["tokens_t"].notna().all()
    assert table.scores.notna().all().all()
    # 149 models are shared with Sloth, and their scores are identical
    shared = table.models.index.intersection(sloth.models.index)
    assert len(shared) == 149
    np.testing.assert_allclose(
        table.scores.loc[shared, V1].to_numpy(), sloth.scores.loc[shared, V1].to_numpy()
    )


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gemma-7b-it", True),
        ("llama-2-7b-chat", True),
        ("meta-llama-3-8b-instruct", True),
        ("llamantino-3-anita-8b-inst-dpo-ita", True),
        ("openchat-3.6-8b-20240522", True),
        ("llama-3-8b-ita", False),  # "ita" (Italian) is not the "-it" token
        ("bloom", False),
        ("gemma-7b", False),
    ],
)
def test_lvf_instruct_heuristic(model: str, expected: bool) -> None:
    table = load_dataset("lvf_leaderboard_v1")
    assert bool(table.models.at[model, "instruct"]) is expected


def test_lvf_v2_loads_with_duplicates_renamed(lvf_v2_raw: pd.DataFrame) -> None:
    table = load_dataset("lvf_leaderboard_v2")
    assert table.n_models == 216
    assert table.benchmarks == V2
    assert table.models["family"].nunique() == 146
    assert (lvf_v2_raw["model"] == "l3-pneuma-8b").sum() == 2
    assert "l3-pneuma-8b" not in table.models.index
    assert {"l3-pneuma-8b#2069", "l3-pneuma-8b#3217"} <= set(table.models.index)
    assert table.models.index.is_unique
    assert bool(table.models.at["gemma-2-9b-it", "instruct"]) is True


def test_lvf_v2_normalised_rows_are_mapped_back_to_raw(
    sloth: ScoreTable, lvf_v2_raw: pd.DataFrame
) -> None:
    table = load_dataset("lvf_leaderboard_v2")
    # In the file, every non-Sloth row has GPQA and MUSR below their guessing floors.
    in_sloth = lvf_v2_raw["model"].isin(sloth.models.index)
    assert in_sloth.sum() == 105
    assert (lvf_v2_raw.loc[~in_sloth, "gpqa"] < 0.25).all()
    # The 105 Sloth-derived rows are raw accuracies and are left unchanged ...
    shared = lvf_v2_raw.loc[in_sloth, "model"].tolist()
    np.testing.assert_allclose(
        table.scores.loc[shared, V2].to_numpy(), sloth.scores.loc[shared, V2].to_numpy()
    )
    # ... and the others are back on the raw scale, at or above the floors.
    floors = default_registry().floors(V2).to_series()
    others = table.scores.drop(index=shared)
    assert len(others) == 111
    assert (others >= floors - 1e-12).all().all()
    # Checked against the leaderboard's raw table for BramVanroy/fietje-2:
    # GPQA Raw 0.2541946309, MMLU-PRO Raw 0.1985538564, IFEval Raw 0.2098033219.
    assert lvf_v2_raw.set_index("model").at["fietje-2", "gpqa"] == pytest.approx(0.0055928412)
    assert table.scores.at["fietje-2", "GPQA"] == pytest.approx(0.2541946309, abs=1e-9)
    assert table.scores.at["fietje-2", "MMLU-PRO"] == pytest.approx(0.1985538564, abs=1e-9)
    assert table.scores.at["fietje-2", "IFEval"] == pytest.approx(0.2098033219, abs=1e-9)


def test_lvf_v1_has_no_v2_benchmarks() -> None:
    with pytest.raises(DataValidationError, match=r"not found in the data: 'IFEval'"):
        load_dataset("lvf_leaderboard_v1", benchmarks="all12")


# ----------------------------------------------------------------- ScoreTable methods


def test_select_benchmarks_and_models(sloth: ScoreTable) -> None:
    sub = sloth.select(benchmarks=["GSM8K", "MMLU"], models=["yi-9b", "gemma-7b"])
    assert sub.benchmarks == ["GSM8K", "MMLU"]
    assert sub.models.index.tolist() == ["yi-9b", "gemma-7b"]
    assert sub.scores.at["gemma-7b", "MMLU"] == sloth.scores.at["gemma-7b", "MMLU"]
    assert sub.name == sloth.name
    assert sloth.select(benchmarks="leaderboard_v1").benchmarks == V1
    assert sloth.select(models=["gpt2"]).benchmarks == ALL12


def test_select_unknown_names_list_close_matches(sloth: ScoreTable) -> None:
    with pytest.raises(DataValidationError, match=r"'MMLU-Pro' \(did you mean 'MMLU-PRO'"):
        sloth.select(benchmarks=["MMLU-Pro"])
    with pytest.raises(DataValidationError, match=r"'gemma-7B' \(did you mean 'gemma-7b'"):
        sloth.select(models=["gemma-7B"])
    with pytest.raises(DataValidationError, match="listed more than once: 'MMLU'"):
        sloth.select(benchmarks=["MMLU", "MMLU"])


def test_scores_array(sloth: ScoreTable) -> None:
    arr = sloth.scores_array()
    assert arr.name == "score"
    assert arr.dims == ("model", "benchmark")
    assert arr.shape == (188, 12)
    assert arr["benchmark"].values.tolist() == ALL12
    assert arr["model"].values.tolist() == sloth.models.index.tolist()
    assert arr.sel(model="gemma-7b", benchmark="MMLU").item() == pytest.approx(0.6602745725)
    assert int(arr.isnull().sum()) == int(sloth.scores.isna().sum().sum())
    assert arr["family"].sel(model="llama-2-7b-chat").item() == "llama-2-chat"
    assert arr["params_b"].dims == ("model",)


def test_to_long(sloth: ScoreTable) -> None:
    long = sloth.to_long()
    assert list(long.columns) == ["model", *META_COLUMNS, "benchmark", "score"]
    assert len(long) == int(sloth.scores.notna().sum().sum()) == 1638
    assert long["score"].notna().all()
    row = long[(long["model"] == "llama-2-7b-chat") & (long["benchmark"] == "GPQA")]
    assert len(row) == 1
    assert row["score"].item() == 0.25
    assert row["family"].item() == "llama-2-chat" and row["base_family"].item() == "llama-2"
    assert bool(row["instruct"].item()) is True and row["tokens_t"].item() == 2.0
    # codellama-7b-instruct has no v2 scores, so none of its v2 cells appear
    assert set(long.loc[long["model"] == "codellama-7b-instruct", "benchmark"]) == set(V1)


def test_concat_unions_benchmarks_and_rejects_duplicates(sloth: ScoreTable) -> None:
    a = sloth.select(benchmarks="leaderboard_v1", models=["gemma-7b"])
    b = sloth.select(benchmarks=["GPQA"], models=["yi-9b"])
    both = ScoreTable.concat([a, b])
    assert both.models.index.tolist() == ["gemma-7b", "yi-9b"]
    assert both.benchmarks == [*V1, "GPQA"]
    assert np.isnan(both.scores.at["gemma-7b", "GPQA"])
    assert both.scores.at["yi-9b", "GPQA"] == sloth.scores.at["yi-9b", "GPQA"]
    with pytest.raises(DataValidationError, match=r"more than one table: 'gemma-7b'"):
        ScoreTable.concat([a, a])
    with pytest.raises(DataValidationError, match=r"ScoreTable\.concat needs at least one table"):
        ScoreTable.concat([])


def test_scoretable_checks_its_invariants(sloth: ScoreTable) -> None:
    with pytest.raises(DataValidationError, match="same unique model index"):
        ScoreTable(models=sloth.models, scores=sloth.scores.iloc[::-1])
    with pytest.raises(DataValidationError, match="must have columns"):
        ScoreTable(models=sloth.models.drop(columns="instruct"), scores=sloth.scores)
    # a table built directly gets from_wide's checks of its metadata, naming the row
    bad = sloth.models.copy()
    bad.loc["pythia-1b", "params_b"] = -1.0
    with pytest.raises(DataValidationError, match=r"'params_b'.*must be positive.*model 'pythia-1b': -1"):
        ScoreTable(models=bad, scores=sloth.scores)
    bad = sloth.models.copy()
    bad.loc["pythia-1b", "family"] = None
    with pytest.raises(DataValidationError, match=r"'family' is missing or empty.*model 'pythia-1b'"):
        ScoreTable(models=bad, scores=sloth.scores)


# ----------------------------------------------------------------- from_wide / read_scores


def test_from_wide_with_column_map_matches_load_dataset(
    sloth: ScoreTable, sloth_raw: pd.DataFrame
) -> None:
    # benchmarks=None picks up exactly the registered columns (HumanEval, bbh_* ... ignored)
    with pytest.warns(UserWarning, match=r"Ignoring 99 numeric column\(s\) that are not registered"):
        table = from_wide(sloth_raw, column_map=SLOTH_MAP, name="mine")
    assert sorted(table.benchmarks) == sorted(ALL12)
    assert table.name == "mine"
    pd.testing.assert_frame_equal(table.models, sloth.models)
    pd.testing.assert_frame_equal(table.scores[ALL12], sloth.scores)


def test_read_scores_roundtrip(tmp_path: Path, sloth_raw: pd.DataFrame, sloth: ScoreTable) -> None:
    path = tmp_path / "my_scores.csv"
    sloth_raw.head(20).to_csv(path, index=False)
    table = read_scores(path, column_map=SLOTH_MAP, benchmarks="leaderboard_v1")
    assert table.name == "my_scores"
    assert table.benchmarks == V1
    assert table.n_models == 20
    pd.testing.assert_frame_equal(table.scores, sloth.scores.iloc[:20][V1])


def test_custom_benchmark_needs_registration(sloth_raw: pd.DataFrame) -> None:
    with pytest.raises(UnknownBenchmarkError, match=r"'HumanEval'.*registry\.register\('HumanEval'"):
        from_wide(sloth_raw, column_map=SLOTH_MAP, benchmarks=["MMLU", "HumanEval"])
    registry = default_registry().register("HumanEval", floor=0.0, n_items=164)
    table = from_wide(sloth_raw, column_map=SLOTH_MAP, benchmarks=["MMLU", "HumanEval"], registry=registry)
    assert table.benchmarks == ["MMLU", "HumanEval"]
    assert table.scores["HumanEval"].notna().sum() == sloth_raw["HumanEval"].notna().sum() == 86


def test_from_wide_defaults_and_missing_scores_kept() -> None:
    table = from_wide(_tiny(GSM8K=[0.0159, np.nan, 0.1873]))
    assert table.benchmarks == ["MMLU", "GSM8K"]
    assert (table.models["base_family"] == table.models["family"]).all()
    assert not table.models["instruct"].any()
    assert np.isnan(table.scores.at["pythia-2.8b", "GSM8K"])
    assert table.scores.notna().sum().sum() == 5


def test_from_wide_instruct_parsing() -> None:
    table = from_wide(_tiny(instruct=["True", "0", 1]))
    assert table.models["instruct"].tolist() == [True, False, True]
    table = from_wide(_tiny(instruct=["false", None, "1"]))
    assert table.models["instruct"].tolist() == [False, False, True]
    with pytest.raises(DataValidationError, match=r"'instruct'.*model 'pythia-2.8b': 'maybe'"):
        from_wide(_tiny(instruct=[True, "maybe", False]))


def test_from_wide_base_family_column_is_used() -> None:
    table = from_wide(_tiny(base_family=["pythia", "pythia", "llama-2"]))
    assert table.models.at["llama-2-7b-chat", "base_family"] == "llama-2"
    assert table.models.at["llama-2-7b-chat", "family"] == "llama-2-chat"


# ----------------------------------------------------------------- validation errors


def test_missing_required_column_suggests_column_map() -> None:
    df = _tiny().rename(columns={"params_b": "Params (B)"})
    with pytest.raises(
        DataValidationError,
        match=(
            r"Missing required column\(s\): 'params_b'.*close matches: 'Params \(B\)'"
            r".*column_map=\{'Params \(B\)': 'params_b'\}"
        ),
    ):
        from_wide(df)


def test_model_as_index_hints_reset_index() -> None:
    with pytest.raises(DataValidationError, match=r"'model'.*index: call df.reset_index\(\) first"):
        from_wide(_tiny().set_index("model"))


def test_column_map_key_not_in_data() -> None:
    expected = r"column_map refers to column\(s\) not in the data: 'Modle' \(did you mean 'model'\?\)"
    with pytest.raises(DataValidationError, match=expected):
        from_wide(_tiny(), column_map={"Modle": "model"})


def test_percentage_scores_are_detected() -> None:
    df = _tiny(MMLU=[25.62, 26.78, 47.06])
    with pytest.raises(DataValidationError, match=r"'MMLU' max 47.06 look like percentages.*Divide them by 100"):
        from_wide(df)


def test_percent_table_names_columns_that_cannot_be_told_from_fractions() -> None:
    # a percent table whose GSM8K scores (0.159%, 0.083%, 0.873%) all lie below 1 and would pass as fractions
    df = _tiny(MMLU=[25.62, 26.78, 47.06], GSM8K=[0.159, 0.083, 0.873])
    with pytest.raises(DataValidationError, match=r"'MMLU' max 47.06 look like percentages.*\['GSM8K'\] have no "
                       r"score above 1.*divide them too"):
        from_wide(df)


@pytest.mark.parametrize("value", [-0.2, 250.0, np.inf])
def test_scores_outside_unit_interval(value: float) -> None:
    df = _tiny(GSM8K=[0.0159, value, 0.1873])
    expected = rf"outside \[0, 1\].*model 'pythia-2.8b', column 'GSM8K': {re.escape(repr(value))}"
    with pytest.raises(DataValidationError, match=expected):
        from_wide(df)


def test_non_numeric_score() -> None:
    df = _tiny(MMLU=[0.2562, "n.a.", 0.4706])
    with pytest.raises(DataValidationError, match=r"Non-numeric score.*model 'pythia-2.8b', column 'MMLU': 'n.a.'"):
        from_wide(df)


@pytest.mark.parametrize(("col", "values"), [("params_b", [1.0, 0.0, -7.0]), ("tokens_t", [0.3, -0.3, 2.0])])
def test_non_positive_sizes(col: str, values: list[float]) -> None:
    with pytest.raises(DataValidationError, match=rf"'{col}'.*positive.*model 'pythia-2.8b': -?0\.[03]"):
        from_wide(_tiny(**{col: values}))


def test_missing_params_is_an_error_but_missing_tokens_is_allowed() -> None:
    with pytest.raises(DataValidationError, match=r"'params_b'.*required but missing.*'pythia-2.8b'"):
        from_wide(_tiny(params_b=[1.0, np.nan, 7.0]))
    table = from_wide(_tiny(tokens_t=[0.3, np.nan, 2.0]))
    assert np.isnan(table.models.at["pythia-2.8b", "tokens_t"])
    with pytest.warns(UserWarning, match=r"missing tokens_t.*'pythia-2.8b'"):
        assert table.fittable().models.index.tolist() == ["pythia-1b", "llama-2-7b-chat"]


def test_non_numeric_params() -> None:
    with pytest.raises(DataValidationError, match=r"'params_b'.*must be numeric.*model 'pythia-1b': '1B'"):
        from_wide(_tiny(params_b=["1B", 2.8, 7.0]))


def test_duplicate_column_names_after_column_map() -> None:
    """A column_map that renames a column onto one already present would leave two columns of
    one name; so would two columns that only differ as non-strings (1 and '1')."""
    df = _tiny().assign(**{"Params (B)": [1.0, 2.8, 7.0]})
    expected = r"Duplicate column name\(s\) 'params_b' \(after applying column_map\)\. Rename or drop"
    with pytest.raises(DataValidationError, match=expected):
        from_wide(df, column_map={"Params (B)": "params_b"})
    from_wide(df.drop(columns="params_b"), column_map={"Params (B)": "params_b"})  # no clash: fine
    with pytest.raises(DataValidationError, match=r"Duplicate column name\(s\) '1' \(after applying column_map\)"):
        from_wide(_tiny().assign(**{"1": 0.0}).rename(columns={"GSM8K": 1}))


def test_duplicate_model_names() -> None:
    with pytest.raises(DataValidationError, match=r"Duplicate model name\(s\): 'pythia-1b'"):
        from_wide(_tiny(model=["pythia-1b", "pythia-1b", "llama-2-7b-chat"]))


@pytest.mark.parametrize("col", ["model", "family"])
@pytest.mark.parametrize("bad", [None, "", "  "])
def test_missing_or_empty_model_or_family(col: str, bad: object) -> None:
    values = {"model": ["pythia-1b", "pythia-2.8b", "llama-2-7b-chat"],
              "family": ["pythia", "pythia", "llama-2-chat"]}[col]
    values = [values[0], bad, values[2]]
    with pytest.raises(DataValidationError, match=rf"Column '{col}' is missing or empty at row index 1"):
        from_wide(_tiny(**{col: values}))


def test_no_benchmark_column_found() -> None:
    df = _tiny().rename(columns={"MMLU": "mmlu_acc", "GSM8K": "gsm"})
    with pytest.raises(DataValidationError, match=r"No benchmark column found.*'mmlu_acc', 'gsm'.*register"):
        from_wide(df)


def test_requested_benchmark_column_absent() -> None:
    with pytest.raises(DataValidationError, match=r"not found in the data: 'GSM8k' \(did you mean 'GSM8K'\?\)"):
        from_wide(_tiny(), benchmarks=["MMLU", "GSM8k"])


def test_requested_benchmark_not_registered() -> None:
    df = _tiny(HumanEval=[0.06, 0.05, 0.12])
    with pytest.raises(UnknownBenchmarkError, match=r"Unknown benchmark 'HumanEval'.*register"):
        from_wide(df, benchmarks=["MMLU", "HumanEval"])
    # unregistered, non-meta columns are ignored (with a warning) when benchmarks is None
    with pytest.warns(UserWarning, match=r"'HumanEval' \(no close match\)"):
        assert from_wide(df).benchmarks == ["MMLU", "GSM8K"]


def test_unregistered_numeric_columns_are_reported() -> None:
    df = _tiny(
        arc=[0.25, 0.3, 0.5],  # misspelled 'ARC'
        hellaswag=[0.5, 0.6, 0.7],  # misspelled 'HellaSwag'
        HumanEval=[0.06, 0.05, 0.12],  # a benchmark the registry lacks
        notes=["a", "b", "c"],  # non-numeric: not reported
        base_family=["pythia", "pythia", "llama-2"],
        instruct=[0, 0, 1],  # metadata, even though numeric
    )
    df.insert(0, "Unnamed: 0", [0, 1, 2])  # a CSV written with its index
    with pytest.warns(UserWarning, match="not registered benchmarks") as record:
        table = from_wide(df)
    assert table.benchmarks == ["MMLU", "GSM8K"]
    assert len(record) == 1 and record[0].filename == __file__  # points at the caller
    msg = str(record[0].message)
    assert "3 numeric column(s)" in msg
    assert "'arc' (did you mean 'ARC'?)" in msg
    assert "'hellaswag' (did you mean 'HellaSwag'?)" in msg
    assert "'HumanEval' (no close match)" in msg
    assert "column_map={'arc': 'ARC', 'hellaswag': 'HellaSwag'}" in msg
    assert "default_registry().register(name, floor=" in msg
    for quiet in ("notes", "base_family", "instruct", "Unnamed", "params_b", "tokens_t"):
        assert quiet not in msg
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert from_wide(df, benchmarks=["MMLU", "GSM8K"]).benchmarks == ["MMLU", "GSM8K"]
        from_wide(df.drop(columns=["arc", "hellaswag", "HumanEval"]))
        from_wide(df, column_map={"arc": "ARC", "hellaswag": "HellaSwag"}, registry=default_registry().register(
            "HumanEval", floor=0.0, n_items=164))


def test_read_scores_reports_misspelled_benchmark_columns(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    _tiny().rename(columns={"MMLU": "mmlu"}).assign(ARC=[0.25, 0.3, 0.5]).to_csv(path, index=False)
    with pytest.warns(UserWarning, match=r"1 numeric column\(s\).*'mmlu' \(did you mean 'MMLU'\?\)") as record:
        table = read_scores(path)
    assert table.benchmarks == ["GSM8K", "ARC"]
    assert record[0].filename == __file__


@pytest.mark.parametrize("name", available_datasets())
def test_bundled_datasets_load_without_warnings(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_dataset(name)


def test_csv_round_trip_keeps_names_verbatim(tmp_path: Path) -> None:
    """Names that pandas would parse as numbers or NA survive the save/load CSV path."""
    tricky = ["1.10", "NA", "None", "null"]
    table = from_wide(
        _tiny(
            model=["1.10", "NA", "null"],
            family=["None", "1.10", "NaN"],
            base_family=["null", "n/a", "1e3"],
            GSM8K=[0.0159, np.nan, 0.1873],
        )
    )
    assert set(tricky) <= {*table.models.index, *table.models["family"]}
    path = tmp_path / "training_data.csv"
    table.models.join(table.scores).reset_index().to_csv(path, index=False)  # as LatentSkillModel.save
    frame = _read_csv_keeping_names(path)
    back = from_wide(frame, benchmarks=table.benchmarks)
    pd.testing.assert_frame_equal(back.models, table.models)
    pd.testing.assert_frame_equal(back.scores, table.scores)
    assert frame["GSM8K"].dtype == float and np.isnan(back.scores.at["NA", "GSM8K"])


# ----------------------------------------------------------------- validate_new_models


def test_validate_new_models() -> None:
    new = validate_new_models(
        pd.DataFrame({"Family": ["llama-2", "llama-2-chat"], "params_b": [13, 70], "tokens_t": [2.0, 2.0],
                      "instruct": [False, True]}),
        column_map={"Family": "family"},
    )
    assert new.index.name == "model"
    assert new.index.tolist() == ["new-0", "new-1"]
    assert list(new.columns) == list(META_COLUMNS)
    assert new["base_family"].tolist() == ["llama-2", "llama-2-chat"]
    assert new["instruct"].tolist() == [False, True]
    assert new["params_b"].dtype == float and new["params_b"].tolist() == [13.0, 70.0]
    named = validate_new_models([{"model": "yi-34b", "family": "yi", "params_b": 34, "tokens_t": 3.0}])
    assert named.index.tolist() == ["yi-34b"]
    assert named.at["yi-34b", "instruct"] == False  # noqa: E712
    # one model as a single mapping, as the type hint allows
    single = validate_new_models({"model": "yi-34b", "family": "yi", "params_b": 34, "tokens_t": 3.0})
    pd.testing.assert_frame_equal(single, named)
    # some rows named, some not: only the unnamed get generated names
    mixed = validate_new_models([{"model": "yi-34b", "family": "yi", "params_b": 34, "tokens_t": 3.0},
                                 {"family": "yi", "params_b": 6, "tokens_t": 3.0}])
    assert mixed.index.tolist() == ["yi-34b", "new-1"]


def test_validate_new_models_errors() -> None:
    ok = {"model": ["a", "b"], "family": ["yi", "yi"], "params_b": [6.0, 34.0], "tokens_t": [3.0, 3.0]}
    with pytest.raises(DataValidationError, match=r"'tokens_t'.*required but missing.*'b'"):
        validate_new_models(pd.DataFrame({**ok, "tokens_t": [3.0, np.nan]}))
    with pytest.raises(DataValidationError, match=r"'params_b'.*positive.*model 'a': -6.0"):
        validate_new_models(pd.DataFrame({**ok, "params_b": [-6.0, 34.0]}))
    with pytest.raises(DataValidationError, match=r"Missing required column\(s\): 'family'"):
        validate_new_models(pd.DataFrame(ok).drop(columns="family"))
    with pytest.raises(DataValidationError, match=r"Duplicate model name\(s\): 'a'"):
        validate_new_models(pd.DataFrame({**ok, "model": ["a", "a"]}))
    with pytest.raises(DataValidationError, match="no rows"):
        validate_new_models(pd.DataFrame(columns=list(ok)))


def test_score_matrix_without_params_or_tokens_is_validated_like_scores() -> None:
    """``validate_score_matrix`` (the SkillFactorModel's input): names from a ``model`` column or
    the index, registered benchmarks only, the same score checks as ``from_wide``."""
    frame = _tiny().drop(columns=["family", "params_b", "tokens_t"])
    scores = validate_score_matrix(frame)
    assert list(scores.index) == ["pythia-1b", "pythia-2.8b", "llama-2-7b-chat"] and scores.index.name == "model"
    assert list(scores.columns) == ["MMLU", "GSM8K"] and scores.columns.name == "benchmark"
    pd.testing.assert_frame_equal(validate_score_matrix(frame.set_index("model")), scores)
    with pytest.raises(DataValidationError, match=r"Duplicate model name\(s\): 'pythia-1b'"):
        validate_score_matrix(frame.assign(model=["pythia-1b", "pythia-1b", "x"]))
    with pytest.raises(DataValidationError, match=r"Empty model name\(s\) in row\(s\) 1"):
        validate_score_matrix(frame.assign(model=["a", " ", "c"]))
    with pytest.raises(DataValidationError, match=r"'MMLU' max 47\.06 look like percentages"):
        validate_score_matrix(frame.assign(MMLU=100 * frame["MMLU"]))
    with pytest.raises(DataValidationError, match=r"Model\(s\) with none of the benchmarks \['MMLU', 'GSM8K'\] "
                                                  r"scored: 'pythia-2\.8b'.*dropna"):
        validate_score_matrix(frame.assign(MMLU=[0.3, np.nan, 0.5], GSM8K=[0.1, np.nan, 0.2]))
    with pytest.raises(DataValidationError, match=r"not found in the data: 'MyQA'"):
        validate_score_matrix(frame, benchmarks=["MMLU", "MyQA"])
    with pytest.raises(DataValidationError, match=r"Duplicate column name\(s\) 'MMLU'"):
        validate_score_matrix(pd.concat([frame, frame[["MMLU"]]], axis=1))
    with pytest.raises(DataValidationError, match="no rows or no columns"):
        validate_score_matrix(frame.iloc[:0])
    # a numeric column that is not a registered benchmark is named, not dropped silently
    with pytest.warns(UserWarning, match=r"Ignoring 1 numeric column.*'mmlu_pro' \(did you mean 'MMLU-PRO'\?\)"):
        assert list(validate_score_matrix(frame.assign(mmlu_pro=0.2)).columns) == ["MMLU", "GSM8K"]
