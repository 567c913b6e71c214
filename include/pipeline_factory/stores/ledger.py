"""The job ledger: where every job of every document pipeline is recorded.

Several processes write to it at once (stage tasks in workers, the PDF
converter, people through ``python -m pipeline_factory ledger mark``) while
gates poll it.  Nothing here reads a row, changes it in Python and writes it
back: every change is one conditional ``UPDATE`` that also bumps the row's
``version``, so concurrent writers never lose each other's fields, and a
writer that must decide on what it read passes ``expected_version`` and
learns (``False``) that someone else wrote first.

The database is :func:`pipeline_factory.stores.ledger_db.database_url`: a
SQLite file in the data dir by default (WAL, busy timeout), Postgres in
deployments.  :mod:`~pipeline_factory.stores.ledger_db` owns its engines and
runs the Alembic migrations shipped in this package, on first use in each
process; :func:`~pipeline_factory.stores.ledger_db.shared_ledger` is the
process's one ledger.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, inspect, select, update

from pipeline_factory.exceptions import ConfigError
from pipeline_factory.stores import ledger_db
from pipeline_factory.stores.events import current_lineage_run_id
from pipeline_factory.stores.ledger_schema import (
    JOB_STATES,
    TERMINAL_STATES,
    Job,
    JobEvent,
    utcnow,
)

log = logging.getLogger(__name__)

#: Fields a caller may set with :meth:`Ledger.mark` (the rest are the ledger's own).
MARKABLE_FIELDS = frozenset(
    {
        "tenant",
        "doc_id",
        "source",
        "state",
        "current_stage",
        "pdf_downloaded",
        "pdf_ir_ready",
        "pdf_path",
        "pdf_sha256",
        "ir_path",
        "error",
        "attempts",
        "dag_run_id",
    }
)
BOOLEAN_FIELDS = frozenset({"pdf_downloaded", "pdf_ir_ready"})
INTEGER_FIELDS = frozenset({"attempts"})
#: Fields that say which document and run a job is: set when the job is recorded, not by a mark.
IDENTITY_FIELDS = frozenset({"job_id", "pipeline", "tenant", "doc_id", "source", "version", "created_at", "updated_at"})
#: Moves a job into another run's gate: only with ``move_run=True``.
RUN_FIELD = "dag_run_id"
#: Fields a gate may wait on.
GATE_FIELDS = frozenset({"pdf_downloaded", "pdf_ir_ready", "state", "current_stage"})

EVENT_SOURCE_PREFIX = "/pipeline-factory"


def run_key(dag_id: str, run_id: str) -> str:
    """The ``dag_run_id`` jobs are recorded under: unique across DAGs (``/`` never occurs in a dag id)."""
    return f"{dag_id}/{run_id}"


def job_key(pipeline: str, doc_id: str, tenant: str = "default") -> str:
    """A job id stable across reruns of the same document in the same pipeline."""
    return f"{tenant}:{pipeline}:{doc_id}"


@dataclass
class GateStatus:
    """Where the jobs of one DAG run stand against a gate's condition."""

    dag_run_id: str
    ready: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.ready) + len(self.waiting) + len(self.failed)

    @property
    def outcome(self) -> str:
        """``failed`` as soon as any job failed, ``success`` when every job is ready, else ``waiting``.

        A run with no jobs at all is ``empty``: nothing will ever make it ready.
        """
        if self.failed:
            return "failed"
        if self.total == 0:
            return "empty"
        if not self.waiting:
            return "success"
        return "waiting"

    def excluding(self, job_ids: Iterable[str]) -> GateStatus:
        """This status without the given jobs (those that had failed before the gate began waiting)."""
        skip = set(job_ids)
        if not skip:
            return self
        return GateStatus(
            self.dag_run_id,
            ready=[j for j in self.ready if j not in skip],
            waiting=[j for j in self.waiting if j not in skip],
            failed={j: e for j, e in self.failed.items() if j not in skip},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dag_run_id": self.dag_run_id,
            "total": self.total,
            "ready": sorted(self.ready),
            "waiting": sorted(self.waiting),
            "failed": dict(sorted(self.failed.items())),
        }


