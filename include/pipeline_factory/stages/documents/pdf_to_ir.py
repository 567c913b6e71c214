"""``pdf_to_ir``: the converter's stage: downloaded PDFs -> the document IR, then ``pdf_ir_ready``.

It runs in the ``pdf_ir_worker`` DAG, apart from the pipelines that wait on
it, and takes its work from the ledger: :meth:`Ledger.claim` hands each
waiting job to exactly one converter.  Two engines write the same IR:

* ``mineru``: the MinerU CLI (layout-aware, GPU) inside its container image,
  the kubernetes profile's default;
* ``pypdf``: text extraction on the CPU, so the pipeline runs end to end on
  a laptop.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pipeline_factory import settings
from pipeline_factory.boundaries.names import child
from pipeline_factory.exceptions import StageError, StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.params import PdfToIrParams
from pipeline_factory.stages.documents.records import data_relative, from_data_dir, make_ir
from pipeline_factory.workspace import write_json_atomic

_NUMBERED = re.compile(r"^(\d+(\.\d+)*\.?)\s+[A-Z][\w-]*")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class ConversionError(StageError):
    """This PDF cannot be converted; its job fails, the others go on."""


def ir_store() -> Path:
    return settings.data_dir() / "documents" / "ir"


def is_heading(line: str) -> bool:
    """Short, unpunctuated lines that look like section titles ("2 Methods", "RESULTS", "Background")."""
    words = line.split()
    if not words or len(line) > 80 or len(words) > 8 or line.endswith((".", ",", ";", ":")):
        return False
    if _NUMBERED.match(line):
        return True
    letters = [c for c in line if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(letters) >= 4:
        return True
    return len(words) <= 4 and all(w[0].isupper() for w in words if w[0].isalpha()) and not line[-1].isdigit()


def sections_from_pages(pages: list[str]) -> list[dict[str, Any]]:
    sections: list[dict[str, Any]] = []
    heading, page_of_section = "", 1
    buffer: list[str] = []

    def flush() -> None:
        text = " ".join(" ".join(buffer).split())
        if text:
            sections.append({"heading": heading, "text": text, "page": page_of_section})
        buffer.clear()

    for number, page in enumerate(pages, 1):
        if not buffer:
            page_of_section = number
        for raw in page.splitlines():
            line = raw.strip()
            if not line:
                continue
            if is_heading(line):
                flush()
                heading, page_of_section = line, number
            else:
                if not buffer:
                    page_of_section = number
                buffer.append(line)
    flush()
    return sections


def convert_with_pypdf(pdf: Path) -> tuple[str, list[dict[str, Any]], int]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(pdf))
        if reader.is_encrypted:
            raise ConversionError("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata.get("/Title") if reader.metadata else None) or "").strip()
    except ConversionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ConversionError(f"pypdf cannot read the PDF: {type(exc).__name__}: {exc}") from exc
    sections = sections_from_pages(pages)
    first = next((line.strip() for line in (pages[0] if pages else "").splitlines() if line.strip()), "")
    title = title or first
    if sections and first == title:  # the title printed on page 1 is not body text
        if sections[0]["heading"] == title:
            sections[0]["heading"] = ""
        elif not sections[0]["heading"] and sections[0]["text"] == title:
            sections.pop(0)
    return title, sections, len(pages)


def sections_from_mineru(content: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]], int]:
    """MinerU's ``*_content_list.json`` (blocks with ``type``, ``text``, ``text_level``, ``page_idx``) -> IR."""
    title, heading, page = "", "", 1
    sections: list[dict[str, Any]] = []
    buffer: list[str] = []
    pages = 0

    def flush() -> None:
        text = " ".join(" ".join(buffer).split())
        if text:
            sections.append({"heading": heading, "text": text, "page": page})
        buffer.clear()

    for block in content:
        number = int(block.get("page_idx", 0)) + 1
        pages = max(pages, number)
        text = str(block.get("text") or "").strip()
        if block.get("type") not in ("text", "title") or not text:
            continue
        if block.get("text_level") or block.get("type") == "title":
            flush()
            if not title:
                title = text
            else:
                heading = text
            page = number
        else:
            if not buffer:
                page = number
            buffer.append(text)
    flush()
    return title, sections, pages


