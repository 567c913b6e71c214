"""The ledger database's one owner: its URL, its engines and its schema.

Several parts of the project keep rows in the ledger database: the job ledger
(:mod:`pipeline_factory.stores.ledger`), the shared circuit breakers
(:mod:`pipeline_factory.resilience.breaker`), the promotion lock
(:mod:`pipeline_factory.tracking.promotion_lock`), and the Pipelines view
reads it.  They all reach it through here, so that

- the URL is resolved one way (:func:`database_url`): an explicit URL (an
  Airflow connection read by :class:`~pipeline_factory.hooks.ledger.LedgerHook`,
  a test), else ``PIPELINE_LEDGER_URL``, else a SQLite file in the data dir.
  Nothing writes the environment;
- every engine is built one way (:func:`make_engine`: WAL and a busy timeout
  on SQLite, a bounded pool on Postgres) and shared per URL per process
  (:func:`engine`);
- every table is created by the Alembic migrations shipped in
  ``stores/migrations`` (:func:`upgrade`), once per database per process and
  under a lock, so processes starting together on a fresh database never race
  to create a table.  Nothing calls ``create_all``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from pipeline_factory import settings
from pipeline_factory.workspace import precreate_sqlite_file

if TYPE_CHECKING:
    from pipeline_factory.stores.ledger import Ledger

log = logging.getLogger(__name__)

URL_VARIABLE = "PIPELINE_LEDGER_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "ledger_alembic_version"
#: Postgres advisory lock key held while migrating (any constant shared by every process).
ADVISORY_LOCK_KEY = 7220315

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_ledgers: dict[str, Ledger] = {}
_upgraded: set[str] = set()


def database_url(url: str | None = None) -> str:
    """The ledger database: ``url`` if given, else ``PIPELINE_LEDGER_URL``, else SQLite in the data dir."""
    if url:
        return url
    return os.environ.get(URL_VARIABLE) or f"sqlite:///{settings.data_dir() / 'ledger.sqlite'}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()


def make_engine(url: str) -> Engine:
    """A new engine suited to the ledger's access pattern (many short writes from many processes)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            precreate_sqlite_file(Path(database))
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        else:
            engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def engine(url: str | None = None, *, migrate: bool = True) -> Engine:
    """The process's engine for the ledger database, built on first use.

    ``migrate=False`` is for readers that must not create anything (the
    Pipelines view); everyone who writes gets the newest schema first.
    """
    key = database_url(url)
    with _lock:
        shared = _engines.get(key)
        if shared is None:
            shared = _engines[key] = make_engine(key)
    if migrate:
        upgrade(shared)
    return shared


def shared_ledger(url: str | None = None) -> Ledger:
    """The process's :class:`~pipeline_factory.stores.ledger.Ledger` for this database, opened once."""
    from pipeline_factory.stores.ledger import Ledger

    key = database_url(url)
    ledger = _ledgers.get(key)
    if ledger is None:
        ledger = Ledger(key, engine=engine(key))
        with _lock:
            ledger = _ledgers.setdefault(key, ledger)
    return ledger


def forget(url: str | None = None) -> None:
    """Drop the process's engine and ledger for ``url`` (tests that delete a database)."""
    key = database_url(url)
    with _lock:
        _ledgers.pop(key, None)
        shared = _engines.pop(key, None)
        _upgraded.discard(key)
    if shared is not None:
        shared.dispose()


def upgrade(target: Engine) -> None:
    """Bring the schema to the newest migration, once per database per process.

    Processes starting together on a fresh database would race to create the
    tables, so the migration runs under a lock the database (Postgres advisory
    lock) or the file system (next to the SQLite file) provides.
    """
    key = target.url.render_as_string(hide_password=False)
    with _lock:
        if key in _upgraded:
            return
        database = target.url.database or ":memory:"
        if target.dialect.name == "sqlite" and database != ":memory:":
            import fcntl

            with Path(f"{database}.migrate-lock").open("a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    _run_migrations(target)
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        else:
            _run_migrations(target)
        _upgraded.add(key)


def _run_migrations(target: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    head = ScriptDirectory.from_config(config).get_current_head()
    with target.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})"))
        current = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()
        if current == head:
            return
        log.info("upgrading the ledger database at %r from %s to %s", target.url, current, head)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
