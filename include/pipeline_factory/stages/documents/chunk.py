"""``chunk``: the IR's sections -> sentence-aware windows with overlap, ids ``doc_id:chunk:i``.

Chunks never cut a sentence (unless one sentence alone is longer than the
window) and never span two sections; the last ``overlap_sentences`` of a
window open the next one, so a fact split across the boundary is still
retrievable from one chunk.  The ids depend only on the document and the
parameters, so a rerun produces the same ids, hence the same Qdrant points
and Neo4j nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pipeline_factory.exceptions import StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.params import ChunkParams
from pipeline_factory.stages.documents.records import (
    CHUNKS_FILE,
    DOCUMENTS_FILE,
    from_data_dir,
    read_jsonl,
    write_jsonl,
)

_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "Fig.", "fig.", "vs.", "approx.", "cf.", "Dr.", "No.", "ca.")
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(\[])")


def split_sentences(text: str) -> list[str]:
    """Sentences of running text; common abbreviations (e.g., et al., Fig.) do not end one."""
    text = " ".join(text.split())
    if not text:
        return []
    protected = text
    for i, abbreviation in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbreviation, abbreviation.replace(".", f"\x00{i}\x00"))
    parts = _BOUNDARY.split(protected)
    sentences = []
    for part in parts:
        for i, abbreviation in enumerate(_ABBREVIATIONS):
            part = part.replace(abbreviation.replace(".", f"\x00{i}\x00"), abbreviation)
        if part.strip():
            sentences.append(part.strip())
    return sentences


def _split_long(sentence: str, max_chars: int) -> list[str]:
    words, pieces, current = sentence.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def windows(sentences: list[str], max_chars: int, overlap: int) -> Iterator[str]:
    units = [piece for s in sentences for piece in ([s] if len(s) <= max_chars else _split_long(s, max_chars))]
    start = 0
    while start < len(units):
        end, length = start, 0
        while end < len(units) and (end == start or length + 1 + len(units[end]) <= max_chars):
            length += len(units[end]) + (1 if end > start else 0)
            end += 1
        yield " ".join(units[start:end])
        if end >= len(units):
            break
        start = max(end - overlap, start + 1)


def chunk_document(ir: dict[str, Any], max_chars: int, overlap: int) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    sections = ir.get("sections") or [{"heading": "", "text": ir.get("text", ""), "page": None}]
    if ir.get("title"):
        sections = [{"heading": "Title", "text": ir["title"], "page": 1 if ir.get("pages") else None}, *sections]
    for section in sections:
        for text in windows(split_sentences(section.get("text") or ""), max_chars, overlap):
            index = len(chunks)
            chunks.append(
                {
                    "chunk_id": f"{ir['doc_id']}:chunk:{index}",
                    "doc_id": ir["doc_id"],
                    "job_id": ir["job_id"],
                    "index": index,
                    "text": text,
                    "section": section.get("heading") or "",
                    "page": section.get("page"),
                }
            )
    return chunks


def load_documents(ctx: StageContext, live: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The IR of the run's live jobs: the ``ir`` producer's file (text sources) or, when the producer is
    the PDF converter's gate, each job's IR in the ledger (PDF sources)."""
    parsed = ctx.input_dir("ir") / DOCUMENTS_FILE
    if parsed.exists():
        return [doc for doc in read_jsonl(parsed) if doc["job_id"] in live]
    documents = []
    for job in live.values():
        if not job.get("pdf_ir_ready") or not job.get("ir_path"):
            continue
        documents.append(json.loads(from_data_dir(job["ir_path"]).read_text()))
    return documents


class Chunk:
    def run(self, ctx: StageContext, params: ChunkParams) -> StageResult:
        live = jobs.live_jobs(ctx)
        documents = load_documents(ctx, live)
        if not documents:
            raise StageSkipped("no live document to chunk")
        chunks, failed = [], 0
        for ir in documents:
            pieces = chunk_document(ir, params.max_chars, params.overlap_sentences)
            if not pieces:
                jobs.fail_job(ctx, ir["job_id"], "the document produced no chunks")
                failed += 1
                continue
            chunks.extend(pieces)
        write_jsonl(ctx.stage_dir / CHUNKS_FILE, chunks)
        jobs.advance(ctx, sorted({c["job_id"] for c in chunks}), state="running")
        return {"documents": len(documents) - failed, "chunks": len(chunks), "failed": failed}
