"""``download_pdf``: fetch each job's PDF politely and hand the job to the converter.

Polite: one guard per host (:class:`~pipeline_factory.resilience.guard.Guard`)
from the stage's policy (``polite-api``): one shared rate limiter for the host
group, a shared circuit breaker per host, and in-task retries of transient
failures (429, 5xx, resets, truncated bodies) that honour ``Retry-After``.  Careful: a response must say
it is a PDF, stay under the size limit, arrive whole (``Content-Length``),
start with ``%PDF-``, end with ``%%EOF`` and match the record's checksum when
it has one.  A PDF that fails any check fails its job with the reason; the
other jobs go on.  Files are stored by content hash under the data dir, so a
rerun downloads nothing it already has on disk.
"""

from __future__ import annotations

import hashlib
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_factory import settings
from pipeline_factory.boundaries.roots import confined
from pipeline_factory.boundaries.urls import UrlPolicy, guarded_client, redact_url
from pipeline_factory.exceptions import (
    ExternalServiceError,
    InputRefused,
    StageError,
    StageSkipped,
    TransientServiceError,
)
from pipeline_factory.resilience.guard import SINGLE_ATTEMPT, Guard
from pipeline_factory.resilience.policy import Policy
from pipeline_factory.sources.http import check_status, transport_failure
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.bounded_decoding import (
    ACCEPT_ENCODING,
    BoundedDecoder,
    DecodedTooLarge,
    UnsupportedEncoding,
)
from pipeline_factory.stages.documents.params import DownloadPdfParams
from pipeline_factory.stages.documents.records import DOCUMENTS_FILE, data_relative, read_jsonl
from pipeline_factory.workspace import share_like_new_files


class BadPdf(ExternalServiceError):
    """The response is not an acceptable PDF; retrying will not help."""


@dataclass
class Downloaded:
    path: Path
    sha256: str
    size: int


def pdf_store() -> Path:
    return settings.data_dir() / "documents" / "pdfs"


def fetch_pdf(client: Any, url: str, params: DownloadPdfParams, expected_sha256: str | None = None) -> Downloaded:
    """One attempt: stream the body to a temporary file, checking as it arrives."""
    import httpx

    store = pdf_store()
    store.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=store, suffix=".part", delete=False) as handle:
        tmp = Path(handle.name)
        share_like_new_files(handle.fileno())  # the PDF converter may run as another user
        try:
            with client.stream("GET", url) as response:
                check_status(response.status_code, response.headers, service="pdf", client_error=BadPdf)
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if content_type not in params.allowed_content_types:
                    raise BadPdf(f"not a PDF: Content-Type is {content_type or 'missing'!r}", service="pdf")
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > params.max_bytes:
                    raise BadPdf(f"too large: {int(declared)} bytes > limit {params.max_bytes}", service="pdf")
                try:
                    decoder = BoundedDecoder(response.headers.get("Content-Encoding"), params.max_bytes)
                except UnsupportedEncoding as exc:
                    raise BadPdf(str(exc), service="pdf") from None
                # Content-Length counts the bytes on the wire; the limit counts the decoded ones.
                received = 0
                try:
                    for raw in response.iter_raw(64 * 1024):
                        received += len(raw)
                        if received > params.max_bytes:
                            raise BadPdf(f"too large: more than {params.max_bytes} bytes", service="pdf")
                        for block in decoder.feed(raw):
                            digest.update(block)
                            handle.write(block)
                    if declared and declared.isdigit() and received != int(declared):
                        raise TransientServiceError(
                            f"truncated body: {received} of {declared} bytes", service="pdf"
                        )
                    for block in decoder.finish():
                        digest.update(block)
                        handle.write(block)
                except DecodedTooLarge as exc:
                    raise BadPdf(f"too large: {exc} (limit {params.max_bytes})", service="pdf") from None
                except zlib.error as exc:
                    raise BadPdf(f"corrupt {decoder.coding} body: {exc}", service="pdf") from None
                size = decoder.produced
        except httpx.TransportError as exc:
            tmp.unlink(missing_ok=True)
            raise transport_failure(exc, service="pdf") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    try:
        check_pdf_bytes(tmp, size)
        sha256 = digest.hexdigest()
        if expected_sha256 and sha256 != expected_sha256.lower():
            raise BadPdf(f"checksum mismatch: sha256 {sha256[:12]}... != expected {expected_sha256[:12]}...")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    final = store / f"{sha256}.pdf"
    tmp.replace(final)
    return Downloaded(final, sha256, size)


