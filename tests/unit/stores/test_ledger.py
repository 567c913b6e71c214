from __future__ import annotations

import pytest

from pipeline_factory.stores.ledger import Ledger, job_key, run_key


def test_first_use_creates_the_schema_through_the_migrations(ledger):
    assert ledger.tables() == ["circuit_breakers", "job_events", "jobs", "ledger_alembic_version", "ml_promotion_locks"]
    with ledger.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"


def test_upsert_creates_then_resets_a_job_for_a_new_run(ledger):
    job = ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r1", source="folder:x")
    assert job["state"] == "pending" and job["version"] == 1 and job["attempts"] == 0
    ledger.mark("j1", pdf_ir_ready=True, state="failed", error="boom")
    again = ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r2", state="gated", pdf_downloaded=True)
    assert again["dag_run_id"] == "p/r2"
    assert again["state"] == "gated" and again["pdf_downloaded"] is True
    assert again["pdf_ir_ready"] is False and again["error"] is None
    assert again["version"] == 3
    assert again["created_at"] == job["created_at"]


def test_mark_is_a_compare_and_set_when_given_a_version(ledger):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p")
    assert ledger.mark("j1", expected_version=1, current_stage="parse") is True
    assert ledger.mark("j1", expected_version=1, current_stage="chunk") is False
    assert ledger.get("j1")["current_stage"] == "parse"
    assert ledger.get("j1")["version"] == 2


def test_only_if_state_keeps_a_late_writer_from_resurrecting_a_failed_job(ledger):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p", state="running")
    ledger.fail("j1", "not a PDF", stage="download_pdf")
    assert ledger.mark("j1", state="completed", only_if_state=["running"]) is False
    job = ledger.get("j1")
    assert (job["state"], job["error"], job["current_stage"]) == ("failed", "not a PDF", "download_pdf")


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"colour": "red"}, "unknown ledger field"),
        ({"state": "done"}, "is not one of"),
        ({"pdf_ir_ready": "yes"}, "takes true or false"),
        ({"attempts": -1}, "non-negative"),
        ({"version": 9}, "unknown ledger field"),
    ],
)
def test_mark_rejects_bad_fields(ledger, fields, complaint):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p")
    with pytest.raises(ValueError, match=complaint):
        ledger.mark("j1", **fields)


def test_gate_status_answers_for_many_runs_in_one_query(ledger, query_counter):
    for r in range(50):
        for d in range(3):
            ledger.upsert_job(f"r{r}d{d}", doc_id=f"d{d}", pipeline="p", dag_run_id=f"p/r{r}")
    ledger.mark_many([f"r{r}d{d}" for r in range(0, 50, 2) for d in range(3)], pdf_ir_ready=True)
    ledger.fail("r1d2", "unreadable")
    query_counter.selects = 0
    statuses = ledger.gate_status([f"p/r{r}" for r in range(50)] + ["p/none"], "pdf_ir_ready", True)
    assert query_counter.selects == 1
    assert statuses["p/r0"].outcome == "success" and statuses["p/r0"].total == 3
    assert statuses["p/r1"].outcome == "failed" and statuses["p/r1"].failed == {"r1d2": "unreadable"}
    assert statuses["p/r3"].outcome == "waiting" and sorted(statuses["p/r3"].waiting) == ["r3d0", "r3d1", "r3d2"]
    assert statuses["p/none"].outcome == "empty"
    assert statuses["p/r1"].excluding(["r1d2"]).outcome == "waiting"


def test_gate_status_refuses_fields_a_gate_cannot_wait_on(ledger):
    with pytest.raises(ValueError, match="cannot wait on"):
        ledger.gate_status(["p/r"], "error", None)


def test_events_are_cloudevents(ledger):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r1")
    ledger.record_event("stage.completed", source="p/chunk", subject="chunk", dag_run_id="p/r1", data={"chunks": 3})
    ledger.fail("j1", "bad", stage="embed")
    events = ledger.events(dag_run_id="p/r1")
    assert [e["type"] for e in events] == ["org.pipeline-factory.stage.completed", "org.pipeline-factory.job.failed"]
    first = events[0]
    assert first["specversion"] == "1.0"
    assert first["source"] == "/pipeline-factory/p/chunk"
    assert first["datacontenttype"] == "application/json"
    assert first["data"] == {"chunks": 3}
    assert first["time"].endswith("+00:00")
    assert len({e["id"] for e in events}) == 2
    assert ledger.events(job_id="j1")[0]["data"] == {"error": "bad", "stage": "embed"}


