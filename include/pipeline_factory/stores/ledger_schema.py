"""Every table of the ledger database, in one place.

``jobs`` (one row per job, updated in place) and ``job_events`` (append-only
CloudEvents) belong to the job ledger; ``circuit_breakers`` holds the shared
breaker state (:mod:`pipeline_factory.resilience.breaker`) and
``ml_promotion_locks`` the promotion leases
(:mod:`pipeline_factory.tracking.promotion_lock`).

Kept apart from :mod:`pipeline_factory.stores.ledger` so that the Alembic
environment imports only the tables, and the migrations compare against one
definition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JOB_STATES = ("pending", "running", "gated", "completed", "failed")
TERMINAL_STATES = ("completed", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Job(Base):
    """One unit of work (a document) as it moves through a pipeline.

    ``version`` goes up by one on every update: writers that read, decide and
    write back pass the version they read and lose cleanly (no row updated)
    when someone else wrote first.
    """

    __tablename__ = "jobs"

    job_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), default="default", nullable=False)
    doc_id: Mapped[str] = mapped_column(String(255), nullable=False)
    pipeline: Mapped[str] = mapped_column(String(250), nullable=False)
    source: Mapped[str] = mapped_column(String(2000), default="", nullable=False)
    state: Mapped[str] = mapped_column(String(16), default="pending", nullable=False)
    current_stage: Mapped[str | None] = mapped_column(String(250))
    pdf_downloaded: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    pdf_ir_ready: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    pdf_path: Mapped[str | None] = mapped_column(String(2000))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    ir_path: Mapped[str | None] = mapped_column(String(2000))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    dag_run_id: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    __table_args__ = (
        CheckConstraint(f"state IN {JOB_STATES!r}", name="ck_jobs_state"),
        Index("ix_jobs_dag_run_id", "dag_run_id"),
        Index("ix_jobs_state", "state"),
    )

    def to_dict(self) -> dict[str, Any]:
        return {column.key: _jsonable(getattr(self, column.key)) for column in self.__table__.columns}


class JobEvent(Base):
    """A CloudEvents 1.0 event (structured mode) about a stage or a job; never updated."""

    __tablename__ = "job_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    specversion: Mapped[str] = mapped_column(String(8), default="1.0", nullable=False)
    source: Mapped[str] = mapped_column(String(500), nullable=False)
    type: Mapped[str] = mapped_column(String(200), nullable=False)
    subject: Mapped[str | None] = mapped_column(String(500))
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    datacontenttype: Mapped[str] = mapped_column(String(100), default="application/json", nullable=False)
    data: Mapped[dict | None] = mapped_column(JSON)
    job_id: Mapped[str | None] = mapped_column(String(255))
    dag_run_id: Mapped[str | None] = mapped_column(String(500))
    #: The OpenLineage run id of the task run that recorded the event (migration 0002).
    openlineage_run_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_job_events_job_id", "job_id"),
        Index("ix_job_events_dag_run_id", "dag_run_id"),
    )

    def to_cloudevent(self) -> dict[str, Any]:
        """The event as CloudEvents 1.0 JSON; our own columns travel as extension attributes."""
        event: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": _jsonable(self.time),
            "datacontenttype": self.datacontenttype,
            "data": self.data,
        }
        if self.subject:
            event["subject"] = self.subject
        if self.dag_run_id:
            event["dagrunid"] = self.dag_run_id
        if self.job_id:
            event["jobid"] = self.job_id
        if self.openlineage_run_id:
            event["openlineagerunid"] = self.openlineage_run_id
        return event


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    return value


metadata = Base.metadata

#: Circuit-breaker state shared by every process (one row per breaker name; pybreaker's state names).
circuit_breakers = Table(
    "circuit_breakers",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("state", String(16), nullable=False, default="closed"),
    Column("fail_counter", Integer, nullable=False, default=0),
    Column("success_counter", Integer, nullable=False, default=0),
    Column("opened_at", Float, nullable=True),
    Column("updated_at", Float, nullable=True),
)

#: Promotion leases: one row per registered model while a promotion holds it.
promotion_locks = Table(
    "ml_promotion_locks",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)
