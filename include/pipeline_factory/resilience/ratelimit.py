"""A request-rate limiter shared by every process that talks to one API.

NCBI counts requests per client (IP or API key), not per worker, so a limiter
inside one task is not enough once two tasks run at once.  Callers reserve
*slots* from one schedule kept outside the process: a file guarded by an
exclusive ``flock`` in the data dir (one machine), or a key in Redis when
``PIPELINE_REDIS_URL`` is set (several machines).  Each reservation takes the
next free slot at least ``1 / rate`` after the previous one and sleeps until
it, so the combined rate of all holders stays at or below the limit without
bursts, whatever the number of processes.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipeline_factory import settings

log = logging.getLogger(__name__)

#: Requests are scheduled this much below the nominal limit: clock and network
#: jitter between the client and the server must not push a burst over it.
DEFAULT_HEADROOM = 0.97

_REDIS_RESERVE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil((slot - now + interval) * 1000) + 60000)
return tostring(slot)
"""


class SlotSchedule(Protocol):
    """Hands out the start time of the next request slot (epoch seconds)."""

    def reserve(self, now: float, interval: float) -> float: ...


class FileSlotSchedule:
    """The schedule in an 8-byte file, updated under an exclusive ``flock``."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def reserve(self, now: float, interval: float) -> float:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 8, 0)
            nxt = struct.unpack("<d", raw)[0] if len(raw) == 8 else 0.0
            slot = max(now, nxt)
            os.pwrite(fd, struct.pack("<d", slot + interval), 0)
            return slot
        finally:
            os.close(fd)  # closing releases the lock


class RedisSlotSchedule:
    """The schedule in one Redis key, updated atomically by a Lua script."""

    def __init__(self, url: str, key: str):
        import redis

        self._client = redis.Redis.from_url(url)
        self._script = self._client.register_script(_REDIS_RESERVE)
        self.key = key

    def reserve(self, now: float, interval: float) -> float:
        return float(self._script(keys=[self.key], args=[repr(now), repr(interval)]))


@dataclass
class LimiterStats:
    acquired: int = 0
    waited: int = 0
    wait_seconds: float = 0.0
    first_slot: float | None = None
    last_slot: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        span = (self.last_slot - self.first_slot) if self.first_slot and self.last_slot else 0.0
        return {
            "acquired": self.acquired,
            "waited": self.waited,
            "wait_seconds": round(self.wait_seconds, 3),
            "achieved_rate_per_second": round((self.acquired - 1) / span, 3) if span > 0 else None,
        }


@dataclass
class RateLimiter:
    """Blocks in :meth:`acquire` until this caller's slot comes up."""

    name: str
    rate_per_second: float
    schedule: SlotSchedule
    headroom: float = DEFAULT_HEADROOM
    stats: LimiterStats = field(default_factory=LimiterStats)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def interval(self) -> float:
        return 1.0 / (self.rate_per_second * self.headroom)

    def acquire(self) -> float:
        """Reserve a slot and sleep until it; returns the seconds waited."""
        with self._lock:
            now = time.time()
            slot = self.schedule.reserve(now, self.interval)
            wait = max(0.0, slot - now)
            self.stats.acquired += 1
            if wait > 0:
                self.stats.waited += 1
                self.stats.wait_seconds += wait
            self.stats.first_slot = self.stats.first_slot or slot
            self.stats.last_slot = slot
        if wait > 0:
            time.sleep(wait)
        return wait


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def shared_rate_limiter(
    name: str, rate_per_second: float, *, headroom: float = DEFAULT_HEADROOM, redis_url: str | None = None
) -> RateLimiter:
    """A limiter for ``name`` whose schedule every process on the deployment shares.

    ``PIPELINE_REDIS_URL`` (or ``redis_url``) selects Redis; otherwise the
    schedule is a file under ``<data_dir>/ratelimit/``, which holds across the
    processes of one machine (the embedded and LocalExecutor deployments).
    """
    redis_url = redis_url or os.environ.get("PIPELINE_REDIS_URL")
    schedule: SlotSchedule
    if redis_url:
        schedule = RedisSlotSchedule(redis_url, f"pipeline_factory:ratelimit:{name}")
    else:
        schedule = FileSlotSchedule(settings.data_dir() / "ratelimit" / f"{_safe(name)}.slot")
    return RateLimiter(name=name, rate_per_second=rate_per_second, schedule=schedule, headroom=headroom)
