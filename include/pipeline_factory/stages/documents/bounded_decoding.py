"""Content-Encoding decoded with a bound: a compression bomb stops at the limit.

httpx decodes gzip and deflate bodies for us, but each network block is
inflated whole (a 64 KiB block of a bomb can become gigabytes) and the
decoded size cannot be compared with ``Content-Length``, which counts the
bytes on the wire.  So ``download_pdf`` reads the raw body, checks its
length against ``Content-Length``, and inflates it here, never producing
more than ``limit`` bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

#: The encodings asked for (``Accept-Encoding``) and decoded; anything else is refused.
SUPPORTED_ENCODINGS = ("identity", "gzip", "x-gzip", "deflate")
ACCEPT_ENCODING = "gzip, deflate"
STEP = 64 * 1024


class DecodedTooLarge(ValueError):
    """The decoded body passed the limit; decoding stopped there."""


class UnsupportedEncoding(ValueError):
    """A ``Content-Encoding`` this decoder does not handle."""


class BoundedDecoder:
    """Feed raw blocks, get decoded blocks; at most ``limit`` decoded bytes are ever produced."""

    def __init__(self, encoding: str | None, limit: int):
        codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or any(c not in SUPPORTED_ENCODINGS for c in codings):
            raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r}")
        self.coding = codings[0] if codings else None
        self.limit = limit
        self.produced = 0
        self._inflater: zlib._Decompress | None = None
        self._head = b""  # deflate: the first bytes, until the zlib header can be recognised
        if self.coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _count(self, block: bytes) -> bytes:
        self.produced += len(block)
        if self.produced > self.limit:
            raise DecodedTooLarge(f"more than {self.limit} bytes once decoded")
        return block

    def _first_deflate(self, data: bytes) -> None:
        # "deflate" is meant to be zlib-wrapped (RFC 9110) but some servers send raw deflate
        wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.coding is None:
            if data:
                yield self._count(data)
            return
        if self.coding == "deflate" and self._inflater is None:
            self._head += data
            if len(self._head) < 2:
                return
            self._first_deflate(self._head)
            data, self._head = self._head, b""
        assert self._inflater is not None
        pending = data
        while True:
            out = self._inflater.decompress(pending, STEP)
            if out:
                yield self._count(out)
            pending = self._inflater.unconsumed_tail
            if not pending and len(out) < STEP:
                return

    def finish(self) -> Iterator[bytes]:
        if self.coding == "deflate" and self._inflater is None and self._head:
            self._first_deflate(self._head + b"\0")  # one byte: too short for a zlib header
            head, self._head = self._head, b""
            yield from self.feed(head)
        if self._inflater is not None:
            yield from self.feed(b"")
            rest = self._inflater.flush(STEP)
            if rest:
                yield self._count(rest)