def test_claim_hands_each_job_to_one_converter_only(ledger):
    for i in range(5):
        ledger.upsert_job(f"j{i}", doc_id=f"d{i}", pipeline="p", state="gated", pdf_downloaded=True)
    ledger.fail("j4", "bad download")
    first = ledger.claim(stage="pdf_to_ir", where={"pdf_downloaded": True, "pdf_ir_ready": False}, limit=3)
    second = ledger.claim(stage="pdf_to_ir", where={"pdf_downloaded": True, "pdf_ir_ready": False}, limit=3)
    assert [j["job_id"] for j in first] == ["j0", "j1", "j2"]
    assert [j["job_id"] for j in second] == ["j3"]
    assert all(j["state"] == "running" and j["attempts"] == 1 for j in first + second)
    stale = ledger.claim(
        stage="pdf_to_ir", where={"pdf_downloaded": True, "pdf_ir_ready": False}, limit=9, stale_after_seconds=0
    )
    assert sorted(j["job_id"] for j in stale) == ["j0", "j1", "j2", "j3"]


def test_keys_are_stable_and_unambiguous():
    assert run_key("docs_pdf_two_phase", "manual__2026-01-01T00:00:00+00:00") == (
        "docs_pdf_two_phase/manual__2026-01-01T00:00:00+00:00"
    )
    assert job_key("docs_auto", "pmid:1") == "default:docs_auto:pmid:1"


def test_a_second_ledger_on_the_same_database_sees_the_same_jobs(ledger_url, ledger):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p")
    other = Ledger(ledger_url)
    assert other.get("j1")["doc_id"] == "d1"
    other.dispose()


def test_an_event_carries_the_openlineage_run_of_its_task(ledger):
    run = "01930000-0000-7000-8000-000000000001"
    ledger.record_event("stage.started", source="p/chunk", subject="chunk", dag_run_id="p/r1", openlineage_run_id=run)
    ledger.record_event("stage.started", source="p/embed", subject="embed", dag_run_id="p/r1")
    linked, unlinked = ledger.events(dag_run_id="p/r1")
    assert linked["openlineagerunid"] == run
    assert "openlineagerunid" not in unlinked


def test_a_ledger_made_before_lineage_is_upgraded_in_place(tmp_path):
    """A database at migration 0001 gets the column on first use; its events are kept."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from pipeline_factory.stores.ledger_db import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.exec_driver_sql(
            "INSERT INTO job_events (id, specversion, source, type, time, datacontenttype, dag_run_id) "
            "VALUES ('e1', '1.0', '/pipeline-factory/p/s', 'org.pipeline-factory.stage.started', "
            "'2026-01-01 00:00:00', 'application/json', 'p/r0')")
    engine.dispose()
    ledger = Ledger(url)
    try:
        ledger.record_event("stage.completed", source="p/s", dag_run_id="p/r0", openlineage_run_id="ol-1")
        old, new = ledger.events(dag_run_id="p/r0")
        assert old["id"] == "e1" and "openlineagerunid" not in old
        assert new["openlineagerunid"] == "ol-1"
    finally:
        ledger.dispose()


def test_job_events_recorded_while_a_stage_runs_carry_its_openlineage_run(ledger):
    from pipeline_factory.stores.events import lineage_run

    ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r1")
    with lineage_run("01930000-0000-7000-8000-000000000002"):
        ledger.fail("j1", "not a PDF", stage="download_pdf")
    ledger.record_event("stage.completed", source="p/kg", dag_run_id="p/r1")
    failed, later = ledger.events(job_id="j1")[-1], ledger.events(dag_run_id="p/r1")[-1]
    assert failed["openlineagerunid"] == "01930000-0000-7000-8000-000000000002"
    assert "openlineagerunid" not in later
