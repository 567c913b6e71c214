"""Which runs are writing the GraphRAG stores right now: the consistency check waits for them.

A run that collects papers changes the snapshot first and the stores later, so
between its first and last stage the snapshot, Neo4j and Qdrant legitimately
disagree (the monthly rebuild even empties the graph before refilling it).  A
check that compares them then reports half-written state as data loss.

So every store-writing stage registers its run here (``<data_dir>/graphrag/
writers/<run>.json``) and the run's last stage, ``graphrag_report``, removes
it.  The mark is a lease: each writing stage renews it, and one not renewed
for ``lease_seconds`` belongs to a run that died without reaching its last
stage; it stops holding the check back, and what that run left half-written
is then rightly reported.  A generation counter, bumped on every change,
tells the check whether a writer came and went while it was comparing.

The files live beside the snapshot they protect, on the data dir every worker
shares (the same assumption the snapshot itself makes).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline_factory.workspace import safe_run_id, write_json_atomic

#: A writing run that has not renewed its mark for this long is taken as dead.
DEFAULT_LEASE_SECONDS = 6 * 3600


class WriterRegistry:
    def __init__(self, data_dir: Path):
        self.root = data_dir / "graphrag" / "writers"
        self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _path(self, pipeline: str, run_id: str) -> Path:
        return self.root / f"{safe_run_id(pipeline)}__{safe_run_id(run_id)}.json"

    def _bump(self) -> None:
        """Called under the lock; replaced atomically so a reader never sees a half-written number."""
        spare = self.root / "generation.tmp"
        spare.write_text(str(self.generation() + 1))
        os.replace(spare, self.root / "generation")

    def generation(self) -> int:
        counter = self.root / "generation"
        return int(counter.read_text() or 0) if counter.exists() else 0

    def begin(
        self, pipeline: str, run_id: str, stage: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> None:
        """Mark (or renew) ``run_id`` as writing the stores; ``stage`` is shown to whoever waits."""
        now = time.time()
        with self._locked():
            path = self._path(pipeline, run_id)
            started = now
            if path.exists():
                started = json.loads(path.read_text()).get("started", now)
            write_json_atomic(path, {
                "pipeline": pipeline, "run_id": run_id, "stage": stage,
                "started": started, "renewed": now, "lease_seconds": lease_seconds,
            })
            self._bump()

    def end(self, pipeline: str, run_id: str) -> bool:
        """The run's writes are over (its last stage ran); True when it was marked."""
        with self._locked():
            path = self._path(pipeline, run_id)
            if not path.exists():
                return False
            path.unlink()
            self._bump()
            return True

    def marks(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self.root.glob("*.json")):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # removed or being replaced right now
                continue
        return found

    def active(self, now: float | None = None) -> list[dict[str, Any]]:
        """Marks whose lease still runs (a writer that may be writing now)."""
        now = time.time() if now is None else now
        return [m for m in self.marks() if m.get("renewed", 0) + m.get("lease_seconds", 0) > now]

    def abandoned(self, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        return [m for m in self.marks() if m.get("renewed", 0) + m.get("lease_seconds", 0) <= now]
