"""``parse``: ingested text documents -> the document IR (the same shape the PDF converters write)."""

from __future__ import annotations

import re
from typing import Any

from pipeline_factory.exceptions import StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.params import ParseParams
from pipeline_factory.stages.documents.records import DOCUMENTS_FILE, make_ir, read_jsonl, write_jsonl

_HEADING = re.compile(r"^(#{1,6})\s+(.+)$")
_LABELLED = re.compile(r"^(BACKGROUND|METHODS|RESULTS|CONCLUSIONS?|OBJECTIVES?|INTRODUCTION|DISCUSSION):\s*(.*)$")


_INLINE_LABEL = re.compile(r"\s+(?=(?:BACKGROUND|METHODS|RESULTS|CONCLUSIONS?|OBJECTIVES?|INTRODUCTION|DISCUSSION):)")


def sections_from_text(text: str) -> list[dict[str, Any]]:
    """Paragraphs grouped under markdown headings or structured-abstract labels (``RESULTS: ...``)."""
    text = _INLINE_LABEL.sub("\n\n", text)
    sections: list[dict[str, Any]] = []
    heading = ""
    buffer: list[str] = []

    def flush() -> None:
        body = " ".join(" ".join(buffer).split())
        if body:
            sections.append({"heading": heading, "text": body, "page": None})
        buffer.clear()

    for block in re.split(r"\n\s*\n", text):
        for line in block.strip().splitlines():
            match = _HEADING.match(line.strip())
            labelled = _LABELLED.match(line.strip())
            if match:
                flush()
                heading = match.group(2).strip()
            elif labelled:
                flush()
                heading = labelled.group(1).title()
                buffer.append(labelled.group(2))
            else:
                buffer.append(line)
        flush()
    return sections


def to_ir(record: dict[str, Any]) -> dict[str, Any]:
    if record.get("sections"):
        sections = [
            {
                "heading": str(s.get("heading") or ""),
                "text": " ".join(str(s.get("text") or "").split()),
                "page": s.get("page"),
            }
            for s in record["sections"]
            if isinstance(s, dict)
        ]
    else:
        sections = sections_from_text(record.get("text") or "")
    return make_ir(
        doc_id=record["doc_id"],
        job_id=record["job_id"],
        title=record.get("title") or "",
        sections=[s for s in sections if s["text"]],
        source=record.get("source") or "",
        engine="text",
        metadata=record.get("metadata") or {},
    )


class Parse:
    def run(self, ctx: StageContext, params: ParseParams) -> StageResult:
        live = jobs.live_jobs(ctx)
        documents, failed = [], 0
        for record in read_jsonl(ctx.input_dir("documents") / DOCUMENTS_FILE):
            if record["job_id"] not in live:
                continue
            ir = to_ir(record)
            if len(ir["text"]) < params.min_chars:
                jobs.fail_job(ctx, record["job_id"], f"empty document ({len(ir['text'])} characters of text)")
                failed += 1
                continue
            documents.append(ir)
        if not documents:
            raise StageSkipped("no document has text to parse")
        write_jsonl(ctx.stage_dir / DOCUMENTS_FILE, documents)
        jobs.advance(ctx, [d["job_id"] for d in documents])
        return {"documents": len(documents), "failed": failed}
