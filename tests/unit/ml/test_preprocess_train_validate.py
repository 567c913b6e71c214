"""preprocess (schema checks naming the column, time split), train and validate_artifacts on real files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.ml.fetch_data import FetchData
from pipeline_factory.stages.ml.params import FetchDataParams, ModelSpec, PreprocessParams, TrainParams
from pipeline_factory.stages.ml.preprocess import Preprocess, SchemaError
from pipeline_factory.stages.ml.train import Train
from pipeline_factory.stages.ml.validate_artifacts import ValidateArtifacts, ValidateArtifactsParams

FETCH = FetchDataParams(source="incoming", dataset="bc", time_column="measured_at")
TRAIN = TrainParams(threads=1, models=[
    ModelSpec(name="clf", library="lightgbm", task="classify", params={"n_estimators": 10}),
    ModelSpec(name="clf_xgb", library="xgboost", task="classify", params={"n_estimators": 10}),
    ModelSpec(name="size", library="lightgbm", task="regress", params={"n_estimators": 10}),
])


@pytest.fixture
def fetched(workspace):
    workspace.add_batches("1-2")
    return workspace.run(FetchData(), FETCH, stage="fetch_data")


def _corrupt(fetched: dict, change) -> None:
    frame = pd.read_parquet(fetched["dataset"])
    change(frame)
    frame.to_parquet(fetched["dataset"], index=False)


def test_split_is_by_time_and_derived_features_are_added(workspace, fetched, preprocess_params):
    params = preprocess_params(derived={"area_per_radius": "worst_area / worst_radius"})
    result = workspace.run(Preprocess(), params, stage="preprocess")
    splits = {name: pd.read_parquet(Path(result["folder"]) / f"{name}.parquet") for name in result["splits"]}
    assert sum(len(s) for s in splits.values()) == 190
    assert len(splits["test"]) == 38  # ceil(190 * 0.2)
    assert splits["train"]["measured_at"].max() <= splits["validation"]["measured_at"].min()
    assert splits["validation"]["measured_at"].max() <= splits["test"]["measured_at"].min()
    assert splits["train"]["area_per_radius"].iloc[0] == pytest.approx(
        splits["train"]["worst_area"].iloc[0] / splits["train"]["worst_radius"].iloc[0])
    schema = json.loads((Path(result["folder"]) / "schema.json").read_text())
    assert schema["features"][-1] == "area_per_radius" and schema["classes"] == ["benign", "malignant"]


@pytest.mark.parametrize(
    ("change", "overrides", "column", "problem"),
    [
        (None, {"features": ["mean_texture", "tumour_colour"]}, "tumour_colour", "missing from the dataset"),
        (lambda f: f.__setitem__("worst_area", "large"), {}, "worst_area", "must be numeric"),
        (lambda f: f.__setitem__("mean_texture", f["mean_texture"].where(f.index > 4)), {}, "mean_texture",
         "2.6% of the values are null"),
        (lambda f: f.loc.__setitem__((3, "diagnosis"), "unknown"), {}, "diagnosis", "unexpected values ['unknown']"),
        (None, {"derived": {"ratio": "worst_area / (mean_texture - mean_texture)"}}, "ratio", "not finite"),
    ],
)
def test_schema_problems_fail_naming_the_column(workspace, fetched, preprocess_params, change, overrides, column,
                                                problem):
    if change is not None:
        _corrupt(fetched, change)
    with pytest.raises(SchemaError, match=re.escape(problem)) as caught:
        workspace.run(Preprocess(), preprocess_params(**overrides), stage="preprocess")
    assert caught.value.column == column
    assert f"column {column!r}" in str(caught.value)


def test_targets_cannot_be_features():
    with pytest.raises(ValidationError, match="targets must not be features: mean_radius"):
        PreprocessParams(label="diagnosis", time_column="t", features=["mean_radius", "x"], components=["mean_radius"])


def test_train_then_validate_and_a_missing_artifact_is_named(workspace, fetched, preprocess_params):
    workspace.run(Preprocess(), preprocess_params(), stage="preprocess")
    trained = workspace.run(Train(), TRAIN, stage="train")
    assert trained["planned"] == ["clf", "clf_xgb", "size_mean_radius", "size_mean_perimeter", "size_mean_area"]
    assert trained["device"] == "cpu" and trained["threads"] == 1
    checked = workspace.run(ValidateArtifacts(), ValidateArtifactsParams(), stage="validate_artifacts")
    assert checked["models"] == trained["planned"]

    folder = Path(trained["folder"])
    (folder / "clf_xgb" / "model.ubj").unlink()
    shutil.rmtree(folder / "size_mean_area")
    with pytest.raises(StageError) as caught:
        workspace.run(ValidateArtifacts(), ValidateArtifactsParams(), stage="validate_artifacts")
    message = str(caught.value)
    assert "2 model artifact(s) failed validation (clf_xgb, size_mean_area)" in message
    assert "model clf_xgb: artifact file model.ubj is missing" in message


def test_a_truncated_artifact_is_named(workspace, fetched, preprocess_params):
    workspace.run(Preprocess(), preprocess_params(), stage="preprocess")
    trained = workspace.run(Train(), TRAIN, stage="train")
    model_file = Path(trained["folder"]) / "clf" / "model.txt"
    model_file.write_text(model_file.read_text()[:200])
    with pytest.raises(StageError, match=r"\(clf\).*model clf"):
        workspace.run(ValidateArtifacts(), ValidateArtifactsParams(), stage="validate_artifacts")


def test_gpu_compute_without_a_gpu_trains_xgboost_on_the_cpu():
    from pipeline_factory.stages.ml.train import resolve_device

    assert resolve_device("auto", "cpu") == "cpu"
    assert resolve_device("cuda", "cpu") == "cuda"
    assert resolve_device("auto", "gpu") in ("cpu", "cuda")
