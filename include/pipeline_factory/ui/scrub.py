"""Secrets never leave the server: one middleware every response of the view passes through.

The view shows text that stores and libraries wrote: exception messages
("could not connect to postgresql://user:password@db/..."), tracking URIs,
report files.  Rather than hoping each route remembers to clean its output,
:class:`ScrubbingMiddleware` wraps the whole app: a route added later is
covered without doing anything.  It also keeps the view's surface read-only:
any method other than GET and HEAD is refused before routing.

What is scrubbed, in every JSON string (and JSON keys' values) and every text
body:

* the secret values of this deployment: passwords and whole values of the
  configured URLs and keys (:data:`SECRET_ENVIRONMENT`, ``AIRFLOW_CONN_*``,
  any variable whose name says secret/password/token/key), and the passwords
  and sensitive extras of the Airflow connections the project uses
  (:data:`CONNECTION_IDS`);
* any ``scheme://user:password@`` userinfo and ``?token=...``-style query
  parameters, configured or not;
* values under keys that name a secret (Airflow's own list of sensitive
  field names: ``password``, ``secret``, ``token``, ``api_key``, ``extra``...).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MASK = "***"
#: Shorter values are not secrets worth masking everywhere (they would mangle ordinary words).
MIN_SECRET_LENGTH = 6

#: Environment variables holding URLs or keys of the stores and APIs the project talks to.
SECRET_ENVIRONMENT = (
    "MLFLOW_TRACKING_URI",
    "PIPELINE_LEDGER_URL",
    "PIPELINE_REDIS_URL",
    "PIPELINE_PROMOTION_LOCK_URL",
    "PIPELINE_MLFLOW_UI_URL",
    "NEO4J_URI",
    "NEO4J_PASSWORD",
    "QDRANT_URL",
    "QDRANT_API_KEY",
    "NCBI_API_KEY",
    "NCBI_EUTILS_URL",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__WEBSERVER__SECRET_KEY",
)
#: Airflow connections the project's hooks read (their password and sensitive extras are masked).
CONNECTION_IDS = ("pipeline_ledger", "pipeline_redis", "mlflow_default", "neo4j_default", "qdrant_default",
                  "redis_default", "ncbi_eutils", "smtp_default")
_SENSITIVE_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|FERNET|CREDENTIAL)", re.I)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^\s:/@'\"]*):(?P<password>[^\s@/'\"]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_\-])(?:password|passwd|pwd|token|access_token|auth|api[_-]?key|apikey|key|secret"
    r"|sig|signature|X-Amz-Signature|X-Amz-Credential)=)(?P<value>[^&\s'\"#),;]+)",
    re.I,
)
_FALLBACK_SENSITIVE_FIELDS = frozenset(
    {"password", "secret", "passwd", "authorization", "api_key", "apikey", "access_token", "private_key",
     "token", "extra", "client_secret", "credentials"}
)
CACHE_SECONDS = 60.0


def sensitive_key(name: str) -> bool:
    """Whether a field named ``name`` holds a secret (Airflow's rule where available)."""
    try:
        from airflow._shared.secrets_masker import should_hide_value_for_key

        if should_hide_value_for_key(name):
            return True
    except ImportError:  # pragma: no cover - a different Airflow layout
        pass
    lowered = name.lower()
    return any(field in lowered for field in _FALLBACK_SENSITIVE_FIELDS)


def _secrets_of_url(value: str) -> set[str]:
    found: set[str] = set()
    try:
        parts = urlsplit(value)
    except ValueError:
        return found
    if parts.password:
        found.update({parts.password, unquote(parts.password)})
    for match in _QUERY_SECRET.finditer(value):
        found.add(match.group("value"))
    return found


def secrets_of(value: str, *, whole: bool) -> set[str]:
    """The secret values one setting holds: the password and tokens of a URL, else (``whole``) all of it."""
    if "://" in value:
        found = _secrets_of_url(value)
    elif whole and value.strip().lower() not in ("true", "false", "none", "null") and not value.strip().isdigit():
        found = {value}
    else:
        found = set()
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH}


