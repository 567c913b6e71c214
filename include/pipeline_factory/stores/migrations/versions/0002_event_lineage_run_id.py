"""job_events.openlineage_run_id: the OpenLineage run of the task that recorded the event.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_events") as batch:
        batch.add_column(sa.Column("openlineage_run_id", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("job_events") as batch:
        batch.drop_column("openlineage_run_id")
