"""A local HTTP server that behaves like NCBI E-utilities, for tests, benchmarks and ``make run``.

Same paths and parameters as ``https://eutils.ncbi.nlm.nih.gov/entrez/eutils``:
``esearch.fcgi`` (db=pubmed with usehistory/WebEnv, mindate/maxdate/datetype,
retstart/retmax, sort; db=gene with ``SYM[sym]``, ``NAME[gene]`` (symbols and
aliases) and ``"Organism"[orgn]``),
``efetch.fcgi`` (db=pubmed, by ``id`` or WebEnv/query_key, GET or POST),
``elink.fcgi`` (dbfrom=pubmed db=gene, one LinkSet per ``id=``) and
``esummary.fcgi`` (db=gene, retmode=json).  The corpus is generated
deterministically (:mod:`.eutils_corpus`).

Like NCBI, it limits each client (its API key, else its address) to 3
requests/s, 10 with a key, answering excess requests with HTTP 429, a JSON
body ``{"error":"API rate limit exceeded","count":"N"}`` and ``Retry-After``.

Faults on demand, through ``POST /_control/faults`` with a JSON list (or the
``--fail-first``/``--slow-first``/``--truncate-first`` flags): each fault has
``kind`` (``status`` | ``slow`` | ``truncate`` | ``drop``), ``count`` (requests
it applies to, in a row), and ``status`` (default 503) or ``delay`` seconds,
optionally limited to one ``endpoint`` (e.g. ``efetch``).  ``GET
/_control/stats`` returns counters; ``POST /_control/reset`` clears faults,
counters and rate-limit buckets.

Run: ``python -m pipeline_factory.devservers.eutils --port 8765``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pipeline_factory.devservers import eutils_corpus as corpus

log = logging.getLogger(__name__)

ENDPOINTS = ("esearch", "efetch", "elink", "esummary")


@dataclass
class Fault:
    kind: str
    count: int = 1
    status: int = 503
    delay: float = 2.0
    endpoint: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        fault = cls(**{k: data[k] for k in ("kind", "count", "status", "delay", "endpoint") if k in data})
        if fault.kind not in ("status", "slow", "truncate", "drop"):
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        return fault


class TokenBucket:
    """``rate`` requests per second with bursts of at most ``rate`` (one second's worth)."""

    def __init__(self, rate: float):
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class ServerState:
    papers_per_term: int = 1500
    rate: float = 3.0
    key_rate: float = 10.0
    enforce_rate_limit: bool = True
    faults: deque[Fault] = field(default_factory=deque)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    history: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    arrivals: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=20000)))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.buckets.clear()
            self.counters.clear()
            self.arrivals.clear()

    def admit(self, client: str, keyed: bool) -> tuple[bool, int]:
        """Count the request; False when over the client's rate."""
        with self.lock:
            now = time.monotonic()
            self.arrivals[client].append(now)
            recent = sum(1 for t in self.arrivals[client] if now - t < 1.0)
            if not self.enforce_rate_limit:
                return True, recent
            bucket = self.buckets.get(client)
            if bucket is None:
                bucket = self.buckets[client] = TokenBucket(self.key_rate if keyed else self.rate)
            return bucket.take(), recent

    def next_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.endpoint in (None, endpoint):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def max_rate(self, window: float = 1.0) -> dict[str, int]:
        """Per client: the most requests seen in any ``window``-second span."""
        out = {}
        with self.lock:
            for client, times in self.arrivals.items():
                ts = list(times)
                best, lo = 0, 0
                for hi, t in enumerate(ts):
                    while t - ts[lo] >= window:
                        lo += 1
                    best = max(best, hi - lo + 1)
                out[client] = best
        return out

    def achieved_rate(self) -> dict[str, float | None]:
        """Per client: requests per second between its first and its last request."""
        with self.lock:
            spans = {c: (len(t), t[-1] - t[0]) for c, t in self.arrivals.items() if t}
        return {c: round((n - 1) / span, 3) if span > 0 else None for c, (n, span) in spans.items()}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            counters = dict(self.counters)
            pending = [f.__dict__ for f in self.faults]
        return {
            "counters": counters,
            "max_requests_in_1s": self.max_rate(),
            "achieved_rate": self.achieved_rate(),
            "pending_faults": pending,
        }


