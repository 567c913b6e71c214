"""OpenLineage events of a GraphRAG incremental run (``dag.test()``), received over HTTP by a real receiver.

The run happens in its own process whose one lineage setting is
``OPENLINEAGE_URL`` (the receiver); every event it sent passed the receiver's
checks against OpenLineage's models.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pipeline_factory.devservers.lineage_receiver import dataset_keys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONF = {"search_terms": ["CRISPR-Cas9", "CAR-T cell therapy"], "max_results_per_term": 8}
TASKS = {"collect_pubmed", "collect_genes", "update_graph", "update_vectors", "report"}


def output(event: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    return next(d for d in event["outputs"] if (d["namespace"], d["name"]) == (namespace, name))


def row_count(event: dict[str, Any], namespace: str, name: str) -> int:
    return output(event, namespace, name)["outputFacets"]["outputStatistics"]["rowCount"]


def test_graphrag_incremental_lineage_graph(run_in_process, lineage_receiver, eutils, graph, data_dir, embedder):
    """NCBI -> snapshot -> Neo4j and Qdrant, with row counts; every task run tied to the Airflow run."""
    run = run_in_process("graphrag_incremental", CONF, lineage_url=lineage_receiver.url)
    assert run["state"] == "success", run
    assert lineage_receiver.invalid == [], lineage_receiver.invalid[:3]

    tasks = lineage_receiver.task_events("graphrag_incremental")
    assert set(tasks) == TASKS
    for task, events in tasks.items():
        assert set(events) == {"START", "COMPLETE"}, (task, set(events))
        assert events["START"]["run"]["runId"] == events["COMPLETE"]["run"]["runId"]

    eutils_ns = "{0}//{2}".format(*eutils.url.split("/"))  # scheme://host:port of the stand-in
    snapshot = ("file", str((data_dir / "graphrag" / "current" / "papers.json").absolute()))
    genes = ("file", str((data_dir / "graphrag" / "current" / "genes.json").absolute()))
    neo4j_ns = "neo4j://" + os.environ["NEO4J_URI"].split("://", 1)[1].rstrip("/")
    collection = ("file", str((data_dir / "qdrant" / "collection" / "pubmed_papers").absolute()))

    # NCBI -> snapshot: one esearch query per term; the papers collected counted once the task is done.
    collect = tasks["collect_pubmed"]["COMPLETE"]
    queries = {name.rsplit("/", 1)[-1] for ns, name in dataset_keys(collect["inputs"]) if ns == eutils_ns}
    assert queries == {"esearch.fcgi?db=pubmed&term=CRISPR-Cas9", "esearch.fcgi?db=pubmed&term=CAR-T%20cell%20therapy"}
    assert snapshot in dataset_keys(collect["outputs"])
    assert row_count(collect, *snapshot) == 16
    start = tasks["collect_pubmed"]["START"]
    assert dataset_keys(start["inputs"]) == dataset_keys(collect["inputs"])
    assert all("outputStatistics" not in d.get("outputFacets", {}) for d in start["outputs"])

    # snapshot -> genes, through NCBI Gene's elink and esummary
    genes_event = tasks["collect_genes"]["COMPLETE"]
    assert snapshot in dataset_keys(genes_event["inputs"]) and genes in dataset_keys(genes_event["outputs"])
    assert any(ns == eutils_ns and "elink.fcgi" in name for ns, name in dataset_keys(genes_event["inputs"]))

    # snapshot -> Neo4j, one dataset per label; the papers written counted, as many as the graph holds
    update_graph = tasks["update_graph"]["COMPLETE"]
    assert {snapshot, genes} <= dataset_keys(update_graph["inputs"])
    labels = {name for ns, name in dataset_keys(update_graph["outputs"]) if ns == neo4j_ns}
    assert labels == {"neo4j.Paper", "neo4j.Author", "neo4j.Journal", "neo4j.MeshTerm", "neo4j.Gene"}
    in_graph = graph.read("MATCH (p:Paper) RETURN count(p) AS c")[0]["c"]
    assert row_count(update_graph, neo4j_ns, "neo4j.Paper") == in_graph == 16

    # snapshot -> Qdrant
    update_vectors = tasks["update_vectors"]["COMPLETE"]
    assert snapshot in dataset_keys(update_vectors["inputs"]) and collection in dataset_keys(update_vectors["outputs"])
    assert row_count(update_vectors, *collection) == 16

    # The run workspace links the tasks too: what collect_pubmed wrote is what the writers read.
    workspace = str((data_dir / "runs" / "graphrag_incremental").absolute())
    (collect_folder,) = [k for k in dataset_keys(collect["outputs"]) if k[1].startswith(workspace)]
    assert collect_folder in dataset_keys(update_graph["inputs"]) & dataset_keys(update_vectors["inputs"])

    # Run ids: every task run is a child of the DAG run's OpenLineage run, which names the Airflow run.
    dag_events = lineage_receiver.dag_events("graphrag_incremental")
    assert "COMPLETE" in {e["eventType"] for e in dag_events}
    dag_run = next(e for e in dag_events if e["eventType"] == "COMPLETE")
    assert dag_run["run"]["facets"]["airflowDagRun"]["dagRun"]["run_id"] == run["run_id"]
    for task, events in tasks.items():
        parent = events["COMPLETE"]["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == dag_run["run"]["runId"], task
        assert parent["job"]["name"] == "graphrag_incremental"
        assert events["COMPLETE"]["run"]["facets"]["airflow"]["dagRun"]["run_id"] == run["run_id"]

    # The ledger's CloudEvents name the same OpenLineage runs.
    from pipeline_factory.stores.ledger import run_key
    from pipeline_factory.stores.ledger_db import shared_ledger

    recorded = shared_ledger(None).events(dag_run_id=run_key("graphrag_incremental", run["run_id"]))
    stage_events = [e for e in recorded if e["type"].startswith("org.pipeline-factory.stage.")]
    assert {e["subject"] for e in stage_events} == TASKS
    for event in stage_events:
        assert event["openlineagerunid"] == tasks[event["subject"]]["COMPLETE"]["run"]["runId"], event["type"]
