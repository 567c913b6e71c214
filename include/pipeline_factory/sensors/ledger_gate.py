"""The gate stage: a sensor that waits until every job of its DAG run is ready in the ledger.

Deferred by default: after one synchronous check it hands the wait to
:class:`~pipeline_factory.triggers.ledger_gate.LedgerGateTrigger` and frees
its worker slot.  With ``deferrable=False`` it pokes from the worker instead
(holding the slot), which the benchmarks compare against.

This module is imported while DAGs are parsed, so the ledger (SQLAlchemy,
Alembic) is imported only inside methods that run in a task.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.bases.sensor import PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from pipeline_factory.hooks.ledger import LedgerHook
from pipeline_factory.observability.notes import gate_note, record_note, skipped_note

if TYPE_CHECKING:
    from airflow.sdk import Context

    from pipeline_factory.stores.ledger import GateStatus, Ledger

log = logging.getLogger(__name__)

DEFAULT_GATE_TIMEOUT = 24 * 3600.0
DEFAULT_POKE_INTERVAL = 30.0
#: The trigger reports its own timeout first; Airflow's deferral timeout is the backstop.
DEFERRAL_GRACE = timedelta(seconds=60)


class LedgerGateSensor(BaseSensorOperator):
    """Succeeds when every job of the run has ``field == equals``; fails as soon as one job failed.

    Jobs that had already failed when the gate started (a PDF that could not be
    downloaded) are left out and named in the log: the upstream stage dealt
    with them.  A run with no jobs at all is skipped.
    """

    template_fields = ("dag_run_id",)
    ui_color = "#fdf1d6"

    def __init__(
        self,
        *,
        field: str = "pdf_ir_ready",
        equals: bool | int | str = True,
        dag_run_id: str | None = None,
        ledger_url: str | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ):
        kwargs.setdefault("poke_interval", DEFAULT_POKE_INTERVAL)
        kwargs.setdefault("timeout", DEFAULT_GATE_TIMEOUT)
        super().__init__(**kwargs)
        self.field = field
        self.equals = equals
        self.dag_run_id = dag_run_id
        self.ledger_url = ledger_url
        self.deferrable = deferrable
        self._exclude: list[str] | None = None

    def get_openlineage_facets_on_start(self) -> Any:
        """Lineage: the gate reads the ledger's jobs table (COMPLETE and FAIL report the same)."""
        from pipeline_factory.lineage.datasets import lineage, sql_table_dataset
        from pipeline_factory.lineage.facets import to_operator_lineage
        from pipeline_factory.stores.ledger_db import database_url

        url = database_url(self.ledger_url)  # the environment only: no connection lookup before the task runs
        return to_operator_lineage(lineage(inputs=[sql_table_dataset(url, "jobs")]), statistics=False)

    # -- shared ---------------------------------------------------------------

    def _run_key(self, context: Context) -> str:
        if self.dag_run_id:
            return self.dag_run_id
        from pipeline_factory.stores.ledger import run_key

        return run_key(context["dag"].dag_id, context["run_id"])

    def _ledger(self) -> Ledger:
        if self.ledger_url:
            from pipeline_factory.stores import ledger_db

            return ledger_db.shared_ledger(self.ledger_url)
        return LedgerHook().get_ledger()

    def _status(self, context: Context) -> GateStatus:
        key = self._run_key(context)
        status = self._ledger().gate_status([key], self.field, self.equals)[key]
        if self._exclude is None:
            self._exclude = sorted(status.failed)
            if self._exclude:
                self.log.warning(
                    "%d job(s) had failed before the gate; waiting without them: %s",
                    len(self._exclude),
                    ", ".join(f"{job} ({error})" for job, error in sorted(status.failed.items())),
                )
        return status.excluding(self._exclude)

    def _decide(self, status: GateStatus) -> dict[str, Any] | None:
        """The task's result when the run is decided; raises when it failed; None while waiting."""
        from pipeline_factory.triggers.ledger_gate import describe

        message = describe(status, self.field, self.equals)
        if status.outcome == "success":
            self.log.info("%s", message)
            return {"status": "success", "message": message, "jobs": status.to_dict()}
        if status.outcome == "failed":
            raise AirflowFailException(message)
        if status.outcome == "empty":
            self._note(skipped_note(message))
            raise AirflowSkipException(message)
        return None

    def _note(self, text: str) -> None:
        """The reason, for the task's note (:mod:`pipeline_factory.observability.notes`)."""
        from airflow.sdk import get_current_context

        try:
            record_note(get_current_context(), text)
        except Exception:  # outside a running task (unit tests of _decide): no note to write
            self.log.debug("no task context for the note", exc_info=True)

    def _push_gate(self, context: Context, **figures: Any) -> None:
        """Gate wait figures for Prometheus (:mod:`pipeline_factory.observability.metrics`)."""
        from pipeline_factory.observability.metrics import push_gate

        push_gate(context["dag"].dag_id, self.task_id, **figures)

    # -- deferred -------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from pipeline_factory.triggers.ledger_gate import LedgerGateTrigger

        status = self._status(context)
        decided = self._decide(status)
        if decided is not None:
            return decided
        now = datetime.now(UTC)
        deadline = now + timedelta(seconds=self.timeout)
        record_note(context, gate_note(_waiting_line(status, self.field), waiting=True))
        self._push_gate(context, waiting_since=now.timestamp())
        self.log.info(
            "waiting, deferred, for %d job(s) of %s (until %s)",
            len(status.waiting),
            status.dag_run_id,
            deadline.isoformat(timespec="seconds"),
        )
        self.defer(
            trigger=LedgerGateTrigger(
                dag_run_id=status.dag_run_id,
                field=self.field,
                equals=self.equals,
                poll_interval=self.poke_interval,
                deadline=deadline.isoformat(),
                exclude_jobs=self._exclude or [],
                ledger_url=self.ledger_url,
            ),
            method_name="execute_complete",
            kwargs={"waiting_since": now.isoformat()},
            timeout=timedelta(seconds=self.timeout) + DEFERRAL_GRACE,
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, waiting_since: str | None = None
    ) -> dict[str, Any]:
        if not event or "status" not in event:
            raise AirflowFailException(f"the ledger gate resumed without a usable event: {event!r}")
        status, message = event["status"], event.get("message", "")
        waited = (datetime.now(UTC) - datetime.fromisoformat(waiting_since)).total_seconds() if waiting_since else None
        self._push_gate(context, waiting_since=None, waited_seconds=waited)
        if status == "success":
            self.log.info("%s", message)
            record_note(context, gate_note(message, waiting=False, waited_seconds=waited))
            return event
        if status == "timeout":
            record_note(context, f"gate timed out: {message}")
            raise AirflowSensorTimeout(message)
        if status == "empty":
            record_note(context, skipped_note(message))
            raise AirflowSkipException(message)
        record_note(context, f"gate failed: {message}")
        raise AirflowFailException(message)

    # -- poke mode ------------------------------------------------------------

    def poke(self, context: Context) -> bool | PokeReturnValue:
        status = self._status(context)
        decided = self._decide(status)
        if decided is None:
            self.log.info("%s", _waiting_line(status, self.field))
            return False
        return PokeReturnValue(is_done=True, xcom_value=decided)


def _waiting_line(status: GateStatus, field: str) -> str:
    return f"{len(status.waiting)} of {status.total} job(s) of {status.dag_run_id} still waiting for {field}"


def build_gate_task(stage: Any, pipeline: Any = None, task_kwargs: dict[str, Any] | None = None) -> LedgerGateSensor:
    """The factory's hook for ``type: gate`` stages.

    The gate's wait is bounded by ``stage.timeout`` (default a day), not by the
    policy's per-attempt ``execution_timeout``, which would cut a long wait in
    poke mode.
    """
    if task_kwargs is None and isinstance(pipeline, dict):
        pipeline, task_kwargs = None, pipeline
    kwargs = dict(task_kwargs or {})
    kwargs.pop("execution_timeout", None)
    kwargs.setdefault("task_id", stage.name)
    condition = stage.condition
    field = condition.ledger_field if condition is not None else "pdf_ir_ready"
    equals = condition.equals if condition is not None else True
    return LedgerGateSensor(
        field=field,
        equals=equals,
        timeout=stage.timeout or DEFAULT_GATE_TIMEOUT,
        poke_interval=stage.poke_interval or DEFAULT_POKE_INTERVAL,
        deferrable=kwargs.pop("deferrable", True),
        **kwargs,
    )
