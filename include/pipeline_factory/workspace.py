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

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline_factory import settings
from pipeline_factory.boundaries.names import path_component
from pipeline_factory.exceptions import ConfigError


def safe_run_id(run_id: str) -> str:
    """The run id as one folder name: unsafe characters become ``_``; refused if it still cannot be one."""
    return path_component(run_id, what="run id")


def run_dir(pipeline: str, run_id: str, data_dir: Path | None = None) -> Path:
    runs = (data_dir or settings.data_dir()) / "runs"
    return runs / path_component(pipeline, what="pipeline name") / safe_run_id(run_id)


UMASK_ENV = "PIPELINE_UMASK"


def apply_umask_from_env() -> None:
    """Set the process umask from ``$PIPELINE_UMASK`` (octal, e.g. ``002``) when given.

    Stage containers get ``002`` from the factory: Docker and Kubernetes have
    no umask setting, and a container that creates a run's folder with 022
    would keep the worker (same group, another user) out of it.
    """
    value = os.environ.get(UMASK_ENV)
    if not value:
        return
    try:
        mask = int(value, 8)
    except ValueError:
        mask = -1
    if not 0 <= mask <= 0o777:
        raise ConfigError(f"{UMASK_ENV}={value!r} is not an octal umask such as 002")
    os.umask(mask)


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would, for every thread)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def share_like_new_files(fd: int) -> None:
    """Give a ``mkstemp`` file the mode an ordinary new file gets (0666 less the umask).

    ``mkstemp`` creates files readable by their owner only.  Stages of one run
    may run as different users (the worker, and a stage container or pod with
    the profile's user in group 0), so files in the shared data dir follow the
    umask like any other file: with 002 the group reads and replaces them.
    """
    os.fchmod(fd, 0o666 & ~_umask())


def precreate_sqlite_file(path: Path) -> None:
    """Create a SQLite database file with an ordinary file's mode before SQLite opens it.

    SQLite creates its files 0644 whatever the umask, so a stage running as
    another user (group 0) could read the ledger but never write it; an
    existing file keeps its mode, and SQLite gives its -wal/-shm files the same.
    """
    if path.exists():
        return  # never opened for writing: a reader may not be allowed to
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process created it first
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))


def atomic_temp(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A temporary file beside ``path`` (to ``os.replace`` onto it), with an ordinary file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    share_like_new_files(fd)
    return fd, tmp


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON so a reader never sees half a file (a killed task leaves the old one)."""
    fd, tmp = atomic_temp(path)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
