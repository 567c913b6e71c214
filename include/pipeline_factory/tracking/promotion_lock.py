"""A cross-process lock that serializes promotions of one registered model.

MLflow has no compare-and-set on aliases: two runs that both read "no
champion" would both set ``champion`` and the last writer would win, whatever
its metrics.  Promotion therefore runs under a lease held in the
``ml_promotion_locks`` table of the ledger database
(:mod:`pipeline_factory.stores.ledger_db`: SQLite in the embedded default,
Postgres when deployed), which every worker, container and pod can reach.  A lease, not a session lock:
a holder that dies frees the lock when the lease runs out.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from pipeline_factory.exceptions import StageError
from pipeline_factory.stores import ledger_db
from pipeline_factory.stores.ledger_schema import promotion_locks

log = logging.getLogger(__name__)

class PromotionLockTimeout(StageError):
    """Another promotion held the lock for longer than we were willing to wait."""

    def __init__(self, name: str, waited: float):
        super().__init__(f"could not acquire the promotion lock for {name!r} within {waited:.0f}s")
        self.name = name
        self.waited = waited


def _try_acquire(engine: Engine, name: str, holder: str, lease_seconds: float) -> bool:
    now = time.time()
    try:
        with engine.begin() as conn:
            conn.execute(
                delete(promotion_locks).where(
                    promotion_locks.c.name == name, promotion_locks.c.expires_at < now
                )
            )
            conn.execute(
                insert(promotion_locks).values(
                    name=name, holder=holder, acquired_at=now, expires_at=now + lease_seconds
                )
            )
    except IntegrityError:
        return False
    except OperationalError as exc:
        if "locked" in str(exc).lower():
            return False
        raise
    return True


def _release(engine: Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(promotion_locks).where(promotion_locks.c.name == name, promotion_locks.c.holder == holder)
        )


@contextmanager
def promotion_lock(
    name: str,
    *,
    timeout_seconds: float = 600.0,
    lease_seconds: float = 900.0,
    poll_seconds: float = 0.25,
    url: str | None = None,
) -> Iterator[str]:
    """Hold the promotion lock for ``name``; yields the holder id.

    ``lease_seconds`` must exceed the longest promotion: past it, another
    process may take the lock over.
    """
    engine = ledger_db.engine(url)
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    while not _try_acquire(engine, name, holder, lease_seconds):
        waited = time.monotonic() - started
        if waited >= timeout_seconds:
            raise PromotionLockTimeout(name, waited)
        time.sleep(poll_seconds)
    log.info("promotion lock %r acquired by %s after %.2fs", name, holder, time.monotonic() - started)
    try:
        yield holder
    finally:
        _release(engine, name, holder)
        log.info("promotion lock %r released by %s", name, holder)