def _connection_secrets(conn_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    try:
        from airflow.models.connection import Connection
    except ImportError:  # pragma: no cover
        return found
    for conn_id in conn_ids:
        try:
            conn = Connection.get_connection_from_secrets(conn_id)
        except Exception:  # not defined here: nothing to hide
            continue
        if conn.password:
            found.add(conn.password)
        try:
            extra = conn.extra_dejson
        except Exception:
            extra = {}
        for key, value in _flatten(extra):
            if isinstance(value, str):
                found.update(secrets_of(value, whole=sensitive_key(key)))
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH}


def _flatten(value: Any, key: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _flatten(v, key)
    else:
        yield key, value


class SecretValues:
    """The deployment's secret values, gathered from the environment and connections, cached briefly."""

    def __init__(self, *, include_connections: bool = True):
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()
        self._at = -CACHE_SECONDS
        self.include_connections = include_connections

    def values(self) -> tuple[str, ...]:
        with self._lock:
            if time.monotonic() - self._at >= CACHE_SECONDS:
                self._values = self._gather()
                self._at = time.monotonic()
            return self._values

    def refresh(self) -> None:
        with self._lock:
            self._at = -CACHE_SECONDS

    def _gather(self) -> tuple[str, ...]:
        found: set[str] = set()
        for name, value in os.environ.items():
            if not value:
                continue
            named_secret = bool(_SENSITIVE_NAME.search(name))
            if name.startswith("AIRFLOW_CONN_") and value.lstrip().startswith("{"):
                try:  # a connection in JSON form
                    fields = json.loads(value)
                except ValueError:
                    fields = {}
                for key, item in _flatten(fields):
                    if isinstance(item, str):
                        found.update(secrets_of(item, whole=sensitive_key(key)))
            elif name in SECRET_ENVIRONMENT or name.startswith("AIRFLOW_CONN_") or named_secret:
                found.update(secrets_of(value, whole=named_secret))
        if self.include_connections:
            found.update(_connection_secrets(CONNECTION_IDS))
        # Longest first, so a secret that contains another is masked whole.
        return tuple(sorted(found, key=len, reverse=True))


SECRETS = SecretValues()


def scrub_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret, URL password and secret query parameter masked."""
    for secret in SECRETS.values() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('key')}{MASK}", text)


def scrub(value: Any, secrets: Iterable[str] | None = None) -> Any:
    """A JSON-like value with every string scrubbed and every secret-named field masked."""
    secrets = tuple(SECRETS.values() if secrets is None else secrets)
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, dict):
        return {
            key: (MASK if value[key] not in (None, "", {}, []) and isinstance(key, str) and sensitive_key(key)
                  else scrub(value[key], secrets))
            for key in value
        }
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    return value


# -- the choke point ---------------------------------------------------------------

READ_METHODS = frozenset({"GET", "HEAD"})
_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/javascript")


class ScrubbingMiddleware:
    """ASGI middleware: refuse writes, and scrub every response body before it leaves.

    Bodies are buffered (the view's responses are small JSON sections and
    report files); a body that is not text is passed on unchanged.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in READ_METHODS:
            body = b'{"detail":"Method Not Allowed: the Pipelines view is read-only"}'
            await send({"type": "http.response.start", "status": 405, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": body})
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                await self._send_scrubbed(send, start, b"".join(chunks), head=scope["method"] == "HEAD")
                return
            await send(message)

        await self.app(scope, receive, capture)

    @staticmethod
    async def _send_scrubbed(send: Any, start: dict[str, Any], body: bytes, *, head: bool = False) -> None:
        headers = list(start.get("headers", []))
        content_type = next((v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), "")
        encoding = next((v for k, v in headers if k.lower() == b"content-encoding"), None)
        if not head and encoding is None and content_type.startswith(_TEXT_TYPES):
            body = await _scrubbed_body(body, content_type)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        headers = [(k, v if k.lower() != b"location" else scrub_text(v.decode("latin-1")).encode("latin-1"))
                   for k, v in headers]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _scrubbed_body(body: bytes, content_type: str) -> bytes:
    import asyncio

    def work() -> bytes:
        text = body.decode("utf-8", errors="replace")
        if content_type.startswith("application/json"):
            try:
                return json.dumps(scrub(json.loads(text)), separators=(",", ":")).encode()
            except ValueError:
                pass
        return scrub_text(text).encode()

    # The first call gathers the secrets (environment, connections): keep it off the event loop.
    return await asyncio.to_thread(work)
