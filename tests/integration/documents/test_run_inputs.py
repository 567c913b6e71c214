"""What a run's params and a source's records may reach, against local servers and real files.

The local PDF host listens on 127.0.0.1, which the default URL policy refuses;
each test sets the allowlist it needs (or clears it to test the refusal).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib

import pytest

from pipeline_factory.exceptions import InputRefused, StageError
from pipeline_factory.resilience.policy import CircuitBreakerPolicy, Policy
from pipeline_factory.stages.contracts import StageContext
from pipeline_factory.stages.documents.download_pdf import DownloadPdf
from pipeline_factory.stages.documents.ingest import Ingest
from pipeline_factory.stages.documents.params import DownloadPdfParams, IngestParams
from pipeline_factory.stores.ledger import Ledger

pytestmark = pytest.mark.integration

RUN_ID = "manual__inputs"
PIPELINE = "docs_pdf_two_phase"
POLICY = Policy(
    name="polite-test",
    max_attempts=3,
    backoff_strategy="exponential",
    backoff_initial_seconds=0.05,
    backoff_max_seconds=1,
    circuit_breaker=CircuitBreakerPolicy(failure_threshold=2, reset_timeout_seconds=60),
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    monkeypatch.delenv("PIPELINE_SOURCE_ROOTS", raising=False)  # the default: the data dir (and the examples)
    monkeypatch.delenv("PIPELINE_URL_ALLOWLIST", raising=False)  # the default: public destinations only
    monkeypatch.delenv("PIPELINE_REDIS_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("PIPELINE_LEDGER_URL", url)
    ledger = Ledger(url)
    yield data, ledger
    ledger.dispose()


def ctx(data, stage: str, run_id: str = RUN_ID) -> StageContext:
    return StageContext(
        pipeline=PIPELINE,
        stage=stage,
        run_id=run_id,
        run_dir=data / "runs" / PIPELINE / run_id,
        data_dir=data,
        policy=POLICY,
        inputs={"documents": "ingest"} if stage == "download_pdf" else {},  # as the loader wires docs_pdf_two_phase
    )


def ingest(data, records: list[dict]) -> None:
    folder = data / "inbox"
    folder.mkdir(exist_ok=True)
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    Ingest().run(ctx(data, "ingest"), IngestParams(source="folder", path=str(folder), require_pdf_url=True))


def job(ledger, doc):
    return ledger.get(f"default:{PIPELINE}:{doc}")


# -- local sources ----------------------------------------------------------------


def test_a_source_path_outside_the_roots_is_refused_and_nothing_is_read(env, tmp_path):
    data, ledger = env
    secrets = tmp_path / "worker-home"
    secrets.mkdir()
    (secrets / "passwords.txt").write_text("root\nhunter2 is the password\n")
    for value in (str(secrets), f"{data}/../worker-home", "../../../../etc"):
        with pytest.raises(InputRefused, match=r"source_path .* refused: it is outside the allowed source roots"):
            Ingest().run(ctx(data, "ingest"), IngestParams(source="folder", path=value))
    assert ledger.counts() == {}


def test_a_link_inside_a_root_to_a_file_outside_is_skipped(env, tmp_path):
    data, ledger = env
    inbox = data / "inbox"
    inbox.mkdir()
    (inbox / "ok.txt").write_text("Title\nBRCA1 and breast cancer.")
    (tmp_path / "passwords.txt").write_text("Secret\nhunter2")
    (inbox / "leak.txt").symlink_to(tmp_path / "passwords.txt")
    result = Ingest().run(ctx(data, "ingest"), IngestParams(source="folder", path=str(inbox)))
    assert result["documents"] == 1
    assert [j["doc_id"] for j in ledger.jobs()] == ["ok"]
    with pytest.raises(InputRefused, match="pattern"):
        Ingest().run(ctx(data, "ingest"), IngestParams(source="folder", path=str(inbox), pattern="../*.txt"))


def test_a_record_whose_doc_id_could_escape_is_a_failed_job_and_the_others_go_on(env):
    data, ledger = env
    inbox = data / "inbox"
    inbox.mkdir()
    rows = [{"doc_id": "../../etc/passwd", "text": "x"}, {"doc_id": "a\u0000b", "text": "y"}, {"id": "ok", "text": "z"},
            {"id": "long", "text": "w", "pdf_url": "https://example.org/" + "a" * 3000}]
    (inbox / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = Ingest().run(ctx(data, "ingest"), IngestParams(source="folder", path=str(inbox)))
    assert (result["documents"], result["refused"]) == (1, 3)
    failed = ledger.jobs(state="failed")
    assert len(failed) == 3 and all("refused" in j["error"] for j in failed)
    assert sum("doc id" in j["error"] for j in failed) == 2 and sum("pdf_url" in j["error"] for j in failed) == 1
    assert all(j["doc_id"].startswith("refused-") for j in failed)
    assert job(ledger, "ok")["state"] == "running"


# -- URLs --------------------------------------------------------------------------


def test_loopback_destinations_are_refused_by_default_without_a_request(env, pdf_host, make_pdf):
    data, ledger = env
    pdf_host.serve("/a.pdf", make_pdf("A", [("1", "text")]))
    local_name = pdf_host.url.replace("127.0.0.1", "localhost")
    ingest(data, [{"doc_id": "ip", "pdf_url": f"{pdf_host.url}/a.pdf"},
                  {"doc_id": "name", "pdf_url": f"{local_name}/a.pdf"},
                  {"doc_id": "meta", "pdf_url": "http://169.254.169.254/latest/meta-data/"},
                  {"doc_id": "ftp", "pdf_url": "ftp://example.org/a.pdf"}])
    with pytest.raises(StageError, match="no PDF could be downloaded"):
        DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams())
    errors = {doc: job(ledger, doc)["error"] for doc in ("ip", "name", "meta", "ftp")}
    assert "127.0.0.1 is a loopback address" in errors["ip"]
    assert "localhost refused: it resolves to 127.0.0.1" in errors["name"]  # checked after DNS resolution
    assert "169.254.169.254 is a link-local address" in errors["meta"]
    assert "scheme 'ftp' is not allowed" in errors["ftp"]
    assert sum(pdf_host.hits.values()) == 0
    assert all(job(ledger, d)["state"] == "failed" for d in errors)


def test_every_redirect_is_checked_again(env, pdf_host, make_pdf, monkeypatch):
    data, ledger = env
    monkeypatch.setenv("PIPELINE_URL_ALLOWLIST", "localhost")  # the mirror is allowed by name, not by address
    good = make_pdf("A", [("1", "BRCA1 text")])
    pdf_host.serve("/internal.pdf", good)
    mirror = pdf_host.url.replace("127.0.0.1", "localhost")
    pdf_host.serve("/hop.pdf", b"", status=302, headers={"Location": f"{mirror}/internal.pdf"})
    pdf_host.serve("/escape.pdf", b"", status=302, headers={"Location": f"{pdf_host.url}/internal.pdf"})
    pdf_host.serve("/file.pdf", b"", status=302, headers={"Location": "file:///etc/passwd"})
    ingest(data, [{"doc_id": "hop", "pdf_url": f"{mirror}/hop.pdf"},
                  {"doc_id": "escape", "pdf_url": f"{mirror}/escape.pdf"},
                  {"doc_id": "file", "pdf_url": f"{mirror}/file.pdf"}])
    result = DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams())
    assert result["downloaded"] == 1 and job(ledger, "hop")["state"] == "gated"
    assert "127.0.0.1 is a loopback address" in job(ledger, "escape")["error"]
    assert "scheme 'file' is not allowed" in job(ledger, "file")["error"]
    assert pdf_host.hits["/internal.pdf"] == 1  # only through the allowed hop
    assert pdf_host.hits["/escape.pdf"] == 1 and pdf_host.hits["/file.pdf"] == 1  # refused: not retried


def test_refusals_do_not_open_the_hosts_breaker(env, monkeypatch, pdf_host, make_pdf):
    data, ledger = env
    ingest(data, [{"doc_id": f"r{i}", "pdf_url": f"http://10.0.0.{i}/x.pdf"} for i in range(1, 4)])
    with pytest.raises(StageError):
        DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams())
    assert all("a private address" in job(ledger, f"r{i}")["error"] for i in range(1, 4))
    assert not any("circuit breaker" in job(ledger, f"r{i}")["error"] for i in range(1, 4))


def test_file_urls_are_confined_to_the_source_roots(env, tmp_path, make_pdf):
    data, ledger = env
    pdf = make_pdf("A", [("1", "text")])
    (data / "mirror").mkdir()
    (data / "mirror" / "ok.pdf").write_bytes(pdf)
    (tmp_path / "outside.pdf").write_bytes(pdf)
    ingest(data, [{"doc_id": "ok", "pdf_url": f"file:{data}/mirror/ok.pdf"},
                  {"doc_id": "shipped", "pdf_url": "file:examples/pdfs/pdf-brca1.pdf"},
                  {"doc_id": "absolute", "pdf_url": f"file://{tmp_path}/outside.pdf"},
                  {"doc_id": "relative", "pdf_url": "file:../../../../etc/passwd"},
                  {"doc_id": "dotdot", "pdf_url": f"file:{data}/mirror/../../outside.pdf"}])
    result = DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams())
    assert result["downloaded"] == 2
    for doc in ("absolute", "relative", "dotdot"):
        found = job(ledger, doc)
        assert found["state"] == "failed" and "pdf_url" in found["error"] and "outside the allowed" in found["error"]


# -- encoded bodies ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b, wbits=-15))],
    ids=["gzip", "deflate-zlib", "deflate-raw"],
)
def test_an_encoded_pdf_is_decoded_and_checked_on_its_decoded_bytes(env, pdf_host, make_pdf, monkeypatch,
                                                                    encoding, encode):
    data, ledger = env
    monkeypatch.setenv("PIPELINE_URL_ALLOWLIST", "127.0.0.1")
    pdf = make_pdf("BRCA1", [("1 Introduction", "BRCA1 and breast cancer. " * 200)])
    body = encode(pdf)
    assert len(body) < len(pdf)
    pdf_host.serve("/z.pdf", body, headers={"Content-Encoding": encoding})
    ingest(data, [{"doc_id": "z", "pdf_url": f"{pdf_host.url}/z.pdf", "pdf_sha256": hashlib.sha256(pdf).hexdigest()}])
    result = DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams())
    assert result["downloaded"] == 1
    found = job(ledger, "z")
    assert (data / found["pdf_path"]).read_bytes() == pdf
    assert pdf_host.hits["/z.pdf"] == 1


def test_a_compression_bomb_stops_at_the_limit_once_and_keeps_the_breaker_shut(env, pdf_host, monkeypatch):
    data, ledger = env
    monkeypatch.setenv("PIPELINE_URL_ALLOWLIST", "127.0.0.1")
    bomb = gzip.compress(b"%PDF-" + b"\0" * (64 * 1024 * 1024))  # 64 MiB that travel as ~64 KiB
    assert len(bomb) < 200_000
    for i in range(3):
        pdf_host.serve(f"/bomb{i}.pdf", bomb, headers={"Content-Encoding": "gzip"})
    ingest(data, [{"doc_id": f"b{i}", "pdf_url": f"{pdf_host.url}/bomb{i}.pdf"} for i in range(3)])
    with pytest.raises(StageError):
        DownloadPdf().run(ctx(data, "download_pdf"), DownloadPdfParams(max_bytes=1_000_000))
    for i in range(3):
        assert "too large: more than 1000000 bytes once decoded" in job(ledger, f"b{i}")["error"]
        assert pdf_host.hits[f"/bomb{i}.pdf"] == 1  # a bad body: not retried, and the breaker never opened
    assert not list((data / "documents" / "pdfs").glob("*.part"))


# -- through Airflow -----------------------------------------------------------------


def test_a_refused_source_path_fails_the_run_cleanly_under_dag_test(env, dag_runner, tmp_path):
    """A refused ``--conf`` fails the ingest task once (no retry) with the reason; the run ends, nothing ran."""
    from pipeline_factory.factory.dagfile import render_all

    _data, ledger = env
    (tmp_path / "passwords.txt").write_text("Secrets\nhunter2")
    dag = render_all(auto_register=False).dags["docs_auto"]
    run = dag_runner.run(dag, {"source_path": str(tmp_path), "collection": "refused"})
    states = dag_runner.states(run)
    assert run.state == "failed"
    assert states["ingest"] == "failed"
    assert set(states.values()) - {"failed"} <= {"upstream_failed"}
    (event,) = ledger.events(type="stage.failed")  # one try: a refusal is not retried
    assert "outside the allowed source roots" in event["data"]["error"]
    assert event["data"]["try_number"] == 1
    assert ledger.counts() == {}


def test_an_http_json_source_url_gets_the_same_url_policy(env, pdf_host, monkeypatch):
    data, ledger = env
    pdf_host.serve("/api/documents", json.dumps([{"id": "x", "text": "secret"}]).encode(), "application/json")
    with pytest.raises(InputRefused, match=r"127\.0\.0\.1 is a loopback address"):
        Ingest().run(ctx(data, "ingest"), IngestParams(source="http_json", url=f"{pdf_host.url}/api/documents"))
    assert pdf_host.hits["/api/documents"] == 0 and ledger.counts() == {}
    monkeypatch.setenv("PIPELINE_URL_ALLOWLIST", "127.0.0.1")
    result = Ingest().run(ctx(data, "ingest"), IngestParams(source="http_json", url=f"{pdf_host.url}/api/documents"))
    assert result["documents"] == 1
