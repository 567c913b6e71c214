"""OpenLineage events of a training run: batches -> the dataset (with its columns) -> MLflow registered models.

The run happens in its own process whose one lineage setting is
``OPENLINEAGE_URL`` (a local receiver checking every event against
OpenLineage's models); MLflow is the embedded SQLite store of the data dir.
"""

from __future__ import annotations

import pytest

from pipeline_factory.devservers.lineage_receiver import dataset_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "ml_test"
MODELS = {"diagnosis_lgbm", "diagnosis_xgb", "size_lgbm_mean_radius", "size_lgbm_mean_perimeter",
          "size_lgbm_mean_area"}


def test_training_lineage(run_in_process, lineage_receiver, config_copy, ml_data_dir, mailbox, ml_spec, add_batches,
                          monkeypatch):
    # The embedded store, named in the environment as a deployment names its server: START can then name
    # the models too (before a stage runs, only the environment is consulted; see stages/ml/lineage.py).
    tracking = f"sqlite:///{ml_data_dir / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    (config_copy / "pipelines" / f"{PIPELINE}.yaml").write_text(ml_spec())
    add_batches(ml_data_dir, "1-2")
    run = run_in_process(PIPELINE, {}, lineage_url=lineage_receiver.url)
    assert run["state"] == "success", run
    assert lineage_receiver.invalid == [], lineage_receiver.invalid[:3]
    tasks = lineage_receiver.task_events(PIPELINE)
    assert {t: set(e) for t, e in tasks.items()} == {t: {"START", "COMPLETE"} for t in tasks}

    fetch = tasks["fetch_data"]["COMPLETE"]
    assert ("file", str(ml_data_dir / "ml" / "incoming" / "breast_cancer")) in dataset_keys(fetch["inputs"])
    dataset = next(d for d in fetch["outputs"] if d["name"] == str(ml_data_dir / "ml" / "datasets" / "breast_cancer"))
    assert dataset["outputFacets"]["outputStatistics"]["rowCount"] == 190
    columns = {f["name"]: f["type"] for f in dataset["facets"]["schema"]["fields"]}
    assert {"diagnosis", "measured_at", "mean_radius"} <= columns.keys()

    split_rows = {d["name"].rsplit("/", 1)[-1]: d["outputFacets"]["outputStatistics"]["rowCount"]
                  for d in tasks["preprocess"]["COMPLETE"]["outputs"] if d["name"].endswith(".parquet")}
    assert set(split_rows) == {"train.parquet", "validation.parquet", "test.parquet"}
    assert sum(split_rows.values()) == 190

    registered = {name.removeprefix(f"registered_models/{PIPELINE}.")
                  for _, name in dataset_keys(tasks["register"]["COMPLETE"]["outputs"])
                  if name.startswith("registered_models/")}
    assert registered == MODELS
    assert {ns for ns, name in dataset_keys(tasks["register"]["COMPLETE"]["outputs"])
            if name.startswith("registered_models/")} == {tracking}
    # START already named them: the train stage's planned models, before anything was registered.
    assert dataset_keys(tasks["register"]["START"]["outputs"]) >= {
        k for k in dataset_keys(tasks["register"]["COMPLETE"]["outputs"]) if k[1].startswith("registered_models/")}
    promoted = dataset_keys(tasks["promote"]["COMPLETE"]["outputs"])
    assert {name for _, name in promoted if name.startswith("registered_models/")} == {
        f"registered_models/{PIPELINE}.{m}" for m in MODELS}
