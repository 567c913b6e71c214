"""One ledger poller per triggerer event loop, shared by every waiting gate.

A thousand gates each polling the ledger would cost a thousand queries per
poll interval.  Instead each gate registers what it waits for here, and one
background task asks the ledger about all of them in a single query per
interval (one per distinct ``field == equals`` condition), then wakes the
gates whose runs are decided.  Database load grows with the number of poll
intervals, not with the number of gates.

The query runs in a worker thread (``asyncio.to_thread``) so the triggerer's
event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline_factory.stores.ledger import GateStatus, Ledger

log = logging.getLogger(__name__)

_pollers: dict[tuple[int, str | None], GatePoller] = {}


def _shared_ledger(url: str | None) -> Ledger:
    """The process's ledger (blocking on first use; imported here so parsing DAGs never loads SQLAlchemy)."""
    from pipeline_factory.stores.ledger_db import shared_ledger

    return shared_ledger(url)


def poller_for(ledger_url: str | None) -> GatePoller:
    """The poller of the running event loop for this ledger, created on first use."""
    loop = asyncio.get_running_loop()
    key = (id(loop), ledger_url)
    poller = _pollers.get(key)
    if poller is None or poller.loop is not loop:
        poller = GatePoller(ledger_url, loop)
        _pollers[key] = poller
    return poller


@dataclass(eq=False)
class _Waiter:
    dag_run_id: str
    field: str
    equals: Any
    exclude: frozenset[str]
    interval: float
    future: asyncio.Future
    due: float = 0.0
    last: GateStatus | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


class GatePoller:
    """Batches the ledger checks of every gate waiting in one event loop."""

    def __init__(self, ledger_url: str | None, loop: asyncio.AbstractEventLoop):
        self.ledger_url = ledger_url
        self.loop = loop
        self._waiters: set[_Waiter] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.queries = 0
        self.polls = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def wait(
        self,
        dag_run_id: str,
        field: str,
        equals: Any,
        *,
        interval: float,
        exclude: frozenset[str] = frozenset(),
    ) -> GateStatus:
        """Return once the run is decided (success, failed or empty); cancel to stop waiting."""
        waiter = _Waiter(
            dag_run_id=dag_run_id,
            field=field,
            equals=equals,
            exclude=exclude,
            interval=max(interval, 0.05),
            future=self.loop.create_future(),
            due=time.monotonic(),
        )
        self._waiters.add(waiter)
        self._ensure_running()
        self._wake.set()
        try:
            return await waiter.future
        finally:
            self._waiters.discard(waiter)

    async def check(self, dag_run_id: str, field: str, equals: Any, exclude: frozenset[str]) -> GateStatus:
        """One direct check, outside the batching (for a gate's final word at its deadline)."""
        ledger = await asyncio.to_thread(_shared_ledger, self.ledger_url)
        statuses = await asyncio.to_thread(ledger.gate_status, [dag_run_id], field, equals, exclude=exclude)
        self.queries += 1
        return statuses[dag_run_id]

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run(), name="ledger-gate-poller")

    async def _run(self) -> None:
        try:
            while self._waiters:
                now = time.monotonic()
                due = [w for w in self._waiters if w.due <= now and not w.future.done()]
                if due:
                    try:
                        await self._poll(due)
                    except Exception:  # never leave the gates without a poller
                        log.exception("ledger gate poll failed; the gates keep waiting")
                        self._reschedule(due)
                pending = [w.due for w in self._waiters if not w.future.done()]
                if not pending:
                    break
                delay = max(0.0, min(pending) - time.monotonic())
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    # Let every gate registered in the same burst join this poll.
                    await asyncio.sleep(0.01)
                except TimeoutError:
                    pass
        finally:
            key = (id(self.loop), self.ledger_url)
            if _pollers.get(key) is self and not self._waiters:
                del _pollers[key]

    async def _poll(self, due: list[_Waiter]) -> None:
        groups: dict[tuple[str, Any], list[_Waiter]] = defaultdict(list)
        for waiter in due:
            groups[(waiter.field, waiter.equals)].append(waiter)
        self.polls += 1
        try:
            ledger = await asyncio.to_thread(_shared_ledger, self.ledger_url)
        except Exception:
            log.exception("cannot open the job ledger; gates keep waiting")
            self._reschedule(due)
            return
        for (field_name, equals), waiters in groups.items():
            run_ids = sorted({w.dag_run_id for w in waiters})
            try:
                statuses = await asyncio.to_thread(ledger.gate_status, run_ids, field_name, equals)
            except Exception:
                log.exception("ledger query for %d gate(s) failed; they keep waiting", len(waiters))
                self._reschedule(waiters)
                continue
            finally:
                self.queries += 1
            for waiter in waiters:
                status = statuses[waiter.dag_run_id].excluding(waiter.exclude)
                waiter.last = status
                if status.outcome != "waiting" and not waiter.future.done():
                    waiter.future.set_result(status)
            self._reschedule(waiters)

    @staticmethod
    def _reschedule(waiters: list[_Waiter]) -> None:
        """Put each gate on its interval's grid, so gates with the same interval share one query."""
        now = time.monotonic()
        for waiter in waiters:
            waiter.due = (math.floor(now / waiter.interval) + 1) * waiter.interval
