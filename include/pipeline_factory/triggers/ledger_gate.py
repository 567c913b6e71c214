"""The trigger behind a deferred gate: waits until every job of a DAG run is ready in the ledger.

It holds no worker slot and no connection of its own: it registers with the
event loop's shared :class:`~pipeline_factory.triggers.gate_poller.GatePoller`
and sleeps until the poller decides its run.  Everything it needs to resume
after a triggerer restart is in its kwargs (including an absolute deadline),
so a re-created trigger keeps waiting where the old one stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from pipeline_factory.triggers.gate_poller import poller_for

CLASSPATH = "pipeline_factory.triggers.ledger_gate.LedgerGateTrigger"
#: How many job ids a message names before it says "and N more".
NAMED_JOBS = 20


def name_jobs(job_ids: Sequence[str]) -> str:
    ids = sorted(job_ids)
    text = ", ".join(ids[:NAMED_JOBS])
    if len(ids) > NAMED_JOBS:
        text += f" and {len(ids) - NAMED_JOBS} more"
    return text


def describe(status: Any, field: str, equals: Any) -> str:
    """The sentence a person reads in the task log for a decided (or timed-out) run."""
    outcome = status.outcome
    if outcome == "failed":
        reasons = "; ".join(f"{job}: {error}" for job, error in sorted(status.failed.items())[:NAMED_JOBS])
        return f"{len(status.failed)} of {status.total} job(s) of {status.dag_run_id} failed: {reasons}"
    if outcome == "success":
        return f"all {status.total} job(s) of {status.dag_run_id} have {field}={equals!r}"
    if outcome == "empty":
        return f"the ledger has no jobs for {status.dag_run_id}"
    return (
        f"{len(status.waiting)} of {status.total} job(s) of {status.dag_run_id} still not "
        f"{field}={equals!r}: {name_jobs(status.waiting)}"
    )


class LedgerGateTrigger(BaseTrigger):
    """Fires once: ``success`` (all jobs ready), ``failed`` (a job failed), ``timeout`` or ``error``.

    :param dag_run_id: the ledger's run key (``dag_id/run_id``).
    :param field: the ledger field every job must have ...
    :param equals: ... equal to this value.
    :param poll_interval: seconds between ledger checks.
    :param deadline: ISO-8601 UTC time after which the trigger reports ``timeout``; None waits forever.
    :param exclude_jobs: jobs that had failed before the gate began waiting; they do not count.
    :param ledger_url: the ledger's database; None reads ``PIPELINE_LEDGER_URL`` in the triggerer.
    """

    def __init__(
        self,
        *,
        dag_run_id: str,
        field: str = "pdf_ir_ready",
        equals: bool | int | str = True,
        poll_interval: float = 30.0,
        deadline: str | None = None,
        exclude_jobs: Sequence[str] = (),
        ledger_url: str | None = None,
    ):
        super().__init__()
        if deadline is not None:
            parsed = datetime.fromisoformat(deadline)
            if parsed.tzinfo is None:
                raise ValueError(f"deadline {deadline!r} needs a time zone")
        self.dag_run_id = dag_run_id
        self.field = field
        self.equals = equals
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.exclude_jobs = sorted(exclude_jobs)
        self.ledger_url = ledger_url

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "dag_run_id": self.dag_run_id,
                "field": self.field,
                "equals": self.equals,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "exclude_jobs": list(self.exclude_jobs),
                "ledger_url": self.ledger_url,
            },
        )

    def seconds_left(self) -> float | None:
        if self.deadline is None:
            return None
        return (datetime.fromisoformat(self.deadline) - datetime.now(UTC)).total_seconds()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        poller = poller_for(self.ledger_url)
        exclude = frozenset(self.exclude_jobs)
        try:
            left = self.seconds_left()
            if left is not None and left <= 0:
                raise TimeoutError
            status = await asyncio.wait_for(
                poller.wait(self.dag_run_id, self.field, self.equals, interval=self.poll_interval, exclude=exclude),
                timeout=left,
            )
        except TimeoutError:
            try:
                status = await poller.check(self.dag_run_id, self.field, self.equals, exclude)
            except Exception as exc:
                yield self._event("error", f"the gate timed out and the ledger could not be read: {exc}")
                return
            if status.outcome == "waiting" or status.outcome == "empty":
                yield self._event(
                    "timeout",
                    f"gate timed out at {self.deadline}: {describe(status, self.field, self.equals)}",
                    status,
                )
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception("ledger gate for %s failed unexpectedly", self.dag_run_id)
            yield self._event("error", f"{type(exc).__name__}: {exc}")
            return
        outcome = "success" if status.outcome == "success" else status.outcome
        yield self._event(outcome, describe(status, self.field, self.equals), status)

    def _event(self, status: str, message: str, gate: Any = None) -> TriggerEvent:
        payload: dict[str, Any] = {"status": status, "message": message, "dag_run_id": self.dag_run_id}
        if gate is not None:
            payload["jobs"] = gate.to_dict()
        return TriggerEvent(payload)
