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


@pytest.fixture
def stage_ctx(tmp_path, monkeypatch, ledger):
    """``stage_ctx(stage, pipeline=..., run_id=...)``: a StageContext on a private data dir and ledger."""
    from pipeline_factory.stages.contracts import StageContext

    data = tmp_path / "data"
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))

    def make(stage: str, pipeline: str = "docs_auto", run_id: str = "manual__1", policy=None) -> StageContext:
        return StageContext(
            pipeline=pipeline,
            stage=stage,
            run_id=run_id,
            run_dir=data / "runs" / pipeline / run_id,
            data_dir=data,
            policy=policy,
            inputs=default_inputs(stage),
        )

    return make


def default_inputs(stage: str) -> dict[str, str]:
    """The inputs the loader would wire for a stage named after its type, in a pipeline whose other
    stages are also named after their types (the shipped layout)."""
    from pipeline_factory.stages.registry import default_registry

    registry = default_registry()
    if stage not in registry:
        return {}
    stage_type = registry.get(stage)
    inputs = {}
    for kind in (*stage_type.consumes, *stage_type.optional):
        producers = [t.name for t in registry if kind in t.produces and t.family == stage_type.family]
        if producers:
            inputs[kind] = producers[0]
    return inputs
