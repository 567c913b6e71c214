"""Both document pipelines under ``dag.test()`` with the real stores: ledger, Qdrant local mode, Neo4j.

The PDF pipeline's gate really defers; ``dag.test()`` runs its trigger in-line
while the converter (the ``pdf_ir_worker`` stage) runs in another process, as
the worker DAG would, and releases it through the ledger.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECTIONS = [
    ("1 Introduction", "Mutations in the BRCA1 gene raise the risk of breast cancer. Carriers benefit from olaparib."),
    ("2 Results", "Loss of BRCA1 expression sensitised tumours to cisplatin."),
]


@pytest.fixture
def docs_env(tmp_path, monkeypatch, config_copy, neo4j_server, airflow_db):
    data = tmp_path / "data"
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    monkeypatch.delenv("PIPELINE_LEDGER_URL", raising=False)
    monkeypatch.delenv("QDRANT_URL", raising=False)
    gate = config_copy / "pipelines" / "docs_pdf_two_phase.yaml"
    spec = yaml.safe_load(gate.read_text())
    for stage in spec["stages"]:
        if stage["type"] == "gate":
            stage["poke_interval"] = 0.5
    gate.write_text(yaml.safe_dump(spec, sort_keys=False))
    return data, config_copy, neo4j_server


def build(name: str):
    from pipeline_factory.factory.dagfile import render_all

    rendered = render_all(auto_register=False)
    assert not rendered.problems, rendered.problems
    return rendered.dags[name]


def states(dag_runner, run) -> dict[str, str]:
    return dag_runner.states(run)


def graph_docs(graph, doc_ids) -> dict[str, int]:
    rows = graph.read(
        "MATCH (d:Document) WHERE d.doc_id IN $ids OPTIONAL MATCH (d)-[:HAS_CHUNK]->(c:Chunk) "
        "RETURN d.doc_id AS doc, count(c) AS chunks",
        ids=list(doc_ids),
    )
    return {r["doc"]: r["chunks"] for r in rows}


def qdrant_count(data: Path, collection: str) -> int:
    from pipeline_factory.stores.vectors import VectorStore

    with VectorStore(path=data / "qdrant") as store:
        return store.count(collection)


@pytest.mark.parametrize("renamed", [False, True], ids=["shipped", "every_stage_renamed"])
def test_docs_auto_end_to_end(docs_env, dag_runner, renamed_pipeline, renamed):
    """The same outcome when every stage is renamed in YAML: stages find their inputs by kind."""
    from pipeline_factory.stores.ledger import Ledger

    data, _, graph = docs_env
    names = renamed_pipeline("docs_auto") if renamed else {}
    run = dag_runner.run(build("docs_auto"), {"source_path": "tests/fixtures/documents", "collection": "auto_test"})
    assert run.state == "success", states(dag_runner, run)
    assert set(states(dag_runner, run).values()) == {"success"}
    ledger = Ledger.from_env()
    jobs = {j["doc_id"]: j for j in ledger.jobs_for_run(f"docs_auto/{run.run_id}")}
    assert jobs["t-3"]["state"] == "failed" and "empty document" in jobs["t-3"]["error"]
    completed = {doc for doc, job in jobs.items() if job["state"] == "completed"}
    assert completed == {"t-1", "t-2", "t-4", "huntington", "sources"}
    chunk_stage = names.get("chunk", "chunk")
    chunks = json.loads((data / "runs" / "docs_auto" / _safe(run.run_id) / chunk_stage / "result.json").read_text())
    assert qdrant_count(data, "auto_test") == chunks["chunks"]
    in_graph = graph_docs(graph, completed | {"t-3"})
    assert set(in_graph) == completed and sum(in_graph.values()) == chunks["chunks"]
    mentions = graph.read(
        "MATCH (:Document {doc_id: 't-1'})-[:HAS_CHUNK]->(:Chunk)-[:MENTIONS]->(e:Entity) "
        "RETURN DISTINCT e.entity_id AS id"
    )
    assert {"ncbigene:672", "chebi:83766"} <= {m["id"] for m in mentions}


def _safe(run_id: str) -> str:
    from pipeline_factory.workspace import safe_run_id

    return safe_run_id(run_id)


def write_sources(tmp_path: Path, pdf_host, make_pdf, docs: dict[str, bytes | None]) -> Path:
    folder = tmp_path / "pdf_sources"
    folder.mkdir(exist_ok=True)
    records = []
    for doc_id, body in docs.items():
        if body is None:
            pdf_host.serve(f"/{doc_id}.pdf", b"<html>not here</html>", "text/html")
        else:
            pdf_host.serve(f"/{doc_id}.pdf", body)
        records.append({"doc_id": doc_id, "title": doc_id, "pdf_url": f"{pdf_host.url}/{doc_id}.pdf"})
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def converter_when_downloaded(expected: int) -> threading.Thread:
    """Run the converter stage in its own process once the downloads are in the ledger (like pdf_ir_worker)."""
    from pipeline_factory.stores.ledger import Ledger

    def work() -> None:
        ledger = Ledger.from_env()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(ledger.jobs(pipeline="docs_pdf_two_phase", state="gated")) >= expected:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # let the gate defer first: the release must come through the trigger
        subprocess.run(
            [sys.executable, "-m", "pipeline_factory.runner", "pdf_ir_worker", "pdf_to_ir", "--run-id", "worker_1"],
            check=False,
            capture_output=True,
            timeout=120,
        )

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("renamed", [False, True], ids=["shipped", "every_stage_renamed"])
def test_docs_pdf_two_phase_waits_at_the_gate_and_resumes(docs_env, dag_runner, tmp_path, pdf_host, make_pdf,
                                                          renamed_pipeline, renamed):
    from pipeline_factory.stores.ledger import Ledger

    data, _, graph = docs_env
    names = renamed_pipeline("docs_pdf_two_phase") if renamed else {}
    folder = write_sources(
        tmp_path,
        pdf_host,
        make_pdf,
        {"pdf-a": make_pdf("BRCA1 testing", SECTIONS), "pdf-b": make_pdf("More BRCA1", SECTIONS), "pdf-bad": None},
    )
    converter = converter_when_downloaded(expected=2)
    run = dag_runner.run(build("docs_pdf_two_phase"), {"source_path": str(folder), "collection": "pdf_test"})
    converter.join(timeout=5)
    assert run.state == "success", states(dag_runner, run)
    assert set(states(dag_runner, run).values()) == {"success"}
    ledger = Ledger.from_env()
    jobs = {j["doc_id"]: j for j in ledger.jobs_for_run(f"docs_pdf_two_phase/{run.run_id}")}
    assert jobs["pdf-bad"]["state"] == "failed" and "text/html" in jobs["pdf-bad"]["error"]
    assert {d: (j["state"], j["pdf_ir_ready"]) for d, j in jobs.items() if d != "pdf-bad"} == {
        "pdf-a": ("completed", True),
        "pdf-b": ("completed", True),
    }
    assert set(graph_docs(graph, jobs)) == {"pdf-a", "pdf-b"}
    assert qdrant_count(data, "pdf_test") > 0
    gate_events = [e for e in ledger.events(type="job.failed") if e["subject"].endswith("pdf-bad")]
    assert gate_events and gate_events[0]["data"]["stage"] == names.get("download_pdf", "download_pdf")


def test_a_job_failing_conversion_fails_the_gate_at_once(docs_env, dag_runner, tmp_path, pdf_host, make_pdf):
    from fpdf import FPDF

    blank = FPDF()
    blank.add_page()
    folder = write_sources(
        tmp_path, pdf_host, make_pdf, {"pdf-ok": make_pdf("BRCA1", SECTIONS), "pdf-scan": bytes(blank.output())}
    )
    converter = converter_when_downloaded(expected=2)
    started = time.monotonic()
    run = dag_runner.run(build("docs_pdf_two_phase"), {"source_path": str(folder)})
    converter.join(timeout=5)
    task_states = states(dag_runner, run)
    assert run.state == "failed"
    assert task_states["wait_for_pdf_ir"] == "failed"
    assert task_states["chunk"] == "upstream_failed" and task_states["kg"] == "upstream_failed"
    assert time.monotonic() - started < 300  # the gate's timeout is a day: it failed on the event


def test_the_gate_times_out_naming_the_jobs_not_ready(docs_env, dag_runner, tmp_path, pdf_host, make_pdf, caplog):
    _, config, _ = docs_env
    path = config / "pipelines" / "docs_pdf_two_phase.yaml"
    spec = yaml.safe_load(path.read_text())
    next(s for s in spec["stages"] if s["type"] == "gate")["timeout"] = 2
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    folder = write_sources(tmp_path, pdf_host, make_pdf, {"pdf-slow": make_pdf("BRCA1", SECTIONS)})
    run = dag_runner.run(build("docs_pdf_two_phase"), {"source_path": str(folder)})
    assert run.state == "failed"
    assert states(dag_runner, run)["wait_for_pdf_ir"] == "failed"
    from pipeline_factory.stores.ledger import Ledger

    job = Ledger.from_env().jobs(pipeline="docs_pdf_two_phase")[0]
    assert (job["doc_id"], job["state"], job["pdf_ir_ready"]) == ("pdf-slow", "gated", False)
