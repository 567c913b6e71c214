"""What the files in ``dags/`` call: every spec rendered, every problem reported, each spec checked once.

Airflow records import errors per DAG file and keeps no DAG from a file that
raised, so one file cannot both register the valid DAGs and report the broken
specs.  ``dags/pipelines.py`` therefore registers every DAG that renders and
``dags/pipeline_spec_errors.py`` raises one :class:`BrokenSpecs` naming every
broken spec file first, then every problem (``FILE:LINE:COL: field: message``),
which Airflow shows in its "DAG Import Errors" panel while the other DAGs keep
running.

Both files would otherwise load and build every spec in every parsing loop.
The rendering records each spec file's outcome under the hash of everything
it depends on (:mod:`pipeline_factory.factory.parse_report`): the error file
reads those outcomes and checks, with the same loader and builder, only the
files it has none for; the DAG file rebuilds unchanged specs from their
validated record and parses and checks only the changed ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline_factory import settings
from pipeline_factory.exceptions import SpecError, SpecProblem
from pipeline_factory.factory import parse_report
from pipeline_factory.factory.parse_report import FileEntry
from pipeline_factory.spec.loader import duplicate_name_problem, load_specs, spec_files
from pipeline_factory.spec.yaml_source import Position

if TYPE_CHECKING:
    from airflow.sdk import DAG

log = logging.getLogger(__name__)


@dataclass
class Rendered:
    dags: dict[str, DAG] = field(default_factory=dict)
    problems: list[SpecProblem] = field(default_factory=list)
    #: Each checked spec file's own outcome (empty when a shared config file is broken).
    entries: dict[Path, FileEntry] = field(default_factory=dict)


class BrokenSpecs(SpecError):
    """Every broken spec, the YAML files named on the first line (what the import-error panel shows first)."""

    def __init__(self, problems: list[SpecProblem], files: list[str]):
        super().__init__(problems)
        self.files = files
        listed = ", ".join(files)
        headline = f"{len(files)} broken pipeline spec file(s): {listed}" if files else "broken pipeline specs"
        self.args = (f"{headline}\n" + "\n".join(p.format() for p in self.problems),)

    def __str__(self) -> str:
        return str(self.args[0])


def _sort(problems: list[SpecProblem]) -> list[SpecProblem]:
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))


def render_all(*, auto_register: bool = True, paths: list[Path] | None = None) -> Rendered:
    """Render every valid spec (or those of ``paths``); a spec the factory cannot build is a problem."""
    from pipeline_factory.factory.builder import build_dag

    config_dir, profile_name = settings.config_dir(), settings.runtime_profile()
    shared = parse_report.shared_stamp(config_dir, profile_name)  # before reading: a change mid-way is seen next time
    checked = None
    if paths is None:  # the DAG file: specs unchanged since the last loop are rebuilt from their record
        try:
            keys = {path: parse_report.file_key(shared, path) for path in spec_files(config_dir / "pipelines")}
        except OSError:
            keys = {}
        known = parse_report.lookup([k for k in keys.values() if k is not None])

        def checked(path: Path) -> dict[str, Any] | None:
            entry = known.get(keys.get(path) or "")
            return entry.checked() if entry else None

    specs = load_specs(paths, config_dir=config_dir, profile_name=profile_name, checked=checked)
    out = Rendered(problems=list(specs.problems))
    build_problems: dict[str, SpecProblem] = {}
    for name, loaded in specs.specs.items():
        try:
            dag = build_dag(
                loaded, policies=specs.policies, profile_name=specs.profile_name, profile=specs.profile,
                auto_register=auto_register,
            )
            dag.validate()  # type: ignore[no-untyped-call]  # Airflow leaves it unannotated; what the DagBag checks before bagging: a refusal here is this spec's problem
            out.dags[name] = dag
        except Exception as exc:  # one spec must not take the others down
            log.exception("could not build DAG %s from %s", name, loaded.display)
            problem = SpecProblem(loaded.display, 1, 1, "",
                                  f"could not build the DAG: {type(exc).__name__}: {exc}", "build_error")
            out.problems.append(problem)
            build_problems[loaded.display] = problem
    keyed: dict[str, FileEntry] = {}
    for outcome in specs.outcomes:
        found = outcome.loaded
        problems = outcome.problems
        if outcome.display in build_problems:
            problems = (*problems, build_problems[outcome.display])
        name_at = None
        if found is not None and found.name_position is not None:
            pos = found.name_position
            name_at = (pos.file, pos.line, pos.column)
        built = found is not None and found.spec.name in out.dags
        entry = FileEntry(outcome.display, found.spec.name if found else None, name_at, tuple(problems),
                          found.spec.model_dump(mode="json", by_alias=True) if built and found is not None else None)
        out.entries[outcome.path] = entry
        key = parse_report.file_key(shared, outcome.path)
        unbuilt = found is not None and specs.specs.get(found.spec.name) is not found  # a duplicate name
        if key is not None and not unbuilt:
            keyed[key] = entry
    if specs.outcomes:
        parse_report.record(keyed, replace=paths is None)
    return out


def register_dags(namespace: dict[str, Any]) -> None:
    """Put every rendered DAG into a DAG file's globals."""
    for dag_id, dag in render_all().dags.items():
        namespace[dag_id] = dag


def current_problems() -> tuple[list[SpecProblem], list[str]]:
    """Every problem of the config folder and the broken files, checking only specs with no recorded outcome."""
    config_dir, profile_name = settings.config_dir(), settings.runtime_profile()
    try:
        files = spec_files(config_dir / "pipelines")
    except OSError:
        full = render_all(auto_register=False)  # the loader reports what is wrong with the folder
        return _sort(full.problems), sorted({p.file for p in full.problems})
    shared = parse_report.shared_stamp(config_dir, profile_name)
    keys = {path: parse_report.file_key(shared, path) for path in files}
    known = parse_report.lookup([k for k in keys.values() if k is not None])
    entries: dict[Path, FileEntry] = {path: known[key] for path, key in keys.items() if key in known}
    misses = [path for path in files if path not in entries]
    if misses:
        fresh = render_all(auto_register=False, paths=misses)
        if not fresh.entries:  # a shared config file is broken: that is the whole story
            return _sort(fresh.problems), sorted({p.file for p in fresh.problems})
        entries.update(fresh.entries)
        # Problems of no single file (none today besides duplicate names, which are recomputed below).
        own = {p for e in fresh.entries.values() for p in e.problems}
        extra = [p for p in fresh.problems if p not in own and p.type != "duplicate_pipeline"]
    else:
        extra = []
    problems = list(extra)
    broken = {p.file for p in extra}
    owner_of: dict[str, str] = {}
    for path in files:
        entry = entries.get(path)
        if entry is None:
            continue
        if entry.problems:
            problems.extend(entry.problems)
            broken.add(entry.file)
        if entry.name is None:
            continue
        if entry.name in owner_of:
            at = Position(*entry.name_at) if entry.name_at else None
            problems.append(duplicate_name_problem(entry.file, entry.name, at, owner_of[entry.name]))
            broken.add(entry.file)
        else:
            owner_of[entry.name] = entry.file
    return _sort(problems), sorted(broken)


def raise_spec_errors() -> None:
    """Raise one BrokenSpecs naming every broken spec file and every problem, if there is any."""
    problems, files = current_problems()
    if problems:
        raise BrokenSpecs(problems, files)
