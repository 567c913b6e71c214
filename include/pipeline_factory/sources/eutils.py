"""A synchronous NCBI E-utilities client with the project's resilience built in.

Every request goes through the client's :class:`~pipeline_factory.resilience.guard.Guard`
(the shared rate limiter, one slot per HTTP request across all processes; the
shared circuit breaker; retries of the whole sequence on transient errors)
and the shared HTTP layer (:mod:`pipeline_factory.sources.http`).  Transient
means: 429 (with its ``Retry-After``), 5xx, timeouts, broken connections and
bodies that do not parse (truncated answers).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from lxml import etree

from pipeline_factory.exceptions import ExternalServiceError, TransientServiceError
from pipeline_factory.resilience.breaker import SharedBreaker
from pipeline_factory.resilience.guard import Guard
from pipeline_factory.resilience.policy import CircuitBreakerPolicy, Policy
from pipeline_factory.resilience.ratelimit import RateLimiter
from pipeline_factory.resilience.retry import RetryStats
from pipeline_factory.sources.http import check_status, transport_failure
from pipeline_factory.sources.ncbi_settings import NcbiSettings, load_ncbi_settings

log = logging.getLogger(__name__)

A = TypeVar("A")
R = TypeVar("R")

SERVICE = "ncbi-eutils"

#: Above this many ids a request is sent as a POST form (NCBI's advice for long id lists).
POST_ID_THRESHOLD = 200

#: Seconds one HTTP request may take (``NCBI_TIMEOUT_SECONDS`` overrides).
HTTP_TIMEOUT_SECONDS = 30.0

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)


@dataclass(frozen=True)
class SearchResult:
    count: int
    ids: list[str]
    webenv: str | None = None
    query_key: str | None = None


@dataclass
class ClientStats:
    requests: int = 0
    bytes_received: int = 0
    elapsed_seconds: float = 0.0
    retry: RetryStats = field(default_factory=RetryStats)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "bytes_received": self.bytes_received,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            **self.retry.as_dict(),
        }


def ordered_map(fn: Callable[[A], R], items: Iterable[A], concurrency: int) -> Iterator[R]:
    """``map`` with up to ``concurrency`` calls in flight, results in input order, errors raised in order."""
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items)), thread_name_prefix="eutils") as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def parse_xml(body: bytes, what: str) -> etree._Element:
    """Parse an XML answer; a body that does not parse is treated as truncated (transient)."""
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise TransientServiceError(f"{what}: unreadable XML ({exc})", service=SERVICE) from exc
    error = root.findtext("ERROR")
    if error and root.tag != "eSearchResult":
        raise ExternalServiceError(f"{what}: {error}", service=SERVICE)
    return root


class EutilsClient:
    """PubMed and Gene through E-utilities; construct with :meth:`from_policy`."""

    def __init__(
        self,
        settings: NcbiSettings,
        policy: Policy,
        *,
        guard: Guard | None = None,
        http: httpx.Client | None = None,
    ):
        self.settings = settings
        self.policy = policy
        #: Without a guard from :meth:`from_policy`: the policy's retries, no limiter, no breaker (tests).
        self.guard = guard or Guard(SERVICE, policy)
        # The policy's timeout bounds a whole task attempt; one HTTP request gets far less.
        timeout = min(policy.timeout_seconds or HTTP_TIMEOUT_SECONDS, float(
            os.environ.get("NCBI_TIMEOUT_SECONDS") or HTTP_TIMEOUT_SECONDS
        ))
        self._http = http or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        self.stats = ClientStats(retry=self.guard.stats)
        self._stats_lock = threading.Lock()

    @classmethod
    def from_policy(cls, policy: Policy, settings: NcbiSettings | None = None) -> EutilsClient:
        """Limiter and breaker shared per API identity (key or not).

        The rate is NCBI's limit for the identity (3/s, 10/s with a key), lowered
        to the policy's ``rate_limit_per_second`` when there is no key, and
        overridden by ``NCBI_RATE_LIMIT_PER_SECOND`` when set.
        """
        settings = settings or load_ncbi_settings()
        rate = settings.allowed_rate
        if policy.rate_limit_per_second and not settings.api_key:
            rate = min(rate, policy.rate_limit_per_second)
        override = os.environ.get("NCBI_RATE_LIMIT_PER_SECOND")
        if override:
            rate = float(override)
        identity = "key" if settings.api_key else "anonymous"
        guard = Guard.from_policy(
            policy,
            SERVICE,
            rate_per_second=rate,
            limiter_name=f"{SERVICE}-{identity}",
            breaker=policy.circuit_breaker or CircuitBreakerPolicy(),
        )
        return cls(settings, policy, guard=guard)

    @property
    def limiter(self) -> RateLimiter | None:
        return self.guard.limiter

    @property
    def breaker(self) -> SharedBreaker | None:
        return self.guard.breaker

    def close(self) -> None:
        from pipeline_factory.observability.metrics import record_client

        record_client(SERVICE, self.report())  # the running stage's Prometheus figures
        self._http.close()

    def __enter__(self) -> EutilsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------

    def _send_once(self, endpoint: str, params: list[tuple[str, str]], post: bool) -> bytes:
        url = f"{self.settings.base_url}/{endpoint}"
        started = time.monotonic()
        try:
            if post:
                form: dict[str, list[str]] = {}
                for key, value in params:
                    form.setdefault(key, []).append(value)
                response = self._http.post(url, data=form)
            else:
                response = self._http.get(url, params=tuple(params))
            body = response.content
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise transport_failure(exc, service=SERVICE, what=endpoint) from exc
        finally:
            with self._stats_lock:
                self.stats.requests += 1
                self.stats.elapsed_seconds += time.monotonic() - started
        with self._stats_lock:
            self.stats.bytes_received += len(body)
        check_status(response.status_code, response.headers, service=SERVICE, what=endpoint, body=body)
        return body

    def request(
        self,
        endpoint: str,
        params: dict[str, Any] | Sequence[tuple[str, Any]],
        *,
        parse: Any,
        post: bool = False,
    ) -> Any:
        """One logical call: rate-limited, breaker-guarded, retried; ``parse(body)`` runs inside the retry."""
        items = list(params.items()) if isinstance(params, dict) else list(params)
        pairs = [(k, str(v)) for k, v in items if v is not None]
        pairs += list(self.settings.identity_params().items())
        return self.guard.call(lambda: parse(self._send_once(endpoint, pairs, post)), what=f"E-utilities {endpoint}")

    # -- calls -----------------------------------------------------------------------

    def esearch(
        self,
        db: str,
        term: str,
        *,
        retmax: int = 20,
        retstart: int = 0,
        usehistory: bool = False,
        mindate: str | None = None,
        maxdate: str | None = None,
        datetype: str | None = None,
        sort: str | None = None,
    ) -> SearchResult:
        params: dict[str, Any] = {
            "db": db,
            "term": term,
            "retmax": retmax,
            "retstart": retstart,
            "usehistory": "y" if usehistory else None,
            "sort": sort,
        }
        if mindate or maxdate:
            params.update({"mindate": mindate or "1800/01/01", "maxdate": maxdate or "3000/12/31"})
            params["datetype"] = datetype or "pdat"

        def parse(body: bytes) -> SearchResult:
            root = parse_xml(body, "esearch")
            if root.tag != "eSearchResult" or root.find("Count") is None:
                if root.findtext("ERROR"):
                    raise ExternalServiceError(f"esearch: {root.findtext('ERROR')}", service=SERVICE)
                raise TransientServiceError("esearch: answer without Count", service=SERVICE)
            return SearchResult(
                count=int(root.findtext("Count") or 0),
                ids=[e.text for e in root.iterfind("IdList/Id") if e.text],
                webenv=root.findtext("WebEnv"),
                query_key=root.findtext("QueryKey"),
            )

        return self.request("esearch.fcgi", params, parse=parse)

    def efetch_xml(
        self,
        db: str,
        *,
        ids: Sequence[str] | None = None,
        webenv: str | None = None,
        query_key: str | None = None,
        retstart: int = 0,
        retmax: int | None = None,
        expect_root: str = "PubmedArticleSet",
    ) -> etree._Element:
        """An efetch in XML: by id list (POST when long) or from the history server."""
        params: dict[str, Any] = {"db": db, "retmode": "xml"}
        if ids is not None:
            params["id"] = ",".join(ids)
        else:
            params.update({"WebEnv": webenv, "query_key": query_key, "retstart": retstart, "retmax": retmax})
        post = ids is not None and len(ids) > POST_ID_THRESHOLD

        def parse(body: bytes) -> etree._Element:
            root = parse_xml(body, "efetch")
            if root.tag != expect_root:
                raise TransientServiceError(
                    f"efetch: expected <{expect_root}>, got <{root.tag}>", service=SERVICE
                )
            return root

        return self.request("efetch.fcgi", params, parse=parse, post=post)

    def elink(self, dbfrom: str, db: str, ids: Iterable[str]) -> dict[str, list[str]]:
        """Links per source id (one ``id=`` per source id keeps them apart, as NCBI documents)."""
        ids = list(ids)
        if not ids:
            return {}
        pairs: list[tuple[str, Any]] = [("dbfrom", dbfrom), ("db", db), ("cmd", "neighbor")]
        pairs += [("id", i) for i in ids]
        link_name = f"{dbfrom}_{db}"

        def parse(body: bytes) -> dict[str, list[str]]:
            root = parse_xml(body, "elink")
            if root.tag != "eLinkResult":
                raise TransientServiceError(f"elink: unexpected <{root.tag}>", service=SERVICE)
            links: dict[str, list[str]] = {}
            for link_set in root.iterfind("LinkSet"):
                source = [e.text for e in link_set.iterfind("IdList/Id") if e.text]
                targets: list[str] = []
                for db_set in link_set.iterfind("LinkSetDb"):
                    if db_set.findtext("LinkName") == link_name:
                        targets += [e.text.strip() for e in db_set.iterfind("Link/Id") if e.text]
                for sid in source:
                    links.setdefault(sid, []).extend(targets)
            return links

        return self.request("elink.fcgi", pairs, parse=parse, post=len(ids) > POST_ID_THRESHOLD)

    def esummary_json(self, db: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``esummary`` with ``retmode=json``: the documents keyed by uid."""
        if not ids:
            return {}
        params = {"db": db, "id": ",".join(ids), "retmode": "json"}

        def parse(body: bytes) -> dict[str, dict[str, Any]]:
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise TransientServiceError(f"esummary: unreadable JSON ({exc})", service=SERVICE) from exc
            if "error" in data and "result" not in data:
                raise ExternalServiceError(f"esummary: {data['error']}", service=SERVICE)
            result = data.get("result") or {}
            return {uid: result[uid] for uid in result.get("uids", []) if uid in result}

        return self.request("esummary.fcgi", params, parse=parse, post=len(ids) > POST_ID_THRESHOLD)

    def report(self) -> dict[str, Any]:
        guard = {key: value for key, value in self.guard.report().items() if key != "retry"}  # in "client"
        return {"ncbi": self.settings.describe(), "client": self.stats.as_dict(), **guard}
