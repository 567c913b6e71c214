"""The CeleryExecutor deployment for real: Redis, Postgres and two workers.

One stack serves the whole module (it starts before the LocalExecutor tier's
and is gone before that one starts): Debian's redis-server as the broker and
the shared store of the rate limiter and breaker (``PIPELINE_REDIS_URL``),
Postgres for the metadata and the Celery results, Airflow's scheduler,
dag-processor, triggerer and api-server, and two ``airflow celery worker``
processes.  Each worker serves ``default`` plus its own queue and reports its
own host name on the task instances (``worker-a``, ``worker-b``), so where
every task ran is read back from the API.  Workers run one task at a time:
two tasks ready together land on different workers.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("worker-a", "worker-b")  # as the celery_cluster fixture names them


def _task_instances(cluster: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return cluster.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]


def _tries(cluster: Any, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
    return cluster.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")["task_instances"]


def _stand_in(cluster: Any, path: str, body: Any = None) -> dict[str, Any]:
    base = cluster.env["NCBI_EUTILS_URL"].removesuffix("/entrez/eutils")
    response = httpx.post(f"{base}{path}", json=body) if body is not None else httpx.get(f"{base}{path}")
    response.raise_for_status()
    return response.json()


def _trigger_now(cluster: Any, dag_id: str) -> str:
    """A manual run through the REST API: runs created within milliseconds of each other (the CLI takes seconds)."""
    with cluster.client() as client:
        response = client.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {}})
        response.raise_for_status()
        return response.json()["dag_run_id"]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_shipped_pipelines_succeed_with_tasks_on_both_workers(celery_cluster: Any, neo4j_server: Any):
    cluster = celery_cluster
    conf = {"search_terms": ["CRISPR-Cas9"], "max_results_per_term": 8}
    for dag_id in ("example_hello", "graphrag_incremental", "graphrag_consistency"):
        cluster.wait_for_dag(dag_id)
    runs = {"example_hello": cluster.trigger("example_hello", {"greeting": "from celery"}),
            "graphrag_incremental": cluster.trigger("graphrag_incremental", conf)}
    for dag_id, run_id in runs.items():
        run = cluster.wait_for_run(dag_id, run_id, timeout=600)
        assert run["state"] == "success", cluster.task_states(dag_id, run_id)
    runs["graphrag_consistency"] = cluster.trigger("graphrag_consistency")
    run = cluster.wait_for_run("graphrag_consistency", runs["graphrag_consistency"], timeout=600)
    assert run["state"] == "success", cluster.task_states("graphrag_consistency", runs["graphrag_consistency"])

    per_worker = Counter(ti["hostname"] for dag_id, run_id in runs.items()
                         for ti in _task_instances(cluster, dag_id, run_id))
    print(f"\ntasks per worker: {dict(per_worker)}")
    assert set(per_worker) == set(WORKERS), per_worker
    assert neo4j_server.read("MATCH (p:Paper) RETURN count(p) AS n")[0]["n"] >= 8


def test_collection_on_both_workers_at_once_stays_under_the_ncbi_limit(celery_cluster: Any):
    cluster = celery_cluster
    for dag_id in ("e2e_collect_a", "e2e_collect_b"):
        cluster.wait_for_dag(dag_id)
    _stand_in(cluster, "/_control/reset", {})
    runs = {dag_id: _trigger_now(cluster, dag_id) for dag_id in ("e2e_collect_a", "e2e_collect_b")}
    for dag_id, run_id in runs.items():
        run = cluster.wait_for_run(dag_id, run_id, timeout=600)
        assert run["state"] == "success", cluster.task_states(dag_id, run_id)
    [a], [b] = (_task_instances(cluster, dag_id, run_id) for dag_id, run_id in runs.items())
    assert (a["hostname"], b["hostname"]) == WORKERS
    overlap = (min(_when(a["end_date"]), _when(b["end_date"]))
               - max(_when(a["start_date"]), _when(b["start_date"]))).total_seconds()
    stats = _stand_in(cluster, "/_control/stats")
    print(f"\ncollections overlapped {overlap:.1f}s; stand-in: {stats['counters']}, "
          f"max in 1s {stats['max_requests_in_1s']}, rate {stats['achieved_rate']}")
    assert overlap > 2, (a, b)  # both collected at the same time
    assert stats["counters"]["requests"] >= 2 * 21  # one search and 20 fetches of 2 papers each, per run
    # NCBI's limit as the stand-in enforces it (3/s, bursts of at most 3): not one request refused.
    assert stats["counters"].get("rate_limited", 0) == 0, stats
    assert max(stats["achieved_rate"].values()) <= 3.0, stats


def test_breaker_opened_on_one_worker_is_open_on_the_other(celery_cluster: Any):
    from pipeline_factory.resilience.breaker import breaker_storage
    from pipeline_factory.sources.eutils import SERVICE

    cluster = celery_cluster
    storage = breaker_storage(SERVICE, redis_url=cluster.env["PIPELINE_REDIS_URL"])
    for dag_id in ("e2e_breaker_trip", "e2e_breaker_probe"):
        cluster.wait_for_dag(dag_id)
    _stand_in(cluster, "/_control/reset", {})
    _stand_in(cluster, "/_control/faults", [{"kind": "status", "status": 503, "count": 50}])
    try:
        trip = cluster.trigger("e2e_breaker_trip")
        assert cluster.wait_for_run("e2e_breaker_trip", trip)["state"] == "failed"
        [tripped] = _task_instances(cluster, "e2e_breaker_trip", trip)
        assert tripped["hostname"] == "worker-a"
        assert storage.state == "open"
        seen = _stand_in(cluster, "/_control/stats")["counters"]["requests"]

        probe = cluster.trigger("e2e_breaker_probe")
        assert cluster.wait_for_run("e2e_breaker_probe", probe)["state"] == "failed"
        [probed] = _task_instances(cluster, "e2e_breaker_probe", probe)
        assert probed["hostname"] == "worker-b"
        assert _stand_in(cluster, "/_control/stats")["counters"]["requests"] == seen  # not one call went out
        [report] = [json.loads(p.read_text()) for p in cluster.data_dir.rglob("collect.json")
                    if json.loads(p.read_text())["pipeline"] == "e2e_breaker_probe"]
        assert report["circuit_breaker"]["state"] == "open" and report["circuit_breaker"]["rejected"] >= 1, report
        assert "CircuitOpenError" in report["outcome"]["outcome"], report
    finally:
        _stand_in(cluster, "/_control/reset", {})
        storage.state = "closed"
        storage.reset_counter()


def test_worker_killed_mid_task_is_retried_on_the_other_worker_without_duplicates(
    celery_cluster: Any, neo4j_server: Any
):
    from pipeline_factory.stores.ledger import Ledger
    from pipeline_factory.stores.vectors import VectorStore

    cluster = celery_cluster
    documents = [json.loads(line) for line in (ROOT / "examples/documents/abstracts.jsonl").read_text().splitlines()
                 if line.strip()]
    conf = {"source": "folder", "source_path": str(ROOT / "examples/documents"), "collection": "celery_docs"}
    cluster.wait_for_dag("docs_auto")
    run_id = cluster.trigger("docs_auto", conf)
    victim_task = "kg"  # writes the Neo4j graph; the ledger and Qdrant were written by earlier tasks
    t0 = time.monotonic()
    timeline: list[tuple[float, str]] = []
    deadline = t0 + 600
    ti: dict[str, Any] = {}
    while time.monotonic() < deadline:
        ti = next(t for t in _task_instances(cluster, "docs_auto", run_id) if t["task_id"] == victim_task)
        if ti["state"] == "running" and ti["hostname"] in WORKERS:
            break
        if ti["state"] in ("success", "failed"):
            pytest.fail(f"{victim_task} finished before it could be killed: {ti}")
        time.sleep(0.2)
    else:
        cluster.fail(f"{victim_task} never ran: {cluster.task_states('docs_auto', run_id)}")
    victim = ti["hostname"]
    survivor = next(w for w in WORKERS if w != victim)
    timeline.append((time.monotonic() - t0, f"{victim_task} running on {victim}"))
    # At once: on an idle machine the task's whole run takes about a second and a half, and a task
    # process that has just started (imports, the stage's first writes) is as much "mid-task" as any.
    os.killpg(cluster.processes[victim].pid, signal.SIGKILL)
    cluster.processes[victim].wait(timeout=30)
    timeline.append((time.monotonic() - t0, f"{victim} SIGKILLed (whole process group)"))
    seen: set[str] = set()
    while time.monotonic() < deadline:
        ti = next(t for t in _task_instances(cluster, "docs_auto", run_id) if t["task_id"] == victim_task)
        key = f"{victim_task} try {ti['try_number']} {ti['state']} on {ti['hostname'] or '-'}"
        if key not in seen:
            seen.add(key)
            timeline.append((time.monotonic() - t0, key))
        run = cluster.get(f"/dags/docs_auto/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            break
        time.sleep(1)
    timeline.append((time.monotonic() - t0, f"run {run['state']}"))
    print("\nkill-and-retry timeline:\n" + "\n".join(f"  {t:6.1f}s  {event}" for t, event in timeline))
    assert run["state"] == "success", (cluster.task_states("docs_auto", run_id), timeline)
    tries = _tries(cluster, "docs_auto", run_id, victim_task)
    assert [t["hostname"] for t in tries][-1] == survivor, tries
    assert len(tries) >= 2 and tries[0]["hostname"] == victim, tries

    doc_ids = [r["id"] for r in neo4j_server.read("MATCH (d:Document) RETURN d.doc_id AS id")]
    assert len(doc_ids) == len(set(doc_ids)) >= len(documents)
    chunk_ids = [r["id"] for r in neo4j_server.read("MATCH (c:Chunk) RETURN c.chunk_id AS id")]
    assert len(chunk_ids) == len(set(chunk_ids))
    store = VectorStore(path=cluster.data_dir / "qdrant")
    try:
        assert store.count("celery_docs") == len(chunk_ids)
    finally:
        store.close()
    jobs = [j for j in Ledger(cluster.ledger_url).jobs(pipeline="docs_auto")]
    assert len({j["job_id"] for j in jobs}) == len(jobs) == len(documents), jobs
