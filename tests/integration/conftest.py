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