class Ledger:
    """Read and write jobs and their events.

    Build one per process with :meth:`from_env` (or a URL) and share it: the
    engine pools connections and is thread-safe.
    """

    def __init__(self, url: str | None = None, *, engine: Engine | None = None, migrate: bool = True):
        self.url = ledger_db.database_url(url)
        self.engine = engine or ledger_db.make_engine(self.url)
        if migrate:
            self.upgrade()

    @classmethod
    def from_env(cls) -> Ledger:
        return cls(ledger_db.database_url())

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (:func:`pipeline_factory.stores.ledger_db.upgrade`)."""
        ledger_db.upgrade(self.engine)

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    # -- jobs -----------------------------------------------------------------

    def upsert_job(
        self,
        job_id: str,
        *,
        doc_id: str,
        pipeline: str,
        dag_run_id: str | None = None,
        tenant: str = "default",
        source: str = "",
        state: str = "pending",
        **fields: Any,
    ) -> dict[str, Any]:
        """Create the job, or reset it for a new run of the same document (one statement).

        A rerun re-records the job under the new ``dag_run_id``; fields not
        given are reset to their defaults so no stale flag leaks into the new
        run.
        """
        self.upsert_jobs(
            [
                {
                    "job_id": job_id,
                    "doc_id": doc_id,
                    "pipeline": pipeline,
                    "dag_run_id": dag_run_id,
                    "tenant": tenant,
                    "source": source,
                    "state": state,
                    **fields,
                }
            ]
        )
        return self.get(job_id) or {}

    def upsert_jobs(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """:meth:`upsert_job` for many jobs in one transaction (rows: ``job_id``, ``pipeline``, fields)."""
        with self.engine.begin() as connection:
            for row in rows:
                row = dict(row)
                job_id = row.pop("job_id")
                now = utcnow()
                values = {
                    "tenant": "default",
                    "source": "",
                    "state": "pending",
                    "dag_run_id": None,
                    "current_stage": None,
                    "pdf_downloaded": False,
                    "pdf_ir_ready": False,
                    "pdf_path": None,
                    "pdf_sha256": None,
                    "ir_path": None,
                    "error": None,
                    "attempts": 0,
                    **self._checked({k: v for k, v in row.items() if k != "pipeline"}),
                    "pipeline": row["pipeline"],
                }
                statement = (
                    self._insert(Job)
                    .values(job_id=job_id, **values, version=1, created_at=now, updated_at=now)
                    .on_conflict_do_update(
                        index_elements=[Job.job_id],
                        set_={**values, "version": Job.version + 1, "updated_at": now},
                    )
                )
                connection.execute(statement)
        return len(rows)

    def mark(
        self,
        job_id: str,
        *,
        expected_version: int | None = None,
        only_if_state: Iterable[str] | None = None,
        move_run: bool = False,
        **fields: Any,
    ) -> bool:
        """Set ``fields`` on one job in one atomic UPDATE; ``True`` if the row changed.

        ``expected_version`` makes it a compare-and-set; ``only_if_state``
        keeps a late writer from resurrecting a job someone already failed;
        ``dag_run_id`` moves the job into another run's gate and needs
        ``move_run=True``.
        """
        return (
            self.mark_many(
                [job_id], expected_version=expected_version, only_if_state=only_if_state, move_run=move_run, **fields
            )
            == 1
        )

    def mark_many(
        self,
        job_ids: Iterable[str],
        *,
        expected_version: int | None = None,
        only_if_state: Iterable[str] | None = None,
        move_run: bool = False,
        **fields: Any,
    ) -> int:
        """:meth:`mark` for many jobs in one statement; returns how many rows changed."""
        ids = list(job_ids)
        if not ids:
            return 0
        statement = self._mark_statement(ids, fields, expected_version, only_if_state, move_run)
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount

    def mark_recorded(
        self,
        job_id: str,
        *,
        event_type: str,
        source: str,
        data: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        only_if_state: Iterable[str] | None = None,
        move_run: bool = False,
        **fields: Any,
    ) -> dict[str, Any] | None:
        """:meth:`mark` and its event in one transaction: the event exists only if the job changed.

        Returns the job as it is after the change, or ``None`` when nothing
        matched (no such job, another state, another version) and so nothing
        was changed or recorded.
        """
        statement = self._mark_statement([job_id], fields, expected_version, only_if_state, move_run)
        with self.engine.begin() as connection:
            if connection.execute(statement).rowcount != 1:
                return None
            row = connection.execute(select(Job.__table__).where(Job.job_id == job_id)).first()
            job = _row_to_dict(row)
            event = self._event_row(
                {
                    "type": event_type,
                    "source": source,
                    "subject": job_id,
                    "data": data,
                    "job_id": job_id,
                    "dag_run_id": job["dag_run_id"],
                }
            )
            connection.execute(insert(JobEvent), [event])
        return job

    def _mark_statement(
        self,
        ids: list[str],
        fields: Mapping[str, Any],
        expected_version: int | None,
        only_if_state: Iterable[str] | None,
        move_run: bool,
    ) -> Any:
        values = self._checked(fields)
        if not values:
            raise ValueError("mark needs at least one field to set")
        if RUN_FIELD in values and not move_run:
            raise ValueError(
                f"{RUN_FIELD} moves a job into another run's gate; say so explicitly (move_run=True, "
                "CLI: --move-to-run)"
            )
        statement = (
            update(Job).where(Job.job_id.in_(ids)).values(**values, version=Job.version + 1, updated_at=utcnow())
        )
        if expected_version is not None:
            statement = statement.where(Job.version == expected_version)
        if only_if_state is not None:
            states = [only_if_state] if isinstance(only_if_state, str) else list(only_if_state)
            unknown = [state for state in states if state not in JOB_STATES]
            if unknown or not states:
                raise ValueError(f"only_if_state {unknown or states!r}: states are {', '.join(JOB_STATES)}")
            statement = statement.where(Job.state.in_(states))
        return statement

    def increment_attempts(self, job_id: str) -> bool:
        """Count one more attempt, atomically (``attempts = attempts + 1`` in the database)."""
        statement = (
            update(Job)
            .where(Job.job_id == job_id)
            .values(attempts=Job.attempts + 1, version=Job.version + 1, updated_at=utcnow())
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount == 1

    def fail(self, job_id: str, error: str, *, stage: str | None = None, source: str = "ledger") -> bool:
        """Mark one job failed with a reason, and record why as an event."""
        fields: dict[str, Any] = {"state": "failed", "error": error}
        if stage:
            fields["current_stage"] = stage
        job = self.mark_recorded(
            job_id, event_type="job.failed", source=source, data={"error": error, "stage": stage}, **fields
        )
        log.warning("job %s failed%s: %s", job_id, f" in {stage}" if stage else "", error)
        return job is not None

    def claim(
        self,
        *,
        stage: str,
        where: Mapping[str, Any],
        limit: int = 50,
        stale_after_seconds: float | None = None,
    ) -> list[dict[str, Any]]:
        """Move up to ``limit`` jobs matching ``where`` to ``running`` in ``stage``, exactly once.

        Each job is taken with a compare-and-set on its version, so two
        converters polling together never take the same job.  Jobs left
        ``running`` in ``stage`` for longer than ``stale_after_seconds`` (a
        converter that died) can be taken again.
        """
        unknown = set(where) - MARKABLE_FIELDS - {"pipeline", "job_id"}
        if unknown:
            raise ValueError(f"claim cannot filter on {sorted(unknown)}")
        conditions = [getattr(Job, name) == value for name, value in where.items()]
        candidates = select(Job.job_id, Job.version).where(*conditions, Job.state != "failed")
        if stale_after_seconds is None:
            candidates = candidates.where(Job.state != "running")
        else:
            from datetime import timedelta

            cutoff = utcnow() - timedelta(seconds=stale_after_seconds)
            candidates = candidates.where(
                (Job.state != "running") | ((Job.current_stage == stage) & (Job.updated_at < cutoff))
            )
        candidates = candidates.order_by(Job.created_at, Job.job_id).limit(limit * 2)
        with self.engine.connect() as connection:
            rows = connection.execute(candidates).all()
        claimed: list[str] = []
        for job_id, version in rows:
            if len(claimed) >= limit:
                break
            if self.mark(job_id, expected_version=version, state="running", current_stage=stage):
                self.increment_attempts(job_id)
                claimed.append(job_id)
        return [job for job in (self.get(job_id) for job_id in claimed) if job]

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            job = connection.execute(select(Job).where(Job.job_id == job_id)).first()
        return _row_to_dict(job) if job else None

    def jobs(
        self,
        *,
        state: str | None = None,
        dag_run_id: str | None = None,
        pipeline: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        statement = select(Job).order_by(Job.created_at, Job.job_id)
        if state:
            statement = statement.where(Job.state == state)
        if dag_run_id:
            statement = statement.where(Job.dag_run_id == dag_run_id)
        if pipeline:
            statement = statement.where(Job.pipeline == pipeline)
        if limit:
            statement = statement.limit(limit)
        with self.engine.connect() as connection:
            return [_row_to_dict(row) for row in connection.execute(statement)]

    def jobs_for_run(self, dag_run_id: str) -> list[dict[str, Any]]:
        return self.jobs(dag_run_id=dag_run_id)

    def live_jobs_for_run(self, dag_run_id: str) -> list[dict[str, Any]]:
        """The run's jobs that have not failed: the ones downstream stages should work on."""
        return [job for job in self.jobs_for_run(dag_run_id) if job["state"] != "failed"]

    def gate_status(
        self, dag_run_ids: Iterable[str], field: str, equals: Any, *, exclude: Iterable[str] = ()
    ) -> dict[str, GateStatus]:
        """Where each run stands against ``field == equals``: ONE query however many runs.

        This is what lets one poller serve every waiting gate of a triggerer.
        Jobs in ``exclude`` (failed before the gate started waiting) are left
        out; every run asked about gets an entry, empty if it has no jobs.
        """
        if field not in GATE_FIELDS:
            raise ValueError(f"a gate cannot wait on {field!r}; choose one of {sorted(GATE_FIELDS)}")
        ids = sorted(set(dag_run_ids))
        result = {run_id: GateStatus(run_id) for run_id in ids}
        if not ids:
            return result
        column = getattr(Job, field)
        statement = select(Job.dag_run_id, Job.job_id, Job.state, Job.error, column).where(Job.dag_run_id.in_(ids))
        skip = set(exclude)
        with self.engine.connect() as connection:
            rows = connection.execute(statement).all()
        for dag_run_id, job_id, state, error, value in rows:
            if job_id in skip:
                continue
            status = result[dag_run_id]
            if state == "failed":
                status.failed[job_id] = error or "failed"
            elif value == equals:
                status.ready.append(job_id)
            else:
                status.waiting.append(job_id)
        return result

    def counts(self) -> dict[str, int]:
        """Jobs per state, for the CLI and the benchmarks."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(Job.state, func.count()).group_by(Job.state)).all()
        return {state: count for state, count in rows}

    # -- events ---------------------------------------------------------------

    def record_event(
        self,
        type: str,
        *,
        source: str,
        subject: str | None = None,
        data: Mapping[str, Any] | None = None,
        job_id: str | None = None,
        dag_run_id: str | None = None,
        openlineage_run_id: str | None = None,
    ) -> dict[str, Any]:
        """Append one CloudEvents 1.0 event; ``type`` is prefixed with ``org.pipeline-factory.``.

        ``openlineage_run_id`` links the event to the task run's OpenLineage run
        (extension attribute ``openlineagerunid``).
        """
        return self.record_events(
            [
                {
                    "type": type,
                    "source": source,
                    "subject": subject,
                    "data": data,
                    "job_id": job_id,
                    "dag_run_id": dag_run_id,
                    "openlineage_run_id": openlineage_run_id,
                }
            ]
        )[0]

    @staticmethod
    def _event_row(item: Mapping[str, Any]) -> dict[str, Any]:
        event_type = item["type"]
        if not event_type.startswith("org."):
            event_type = f"org.pipeline-factory.{event_type}"
        source = item["source"]
        if not source.startswith("/"):
            source = f"{EVENT_SOURCE_PREFIX}/{source}"
        return {
            "id": str(uuid.uuid4()),
            "specversion": "1.0",
            "source": source,
            "type": event_type,
            "subject": item.get("subject"),
            "time": utcnow(),
            "datacontenttype": "application/json",
            "data": dict(item["data"]) if item.get("data") is not None else None,
            "job_id": item.get("job_id"),
            "dag_run_id": item.get("dag_run_id"),
            "openlineage_run_id": item.get("openlineage_run_id") or current_lineage_run_id(),
        }

    def record_events(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        rows = [self._event_row(item) for item in events]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(insert(JobEvent), rows)
        return [JobEvent(**row).to_cloudevent() for row in rows]

    def events(
        self,
        *,
        job_id: str | None = None,
        dag_run_id: str | None = None,
        type: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        statement = select(JobEvent).order_by(JobEvent.seq)
        if job_id:
            statement = statement.where(JobEvent.job_id == job_id)
        if dag_run_id:
            statement = statement.where(JobEvent.dag_run_id == dag_run_id)
        if type:
            statement = statement.where(JobEvent.type.endswith(type))
        if limit:
            statement = statement.limit(limit)
        with self.engine.connect() as connection:
            return [row[0].to_cloudevent() for row in _orm_rows(connection, statement)]

    # -- helpers --------------------------------------------------------------

    def _insert(self, table: Any) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            return postgresql_insert(table)
        if self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        raise ConfigError(f"the job ledger supports SQLite and Postgres, not {self.engine.dialect.name}")

    @staticmethod
    def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - MARKABLE_FIELDS
        if unknown:
            raise ValueError(f"unknown ledger field(s) {sorted(unknown)}; settable fields: {sorted(MARKABLE_FIELDS)}")
        values = dict(fields)
        columns = Job.__table__.columns
        for name in set(values) - BOOLEAN_FIELDS - INTEGER_FIELDS:
            value, column = values[name], columns[name]
            if value is None:
                if not column.nullable:
                    raise ValueError(f"{name} cannot be empty")
                continue
            if not isinstance(value, str):
                raise ValueError(f"{name} takes text, not {type(value).__name__} {value!r}")
            limit = getattr(column.type, "length", None)
            if limit and len(value) > limit:
                raise ValueError(f"{name} takes at most {limit} characters, not {len(value)}")
        if "state" in values and values["state"] not in JOB_STATES:
            raise ValueError(f"state {values['state']!r} is not one of {', '.join(JOB_STATES)}")
        for name in BOOLEAN_FIELDS & set(values):
            if not isinstance(values[name], bool):
                raise ValueError(f"{name} takes true or false, not {values[name]!r}")
        if "attempts" in values and (not isinstance(values["attempts"], int) or values["attempts"] < 0):
            raise ValueError(f"attempts takes a non-negative integer, not {values['attempts']!r}")
        return values


def _row_to_dict(row: Any) -> dict[str, Any]:
    mapping = row._mapping
    job = Job(**{column.key: mapping[column.key] for column in Job.__table__.columns})
    return job.to_dict()


def _orm_rows(connection, statement):
    from sqlalchemy.orm import Session

    with Session(bind=connection) as session:
        yield from session.execute(statement)


__all__ = ["TERMINAL_STATES", "GateStatus", "Ledger", "job_key", "run_key"]