class EutilsHandler(BaseHTTPRequestHandler):
    server_version = "eutils-standin/1.0"
    protocol_version = "HTTP/1.1"
    state: ServerState  # set on the subclass built by make_server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # -- plumbing --------------------------------------------------------------------

    def _params(self) -> list[tuple[str, str]]:
        query = urlsplit(self.path).query
        pairs = parse_qsl(query, keep_blank_values=True)
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            pairs += parse_qsl(body, keep_blank_values=True)
        return pairs

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None,
              truncate: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if truncate:
            # Announce the full length, send half, close: the client sees an incomplete body.
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path == "/_control/faults":
            self.state.faults.clear()
            self._json(200, {"faults": []})
        else:
            self._json(404, {"error": "not found"})

    # -- routing ---------------------------------------------------------------------

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/_control/"):
            return self._control(path)
        match = re.search(r"/(esearch|efetch|elink|esummary)\.fcgi$", path)
        if not match:
            return self._json(404, {"error": f"unknown path {path}"})
        endpoint = match.group(1)
        pairs = self._params()
        params = dict(pairs)
        state = self.state
        api_key = params.get("api_key")
        client = f"key:{api_key}" if api_key else f"ip:{self.client_address[0]}"
        admitted, recent = state.admit(client, keyed=bool(api_key))
        with state.lock:
            state.counters["requests"] += 1
            state.counters[f"requests_{endpoint}"] += 1
        if not admitted:
            with state.lock:
                state.counters["rate_limited"] += 1
            return self._json(
                429,
                {"error": "API rate limit exceeded", "count": str(recent)},
                {"Retry-After": "1", "X-RateLimit-Limit": str(int(state.key_rate if api_key else state.rate)),
                 "X-RateLimit-Remaining": "0"},
            )
        fault = state.next_fault(endpoint)
        if fault is not None:
            with state.lock:
                state.counters[f"fault_{fault.kind}"] += 1
            if fault.kind == "status" and fault.status == 429:
                return self._json(429, {"error": "API rate limit exceeded", "count": str(recent)}, {"Retry-After": "1"})
            if fault.kind == "status":
                return self._send(fault.status, b"<html><body>Service unavailable</body></html>", "text/html")
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.close()
                return None
            if fault.kind == "slow":
                time.sleep(fault.delay)
        try:
            status, body, ctype = getattr(self, f"_{endpoint}")(pairs, params)
        except (KeyError, ValueError) as exc:
            return self._send(400, f"<eSearchResult><ERROR>{exc}</ERROR></eSearchResult>".encode(), "text/xml")
        self._send(status, body, ctype, truncate=fault is not None and fault.kind == "truncate")
        return None

    def _control(self, path: str) -> None:
        state = self.state
        if path == "/_control/stats":
            return self._json(200, state.stats())
        if path == "/_control/reset" and self.command == "POST":
            state.reset()
            return self._json(200, {"reset": True})
        if path == "/_control/faults" and self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            data = json.loads(self.rfile.read(length) or b"[]")
            items = data if isinstance(data, list) else [data]
            try:
                faults = [Fault.from_dict(item) for item in items]
            except (TypeError, ValueError) as exc:
                return self._json(400, {"error": str(exc)})
            with state.lock:
                state.faults.extend(faults)
            return self._json(200, {"faults": [f.__dict__ for f in state.faults]})
        if path == "/_control/config" and self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            data = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                for key in ("rate", "key_rate", "enforce_rate_limit", "papers_per_term"):
                    if key in data:
                        setattr(state, key, type(getattr(state, key))(data[key]))
                state.buckets.clear()
            return self._json(200, {"rate": state.rate, "key_rate": state.key_rate})
        return self._json(404, {"error": f"unknown control path {path}"})

    # -- E-utilities -----------------------------------------------------------------

    def _search_pubmed(self, term: str, params: dict[str, str]) -> list[str]:
        pmids = corpus.term_pmids(term, self.state.papers_per_term)
        with self.state.lock:
            for pmid in pmids:
                self.state.topics.setdefault(pmid, term)
        papers = [(pmid, corpus.paper(pmid).published) for pmid in pmids]
        if params.get("mindate") or params.get("maxdate"):
            lo = _parse_date(params.get("mindate") or "1800/01/01", start=True)
            hi = _parse_date(params.get("maxdate") or "3000/12/31", start=False)
            papers = [(p, d) for p, d in papers if lo <= d <= hi]
        papers.sort(key=lambda pd: (pd[1], pd[0]), reverse=True)
        return [p for p, _ in papers]

    def _esearch(self, pairs: list[tuple[str, str]], params: dict[str, str]) -> tuple[int, bytes, str]:
        db = params.get("db", "pubmed")
        term = params["term"]
        retstart = int(params.get("retstart") or 0)
        retmax = int(params.get("retmax") or 20)
        if db == "pubmed":
            ids = self._search_pubmed(term, params)
        elif db == "gene":
            ids = _search_genes(term)
        else:
            raise ValueError(f"database {db} is not served here")
        webenv = query_key = None
        if params.get("usehistory") == "y":
            webenv = params.get("WebEnv") or f"MCID_{secrets.token_hex(12)}"
            with self.state.lock:
                keys = self.state.history.setdefault(webenv, {})
                query_key = str(len(keys) + 1)
                keys[query_key] = ids
        body = corpus.esearch_xml(
            len(ids), ids[retstart : retstart + retmax], retstart,
            webenv=webenv, query_key=query_key, translation=f'"{term}"[All Fields]',
        )
        return 200, body.encode(), "text/xml; charset=UTF-8"

    def _efetch(self, pairs: list[tuple[str, str]], params: dict[str, str]) -> tuple[int, bytes, str]:
        if params.get("db", "pubmed") != "pubmed":
            raise ValueError("only db=pubmed is served by efetch here")
        if params.get("id"):
            ids = [i for value in (v for k, v in pairs if k == "id") for i in value.split(",") if i.strip()]
        else:
            history = self.state.history.get(params["WebEnv"])
            if history is None or params.get("query_key") not in history:
                return 200, b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>", "text/xml"
            retstart = int(params.get("retstart") or 0)
            retmax = int(params.get("retmax") or 20)
            ids = history[params["query_key"]][retstart : retstart + retmax]
        papers = [corpus.paper(i.strip(), self.state.topics.get(i.strip())) for i in ids]
        return 200, corpus.pubmed_set_xml(papers).encode(), "text/xml; charset=UTF-8"

    def _elink(self, pairs: list[tuple[str, str]], params: dict[str, str]) -> tuple[int, bytes, str]:
        if params.get("dbfrom") != "pubmed" or params.get("db") != "gene":
            raise ValueError("only dbfrom=pubmed db=gene is served by elink here")
        ids = [i.strip() for k, v in pairs if k == "id" for i in v.split(",") if i.strip()]
        link_sets = [(pmid, list(corpus.paper(pmid).gene_ids)) for pmid in ids]
        return 200, corpus.elink_xml("pubmed", "gene", link_sets).encode(), "text/xml; charset=UTF-8"

    def _esummary(self, pairs: list[tuple[str, str]], params: dict[str, str]) -> tuple[int, bytes, str]:
        if params.get("db") != "gene" or params.get("retmode") != "json":
            raise ValueError("only db=gene retmode=json is served by esummary here")
        ids = [i.strip() for i in params["id"].split(",") if i.strip()]
        return 200, json.dumps(corpus.gene_esummary_json(ids)).encode(), "application/json; charset=UTF-8"


