"""Neo4j access for the pipelines: constraints, batched idempotent writes, reads.

Writes are ``UNWIND $rows AS row ... MERGE ...`` statements run in managed
write transactions (``session.execute_write``), which the driver retries on
transient cluster errors; one batch is one transaction, so a crash leaves
whole batches written or not, and a rerun MERGEs over them without
duplicates.  The neo4j driver is imported lazily (it is not parse-time safe).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_URI = "bolt://localhost:7687"


class GraphStore:
    def __init__(self, uri: str, user: str | None = None, password: str | None = None, database: str | None = None):
        import neo4j

        auth = (user, password or "") if user else None
        self.uri = uri
        self.database = database
        self._driver = neo4j.GraphDatabase.driver(uri, auth=auth)

    @classmethod
    def from_env(cls) -> GraphStore:
        """``NEO4J_URI`` (default bolt://localhost:7687), ``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DATABASE``."""
        return cls(
            os.environ.get("NEO4J_URI") or DEFAULT_URI,
            os.environ.get("NEO4J_USER") or None,
            os.environ.get("NEO4J_PASSWORD") or None,
            os.environ.get("NEO4J_DATABASE") or None,
        )

    def _session(self):
        return self._driver.session(database=self.database) if self.database else self._driver.session()

    def verify(self) -> None:
        self._driver.verify_connectivity()

    def ensure_constraints(self, statements: Iterable[str]) -> None:
        """Run schema statements (use ``IF NOT EXISTS`` so this is safe to repeat)."""
        with self._session() as session:
            for statement in statements:
                session.run(statement).consume()

    def write_rows(self, cypher: str, rows: Sequence[dict[str, Any]], batch_size: int = 500) -> int:
        """Run ``cypher`` (which reads ``$rows``) once per batch, each batch its own transaction."""
        written = 0

        def work(tx: Any, batch: list[dict[str, Any]]) -> None:
            tx.run(cypher, rows=batch).consume()

        with self._session() as session:
            for start in range(0, len(rows), batch_size):
                batch = list(rows[start : start + batch_size])
                session.execute_write(work, batch)
                written += len(batch)
        return written

    def write(self, cypher: str, **params: Any) -> None:
        """One statement in one managed write transaction."""
        with self._session() as session:
            session.execute_write(lambda tx: tx.run(cypher, **params).consume())

    def read_write(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """A writing statement whose returned rows are wanted (one managed write transaction)."""
        with self._session() as session:
            return session.execute_write(lambda tx: [r.data() for r in tx.run(cypher, **params)])

    def read(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        with self._session() as session:
            return session.execute_read(lambda tx: [r.data() for r in tx.run(cypher, **params)])

    def close(self) -> None:
        self._driver.close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
