"""What the files in ``dags/`` call: every spec rendered, every problem reported.

Airflow records import errors per DAG file and keeps no DAG from a file that
raised, so one file cannot both register the valid DAGs and report the broken
specs.  ``dags/pipelines.py`` therefore registers every DAG that renders and
``dags/pipeline_spec_errors.py`` raises one :class:`SpecError` listing every
broken spec (``FILE:LINE:COL: field: message``), which Airflow shows in its
"DAG Import Errors" panel while the other DAGs keep running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline_factory.exceptions import SpecError, SpecProblem
from pipeline_factory.spec.loader import load_specs

if TYPE_CHECKING:
    from airflow.sdk import DAG

log = logging.getLogger(__name__)


@dataclass
class Rendered:
    dags: dict[str, DAG] = field(default_factory=dict)
    problems: list[SpecProblem] = field(default_factory=list)


def render_all(*, auto_register: bool = True) -> Rendered:
    """Render every valid spec; a spec the factory cannot build is a problem, not a crash."""
    from pipeline_factory.factory.builder import build_dag

    specs = load_specs()
    out = Rendered(problems=list(specs.problems))
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
            out.problems.append(
                SpecProblem(loaded.display, 1, 1, "", f"could not build the DAG: {type(exc).__name__}: {exc}",
                            "build_error")
            )
    return out


def register_dags(namespace: dict[str, Any]) -> None:
    """Put every rendered DAG into a DAG file's globals."""
    for dag_id, dag in render_all().dags.items():
        namespace[dag_id] = dag


def raise_spec_errors() -> None:
    """Raise one SpecError naming every broken spec, if there is any."""
    problems = render_all(auto_register=False).problems
    if problems:
        raise SpecError(sorted(problems, key=lambda p: (p.file, p.line, p.column)))