def _parse_date(value: str, *, start: bool):
    from datetime import date

    parts = [int(p) for p in re.split(r"[/-]", value.strip()) if p]
    year = parts[0]
    month = parts[1] if len(parts) > 1 else (1 if start else 12)
    day = parts[2] if len(parts) > 2 else (1 if start else 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)
    return date(year, month, day)


def _search_genes(term: str) -> list[str]:
    """``SYM[sym]`` matches official symbols, ``NAME[gene]`` symbols and aliases (case-insensitive, like NCBI)."""
    symbols = {s.upper() for s in re.findall(r'"?([A-Za-z0-9-]+)"?\[sym\]', term)}
    names = {s.upper() for s in re.findall(r'"?([A-Za-z0-9-]+)"?\[gene\]', term)}
    organisms = {o.lower() for o in re.findall(r'"([^"]+)"\[orgn\]', term)}

    def named(gid: str, symbol: str) -> bool:
        if not symbols and not names:
            return True
        every = {symbol.upper(), *(a.upper() for a in corpus.ALIASES.get(gid, ()))}
        return symbol.upper() in symbols or bool(names & every)

    return [
        gid
        for gid, symbol, _d, organism, _t, _c in corpus.GENES
        if named(gid, symbol) and (not organisms or organism.lower() in organisms)
    ]


class EutilsServer:
    """The server in a background thread (tests and benchmarks); ``url`` is the E-utilities base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **state_kwargs: Any):
        self.state = ServerState(**state_kwargs)
        handler = type("BoundEutilsHandler", (EutilsHandler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}/entrez/eutils"

    def add_faults(self, *faults: Fault) -> None:
        with self.state.lock:
            self.state.faults.extend(faults)

    def start(self) -> EutilsServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="eutils-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> EutilsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline_factory.devservers.eutils", description="A local NCBI E-utilities stand-in."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rate-limit", type=float, default=3.0, help="requests/s per client without a key")
    parser.add_argument("--key-rate-limit", type=float, default=10.0, help="requests/s per API key")
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--papers-per-term", type=int, default=1500)
    parser.add_argument("--fail-first", type=int, default=0, help="answer the first N requests with --fail-status")
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--slow-first", type=int, default=0, help="delay the first N requests by --slow-seconds")
    parser.add_argument("--slow-seconds", type=float, default=5.0)
    parser.add_argument("--truncate-first", type=int, default=0, help="cut the body of the first N answers in half")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = EutilsServer(
        args.host,
        args.port,
        rate=args.rate_limit,
        key_rate=args.key_rate_limit,
        enforce_rate_limit=not args.no_rate_limit,
        papers_per_term=args.papers_per_term,
    )
    if args.fail_first:
        server.add_faults(Fault("status", count=args.fail_first, status=args.fail_status))
    if args.slow_first:
        server.add_faults(Fault("slow", count=args.slow_first, delay=args.slow_seconds))
    if args.truncate_first:
        server.add_faults(Fault("truncate", count=args.truncate_first))
    print(f"E-utilities stand-in at {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
