"""The one HTTP layer every client shares: which answers are worth retrying, and for how long to wait.

The E-utilities client, the PDF download and the HTTP JSON source all turn
an HTTP answer into the project's errors here, so a 429 or a 503 means the
same thing to every one of them:

- 429 and 5xx are :class:`~pipeline_factory.exceptions.TransientServiceError`
  (retried by the guard; a 429 never trips a breaker), carrying the server's
  ``Retry-After`` (seconds or an HTTP date) when it sent one;
- any other 4xx is a permanent :class:`~pipeline_factory.exceptions.ExternalServiceError`
  (or the caller's subclass of it);
- a broken connection or a timeout is transient.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from pipeline_factory.exceptions import ExternalServiceError, TransientServiceError

#: How much of an error body goes into the message.
BODY_PREVIEW_BYTES = 200


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date, RFC 9110).

    None when the header is absent or unreadable; a date in the past is 0.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # nan, inf
        return None
    return max(0.0, seconds)


def is_transient_status(status: int) -> bool:
    """429 (slow down) and every 5xx: the service may answer differently later."""
    return status == 429 or status >= 500


def check_status(
    status: int,
    headers: Mapping[str, str],
    *,
    service: str,
    what: str = "",
    body: bytes | None = None,
    client_error: type[ExternalServiceError] = ExternalServiceError,
) -> None:
    """Raise the project's error for an HTTP answer that is not a success; return for 1xx-3xx."""
    if status < 400:
        return
    message = f"{what}: HTTP {status}" if what else f"HTTP {status}"
    if body is not None:
        message += f": {body[:BODY_PREVIEW_BYTES]!r}"
    if is_transient_status(status):
        raise TransientServiceError(
            message, service=service, status=status, retry_after=parse_retry_after(headers.get("Retry-After"))
        )
    raise client_error(message, service=service, status=status)


def transport_failure(exc: BaseException, *, service: str, what: str = "") -> TransientServiceError:
    """A broken connection, a reset or a timeout, as a transient error (raise it ``from exc``)."""
    detail = f"{type(exc).__name__}: {str(exc) or 'connection failed'}"
    return TransientServiceError(f"{what}: {detail}" if what else detail, service=service)
