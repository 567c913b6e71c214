"""``embed``: one vector per chunk, with the shared embedder (CPU here, CUDA on a GPU node).

The embedder reads through the embedding cache, so a rerun or a retry
embeds only the chunks whose text it has not seen.

Vectors go to ``embed/vectors.npy`` with the chunk ids in ``embed/chunk_ids.json``
(row i is chunk i).  If a batch fails, its jobs are embedded one by one so
that only the job that cannot be embedded fails.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from pipeline_factory.exceptions import StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.params import EmbedParams
from pipeline_factory.stages.documents.records import CHUNKS_FILE, read_jsonl

VECTORS_FILE = "vectors.npy"
IDS_FILE = "chunk_ids.json"


def live_chunks(ctx: StageContext) -> list[dict[str, Any]]:
    live = jobs.live_jobs(ctx)
    return [c for c in read_jsonl(ctx.input_dir("chunks") / CHUNKS_FILE) if c["job_id"] in live]


class Embed:
    def run(self, ctx: StageContext, params: EmbedParams) -> StageResult:
        import numpy as np

        from pipeline_factory.embedding import get_embedder

        chunks = live_chunks(ctx)
        if not chunks:
            raise StageSkipped("no live chunk to embed")
        embedder = get_embedder(params.model, params.device)
        texts = [c["text"] for c in chunks]
        try:
            vectors = embedder.encode(texts, batch_size=params.batch_size)
            kept = chunks
        except Exception as exc:  # isolate the job that breaks the batch
            ctx.log.warning("embedding the batch failed (%s); embedding job by job", exc)
            kept, vectors = [], []
            by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for chunk in chunks:
                by_job[chunk["job_id"]].append(chunk)
            for job_id, job_chunks in by_job.items():
                try:
                    job_vectors = embedder.encode([c["text"] for c in job_chunks], batch_size=params.batch_size)
                except Exception as job_exc:
                    jobs.fail_job(ctx, job_id, f"embedding failed: {type(job_exc).__name__}: {job_exc}")
                    continue
                kept.extend(job_chunks)
                vectors.extend(job_vectors)
        failed = len({c["job_id"] for c in chunks}) - len({c["job_id"] for c in kept})
        if not kept:
            raise StageSkipped("every job failed to embed")
        array = np.asarray(vectors, dtype=np.float32)
        np.save(ctx.stage_dir / VECTORS_FILE, array)
        (ctx.stage_dir / IDS_FILE).write_text(json.dumps([c["chunk_id"] for c in kept]))
        jobs.advance(ctx, sorted({c["job_id"] for c in kept}))
        return {
            "chunks": len(kept),
            "dimension": int(array.shape[1]),
            "device": embedder.device,
            "failed": failed,
            "cache_hits": getattr(embedder, "hits", 0),
        }
