"""Authorization for the Pipelines view: which pipelines a user may see, as Airflow decides.

Authentication (:mod:`.auth`) says who the user is; this module asks the
configured auth manager which pipelines' DAGs that user may read, through
the auth manager's own DAG authorization (``filter_authorized_dag_ids``,
``is_authorized_dag``), so the answer is the same as in Airflow's own UI
under the simple, FAB and Keycloak auth managers alike.  A pipeline's name
is its dag_id.

Every route of the view's API gets an :class:`Access` through
:data:`ReadAccess` and passes ``access.pipelines`` to the readers, which
filter in their queries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status

from pipeline_factory.ui.auth import current_user


@dataclass(frozen=True)
class Access:
    """What one request may read."""

    user: Any
    #: The pipelines (dag_ids) whose DAGs the user may read.
    pipelines: frozenset[str]
    #: Whether the user may read every DAG (then shared things no pipeline claims show too).
    all_pipelines: bool

    def allows(self, pipeline: str | None) -> bool:
        return pipeline is not None and pipeline in self.pipelines


def pipeline_names() -> set[str]:
    """Every pipeline the specs define (valid ones: a broken spec has no DAG to authorize)."""
    from pipeline_factory.spec.loader import load_specs

    return set(load_specs().specs)


def decide(user: Any, names: set[str]) -> Access:
    """Ask the configured auth manager; blocking (FAB reads its database), so run it off the event loop."""
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    readable = manager.filter_authorized_dag_ids(dag_ids=set(names), user=user, method="GET")
    every = bool(manager.is_authorized_dag(method="GET", user=user))
    return Access(user=user, pipelines=frozenset(readable), all_pipelines=every)


async def read_access(user: Annotated[Any, Depends(current_user)]) -> Access:
    """The request's :class:`Access`; 403 for a user who may read no pipeline at all.

    Such a user has a role without any DAG (a role for other parts of
    Airflow): the view has nothing for them, and saying so beats an empty page
    that looks like an outage.
    """
    names = await asyncio.to_thread(pipeline_names)
    access = await asyncio.to_thread(decide, user, names)
    if not access.pipelines and not access.all_pipelines:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Forbidden: no pipeline is readable")
    return access


ReadAccess = Annotated[Access, Depends(read_access)]
