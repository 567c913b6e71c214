"""A crash half-way through ``index`` or ``kg``, then a rerun: no duplicate points, nodes or relationships."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeline_factory.stages.contracts import StageContext
from pipeline_factory.stages.documents.chunk import Chunk
from pipeline_factory.stages.documents.embed import Embed
from pipeline_factory.stages.documents.extract import Extract
from pipeline_factory.stages.documents.index import Index
from pipeline_factory.stages.documents.ingest import Ingest
from pipeline_factory.stages.documents.kg import KnowledgeGraph
from pipeline_factory.stages.documents.params import (
    ChunkParams,
    EmbedParams,
    ExtractParams,
    IndexParams,
    IngestParams,
    KgParams,
    ParseParams,
)
from pipeline_factory.stages.documents.parse import Parse
from pipeline_factory.stores.ledger import Ledger

pytestmark = pytest.mark.integration

PIPELINE, RUN_ID = "docs_auto", "manual__crash"


class Crash(RuntimeError):
    """Stands for the worker dying between two batches."""


#: The inputs the loader wires for docs_auto's stages (ports), by stage.
WIRED = {
    "parse": {"documents": "ingest"},
    "chunk": {"ir": "parse"},
    "embed": {"chunks": "chunk"},
    "extract": {"chunks": "chunk"},
    "index": {"chunks": "chunk", "embeddings": "embed"},
    "kg": {"ir": "parse", "chunks": "chunk", "mentions": "extract"},
}


@pytest.fixture
def prepared(tmp_path, monkeypatch, embedder, neo4j_server):
    data = tmp_path / "data"
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    monkeypatch.delenv("PIPELINE_LEDGER_URL", raising=False)
    monkeypatch.delenv("QDRANT_URL", raising=False)

    def ctx(stage: str) -> StageContext:
        return StageContext(
            pipeline=PIPELINE, stage=stage, run_id=RUN_ID, run_dir=data / "runs" / PIPELINE / RUN_ID, data_dir=data,
            inputs=WIRED.get(stage, {}),
        )

    # unique document ids: the Neo4j server is shared by the whole session
    tag = uuid.uuid4().hex[:8]
    source = tmp_path / "source"
    source.mkdir()
    lines = (Path(__file__).parents[2] / "fixtures" / "documents" / "abstracts.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    for record in records:
        record["pmid"] = f"crash-{tag}-{record['pmid']}"
    (source / "abstracts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    Ingest().run(ctx("ingest"), IngestParams(source="folder", path=str(source)))
    Parse().run(ctx("parse"), ParseParams())
    chunks = Chunk().run(ctx("chunk"), ChunkParams(max_chars=120, overlap_sentences=1))["chunks"]
    Embed().run(ctx("embed"), EmbedParams(device="cpu"))
    Extract().run(ctx("extract"), ExtractParams())
    return data, ctx, chunks, neo4j_server


def test_rerun_of_index_after_a_crash_leaves_no_duplicate_points(prepared, monkeypatch):
    from pipeline_factory.stores.vectors import VectorStore, point_id

    data, ctx, chunks, _ = prepared
    real_upsert = VectorStore.upsert

    def crash_after_first_batch(self, name, points, batch_size=256):
        real_upsert(self, name, points[:batch_size], batch_size=batch_size)
        raise Crash("worker lost after the first batch")

    monkeypatch.setattr(VectorStore, "upsert", crash_after_first_batch)
    with pytest.raises(Crash):
        Index().run(ctx("index"), IndexParams(collection="crash_test", batch_size=3))
    with VectorStore(path=data / "qdrant") as store:
        assert store.count("crash_test") == 3
    monkeypatch.setattr(VectorStore, "upsert", real_upsert)

    for _ in range(2):  # the retry, then a whole rerun
        assert Index().run(ctx("index"), IndexParams(collection="crash_test", batch_size=3))["points"] == chunks
    with VectorStore(path=data / "qdrant") as store:
        assert store.count("crash_test") == chunks
        chunk_ids = [f"{c}" for c in _chunk_ids(ctx)]
        assert store.ids("crash_test") == {point_id(c) for c in chunk_ids}


def _chunk_ids(ctx) -> list[str]:
    from pipeline_factory.stages.documents.records import read_jsonl

    return [c["chunk_id"] for c in read_jsonl(ctx("chunk").run_dir / "chunk" / "chunks.jsonl")]


def test_rerun_of_kg_after_a_crash_leaves_no_duplicate_nodes(prepared, monkeypatch):
    from pipeline_factory.stores.graph import GraphStore

    _, ctx, chunks, graph = prepared
    real_write_rows = GraphStore.write_rows
    calls = {"n": 0}

    def crash_in_the_chunks(self, cypher, rows, batch_size=500):
        calls["n"] += 1
        if calls["n"] == 2:  # documents written; chunks: the first batch only
            real_write_rows(self, cypher, rows[:batch_size], batch_size=batch_size)
            raise Crash("worker lost between two chunk batches")
        return real_write_rows(self, cypher, rows, batch_size=batch_size)

    monkeypatch.setattr(GraphStore, "write_rows", crash_in_the_chunks)
    with pytest.raises(Crash):
        KnowledgeGraph().run(ctx("kg"), KgParams(batch_size=2))
    monkeypatch.setattr(GraphStore, "write_rows", real_write_rows)
    ids = _chunk_ids(ctx)
    docs = sorted({i.split(":chunk:")[0] for i in ids})

    def counts():
        row = graph.read(
            "MATCH (d:Document) WHERE d.doc_id IN $docs "
            "OPTIONAL MATCH (d)-[r:HAS_CHUNK]->(c:Chunk) "
            "RETURN count(DISTINCT d) AS docs, count(r) AS links, count(DISTINCT c) AS chunks",
            docs=docs,
        )[0]
        nodes = graph.read("MATCH (c:Chunk) WHERE c.chunk_id IN $ids RETURN count(c) AS n", ids=ids)[0]["n"]
        mentions = graph.read(
            "MATCH (c:Chunk)-[m:MENTIONS]->(:Entity) WHERE c.chunk_id IN $ids RETURN count(m) AS n", ids=ids
        )[0]["n"]
        return row["docs"], row["links"], row["chunks"], nodes, mentions

    assert counts()[3] == 2
    for _ in range(2):  # the retry, then a whole rerun
        KnowledgeGraph().run(ctx("kg"), KgParams(batch_size=2))
    docs_n, links, chunk_n, nodes, mentions = counts()
    assert (docs_n, links, chunk_n, nodes) == (len(docs), chunks, chunks, chunks)
    assert mentions > 0
    first = mentions
    KnowledgeGraph().run(ctx("kg"), KgParams(batch_size=500))
    assert counts()[4] == first
    assert {j["state"] for j in Ledger.from_env().live_jobs_for_run(f"{PIPELINE}/{RUN_ID}")} == {"completed"}
