"""Local paths a run may read: only under the roots the deployment configures.

A ``source_path`` param or a ``file:`` PDF URL comes from whoever triggers
the DAG, and the worker reads it with the worker's rights.  So a local
source must lie, after symlinks are resolved, under one of the *source
roots*: ``PIPELINE_SOURCE_ROOTS`` (paths separated by ``:``), by default the
data dir and the project's ``examples/`` folder (the shipped samples the
default params point at).  Relative paths are taken from the project root,
as before.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline_factory import settings
from pipeline_factory.exceptions import InputRefused

ROOTS_ENV = "PIPELINE_SOURCE_ROOTS"


def source_roots() -> list[Path]:
    """The folders local sources may be read from, resolved."""
    configured = os.environ.get(ROOTS_ENV, "").strip()
    if configured:
        roots = [Path(p).expanduser() for p in configured.split(os.pathsep) if p.strip()]
    else:
        roots = [settings.data_dir(), settings.PROJECT_ROOT / "examples"]
    return [root.resolve() for root in roots]


def confined(value: str, *, what: str, roots: list[Path] | None = None) -> Path:
    """The resolved path ``value`` names, or :class:`InputRefused` if it lies outside every root."""
    if not isinstance(value, str) or not value.strip():
        raise InputRefused(f"{what} is empty", what=what, reason="empty")
    if "\x00" in value:
        raise InputRefused(f"{what} refused: it holds a NUL character", what=what, reason="control characters")
    path = Path(value)
    if not path.is_absolute():
        path = settings.PROJECT_ROOT / path
    resolved = path.resolve()
    allowed = roots if roots is not None else source_roots()
    if not any(resolved == root or resolved.is_relative_to(root) for root in allowed):
        raise InputRefused(
            f"{what} {value!r} refused: it is outside the allowed source roots "
            f"({', '.join(str(r) for r in allowed)}; set {ROOTS_ENV} to allow more)",
            what=what,
            reason="outside roots",
        )
    return resolved
