"""Names that become path components: run ids, pipeline names, doc ids.

A run id comes from whoever triggers a DAG (``airflow dags trigger --run-id``,
the REST API), a doc id from whatever a source says; both end up in file
names under the data dir.  One rule for all of them: a name is normalised to
``[A-Za-z0-9._-]`` (run ids carry ``:`` and ``+``, which some volume drivers
and object stores reject) and refused when it still could not be a single
folder name: empty, only dots (``.``, ``..``), longer than a file system
allows, or holding NUL or other control characters, which no honest id has.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path, PurePosixPath

from pipeline_factory.exceptions import InputRefused

#: Most file systems allow 255 bytes per name; leave room for suffixes (``.json``, ``.part``).
MAX_COMPONENT = 200
#: Doc ids are stored in a 255-character column and become part of a 255-character job id.
MAX_DOC_ID = 200

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _control_characters(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


def _shown(value: str) -> str:
    """The value as an error shows it: escaped, and cut so a huge one cannot flood a log."""
    text = ascii(value)
    return text if len(text) <= 80 else f"{text[:60]}...' ({len(value)} characters)"


def path_component(value: str, *, what: str) -> str:
    """``value`` as one safe folder or file name, or :class:`InputRefused`.

    The result never contains a separator and is never ``.`` or ``..``, so
    ``root / path_component(x)`` is always a direct child of ``root``.
    """
    if not isinstance(value, str):
        raise InputRefused(f"{what} must be text, not {type(value).__name__}", what=what, reason="type")
    if _control_characters(value):
        raise InputRefused(f"{what} {_shown(value)} refused: it holds NUL or control characters", what=what,
                           reason="control characters")
    if len(value) > MAX_COMPONENT:
        raise InputRefused(f"{what} {_shown(value)} refused: longer than {MAX_COMPONENT} characters", what=what,
                           reason="too long")
    safe = _UNSAFE.sub("_", value)
    if not safe.strip("."):
        raise InputRefused(f"{what} {_shown(value)} refused: not a usable folder name", what=what,
                           reason="empty or dots")
    return safe


def check_doc_id(value: str) -> str:
    """A doc id as a source gave it, refused if it is not an id.

    Doc ids keep their ``/`` (DOIs have one) because they are never used as
    paths directly: writers pass them through :func:`path_component`.  What
    no id has is refused here, before it reaches the ledger: control
    characters, an absolute path, a ``..`` segment, or a length past the
    ledger's columns.
    """
    what = "doc id"
    if _control_characters(value):
        raise InputRefused(f"{what} {_shown(value)} refused: it holds NUL or control characters", what=what,
                           reason="control characters")
    if not value.strip():
        raise InputRefused(f"{what} refused: it is empty", what=what, reason="empty")
    if len(value) > MAX_DOC_ID:
        raise InputRefused(f"{what} {_shown(value)} refused: longer than {MAX_DOC_ID} characters", what=what,
                           reason="too long")
    posix = value.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or ".." in PurePosixPath(posix).parts:
        raise InputRefused(f"{what} {_shown(value)} refused: it looks like a path out of its folder", what=what,
                           reason="path")
    return value


def child(root: Path, *names: str, what: str = "name") -> Path:
    """``root / name / ...`` with each name made a :func:`path_component`."""
    path = root
    for name in names:
        path = path / path_component(name, what=what)
    return path
