"""The run workspace: where a DAG run's stages exchange bulk data.

``<data dir>/runs/<pipeline>/<run id>/<stage>/``.  Run ids carry ``:`` and
``+`` (``manual__2026-01-01T00:00:00+00:00``), which some volume drivers and
object stores reject, so they are made path-safe here, in one place.  A run
id is chosen by whoever triggers the run: one that could not be a single
folder name (``..``, NUL, hundreds of characters) is refused with
:class:`~pipeline_factory.exceptions.InputRefused`, never written outside
the pipeline's folder (:mod:`pipeline_factory.boundaries.names`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline_factory import settings
from pipeline_factory.boundaries.names import path_component


def safe_run_id(run_id: str) -> str:
    """The run id as one folder name: unsafe characters become ``_``; refused if it still cannot be one."""
    return path_component(run_id, what="run id")


def run_dir(pipeline: str, run_id: str, data_dir: Path | None = None) -> Path:
    runs = (data_dir or settings.data_dir()) / "runs"
    return runs / path_component(pipeline, what="pipeline name") / safe_run_id(run_id)


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON so a reader never sees half a file (a killed task leaves the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
