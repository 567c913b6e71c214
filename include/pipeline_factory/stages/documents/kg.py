"""``kg``: Document, Chunk and Entity nodes and their relationships, MERGEd into Neo4j.

Uniqueness constraints first (they also index the MERGE keys), then batched
``UNWIND $rows ... MERGE`` statements, each batch one managed write
transaction: a rerun, or a retry after a crash between batches, MERGEs over
what is there and creates no duplicates.  The jobs written are completed.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pipeline_factory.exceptions import StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.chunk import load_documents
from pipeline_factory.stages.documents.extract import MENTIONS_FILE
from pipeline_factory.stages.documents.params import KgParams
from pipeline_factory.stages.documents.records import CHUNKS_FILE, read_jsonl

CONSTRAINTS = [
    "CREATE CONSTRAINT document_doc_id IF NOT EXISTS FOR (d:Document) REQUIRE d.doc_id IS UNIQUE",
    "CREATE CONSTRAINT chunk_chunk_id IF NOT EXISTS FOR (c:Chunk) REQUIRE c.chunk_id IS UNIQUE",
    "CREATE CONSTRAINT entity_entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.entity_id IS UNIQUE",
]

MERGE_DOCUMENTS = """
UNWIND $rows AS row
MERGE (d:Document {doc_id: row.doc_id})
SET d.title = row.title, d.source = row.source, d.pipeline = row.pipeline, d.pages = row.pages,
    d.engine = row.engine, d.job_id = row.job_id
"""

MERGE_CHUNKS = """
UNWIND $rows AS row
MATCH (d:Document {doc_id: row.doc_id})
MERGE (c:Chunk {chunk_id: row.chunk_id})
SET c.text = row.text, c.index = row.index, c.section = row.section, c.page = row.page, c.doc_id = row.doc_id
MERGE (d)-[:HAS_CHUNK]->(c)
"""

MERGE_MENTIONS = """
UNWIND $rows AS row
MERGE (e:Entity {entity_id: row.entity_id})
SET e.name = row.name, e.type = row.type
WITH e, row
MATCH (c:Chunk {chunk_id: row.chunk_id})
MERGE (c)-[m:MENTIONS]->(e)
SET m.count = row.count
WITH e, row
MATCH (d:Document {doc_id: row.doc_id})
MERGE (d)-[:MENTIONS]->(e)
"""


def open_graph_store(database: str | None = None):
    from pipeline_factory.stores.graph import GraphStore

    store = GraphStore.from_env()
    if database:
        store.database = database
    return store


def graph_rows(
    ctx: StageContext, documents: list[dict[str, Any]], chunks: list[dict[str, Any]], mentions: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    doc_rows = [
        {
            "doc_id": d["doc_id"],
            "job_id": d["job_id"],
            "title": d.get("title") or "",
            "source": d.get("source") or "",
            "pages": d.get("pages"),
            "engine": d.get("engine") or "",
            "pipeline": ctx.pipeline,
        }
        for d in documents
    ]
    chunk_rows = [{k: c[k] for k in ("chunk_id", "doc_id", "index", "text", "section", "page")} for c in chunks]
    counted = Counter((m["chunk_id"], m["doc_id"], m["entity_id"]) for m in mentions)
    names = {m["entity_id"]: (m["name"], m["type"]) for m in mentions}
    mention_rows = [
        {
            "chunk_id": chunk_id,
            "doc_id": doc_id,
            "entity_id": entity,
            "name": names[entity][0],
            "type": names[entity][1],
            "count": count,
        }
        for (chunk_id, doc_id, entity), count in sorted(counted.items())
    ]
    return doc_rows, chunk_rows, mention_rows


class KnowledgeGraph:
    def run(self, ctx: StageContext, params: KgParams) -> StageResult:
        live = jobs.live_jobs(ctx)
        documents = load_documents(ctx, live)
        chunks = [c for c in read_jsonl(ctx.input_dir("chunks") / CHUNKS_FILE) if c["job_id"] in live]
        mentions_file = ctx.input_dir("mentions") / MENTIONS_FILE if ctx.has_input("mentions") else None
        mentions = ([m for m in read_jsonl(mentions_file) if m["job_id"] in live]
                    if mentions_file and mentions_file.exists() else [])
        documents = [d for d in documents if d["job_id"] in {c["job_id"] for c in chunks}]
        if not documents:
            raise StageSkipped("no live document to write to the graph")
        doc_rows, chunk_rows, mention_rows = graph_rows(ctx, documents, chunks, mentions)
        store = open_graph_store(params.database)
        try:
            store.ensure_constraints(CONSTRAINTS)
            store.write_rows(MERGE_DOCUMENTS, doc_rows, batch_size=params.batch_size)
            store.write_rows(MERGE_CHUNKS, chunk_rows, batch_size=params.batch_size)
            store.write_rows(MERGE_MENTIONS, mention_rows, batch_size=params.batch_size)
        finally:
            store.close()
        completed = jobs.ledger().mark_many(
            [d["job_id"] for d in documents],
            only_if_state=("pending", "running", "gated"),
            state="completed",
            current_stage=ctx.stage,
        )
        result = {
            "documents": len(doc_rows),
            "chunks": len(chunk_rows),
            "mentions": len(mention_rows),
            "completed": completed,
        }
        ctx.log.info("graph: %s", json.dumps(result))
        return result
