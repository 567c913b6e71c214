"""Stores shared by the integration tests: Qdrant local mode and the embedding model.

The real Neo4j (``neo4j_server``) is in ``tests/conftest.py``: the e2e tier
shares it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


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
