"""What each spec file's check came to, kept per content hash so a DAG-file loop checks each spec once.

Airflow parses ``dags/pipelines.py`` and ``dags/pipeline_spec_errors.py`` on
their own (in the dag-processor, each in its own process).  The first must
load and build every spec to register the DAGs; the second only needs the
problems.  So every check records, per spec file, the outcome under a key
that hashes everything the outcome depends on: the file's bytes, the shared
config files (policies, runtime, pools, ``defaults.yaml``), the runtime
profile and the installed package's own code.  The error file then reads the
outcomes of unchanged files and checks (and builds) only the files it has no
outcome for: after one spec is added or edited, that one spec.  The DAG file
rebuilds a spec whose outcome is "valid and built" from the validated spec
kept with it (JSON, validated again by the model on the way in), so the YAML
is parsed and the cross-checks run once per change, not once per loop.

The report lives in memory (one process parsing both files: ``DagBag``, tests,
the CLI) and in ``<data dir>/.cache/spec-checks.json`` (separate processes).
Writing it is best effort: a read-only data dir only costs the saving.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pipeline_factory
from pipeline_factory import settings
from pipeline_factory.exceptions import SpecProblem

log = logging.getLogger(__name__)

#: Bumped when the report's layout changes: an old report is then ignored, never misread.
FORMAT = 2
SHARED_FILES = ("policies.yaml", "runtime.yaml", "pools.yaml", "pipelines/defaults.yaml")
_MEMORY: dict[str, FileEntry] = {}


@dataclass(frozen=True)
class FileEntry:
    """One spec file's outcome: its pipeline name (when it validated) and its own problems."""

    file: str
    name: str | None
    #: Where ``name:`` is written: (file, line, column), for problems found across files.
    name_at: tuple[str, int, int] | None
    problems: tuple[SpecProblem, ...]
    #: A spec that validated and built: the validated spec as JSON, so the next loop rebuilds it without
    #: parsing or checking the file again.
    spec: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "name_at": self.name_at,
                "problems": [asdict(p) for p in self.problems], "spec": self.spec}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileEntry:
        name_at = tuple(data["name_at"]) if data.get("name_at") else None
        return cls(data["file"], data.get("name"), name_at,
                   tuple(SpecProblem(**p) for p in data.get("problems", ())), data.get("spec"))

    def checked(self) -> dict[str, Any] | None:
        """What the loader needs to rebuild the spec without checking it again (None: check the file)."""
        if self.problems or self.spec is None:
            return None
        return {"spec": self.spec, "name_at": self.name_at}


@cache
def code_stamp() -> str:
    """The package's own code, as names, sizes and modification times (a code change voids every outcome)."""
    root = Path(pipeline_factory.__file__).parent
    digest = hashlib.sha256(f"{FORMAT}:{getattr(pipeline_factory, '__version__', '')}".encode())
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(f for f in filenames if f.endswith(".py")):
            stat = os.stat(os.path.join(dirpath, name))
            digest.update(f"{dirpath}/{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def shared_stamp(config_dir: Path, profile_name: str) -> str:
    digest = hashlib.sha256(f"{code_stamp()}\n{config_dir}\n{profile_name}\n{os.getcwd()}\n".encode())
    for name in SHARED_FILES:
        try:
            digest.update(name.encode() + b"\0" + (config_dir / name).read_bytes() + b"\0")
        except OSError:
            digest.update(name.encode() + b"\0<absent>\0")
    return digest.hexdigest()


def file_key(shared: str, path: Path) -> str | None:
    """The key of one spec file's outcome; None when the file cannot be read (then it is checked)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return hashlib.sha256(shared.encode() + str(path).encode() + b"\0" + data).hexdigest()


def report_path() -> Path:
    return settings.data_dir() / ".cache" / "spec-checks.json"


def lookup(keys: list[str]) -> dict[str, FileEntry]:
    """The recorded outcomes among ``keys``: from memory, else from the report file."""
    found = {k: _MEMORY[k] for k in keys if k in _MEMORY}
    if len(found) == len(keys):
        return found
    try:
        data = json.loads(report_path().read_text())
        if data.get("format") == FORMAT:
            for key in keys:
                if key not in found and key in data["entries"]:
                    found[key] = _MEMORY[key] = FileEntry.from_json(data["entries"][key])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("no usable spec-check report: %s", exc)
    return found


def record(entries: dict[str, FileEntry], *, replace: bool) -> None:
    """Keep ``entries``; ``replace=True`` (a full check) drops outcomes of files that no longer exist."""
    _MEMORY.update(entries)
    path = report_path()
    try:
        current: dict[str, dict[str, Any]] = {}
        if not replace and path.exists():
            data = json.loads(path.read_text())
            if data.get("format") == FORMAT:
                current = data["entries"]
        elif replace and path.exists():
            data = json.loads(path.read_text())
            if data.get("format") == FORMAT and set(data["entries"]) == set(entries):
                return  # nothing changed since the last loop: no write
        current.update({k: e.to_json() for k, e in entries.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"format": FORMAT, "entries": current}))
        os.replace(tmp, path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.debug("could not save the spec-check report to %s: %s", path, exc)
