"""The training stages' datasets: the batch folder -> the dataset, with its real columns and the rows added."""

from __future__ import annotations

from pipeline_factory.stages.contracts import StageContext
from pipeline_factory.stages.ml.fetch_data import FetchData, dataset_dir
from pipeline_factory.stages.ml.lineage import fetch_data, register
from pipeline_factory.stages.ml.params import FetchDataParams, RegisterParams

PARAMS = FetchDataParams(source="incoming", dataset="bc", time_column="measured_at")


def _ctx(workspace, stage: str, run_id: str = "r1", inputs: dict[str, str] | None = None) -> StageContext:
    return StageContext(pipeline="unit", stage=stage, run_id=run_id, run_dir=workspace.data_dir / "runs" / run_id,
                        data_dir=workspace.data_dir, inputs=inputs or {})


def test_fetch_data_declares_the_batch_folder_and_the_dataset_with_its_columns(workspace):
    workspace.add_batches("1-2")
    before = fetch_data(_ctx(workspace, "fetch_data"), PARAMS, None)
    assert [(d.namespace, d.name) for d in before.inputs] == [("file", str(workspace.data_dir / "incoming"))]
    assert before.outputs[0].name == str(dataset_dir(workspace.data_dir, "bc"))
    assert all(d.row_count is None and d.fields == () for d in before.outputs)  # nothing known before it runs

    result = workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r1")
    after = fetch_data(_ctx(workspace, "fetch_data"), PARAMS, result)
    dataset = after.outputs[0]
    assert dataset.row_count == 190
    columns = dict(dataset.fields)
    assert {"measured_at", "diagnosis", "_batch"} <= columns.keys()
    assert columns["diagnosis"] in ("string", "large_string")


def test_register_names_the_registered_models_before_and_after(workspace, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:secret@mlflow.example:5000")
    ctx = _ctx(workspace, "register", inputs={"models": "train"})
    (ctx.run_dir / "train").mkdir(parents=True)
    (ctx.run_dir / "train" / "result.json").write_text('{"planned": ["lgbm", "xgb"]}')
    before = register(ctx, RegisterParams(), None)
    assert {(d.namespace, d.name) for d in before.outputs} == {
        ("http://mlflow.example:5000", "registered_models/unit.lgbm"),
        ("http://mlflow.example:5000", "registered_models/unit.xgb"),
    }
    after = register(ctx, RegisterParams(), {"versions": {"lgbm": {"name": "unit.lgbm", "version": "3"}}})
    assert [d.name for d in after.outputs] == ["registered_models/unit.lgbm"]


def test_preprocess_declares_the_splits_with_their_columns_and_rows(workspace, preprocess_params):
    from pipeline_factory.stages.ml.lineage import preprocess
    from pipeline_factory.stages.ml.preprocess import Preprocess

    workspace.add_batches("1-3")
    workspace.run(FetchData(), PARAMS, stage="fetch_data", run_id="r1")
    params = preprocess_params()
    result = workspace.run(Preprocess(), params, stage="preprocess", run_id="r1")
    declared = preprocess(_ctx(workspace, "preprocess", inputs={"dataset": "fetch_data"}), params, result)
    by_name = {d.name.rsplit("/", 1)[-1]: d for d in declared.outputs}
    assert set(by_name) == {"train.parquet", "validation.parquet", "test.parquet"}
    assert sum(d.row_count for d in by_name.values()) == 285
    columns = dict(by_name["train.parquet"].fields)
    assert {"diagnosis", "measured_at", *params.features} <= columns.keys()


def test_before_a_run_only_the_environment_names_the_tracking_server(workspace, monkeypatch):
    """START is asked from the listener's forked process: no Airflow connection lookup there."""
    for name in ("MLFLOW_TRACKING_URI", "AIRFLOW_CONN_MLFLOW_DEFAULT", "PIPELINE_MLFLOW_CONN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(workspace.data_dir))
    ctx = _ctx(workspace, "register", inputs={"models": "train"})
    (ctx.run_dir / "train").mkdir(parents=True)
    (ctx.run_dir / "train" / "result.json").write_text('{"planned": ["lgbm"]}')
    assert register(ctx, RegisterParams(), None).outputs == ()
    after = register(ctx, RegisterParams(), {"versions": {"lgbm": {"name": "unit.lgbm", "version": "1"}}})
    assert [d.key() for d in after.outputs] == [
        (f"sqlite:///{workspace.data_dir / 'mlflow' / 'mlflow.db'}", "registered_models/unit.lgbm")]
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", '{"conn_type": "http", "host": "mlflow.internal", "port": 5000}')
    assert [d.namespace for d in register(ctx, RegisterParams(), None).outputs] == ["http://mlflow.internal:5000"]
