"""The converter stage: claims downloaded PDFs from the ledger, writes the IR, releases or fails jobs."""

from __future__ import annotations

import hashlib
import json

import pytest

from pipeline_factory.exceptions import StageSkipped
from pipeline_factory.stages.documents.params import PdfToIrParams
from pipeline_factory.stages.documents.pdf_to_ir import (
    PdfToIr,
    convert_with_mineru,
    is_heading,
    sections_from_mineru,
)

RUN = "docs_pdf_two_phase/manual__1"
SECTIONS = [
    ("1 Introduction", "Mutations in the BRCA1 gene raise the risk of breast cancer. Carriers benefit from olaparib."),
    ("2 Results", "Loss of BRCA1 expression sensitised tumours to cisplatin in 40 of 52 patients."),
]


def downloaded(ledger, data_dir, doc_id: str, body: bytes) -> str:
    pdfs = data_dir / "documents" / "pdfs"
    pdfs.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(body).hexdigest()
    (pdfs / f"{sha}.pdf").write_bytes(body)
    job_id = f"default:docs_pdf_two_phase:{doc_id}"
    ledger.upsert_job(
        job_id,
        doc_id=doc_id,
        pipeline="docs_pdf_two_phase",
        dag_run_id=RUN,
        state="gated",
        pdf_downloaded=True,
        pdf_path=f"documents/pdfs/{sha}.pdf",
        pdf_sha256=sha,
    )
    return job_id


def test_converts_pdfs_writes_the_ir_and_releases_the_jobs(stage_ctx, ledger, make_pdf):
    ctx = stage_ctx("pdf_to_ir", pipeline="pdf_ir_worker", run_id="scheduled__1")
    good = downloaded(ledger, ctx.data_dir, "p1", make_pdf("BRCA1 testing", SECTIONS))
    blank = downloaded(ledger, ctx.data_dir, "p2", make_pdf("Scanned", [], blank=True))
    broken = downloaded(ledger, ctx.data_dir, "p3", b"%PDF-1.4\nthis is not really a PDF\n%%EOF\n")
    result = PdfToIr().run(ctx, PdfToIrParams(engine="pypdf"))
    assert (result["engine"], result["converted"], result["failed"]) == ("pypdf", 1, 2)

    job = ledger.get(good)
    assert (job["state"], job["pdf_ir_ready"], job["attempts"]) == ("gated", True, 1)
    ir = json.loads((ctx.data_dir / job["ir_path"]).read_text())
    assert ir["title"] == "BRCA1 testing" and ir["pages"] == 2 and ir["engine"] == "pypdf"
    assert [(s["heading"], s["page"]) for s in ir["sections"]] == [("1 Introduction", 1), ("2 Results", 2)]
    assert "olaparib" in ir["text"] and ir["doc_id"] == "p1" and ir["job_id"] == good

    assert "no text layer" in ledger.get(blank)["error"]
    assert ledger.get(broken)["state"] == "failed" and "pypdf cannot read" in ledger.get(broken)["error"]
    with pytest.raises(StageSkipped, match="no downloaded PDF"):
        PdfToIr().run(ctx, PdfToIrParams(engine="pypdf"))


def test_a_backlog_larger_than_one_claim_is_drained_in_one_run(stage_ctx, ledger, make_pdf):
    """One asset event may stand for more PDFs than max_jobs: none is left waiting for a run that never comes."""
    ctx = stage_ctx("pdf_to_ir", pipeline="pdf_ir_worker", run_id="asset_triggered__1")
    body = make_pdf("BRCA1 testing", SECTIONS)
    waiting = [downloaded(ledger, ctx.data_dir, f"p{i}", body) for i in range(5)]
    result = PdfToIr().run(ctx, PdfToIrParams(engine="pypdf", max_jobs=2))
    assert (result["converted"], result["failed"], result["batches"]) == (5, 0, 3)
    assert all(ledger.get(job)["pdf_ir_ready"] for job in waiting)


def test_mineru_output_maps_to_the_same_ir():
    content = [
        {"type": "text", "text": "BRCA1 testing", "text_level": 1, "page_idx": 0},
        {"type": "text", "text": "1 Introduction", "text_level": 1, "page_idx": 0},
        {"type": "text", "text": "Mutations in BRCA1 raise risk.", "page_idx": 0},
        {"type": "image", "img_path": "images/a.jpg", "page_idx": 0},
        {"type": "text", "text": "2 Results", "text_level": 1, "page_idx": 1},
        {"type": "text", "text": "Tumours were sensitive.", "page_idx": 1},
        {"type": "text", "text": "To cisplatin.", "page_idx": 1},
    ]
    title, sections, pages = sections_from_mineru(content)
    assert title == "BRCA1 testing" and pages == 2
    assert sections == [
        {"heading": "1 Introduction", "text": "Mutations in BRCA1 raise risk.", "page": 1},
        {"heading": "2 Results", "text": "Tumours were sensitive. To cisplatin.", "page": 2},
    ]


def test_mineru_failures_are_conversion_errors(tmp_path):
    from pipeline_factory.stages.documents.pdf_to_ir import ConversionError

    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(ConversionError, match="exited with 3"):
        convert_with_mineru(pdf, ["python", "-c", "import sys; sys.exit(3)"])
    with pytest.raises(ConversionError, match="no content list"):
        convert_with_mineru(pdf, ["python", "-c", "pass"])


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("1 Introduction", True),
        ("2.1 Study design", True),
        ("RESULTS", True),
        ("Background", True),
        ("Mutations in the BRCA1 gene raise the risk.", False),
        ("Table 2", False),
        ("and the", False),
    ],
)
def test_heading_heuristic(line, heading):
    assert is_heading(line) is heading
