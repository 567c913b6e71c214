"""Encoded bodies are decoded whole when small enough, and never past the limit when not."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.stages.documents.bounded_decoding import (
    BoundedDecoder,
    DecodedTooLarge,
    UnsupportedEncoding,
)

ENCODERS = {
    "identity": lambda b: b,
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": lambda b: zlib.compress(b, wbits=-15),
}


def decode(encoding: str, body: bytes, limit: int, block: int) -> tuple[bytes, bool]:
    """Feed ``body`` in blocks; returns what was yielded and whether the limit stopped it."""
    decoder = BoundedDecoder(None if encoding == "identity" else encoding.removesuffix("-raw"), limit)
    out = bytearray()
    try:
        for start in range(0, len(body), block):
            for piece in decoder.feed(body[start:start + block]):
                out += piece
        for piece in decoder.finish():
            out += piece
    except DecodedTooLarge:
        return bytes(out), True
    return bytes(out), False


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(st.binary(max_size=20_000), st.integers(0, 300_000).map(lambda n: b"%PDF-" + b"\0" * n)),
       encoding=st.sampled_from(sorted(ENCODERS)), limit=st.integers(1, 200_000), block=st.integers(1, 70_000))
def test_any_body_decodes_whole_under_the_limit_and_never_yields_past_it(data, encoding, limit, block):
    decoded, stopped = decode(encoding, ENCODERS[encoding](data), limit, block)
    assert len(decoded) <= limit
    if len(data) <= limit:
        assert not stopped and decoded == data
    else:
        assert stopped and data.startswith(decoded)


def test_a_bomb_stops_after_little_work():
    bomb = gzip.compress(b"\0" * (256 * 1024 * 1024))  # 256 MiB in ~250 KiB
    decoded, stopped = decode("gzip", bomb, 1_000_000, 64 * 1024)
    assert stopped and len(decoded) <= 1_000_000


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br", "compress"])
def test_other_encodings_are_refused(encoding):
    with pytest.raises(UnsupportedEncoding):
        BoundedDecoder(encoding, 10)
