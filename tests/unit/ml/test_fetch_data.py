"""fetch_data: only unseen batches are appended; nothing new skips; the watermark survives a crash."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline_factory.exceptions import StageError, StageSkipped
from pipeline_factory.stages.ml.fetch_data import FetchData, dataset_dir
from pipeline_factory.stages.ml.params import FetchDataParams

PARAMS = FetchDataParams(source="incoming", dataset="bc", time_column="measured_at")


def test_appends_only_unseen_batches(workspace):
    workspace.add_batches("1-2")
    first = workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r1")
    assert first["rows_added"] == 190 and first["total_batches"] == 2
    assert first["batches_added"] == ["batch_2026-01-01.csv", "batch_2026-01-16.csv"]

    workspace.add_batches("3")
    second = workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r2")
    assert second["batches_added"] == ["batch_2026-01-31.csv"]
    assert second["rows_added"] == 95 and second["total_rows"] == 285
    assert second["fingerprint"] != first["fingerprint"]

    consolidated = pd.read_parquet(dataset_dir(workspace.data_dir, "bc") / "dataset.parquet")
    assert len(consolidated) == 285 and consolidated["_batch"].nunique() == 3
    assert consolidated["measured_at"].is_monotonic_increasing
    # Each run keeps its own snapshot: run 1 still sees its 190 rows.
    assert len(pd.read_parquet(first["dataset"])) == 190


def test_nothing_new_skips_unless_forced(workspace):
    workspace.add_batches("1")
    first = workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r1")
    with pytest.raises(StageSkipped, match=r"no new batches.*force_full_retrain"):
        workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r2")
    forced = workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r3",
                           run_params={"force_full_retrain": True})
    assert forced["forced"] is True and forced["rows_added"] == 0 and forced["total_rows"] == 95
    assert forced["fingerprint"] == first["fingerprint"]


def test_a_changed_batch_fails_naming_it(workspace):
    [path] = workspace.add_batches("1")
    workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r1")
    path.write_text(path.read_text().replace("benign", "malignant", 1))
    with pytest.raises(StageError, match=r"batch batch_2026-01-01\.csv changed after it was consolidated"):
        workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r2")


def test_a_lost_watermark_is_rebuilt_from_the_dataset(workspace):
    workspace.add_batches("1-2")
    workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r1")
    (dataset_dir(workspace.data_dir, "bc") / "watermark.json").unlink()  # a crash between the two writes
    with pytest.raises(StageSkipped):
        workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r2")
    workspace.add_batches("3")
    third = workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r3")
    assert third["total_rows"] == 285  # nothing appended twice
    mark = json.loads((dataset_dir(workspace.data_dir, "bc") / "watermark.json").read_text())
    assert len(mark["batches"]) == 3


def test_parquet_batches_and_a_missing_source(workspace):
    workspace.add_batches("1", fmt="parquet")
    result = workspace.run(FetchData(), PARAMS, stage="fetch_data")
    assert result["batches_added"] == ["batch_2026-01-01.parquet"]
    with pytest.raises(StageError, match="does not exist"):
        workspace.run(FetchData(), FetchDataParams(source="nowhere"), stage="fetch_data")