def copy_local_pdf(url: str, params: DownloadPdfParams, expected_sha256: str | None = None) -> Downloaded:
    """``file:PATH`` sources (a local mirror; relative paths: to the project root) get the same checks.

    The path must lie under the source roots (:mod:`pipeline_factory.boundaries.roots`),
    like a ``source_path``: a record must not copy the worker's own files into the store.
    """
    source = confined(url.removeprefix("file://").removeprefix("file:"), what="pdf_url")
    if not source.is_file():
        raise BadPdf(f"no such file: {source}")
    size = source.stat().st_size
    if size > params.max_bytes:
        raise BadPdf(f"too large: {size} bytes > limit {params.max_bytes}")
    check_pdf_bytes(source, size)
    data = source.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 and sha256 != expected_sha256.lower():
        raise BadPdf(f"checksum mismatch: sha256 {sha256[:12]}... != expected {expected_sha256[:12]}...")
    store = pdf_store()
    store.mkdir(parents=True, exist_ok=True)
    final = store / f"{sha256}.pdf"
    if not final.exists():
        tmp = final.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(final)
    return Downloaded(final, sha256, size)


def check_pdf_bytes(path: Path, size: int) -> None:
    """A PDF starts with ``%PDF-`` and (a complete one) has ``%%EOF`` in its last kilobyte."""
    with path.open("rb") as handle:
        head = handle.read(5)
        handle.seek(max(0, size - 1024))
        tail = handle.read()
    if head != b"%PDF-":
        raise BadPdf("not a PDF: the body does not start with %PDF-")
    if b"%%EOF" not in tail:
        raise BadPdf("truncated PDF: no %%EOF trailer")


class HostGuards:
    """One guard per PDF host: its own shared breaker (a host that is down fails fast), one limiter for all.

    A bad PDF is the host answering, not the host failing, and a refused
    destination was never called: neither may trip the breaker.
    """

    def __init__(self, policy: Policy, limiter_name: str) -> None:
        self.policy = policy
        self.limiter_name = limiter_name
        self._guards: dict[str, Guard] = {}

    def get(self, url: str) -> Guard:
        from urllib.parse import urlsplit

        host = urlsplit(url).netloc
        if host not in self._guards:
            self._guards[host] = Guard.from_policy(
                self.policy, f"pdf-host:{host}", limiter_name=self.limiter_name, answers=(BadPdf, InputRefused)
            )
        return self._guards[host]


class DownloadPdf:
    def run(self, ctx: StageContext, params: DownloadPdfParams) -> StageResult:
        policy = ctx.policy or SINGLE_ATTEMPT
        live = jobs.live_jobs(ctx)
        records = [r for r in read_jsonl(ctx.input_dir("documents") / DOCUMENTS_FILE) if r["job_id"] in live]
        if not records:
            raise StageSkipped("no live jobs to download")
        downloaded: list[str] = []
        failures: dict[str, str] = {}
        headers = {"User-Agent": params.user_agent, "Accept": "application/pdf", "Accept-Encoding": ACCEPT_ENCODING}
        guards = HostGuards(policy, params.rate_limiter)
        url_policy = UrlPolicy.from_env()

        def policy_check(url: str) -> None:
            """Refuse before the breaker or the rate limiter see the URL (``file:`` is checked by its own rule)."""
            if not url.startswith("file:"):
                url_policy.check_url(url, what="pdf_url")

        client_options = {"timeout": params.timeout_seconds, "follow_redirects": True, "headers": headers}
        with guarded_client(url_policy, **client_options) as client:
            for record in records:
                job_id, url = record["job_id"], record.get("pdf_url")
                if not url:
                    failures[job_id] = "the record has no pdf_url"
                    jobs.fail_job(ctx, job_id, failures[job_id])
                    continue

                expected: str | None = record.get("pdf_sha256")
                try:
                    policy_check(url)
                    if url.startswith("file:"):
                        result = copy_local_pdf(url, params, expected)
                    else:
                        def fetch(url: str = url, expected: str | None = expected) -> Downloaded:
                            return fetch_pdf(client, url, params, expected)

                        result = guards.get(url).call(
                            fetch,
                            what=f"GET {redact_url(url)}",
                        )
                except InputRefused as exc:
                    failures[job_id] = str(exc)
                    jobs.fail_job(ctx, job_id, failures[job_id])
                    continue
                except ExternalServiceError as exc:
                    failures[job_id] = f"{redact_url(url)}: {exc}"
                    jobs.fail_job(ctx, job_id, failures[job_id])
                    continue
                jobs.ledger().mark(
                    job_id,
                    only_if_state=("pending", "running", "gated"),
                    state="gated",
                    current_stage=ctx.stage,
                    pdf_downloaded=True,
                    pdf_ir_ready=False,
                    pdf_path=data_relative(result.path),
                    pdf_sha256=result.sha256,
                )
                downloaded.append(job_id)
                ctx.log.info("%s: %d bytes, sha256 %s", redact_url(url), result.size, result.sha256[:12])
        if not downloaded:
            raise StageError(f"no PDF could be downloaded: {'; '.join(sorted(failures.values())[:5])}")
        return {"downloaded": len(downloaded), "failed": len(failures), "failures": failures}
