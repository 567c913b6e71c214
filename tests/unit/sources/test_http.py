"""The one HTTP layer: one Retry-After parser, one 429/5xx classification for every client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_factory.exceptions import ExternalServiceError, TransientServiceError
from pipeline_factory.sources.http import check_status, parse_retry_after, transport_failure

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=10**7))
def test_delta_seconds_are_read_as_they_are(seconds: int):
    assert parse_retry_after(str(seconds)) == seconds


@given(st.integers(min_value=-10**6, max_value=10**6))
def test_an_http_date_is_the_time_left_never_negative(offset: int):
    header = format_datetime(NOW + timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after(header, now=NOW) == max(0, offset)


@given(st.text())
def test_any_header_value_gives_none_or_a_finite_wait(value: str):
    seconds = parse_retry_after(value, now=NOW)
    assert seconds is None or (0 <= seconds < float("inf"))


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "-inf"])
def test_unreadable_values_give_none(value):
    assert parse_retry_after(value) is None


def test_a_negative_delta_waits_zero():
    assert parse_retry_after("-5") == 0


@given(st.integers(min_value=100, max_value=599))
def test_every_status_is_classified_one_way(status: int):
    try:
        check_status(status, {"Retry-After": "7"}, service="svc", what="GET x")
    except TransientServiceError as exc:
        assert status == 429 or status >= 500
        assert exc.status == status and exc.retry_after == 7 and exc.service == "svc"
        assert str(exc).startswith(f"GET x: HTTP {status}")
    except ExternalServiceError as exc:
        assert 400 <= status < 500 and status != 429
        assert exc.status == status
    else:
        assert status < 400


class BadThing(ExternalServiceError):
    pass


def test_client_errors_take_the_callers_class_and_the_body_preview():
    with pytest.raises(BadThing, match=r"^HTTP 404: b'gone'$"):
        check_status(404, {}, service="pdf", body=b"gone", client_error=BadThing)
    with pytest.raises(TransientServiceError) as raised:
        check_status(503, {}, service="pdf", client_error=BadThing)
    assert raised.value.retry_after is None


def test_a_broken_connection_is_transient():
    error = transport_failure(ConnectionResetError(), service="pdf", what="GET x")
    assert isinstance(error, TransientServiceError)
    assert str(error) == "GET x: ConnectionResetError: connection failed"
