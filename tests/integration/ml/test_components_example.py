"""The shipped seed-parity example: one regressor per listed component, all of them reported."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "model_training_components"


@pytest.mark.timeout(400)
def test_the_example_trains_registers_and_reports_a_regressor_per_component(
        dag_runner, airflow_db, config_copy, ml_data_dir, mailbox, add_batches):
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    from pipeline_factory.tracking.mlflow_config import configure
    from pipeline_factory.workspace import run_dir

    spec = yaml.safe_load((config_copy / "pipelines" / f"{PIPELINE}.yaml").read_text())
    components = next(s for s in spec["stages"] if s["type"] == "preprocess")["with"]["components"]
    assert len(components) >= 5
    expected = ["diagnosis_lgbm", "diagnosis_xgb", *(f"size_lgbm_{c}" for c in components)]

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag = bag.get_dag(PIPELINE)
    assert dag is not None, bag.import_errors
    add_batches(ml_data_dir, "1-3")  # the real breast-cancer rows, 285 of them
    run = dag_runner.run(dag)
    assert run.state == "success", dag_runner.states(run)

    trained = json.loads((run_dir(PIPELINE, run.run_id) / "train" / "result.json").read_text())
    assert trained["planned"] == expected
    client = configure()
    for name in expected:
        version = client.get_model_version_by_alias(f"{PIPELINE}.{name}", "champion")
        assert str(version.version) == "1"
    evaluated = json.loads((run_dir(PIPELINE, run.run_id) / "evaluate" / "result.json").read_text())
    assert evaluated["regressors"] == expected[2:]

    [mail] = mailbox.wait_for(1)
    body = mailbox.text(mail)
    assert f"Models trained ({len(expected)})" in body
    for name in expected:
        assert name in body
        assert f"#/models/{PIPELINE}.{name}/versions/1" in body
    for component in components:
        assert f"size_lgbm_{component}.r2" in body
        assert f"pred_vs_actual_size_lgbm_{component}" in body
