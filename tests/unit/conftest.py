"""Fixtures every unit test of the ledger's users shares: a private SQLite ledger, jobs, a query counter."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from pipeline_factory.stores.ledger import Ledger


@pytest.fixture
def ledger_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("PIPELINE_LEDGER_URL", url)
    return url


@pytest.fixture
def ledger(ledger_url) -> Ledger:
    ledger = Ledger(ledger_url)
    yield ledger
    ledger.dispose()


class QueryCounter:
    """Counts the SELECTs on the jobs table that reach the database, from any engine."""

    def __init__(self) -> None:
        self.selects = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM jobs" in statement:
            self.selects += 1


@pytest.fixture
def query_counter():
    counter = QueryCounter()
    event.listen(Engine, "before_cursor_execute", counter)
    yield counter
    event.remove(Engine, "before_cursor_execute", counter)


@pytest.fixture
def add_jobs():
    """``add_jobs(ledger, run, n, **fields) -> job ids``: n jobs recorded for one DAG run."""

    def add(ledger: Ledger, run: str, n: int, **fields) -> list[str]:
        ids = [f"{run}#doc{i}" for i in range(n)]
        for job_id in ids:
            ledger.upsert_job(job_id, doc_id=job_id, pipeline=run.split("/")[0], dag_run_id=run, **fields)
        return ids

    return add
