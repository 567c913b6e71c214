"""``index``: chunk vectors -> Qdrant, one point per chunk, id = uuid5 of the chunk id.

Because the ids are deterministic, a rerun (after a crash half-way through
the batches, or of the whole pipeline) overwrites the same points instead of
adding copies.  In the embedded default (Qdrant local mode) only one process
may open the store: the stage runs in the 1-slot pool ``qdrant_local``.
"""

from __future__ import annotations

import json

from pipeline_factory.exceptions import StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.embed import IDS_FILE, VECTORS_FILE
from pipeline_factory.stages.documents.params import IndexParams
from pipeline_factory.stages.documents.records import CHUNKS_FILE, read_jsonl


def open_vector_store():
    from pipeline_factory.stores.vectors import VectorStore

    return VectorStore.from_env()


class Index:
    def run(self, ctx: StageContext, params: IndexParams) -> StageResult:
        import numpy as np

        from pipeline_factory.stores.vectors import point_id

        live = jobs.live_jobs(ctx)
        ids = json.loads((ctx.input_dir("embeddings") / IDS_FILE).read_text())
        vectors = np.load(ctx.input_dir("embeddings") / VECTORS_FILE)
        chunks = {c["chunk_id"]: c for c in read_jsonl(ctx.input_dir("chunks") / CHUNKS_FILE)}
        points = []
        for row, chunk_id in enumerate(ids):
            chunk = chunks[chunk_id]
            if chunk["job_id"] not in live:
                continue
            payload = {k: chunk[k] for k in ("chunk_id", "doc_id", "job_id", "index", "text", "section", "page")}
            payload["pipeline"] = ctx.pipeline
            points.append((point_id(chunk_id), vectors[row].tolist(), payload))
        if not points:
            raise StageSkipped("no live chunk to index")
        store = open_vector_store()
        try:
            store.ensure_collection(params.collection, int(vectors.shape[1]))
            written = store.upsert(params.collection, points, batch_size=params.batch_size)
        finally:
            store.close()
        jobs.advance(ctx, sorted({p[2]["job_id"] for p in points}))
        return {"points": written, "collection": params.collection}
