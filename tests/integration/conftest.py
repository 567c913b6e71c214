"""Stores shared by the integration tests: Qdrant local mode and the embedding model.

The real Neo4j (``neo4j_server``) is in ``tests/conftest.py``: the e2e tier
shares it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``redis-server`` (Debian's, from ``make system-deps``) on a free port, one per test module."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make system-deps)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def vector_store(tmp_path: Path) -> Iterator[Any]:
    """A Qdrant local-mode store in a fresh folder (closed after the test)."""
    from pipeline_factory.stores.vectors import VectorStore

    store = VectorStore(path=tmp_path / "qdrant")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def embedder() -> Any:
    from pipeline_factory.embedding import get_embedder

    return get_embedder(device="cpu")


@pytest.fixture
def lineage_receiver() -> Iterator[Any]:
    """A local OpenLineage receiver (HTTP transport) that checks every event against OpenLineage's models."""
    from pipeline_factory.devservers.lineage_receiver import LineageReceiver

    with LineageReceiver() as receiver:
        yield receiver


RUN_DAG = """
import json, sys
from pipeline_factory.factory.dagfile import render_all

rendered = render_all(auto_register=False)
run = rendered.dags[sys.argv[1]].test(run_conf=json.loads(sys.argv[2]))
print("DAG_RUN " + json.dumps({"run_id": run.run_id, "state": str(getattr(run.state, "value", run.state))}))
"""


@pytest.fixture
def run_in_process(airflow_db: Path):
    """``run_in_process(dag_id, conf, lineage_url=None) -> {run_id, state}``: ``dag.test()`` in a fresh process.

    A fresh process because Airflow's OpenLineage provider reads its settings
    once per process, as a deployment's workers do; ``lineage_url`` becomes the
    process's ``OPENLINEAGE_URL``, its one lineage setting.
    """
    import json
    import os
    import sys

    def run(dag_id: str, conf: dict[str, Any] | None = None, lineage_url: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "AIRFLOW__OPENLINEAGE"))}
        if lineage_url:
            env["OPENLINEAGE_URL"] = lineage_url
            # The provider gives each event's process 10 s by default; a machine busy with other test
            # sessions can exceed that, and a lost event would read as a missing one.
            env["AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT"] = "120"
        done = subprocess.run([sys.executable, "-c", RUN_DAG, dag_id, json.dumps(conf or {})],
                              env=env, capture_output=True, text=True, timeout=900)
        lines = [line for line in done.stdout.splitlines() if line.startswith("DAG_RUN ")]
        assert lines, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        return json.loads(lines[-1].removeprefix("DAG_RUN "))

    return run