def convert_with_mineru(pdf: Path, command: list[str]) -> tuple[str, list[dict[str, Any]], int]:
    with tempfile.TemporaryDirectory(prefix="mineru-") as out:
        proc = subprocess.run([*command, "-p", str(pdf), "-o", out], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise ConversionError(f"mineru exited with {proc.returncode}: {tail}")
        found = sorted(Path(out).rglob("*_content_list.json"))
        if not found:
            raise ConversionError("mineru wrote no content list")
        return sections_from_mineru(json.loads(found[0].read_text()))


def choose_engine(engine: str, command: list[str]) -> str:
    if engine != "auto":
        return engine
    if settings.runtime_profile() == "kubernetes" or shutil.which(command[0]):
        return "mineru"
    return "pypdf"


class PdfToIr:
    def run(self, ctx: StageContext, params: PdfToIrParams) -> StageResult:
        engine = choose_engine(params.engine, params.mineru_command)
        ledger = jobs.ledger()
        converted: list[str] = []
        failed: dict[str, str] = {}
        batches = 0
        # One asset event can stand for more PDFs than one claim takes, and no
        # later event may come: drain the backlog in batches of max_jobs, so
        # no gate is left waiting for a run that never starts.  Each batch
        # ends every job it claimed as converted or failed, so this ends.
        while claimed := ledger.claim(
            stage=ctx.stage,
            where={"pipeline": params.pipeline, "pdf_downloaded": True, "pdf_ir_ready": False},
            limit=params.max_jobs,
            stale_after_seconds=params.stale_after_seconds,
        ):
            batches += 1
            for job in claimed:
                try:
                    ir_path = self._convert(job, engine, params)
                except ConversionError as exc:
                    failed[job["job_id"]] = str(exc)
                    jobs.fail_job(ctx, job["job_id"], str(exc))
                    continue
                ledger.mark(
                    job["job_id"],
                    only_if_state=("running",),
                    state="gated",
                    pdf_ir_ready=True,
                    ir_path=data_relative(ir_path),
                )
                converted.append(job["job_id"])
        if not batches:
            raise StageSkipped(f"no downloaded PDF of {params.pipeline} is waiting")
        ctx.log.info("converted %d PDF(s) with %s, %d failed", len(converted), engine, len(failed))
        return {"engine": engine, "converted": len(converted), "failed": len(failed), "failures": failed,
                "batches": batches}

    @staticmethod
    def _convert(job: dict[str, Any], engine: str, params: PdfToIrParams) -> Path:
        if not job.get("pdf_path"):
            raise ConversionError("the ledger has no pdf_path for this job")
        pdf = from_data_dir(job["pdf_path"])
        if not pdf.exists():
            raise ConversionError(f"the downloaded PDF is missing: {pdf}")
        if engine == "mineru":
            title, sections, pages = convert_with_mineru(pdf, params.mineru_command)
        else:
            title, sections, pages = convert_with_pypdf(pdf)
        ir = make_ir(
            doc_id=job["doc_id"],
            job_id=job["job_id"],
            title=title,
            sections=sections,
            source=job.get("source") or "",
            engine=engine,
            pages=pages,
            metadata={"pdf_sha256": job.get("pdf_sha256")},
        )
        if len(ir["text"]) < params.min_chars:
            raise ConversionError(f"no text layer: {len(ir['text'])} characters extracted from {pages} page(s)")
        path = child(ir_store(), job["pipeline"], what="pipeline name") / f"{_SAFE.sub('_', job['job_id'])}.json"
        write_json_atomic(path, ir)
        return path
