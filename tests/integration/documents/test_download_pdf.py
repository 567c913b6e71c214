"""download_pdf against a local PDF host: the good, the rate-limited and the broken."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from pipeline_factory.resilience.policy import Policy
from pipeline_factory.stages.contracts import StageContext
from pipeline_factory.stages.documents.download_pdf import DownloadPdf
from pipeline_factory.stages.documents.ingest import Ingest
from pipeline_factory.stages.documents.params import DownloadPdfParams, IngestParams
from pipeline_factory.stores.ledger import Ledger

pytestmark = pytest.mark.integration

RUN_ID = "manual__dl"
PIPELINE = "docs_pdf_two_phase"
POLICY = Policy(
    name="polite-test",
    max_attempts=3,
    backoff_strategy="exponential",
    backoff_initial_seconds=0.05,
    backoff_max_seconds=2,
    rate_limit_per_second=50,
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("PIPELINE_LEDGER_URL", url)
    ledger = Ledger(url)
    yield data, ledger
    ledger.dispose()


def ctx(data, stage: str) -> StageContext:
    return StageContext(
        pipeline=PIPELINE,
        stage=stage,
        run_id=RUN_ID,
        run_dir=data / "runs" / PIPELINE / RUN_ID,
        data_dir=data,
        policy=POLICY,
        inputs={"documents": "ingest"} if stage == "download_pdf" else {},  # as the loader wires docs_pdf_two_phase
    )


def ingest(data, tmp_path, records: list[dict]) -> None:
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    Ingest().run(ctx(data, "ingest"), IngestParams(source="folder", path=str(folder), require_pdf_url=True))


def test_downloads_good_pdfs_and_fails_bad_ones_job_by_job(env, tmp_path, pdf_host, make_pdf):
    data, ledger = env
    good = make_pdf("BRCA1", [("1 Introduction", "BRCA1 and breast cancer.")])
    pdf_host.serve("/good.pdf", good)
    pdf_host.serve("/page.html", b"<html>paywall</html>", "text/html")
    pdf_host.serve("/cut.pdf", good[: len(good) // 2])  # whole HTTP body, half a PDF
    pdf_host.serve("/short.pdf", good[:100], length=len(good))  # the connection drops mid-body
    pdf_host.serve("/big.pdf", good, length=10_000_000)
    pdf_host.serve("/wrongsum.pdf", good)
    records = [
        {"doc_id": "good", "pdf_url": f"{pdf_host.url}/good.pdf", "pdf_sha256": hashlib.sha256(good).hexdigest()},
        {"doc_id": "html", "pdf_url": f"{pdf_host.url}/page.html"},
        {"doc_id": "cut", "pdf_url": f"{pdf_host.url}/cut.pdf"},
        {"doc_id": "short", "pdf_url": f"{pdf_host.url}/short.pdf"},
        {"doc_id": "big", "pdf_url": f"{pdf_host.url}/big.pdf"},
        {"doc_id": "missing", "pdf_url": f"{pdf_host.url}/missing.pdf"},
        {"doc_id": "wrongsum", "pdf_url": f"{pdf_host.url}/wrongsum.pdf", "pdf_sha256": "0" * 64},
        {"doc_id": "nourl", "title": "no PDF"},
    ]
    ingest(data, tmp_path, records)
    result = DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams(max_bytes=1_000_000))
    assert (result["downloaded"], result["failed"]) == (1, 6)

    def job(doc):
        return ledger.get(f"default:{PIPELINE}:{doc}")

    ok = job("good")
    assert (ok["state"], ok["pdf_downloaded"], ok["pdf_ir_ready"]) == ("gated", True, False)
    assert ok["pdf_sha256"] == hashlib.sha256(good).hexdigest()
    assert (data / ok["pdf_path"]).read_bytes() == good
    errors = {doc: job(doc)["error"] for doc in ("html", "cut", "short", "big", "missing", "wrongsum")}
    assert "Content-Type is 'text/html'" in errors["html"]
    assert "truncated PDF: no %%EOF" in errors["cut"]
    assert "RemoteProtocolError" in errors["short"] or "truncated body" in errors["short"]
    assert "too large" in errors["big"]
    assert "HTTP 404" in errors["missing"]
    assert "checksum mismatch" in errors["wrongsum"]
    assert all(job(doc)["state"] == "failed" for doc in errors)
    assert job("nourl") is None  # rejected at ingest: a PDF source record needs a pdf_url
    assert pdf_host.hits["/short.pdf"] == 3  # transient: retried up to the policy's attempts
    assert pdf_host.hits["/page.html"] == 1 and pdf_host.hits["/missing.pdf"] == 1  # permanent: not retried
    assert not list((data / "documents" / "pdfs").glob("*.part"))


def test_retry_after_is_honoured(env, tmp_path, pdf_host, make_pdf):
    data, ledger = env
    good = make_pdf("CFTR", [("1 Background", "CFTR and cystic fibrosis.")])

    def limited(handler, hit):
        if hit == 1:
            handler.send_response(429)
            handler.send_header("Retry-After", "1")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/pdf")
        handler.send_header("Content-Length", str(len(good)))
        handler.end_headers()
        handler.wfile.write(good)

    pdf_host.routes["/limited.pdf"] = limited
    ingest(data, tmp_path, [{"doc_id": "limited", "pdf_url": f"{pdf_host.url}/limited.pdf"}])
    started = time.monotonic()
    result = DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams())
    assert result["downloaded"] == 1
    assert time.monotonic() - started >= 1.0
    assert pdf_host.hits["/limited.pdf"] == 2
    assert ledger.get(f"default:{PIPELINE}:limited")["pdf_downloaded"] is True


def test_a_stage_where_no_pdf_downloads_fails_with_the_reasons(env, tmp_path, pdf_host):
    from pipeline_factory.exceptions import StageError

    data, ledger = env
    ingest(data, tmp_path, [{"doc_id": "gone", "pdf_url": f"{pdf_host.url}/gone.pdf"}])
    with pytest.raises(StageError, match=r"no PDF could be downloaded: .*HTTP 404"):
        DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams())
    # the job's failure is recorded by the stage; the stage's own failure event comes from the runner
    assert ledger.events(dag_run_id=f"{PIPELINE}/{RUN_ID}")[-1]["type"] == "org.pipeline-factory.job.failed"


def test_a_host_that_keeps_failing_opens_its_breaker_and_later_jobs_fail_fast(env, tmp_path, pdf_host):
    from pipeline_factory.resilience.policy import CircuitBreakerPolicy

    data, ledger = env

    def down(handler, _hit):
        handler.send_response(503)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    for i in range(4):
        pdf_host.routes[f"/down-{i}.pdf"] = down
    ingest(data, tmp_path, [{"doc_id": f"down-{i}", "pdf_url": f"{pdf_host.url}/down-{i}.pdf"} for i in range(4)])
    policy = POLICY.model_copy(
        update={"circuit_breaker": CircuitBreakerPolicy(failure_threshold=3, reset_timeout_seconds=60)}
    )
    context = ctx(data, "download_pdf")
    context.policy = policy
    from pipeline_factory.exceptions import StageError

    with pytest.raises(StageError, match="no PDF could be downloaded"):
        DownloadPdf().run(context, DownloadPdfParams())
    errors = [ledger.get(f"default:{PIPELINE}:down-{i}")["error"] for i in range(4)]
    assert "HTTP 503" in errors[0]
    assert all("circuit breaker" in error and "is open" in error for error in errors[2:])
    assert sum(pdf_host.hits.values()) == 3  # the breaker opened after the third failure: no more calls


def test_ingest_reads_an_http_json_source(env, pdf_host):
    data, ledger = env
    payload = {
        "documents": [
            {"id": "h-1", "title": "KRAS", "abstract": "KRAS mutations drive tumours."},
            {"title": "No id", "text": "An id is made from the content."},
        ]
    }
    pdf_host.serve("/api/documents", json.dumps(payload).encode(), "application/json")
    context = ctx(data, "ingest")
    result = Ingest().run(context, IngestParams(source="http_json", url=f"{pdf_host.url}/api/documents"))
    assert result["documents"] == 2
    jobs = sorted(j["doc_id"] for j in ledger.jobs_for_run(f"{PIPELINE}/{RUN_ID}"))
    assert jobs[1] == "h-1" and jobs[0].startswith("doc-")
    again = Ingest().run(context, IngestParams(source="http_json", url=f"{pdf_host.url}/api/documents"))
    assert again["documents"] == 2
    assert sorted(j["doc_id"] for j in ledger.jobs_for_run(f"{PIPELINE}/{RUN_ID}")) == jobs  # same ids on a rerun
