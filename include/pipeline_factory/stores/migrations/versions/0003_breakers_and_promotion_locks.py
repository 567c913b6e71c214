"""The circuit_breakers and ml_promotion_locks tables.

Before this revision the breaker store and the promotion lock created their
tables themselves (``create_all``) on first use, so a database may already
hold them: such a table is adopted as it is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _exists(name: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if not _exists("circuit_breakers"):
        op.create_table(
            "circuit_breakers",
            sa.Column("name", sa.String(200), primary_key=True),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("fail_counter", sa.Integer, nullable=False),
            sa.Column("success_counter", sa.Integer, nullable=False),
            sa.Column("opened_at", sa.Float, nullable=True),
            sa.Column("updated_at", sa.Float, nullable=True),
        )
    if not _exists("ml_promotion_locks"):
        op.create_table(
            "ml_promotion_locks",
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("holder", sa.String(255), nullable=False),
            sa.Column("acquired_at", sa.Float, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("ml_promotion_locks")
    op.drop_table("circuit_breakers")
