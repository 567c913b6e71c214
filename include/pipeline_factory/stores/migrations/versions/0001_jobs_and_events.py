"""The jobs table and the append-only job_events table.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(255), primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("doc_id", sa.String(255), nullable=False),
        sa.Column("pipeline", sa.String(250), nullable=False),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("current_stage", sa.String(250)),
        sa.Column("pdf_downloaded", sa.Boolean, nullable=False),
        sa.Column("pdf_ir_ready", sa.Boolean, nullable=False),
        sa.Column("pdf_path", sa.String(2000)),
        sa.Column("pdf_sha256", sa.String(64)),
        sa.Column("ir_path", sa.String(2000)),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("dag_run_id", sa.String(500)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'running', 'gated', 'completed', 'failed')", name="ck_jobs_state"),
    )
    op.create_index("ix_jobs_dag_run_id", "jobs", ["dag_run_id"])
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_table(
        "job_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("specversion", sa.String(8), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(500)),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("datacontenttype", sa.String(100), nullable=False),
        sa.Column("data", sa.JSON),
        sa.Column("job_id", sa.String(255)),
        sa.Column("dag_run_id", sa.String(500)),
    )
    op.create_index("ix_job_events_job_id", "job_events", ["job_id"])
    op.create_index("ix_job_events_dag_run_id", "job_events", ["dag_run_id"])


def downgrade() -> None:
    op.drop_table("job_events")
    op.drop_table("jobs")
