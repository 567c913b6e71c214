"""The training pipeline under ``dag.test()``: real Airflow, real MLflow (SQLite), real SMTP."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "ml_test"
LEAD = f"{PIPELINE}.diagnosis_lgbm"
ALL_MODELS = ["diagnosis_lgbm", "diagnosis_xgb", "size_lgbm_mean_radius", "size_lgbm_mean_perimeter",
              "size_lgbm_mean_area"]


def _dag(config: Path, spec: str):
    from airflow.dag_processing.dagbag import DagBag

    (config / "pipelines" / f"{PIPELINE}.yaml").write_text(spec)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert PIPELINE in bag.dag_ids, bag.import_errors
    return bag.get_dag(PIPELINE)


def _result(run, stage: str) -> dict:
    from pipeline_factory.workspace import run_dir

    return json.loads((run_dir(PIPELINE, run.run_id) / stage / "result.json").read_text())


def _client():
    from pipeline_factory.tracking.mlflow_config import configure

    return configure()


def test_the_shipped_spec_renders_twice_a_month_with_a_gpu_train_stage(dagbag):
    dag = dagbag.get_dag("model_training")
    assert [t.task_id for t in dag.topological_sort()] == [
        "fetch_data", "preprocess", "train", "validate_artifacts", "evaluate", "register", "promote", "notify"]
    assert dag.timetable.summary == "0 4 1,16 * *"
    assert dag.params["force_full_retrain"] is False
    assert type(dag.get_task("train")).__name__ == "LocalProcessStageOperator"
    assert dag.on_failure_callback


def test_incremental_runs_promote_only_a_better_model(dag_runner, airflow_db, config_copy, ml_data_dir,
                                                      mailbox, ml_spec, add_batches):
    dag = _dag(config_copy, ml_spec())

    # Run 1: the first two batches; no champion yet -> version 1 becomes champion.
    add_batches(ml_data_dir, "1-2")
    run1 = dag_runner.run(dag)
    assert run1.state == "success", dag_runner.states(run1)
    client = _client()
    for model in ALL_MODELS:
        assert str(client.get_model_version_by_alias(f"{PIPELINE}.{model}", "champion").version) == "1"
    v1 = client.get_model_version(LEAD, "1")
    assert v1.tags["promotion.decision"] == "champion"
    assert v1.tags["promotion.reason"].startswith("no champion yet")
    evaluated1 = _result(run1, "evaluate")
    assert _result(run1, "fetch_data")["rows_added"] == 190

    # The summary mail carries the data, the metrics, the decision and the MLflow link.
    [mail] = mailbox.wait_for(1)
    body = mailbox.text(mail)
    assert "champion" in mail["Subject"]
    assert mailbox.envelopes[0][1] == ["ml-team@example.org"]
    assert "rows added" in body and "190" in body
    assert f"{evaluated1['metrics']['macro_f1']:.4f}" in body
    assert f"{evaluated1['metrics']['component_avg_r2']:.4f}" in body
    assert _result(run1, "register")["run_url"] in body

    # Run 2: nothing new -> fetch_data and everything after it are skipped, not failed.
    run2 = dag_runner.run(dag)
    states = dag_runner.states(run2)
    assert run2.state == "success"
    assert set(states.values()) == {"skipped"}, states
    assert len(client.search_model_versions(f"name='{LEAD}'")) == 1

    # Run 3: a new clean batch really improves the model -> version 2 is the champion.
    add_batches(ml_data_dir, "3")
    run3 = dag_runner.run(dag)
    assert run3.state == "success", dag_runner.states(run3)
    promoted = _result(run3, "promote")
    assert promoted["outcome"] == "champion", promoted["reason"]
    assert promoted["margin"] >= 0.001
    assert str(client.get_model_version_by_alias(LEAD, "champion").version) == "2"
    assert client.get_model_version(LEAD, "2").tags["promotion.decision"] == "champion"
    # Compared on the same rows as the champion (v1), which scores better there than on its own, harder split.
    same_rows = promoted["comparison"]
    assert same_rows["rows"] == _result(run3, "evaluate")["test_rows"] and same_rows["excluded_rows"] == 0
    assert promoted["champion_value"] == same_rows["champion"]["macro_f1"]
    assert promoted["champion_value"] > float(client.get_run(v1.run_id).data.metrics["macro_f1"])
    # The evidence: plots in MLflow, inline in a mail with a plain-text and an HTML part.
    plot_files = {Path(a.path).name for a in client.list_artifacts(promoted["mlflow_run_id"], "plots")}
    assert {"confusion_diagnosis_lgbm.png", "roc_pr_diagnosis_lgbm.png", "confusion_diagnosis_xgb.png",
            "pred_vs_actual_size_lgbm_mean_radius.png", "importance_diagnosis_lgbm.png",
            "history_macro_f1.png"} <= plot_files
    mail3 = mailbox.wait_for(2)[1]
    assert mail3.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in mail3.walk()]
    assert "text/plain" in types and "text/html" in types
    assert types.count("image/png") == len(plot_files)
    html_part = next(part for part in mail3.walk() if part.get_content_type() == "text/html")
    html_text = html_part.get_payload(decode=True).decode()
    for image in (part for part in mail3.walk() if part.get_content_type() == "image/png"):
        assert f"cid:{image['Content-ID'].strip('<>')}" in html_text
    text3 = mailbox.text(mail3)
    assert "delta" in text3 and f"{same_rows['champion']['macro_f1']:.4f}" in text3
    assert same_rows["rows_fingerprint"] in text3
    for model in ALL_MODELS:
        assert model in text3
    assert "#/models/ml_test.diagnosis_lgbm/versions/2" in html_text
    artifacts = Path(__file__).resolve().parents[3] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "promotion_summary.eml").write_bytes(mail3.as_bytes())  # open it in a mail client

    # Run 4: a batch with flipped labels -> worse model: challenger, champion unchanged, reason tagged.
    add_batches(ml_data_dir, "4", label_noise=0.4)
    run4 = dag_runner.run(dag)
    assert run4.state == "success", dag_runner.states(run4)
    for model in ALL_MODELS:
        assert str(client.get_model_version_by_alias(f"{PIPELINE}.{model}", "champion").version) == "2"
        assert str(client.get_model_version_by_alias(f"{PIPELINE}.{model}", "challenger").version) == "3"
    tags = client.get_model_version(LEAD, "3").tags
    assert tags["promotion.decision"] == "challenger"
    # The noisy batch is this run's test split: the champion, scored on those same rows, does no better
    # there, so the refusal comes from the floor, not from comparing against an easier split.
    assert "misses the floor" in tags["promotion.reason"]
    rejected = _result(run4, "promote")
    same_rows = rejected["comparison"]
    assert tags["promotion.baseline"] == "same_rows"
    assert tags["promotion.rows"] == str(same_rows["rows"]) == str(_result(run4, "evaluate")["test_rows"])
    assert tags["promotion.rows_fingerprint"] == same_rows["rows_fingerprint"]
    assert float(tags["promotion.champion.macro_f1"]) == pytest.approx(same_rows["champion"]["macro_f1"], abs=1e-5)
    assert float(tags["promotion.candidate.macro_f1"]) == pytest.approx(same_rows["candidate"]["macro_f1"], abs=1e-5)
    assert float(tags["promotion.champion_value"]) < promoted["candidate_value"]  # champion's own split was easier
    reports = Path(os.environ["PIPELINE_DATA_DIR"]) / "reports" / PIPELINE
    assert len(list(reports.glob("*.promotion.json"))) == 3

    # One summary per run that trained; the skipped run sent none.
    mails = mailbox.wait_for(3)
    assert [("challenger" in m["Subject"]) for m in mails] == [False, False, True]


def test_failed_run_sends_the_failure_mail_naming_the_column(dag_runner, airflow_db, config_copy, ml_data_dir,
                                                            mailbox, ml_spec, add_batches):
    from pipeline_factory.stages.ml.sample_data import feature_columns

    dag = _dag(config_copy, ml_spec(features=[*feature_columns(), "tumour_colour"]))
    add_batches(ml_data_dir, "1-2")
    run = dag_runner.run(dag)
    states = dag_runner.states(run)
    assert run.state == "failed"
    assert states["fetch_data"] == "success"
    assert states["preprocess"] == "failed"
    assert states["notify"] == "upstream_failed"
    [mail] = mailbox.wait_for(1)
    assert mailbox.envelopes[0][1] == ["oncall@example.org"]
    assert "failed" in mail["Subject"] and PIPELINE in mail["Subject"]
    assert "preprocess" in mailbox.text(mail)


@pytest.mark.parametrize("approval", [False, True], ids=["no_approval", "with_approval"])
def test_every_stage_renamed_gives_the_same_outcome(dag_runner, airflow_db, config_copy, ml_data_dir, mailbox,
                                                    ml_spec, add_batches, approval, monkeypatch, stage_renamer):
    """Stages find the dataset, splits, models, metrics, versions and approval by kind, not by name."""
    import yaml

    spec, names = stage_renamer(yaml.safe_load(ml_spec(approval=approval)))
    dag = _dag(config_copy, yaml.safe_dump(spec, sort_keys=False))
    add_batches(ml_data_dir, "1-2")
    if approval:  # the person's answer, as the approval operator records it, under the renamed stage
        from pipeline_factory.operators import approval as approval_module

        def approve(self, context, **_):
            from pipeline_factory.workspace import write_json_atomic

            write_json_atomic(self._run_dir(context) / self.stage / "result.json",
                              {"kind": "ml.approval", "chosen_options": ["Approve"], "approved": True})
            return {"chosen_options": ["Approve"]}

        monkeypatch.setattr(approval_module.PromotionApprovalOperator, "execute", approve)
    run = dag_runner.run(dag)
    states = dag_runner.states(run)
    assert run.state == "success", states
    assert set(states) == set(names.values()) and set(states.values()) == {"success"}
    assert _result(run, names["fetch_data"])["rows_added"] == 190
    client = _client()
    for model in ALL_MODELS:
        assert str(client.get_model_version_by_alias(f"{PIPELINE}.{model}", "champion").version) == "1"
    [mail] = mailbox.wait_for(1)
    assert "champion" in mail["Subject"]
