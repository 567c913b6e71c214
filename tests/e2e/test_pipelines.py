"""Each shipped pipeline family triggered through the CLI and checked in its stores.

The documents pipelines write to the e2e Neo4j and a Qdrant local-mode folder
in the cluster's data dir, GraphRAG collects from the E-utilities stand-in,
and training registers models in the embedded MLflow.  Reruns prove the
writers are idempotent under a real scheduler too.
"""

from __future__ import annotations

import email
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


def _qdrant_count(cluster, collection: str) -> int:
    from pipeline_factory.stores.vectors import VectorStore

    store = VectorStore(path=cluster.data_dir / "qdrant")
    try:
        return store.count(collection)
    finally:
        store.close()


def _mail_text(path: Path) -> str:
    """Subject and every decoded text part of a saved mail."""
    message = email.message_from_bytes(path.read_bytes())
    parts = [str(message["Subject"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def _run_ok(cluster, dag_id: str, conf: dict | None = None, timeout: float = 600) -> str:
    cluster.wait_for_dag(dag_id)
    run_id = cluster.trigger(dag_id, conf)
    run = cluster.wait_for_run(dag_id, run_id, timeout=timeout)
    assert run["state"] == "success", cluster.task_states(dag_id, run_id)
    return run_id


def test_docs_auto_end_to_end_and_rerun_without_duplicates(cluster, neo4j_server):
    documents = [json.loads(line) for line in (ROOT / "examples/documents/abstracts.jsonl").read_text().splitlines()
                 if line.strip()]
    conf = {"source": "folder", "source_path": str(ROOT / "examples/documents"), "collection": "e2e_docs"}
    _run_ok(cluster, "docs_auto", conf)
    points = _qdrant_count(cluster, "e2e_docs")
    doc_ids = {r["id"] for r in neo4j_server.read("MATCH (d:Document) RETURN d.doc_id AS id")}
    assert len(doc_ids) >= len(documents)
    chunks = neo4j_server.read("MATCH (c:Chunk) RETURN count(c) AS n")[0]["n"]
    assert points > 0 and chunks == points
    _run_ok(cluster, "docs_auto", conf)  # the same documents again
    assert _qdrant_count(cluster, "e2e_docs") == points
    assert neo4j_server.read("MATCH (c:Chunk) RETURN count(c) AS n")[0]["n"] == chunks


def _asset_triggered_runs(cluster, dag_id: str, timeout: float = 300) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in cluster.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
                if r["run_type"] == "asset_triggered"]
        if runs:
            return runs
        time.sleep(2)
    cluster.fail(f"no asset-triggered run of {dag_id}")
    raise AssertionError


def test_docs_pdf_two_phase_waits_for_the_converter(cluster, neo4j_server):
    """The converter is not triggered by hand: download_pdf's asset event schedules it, and it opens the gate."""
    conf = {"source_path": str(ROOT / "examples/pdf_sources"), "collection": "e2e_pdfs"}
    cluster.wait_for_dag("docs_pdf_two_phase")
    cluster.wait_for_dag("pdf_ir_worker")
    run_id = cluster.trigger("docs_pdf_two_phase", conf)
    cluster.wait_for_task("docs_pdf_two_phase", run_id, "wait_for_pdf_ir", {"deferred", "success"}, timeout=300)
    [worker_run, *_] = _asset_triggered_runs(cluster, "pdf_ir_worker")
    worker = cluster.wait_for_run("pdf_ir_worker", worker_run["dag_run_id"], timeout=300)
    assert worker["state"] == "success", cluster.task_states("pdf_ir_worker", worker_run["dag_run_id"])
    run = cluster.wait_for_run("docs_pdf_two_phase", run_id, timeout=600)
    assert run["state"] == "success", cluster.task_states("docs_pdf_two_phase", run_id)
    listed = cluster.project_cli("ledger", "list", "--pipeline", "docs_pdf_two_phase", "--json")
    jobs = json.loads(listed.stdout)
    assert jobs and all(j["pdf_ir_ready"] and j["state"] == "completed" for j in jobs), jobs
    assert _qdrant_count(cluster, "e2e_pdfs") > 0


def test_graphrag_incremental_then_consistency(cluster, neo4j_server):
    conf = {"search_terms": ["CRISPR-Cas9"], "max_results_per_term": 10}
    _run_ok(cluster, "graphrag_incremental", conf)
    papers = neo4j_server.read("MATCH (p:Paper) RETURN count(p) AS n")[0]["n"]
    assert papers >= 10
    assert _qdrant_count(cluster, "pubmed_papers") == papers
    _run_ok(cluster, "graphrag_incremental", {**conf, "refresh": True})  # everything again: merged, not doubled
    assert neo4j_server.read("MATCH (p:Paper) RETURN count(p) AS n")[0]["n"] == papers
    assert _qdrant_count(cluster, "pubmed_papers") == papers
    run_id = _run_ok(cluster, "graphrag_consistency")
    from pipeline_factory.workspace import run_dir

    result = json.loads((run_dir("graphrag_consistency", run_id, cluster.data_dir) / "consistency_check"
                         / "result.json").read_text())
    assert result["outcome"] == "consistent" and result["found"] == 0, result


def test_model_training_registers_a_champion(cluster):
    seed = subprocess.run(
        [sys.executable, "-m", "pipeline_factory.stages.ml.sample_data", "--out",
         str(cluster.data_dir / "ml/incoming/breast_cancer"), "--batches", "1-3"],
        env=cluster.env, capture_output=True, text=True, timeout=300,
    )
    assert seed.returncode == 0, seed.stderr
    # No startup slot (catchup: false, a cron schedule): the manual run is the
    # one that trains on the new batches; any other run finds nothing new.
    cluster.wait_for_dag("model_training")
    manual = cluster.trigger("model_training")
    cluster.wait_for_run("model_training", manual, timeout=900)
    runs = cluster.get("/dags/model_training/dagRuns")["dag_runs"]
    for run in runs:
        cluster.wait_for_run("model_training", run["dag_run_id"], timeout=900)
    outcomes = {r["dag_run_id"]: cluster.task_states("model_training", r["dag_run_id"]) for r in runs}
    trained = [rid for rid, states in outcomes.items() if states["promote"] == "success"]
    skipped = [rid for rid, states in outcomes.items() if states["fetch_data"] == "skipped"]
    assert len(trained) == 1, outcomes
    assert all(outcomes[rid]["train"] == "skipped" for rid in skipped) and len(skipped) == len(runs) - 1, outcomes
    from mlflow import MlflowClient

    uri = f"sqlite:///{cluster.data_dir / 'mlflow' / 'mlflow.db'}"
    champion = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(
        "model_training.diagnosis_lgbm", "champion")
    assert int(champion.version) == 1
    mails = [_mail_text(m) for m in sorted(cluster.mailbox.glob("*.eml"))]
    assert any("model_training" in m and "macro_f1" in m for m in mails), mails
