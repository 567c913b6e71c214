"""The Pipelines view's data: real ledger and breaker tables in SQLite, real specs, real files."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pybreaker
import pytest
from sqlalchemy import update

from pipeline_factory.resilience.breaker import SQLBreakerStorage
from pipeline_factory.stores.ledger import Ledger
from pipeline_factory.stores.ledger_schema import Job
from pipeline_factory.ui import overview


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture
def ledger(ledger_url: str) -> Ledger:
    ledger = Ledger(ledger_url)
    yield ledger
    ledger.dispose()


def test_ledger_section_counts_states_and_times_gated_jobs(ledger: Ledger, ledger_url: str) -> None:
    ledger.upsert_job("docs:a", doc_id="a", pipeline="docs_auto", dag_run_id="run1", state="completed")
    ledger.upsert_job("docs:b", doc_id="b", pipeline="docs_auto", dag_run_id="run1", state="gated",
                      current_stage="wait_for_pdf_ir")
    ledger.upsert_job("docs:c", doc_id="c", pipeline="docs_auto", dag_run_id="run1", state="pending")
    ledger.fail("docs:c", "pdf_to_ir: no text layer", stage="pdf_to_ir")
    gated_at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    with ledger.engine.begin() as connection:
        connection.execute(update(Job).where(Job.job_id == "docs:b").values(updated_at=gated_at))

    data = overview.ledger_overview(ledger_url, now=gated_at + timedelta(hours=2, minutes=5))

    assert data["counts"] == {"completed": 1, "failed": 1, "gated": 1}
    assert data["total"] == 3
    [gated] = data["gated"]
    assert gated["job_id"] == "docs:b" and gated["stage"] == "wait_for_pdf_ir"
    assert gated["waited_seconds"] == pytest.approx(2 * 3600 + 300)
    assert gated["gated_since"] == gated_at.isoformat()
    assert gated["pdf_ir_ready"] is False
    [failed] = data["failed"]
    assert failed["job_id"] == "docs:c" and "no text layer" in failed["error"]
    json.dumps(data)  # the API returns it as is


def test_ledger_section_degrades_without_a_database(tmp_path: Path) -> None:
    missing = overview.section("ledger", lambda: overview.ledger_overview(f"sqlite:///{tmp_path / 'none.sqlite'}"))
    assert missing["available"] is False and "no ledger database" in missing["reason"]
    assert not (tmp_path / "none.sqlite").exists(), "the view must not create the ledger"

    empty = tmp_path / "empty.sqlite"
    empty.touch()
    no_table = overview.ledger_overview(f"sqlite:///{empty}")
    assert no_table["available"] is False and "no jobs table" in no_table["reason"]


def test_breaker_section_reads_the_shared_state_table(ledger_url: str) -> None:
    storage = SQLBreakerStorage("ncbi_eutils", ledger_url)
    storage.state = pybreaker.STATE_OPEN
    storage.increment_counter()
    storage.opened_at = datetime.now(UTC)
    SQLBreakerStorage("pdf_hosts", ledger_url)

    data = overview.breakers_overview(redis_url="", ledger_url=ledger_url)

    assert data["store"] == "ledger"
    states = {b["name"]: (b["state"], b["fail_counter"]) for b in data["breakers"]}
    assert states == {"ncbi_eutils": ("open", 1), "pdf_hosts": ("closed", 0)}


def test_a_failing_section_reports_its_reason_instead_of_raising() -> None:
    def broken() -> dict:
        raise ConnectionError("redis:6379 refused")

    assert overview.section("breakers", broken) == {
        "available": False,
        "reason": "ConnectionError: redis:6379 refused",
    }
    assert overview.section("ok", lambda: {"x": 1}) == {"x": 1, "available": True}


def test_reports_section_lists_newest_first_and_inlines_small_text(tmp_path: Path) -> None:
    (tmp_path / "docs_auto").mkdir()
    old = tmp_path / "docs_auto" / "run1.json"
    old.write_text('{"documents": 3}')
    os.utime(old, (time.time() - 60, time.time() - 60))
    (tmp_path / "docs_auto" / "run2.md").write_text("# run 2\n4 documents")
    (tmp_path / "big.txt").write_text("x" * (overview.REPORT_PREVIEW_BYTES + 1))
    (tmp_path / "ignored.bin").write_bytes(b"\0")

    data = overview.reports_overview(tmp_path)

    paths = [r["path"] for r in data["reports"]]
    assert paths[-1] == "docs_auto/run1.json" and set(paths) == {"docs_auto/run1.json", "docs_auto/run2.md", "big.txt"}
    by_path = {r["path"]: r for r in data["reports"]}
    assert by_path["docs_auto/run2.md"]["preview"].startswith("# run 2")
    assert by_path["docs_auto/run2.md"]["pipeline"] == "docs_auto"
    assert "preview" not in by_path["big.txt"]


def test_report_files_outside_the_reports_folder_are_refused(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "r.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("no")
    assert overview.report_file("r.json", reports) == (reports / "r.json").resolve()
    for bad in ("../secret.txt", "/etc/passwd", "missing.json"):
        with pytest.raises(FileNotFoundError):
            overview.report_file(bad, reports)


def test_pipelines_section_renders_every_spec_with_its_graph_and_policies() -> None:
    data = overview.pipelines_overview()
    pipelines = {p["name"]: p for p in data["pipelines"]}
    hello = pipelines["example_hello"]
    stages = {s["name"]: s for s in hello["stages"]}
    assert stages["greet"]["upstream"] == []
    assert stages["summarize"]["upstream"] == ["greet", "list_workspace"]
    # What the factory really built, not only what the YAML says.
    assert stages["greet"]["operator"] and stages["greet"]["retries"] is not None
    assert set(hello["policies"]) == {s["policy"] for s in hello["stages"]}
    assert hello["policies"]["default"]["max_attempts"] >= 1
    json.dumps(data)


def test_models_section_says_why_it_is_empty_without_training_pipelines() -> None:
    assert overview.models_overview([{"name": "docs_auto", "training": False}]) == {
        "models": [],
        "reason": "no training pipeline",
    }


def test_models_section_does_not_create_an_mlflow_database(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    data = overview.models_overview([{"name": "model_training", "training": True}])
    assert data["models"] == [] and "no MLflow database" in data["reason"]
    assert not db.exists()


@pytest.mark.slow
def test_models_section_shows_champion_and_challenger_with_metrics_and_links(tmp_path: Path, monkeypatch) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("PIPELINE_MLFLOW_UI_URL", "http://mlflow.example:5000")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("model_training", artifact_location=str(tmp_path / "artifacts"))
    name = "model_training.diagnosis_lgbm"
    client.create_registered_model(name)
    versions = {}
    for alias, f1 in (("champion", 0.81), ("challenger", 0.79)):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "macro_f1", f1)
        client.set_terminated(run.info.run_id)
        version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        client.set_registered_model_alias(name, alias, version.version)
        versions[alias] = (str(version.version), run.info.run_id)
    client.create_registered_model("other_pipeline.model")

    data = overview.models_overview([{"name": "model_training", "training": True}])

    [model] = data["models"]
    assert model["model"] == name and model["pipeline"] == "model_training"
    champion, challenger = model["champion"], model["challenger"]
    assert (champion["version"], champion["run_id"]) == versions["champion"]
    assert champion["metrics"] == {"macro_f1": 0.81} and challenger["metrics"] == {"macro_f1": 0.79}
    assert champion["link"] == f"http://mlflow.example:5000/#/models/{name}/versions/{versions['champion'][0]}"
    assert champion["run_link"] == f"http://mlflow.example:5000/#/experiments/{experiment}/runs/{versions['champion'][1]}"


def test_a_spec_the_factory_cannot_build_still_shows_with_the_reason(monkeypatch) -> None:
    from pipeline_factory.factory import builder

    real = builder.build_dag

    def build(loaded, **kwargs):
        if loaded.spec.name == "example_hello":
            raise RuntimeError("no operator for stage type 'echo'")
        return real(loaded, **kwargs)

    monkeypatch.setattr(builder, "build_dag", build)
    pipelines = {p["name"]: p for p in overview.pipelines_overview()["pipelines"]}
    hello = pipelines["example_hello"]
    assert hello["build_error"] == "RuntimeError: no operator for stage type 'echo'"
    assert [s["name"] for s in hello["stages"]] == ["greet", "list_workspace", "summarize"]
    assert hello["stages"][0]["operator"] is None
    assert all(p["build_error"] is None for name, p in pipelines.items() if name != "example_hello")
