"""Alembic environment for the job ledger.

Migrations run programmatically (``pipeline_factory.stores.ledger_db.upgrade``) on a connection the
caller already holds, so the ledger never needs an ``alembic.ini``; the
``alembic`` command line works too when ``sqlalchemy.url`` is given with ``-x
url=...``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pipeline_factory.stores.ledger_schema import metadata

config = context.config
target_metadata = metadata
VERSION_TABLE = "ledger_alembic_version"


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no ledger URL: pass -x url=... or set sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
