"""OpenLineage events of a ``docs_auto`` run: the source folder -> the job ledger -> Qdrant and Neo4j.

The run happens in its own process whose one lineage setting is
``OPENLINEAGE_URL`` (a local receiver checking every event against
OpenLineage's models).
"""

from __future__ import annotations

import json
import os

import pytest

from pipeline_factory.devservers.lineage_receiver import dataset_keys
from pipeline_factory.workspace import run_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def rows(event: dict, key: tuple[str, str]) -> int:
    (found,) = [d for d in event["outputs"] if (d["namespace"], d["name"]) == key]
    return found["outputFacets"]["outputStatistics"]["rowCount"]


def test_docs_auto_lineage(tmp_path, monkeypatch, config_copy, neo4j_server, run_in_process, lineage_receiver,
                           project_root):
    data = tmp_path / "data"
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    monkeypatch.delenv("PIPELINE_LEDGER_URL", raising=False)
    monkeypatch.delenv("QDRANT_URL", raising=False)
    run = run_in_process("docs_auto", {"source_path": "tests/fixtures/documents", "collection": "lineage_test"},
                         lineage_url=lineage_receiver.url)
    assert run["state"] == "success", run
    assert lineage_receiver.invalid == [], lineage_receiver.invalid[:3]

    tasks = lineage_receiver.task_events("docs_auto")
    assert set(tasks) == {"ingest", "parse", "chunk", "embed", "index", "extract", "kg"}
    assert all(set(events) == {"START", "COMPLETE"} for events in tasks.values())

    jobs = (f"sqlite://{(data / 'ledger.sqlite').absolute()}", "jobs")
    source = ("file", str((project_root / "tests" / "fixtures" / "documents").resolve()))
    ingest = tasks["ingest"]["COMPLETE"]
    assert source in dataset_keys(ingest["inputs"])
    ingested = json.loads((run_dir("docs_auto", run["run_id"]) / "ingest" / "result.json").read_text())
    assert rows(ingest, jobs) == ingested["documents"] > 0

    for task in ("parse", "chunk", "embed", "extract", "kg"):
        assert jobs in dataset_keys(tasks[task]["COMPLETE"]["inputs"]), task

    collection = ("file", str((data / "qdrant" / "collection" / "lineage_test").absolute()))
    index = tasks["index"]["COMPLETE"]
    chunks = json.loads((run_dir("docs_auto", run["run_id"]) / "chunk" / "result.json").read_text())["chunks"]
    assert rows(index, collection) == chunks

    neo4j_ns = "neo4j://" + os.environ["NEO4J_URI"].split("://", 1)[1].rstrip("/")
    kg_outputs = dataset_keys(tasks["kg"]["COMPLETE"]["outputs"])
    assert {(neo4j_ns, f"neo4j.{label}") for label in ("Document", "Chunk", "Entity")} <= kg_outputs
