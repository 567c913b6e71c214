"""The ledger database has one owner: one URL resolution, shared engines, every table from the migrations."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline_factory.stores import ledger_db

TABLES = {"jobs", "job_events", "circuit_breakers", "ml_promotion_locks", "ledger_alembic_version"}


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ledger_db.MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_the_url_is_explicit_then_the_environment_then_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PIPELINE_LEDGER_URL", raising=False)
    assert ledger_db.database_url() == f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("PIPELINE_LEDGER_URL", "sqlite:////elsewhere/l.sqlite")
    assert ledger_db.database_url() == "sqlite:////elsewhere/l.sqlite"
    assert ledger_db.database_url("sqlite:////given.sqlite") == "sqlite:////given.sqlite"
    before = dict(os.environ)
    ledger_db.database_url()
    assert dict(os.environ) == before


def test_every_table_comes_from_the_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    engine = ledger_db.engine(url)
    try:
        assert set(sa.inspect(engine).get_table_names()) == TABLES
        with engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM ledger_alembic_version")).scalar()
        assert version == _head()
        assert ledger_db.engine(url) is engine, "one engine per database per process"
    finally:
        ledger_db.forget(url)


def test_the_breaker_store_and_the_promotion_lock_find_their_tables_migrated(tmp_path):
    from pipeline_factory.resilience.breaker import SQLBreakerStorage
    from pipeline_factory.tracking.promotion_lock import promotion_lock

    breakers_url = f"sqlite:///{tmp_path / 'breakers.sqlite'}"
    locks_url = f"sqlite:///{tmp_path / 'locks.sqlite'}"
    try:
        SQLBreakerStorage("api", breakers_url)
        with promotion_lock("model", url=locks_url):
            pass
        for url in (breakers_url, locks_url):
            assert set(sa.inspect(ledger_db.engine(url)).get_table_names()) == TABLES
    finally:
        ledger_db.forget(breakers_url)
        ledger_db.forget(locks_url)


def test_a_database_whose_tables_were_created_before_the_migrations_is_adopted(tmp_path):
    """Earlier versions created circuit_breakers and ml_promotion_locks outside Alembic: rows survive."""
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(ledger_db.MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            sa.text(
                "CREATE TABLE circuit_breakers (name VARCHAR(200) PRIMARY KEY, state VARCHAR(16) NOT NULL, "
                "fail_counter INTEGER NOT NULL, success_counter INTEGER NOT NULL, opened_at FLOAT, updated_at FLOAT)"
            )
        )
        connection.execute(sa.text("INSERT INTO circuit_breakers VALUES ('api', 'open', 3, 0, NULL, NULL)"))
    engine.dispose()
    try:
        from pipeline_factory.resilience.breaker import SQLBreakerStorage

        storage = SQLBreakerStorage("api", url)
        assert (storage.state, storage.counter) == ("open", 3)
        assert set(sa.inspect(ledger_db.engine(url)).get_table_names()) == TABLES
    finally:
        ledger_db.forget(url)


def _open_everything(url: str, barrier, errors) -> None:
    try:
        from pipeline_factory.resilience.breaker import SQLBreakerStorage
        from pipeline_factory.stores.ledger_db import shared_ledger
        from pipeline_factory.tracking.promotion_lock import promotion_lock

        barrier.wait(timeout=60)
        SQLBreakerStorage(f"api-{os.getpid()}", url)
        with promotion_lock(f"model-{os.getpid()}", url=url):
            pass
        shared_ledger(url).record_event("stage.started", source="test")
    except BaseException as exc:  # reported to the parent, which fails the test
        errors.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("attempt", [1, 2])
def test_processes_starting_together_on_a_fresh_database_never_race(tmp_path: Path, attempt: int):
    """Each process creates what it needs at once; no 'table already exists', no lost table.

    With ``create_all`` in the breaker store, two rounds of six processes hit
    "table circuit_breakers already exists" more often than not.
    """
    processes = 6
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    errors = context.Queue()
    workers = [context.Process(target=_open_everything, args=(url, barrier, errors)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found
    assert all(worker.exitcode == 0 for worker in workers)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM circuit_breakers")).scalar() == processes
        assert connection.execute(sa.text("SELECT count(*) FROM job_events")).scalar() == processes
    engine.dispose()
