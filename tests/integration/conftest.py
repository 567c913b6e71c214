"""Real servers shared by the integration tests: Neo4j, Qdrant local mode, the embedding model.

``neo4j_server`` starts one real Neo4j (the project's launcher) per session on
a free port, points ``NEO4J_URI`` at it so stage code finds it through
``GraphStore.from_env()``, and yields a connected :class:`GraphStore`.  The
first session on a machine builds the launcher with Maven (about 1.5 minutes,
then cached under ``.cache/``).  Tests are skipped only when Java is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Any]:
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: no Neo4j")
    from pipeline_factory.stores import neo4j_launcher
    from pipeline_factory.stores.graph import GraphStore

    home = Path(tempfile.mkdtemp(prefix="neo4j-test-"))
    info = neo4j_launcher.start(home=home, port=free_port())
    previous = os.environ.get("NEO4J_URI")
    os.environ["NEO4J_URI"] = info.uri
    store = GraphStore(info.uri)
    try:
        store.verify()
        yield store
    finally:
        store.close()
        neo4j_launcher.stop(home=home)
        shutil.rmtree(home, ignore_errors=True)
        if previous is None:
            os.environ.pop("NEO4J_URI", None)
        else:
            os.environ["NEO4J_URI"] = previous


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
