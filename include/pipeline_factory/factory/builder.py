"""Render one validated spec into an Airflow DAG.

Consumes validated models only (``spec.loader`` has already checked names,
references and the graph) and never re-checks raw dicts.  Kept free of
special cases: what differs between stage kinds lives behind the registry's
``builder`` hook and the runtime profile.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, TaskGroup

from pipeline_factory.factory.assets import airflow_assets, deadline_alert
from pipeline_factory.factory.docs import render_doc_md
from pipeline_factory.factory.gpu import build_gpu_task
from pipeline_factory.factory.mapping import build_mapped_task
from pipeline_factory.factory.schedules import schedule_and_start
from pipeline_factory.operators.stage import StageOperator
from pipeline_factory.resilience.policy import Policy
from pipeline_factory.spec.loader import LoadedSpec
from pipeline_factory.spec.models import PipelineSpec, RuntimeProfile, Schedule, parse_duration, schedule_kind
from pipeline_factory.spec.resolve import ResolvedStage
from pipeline_factory.stages.registry import StageRegistry, default_registry, import_dotted


def airflow_schedule(schedule: Schedule) -> Any:
    kind = schedule_kind(schedule)
    if kind in ("assets", "assets_or_cron"):
        return airflow_assets(schedule)
    if kind == "duration":
        assert isinstance(schedule, str)
        return parse_duration(schedule)
    return schedule


def airflow_params(spec: PipelineSpec) -> dict[str, Param]:
    params = {}
    for name, schema in spec.params.items():
        rest = {k: v for k, v in schema.items() if k not in ("default", "description")}
        if "default" in schema:
            params[name] = Param(schema["default"], description=schema.get("description"), **rest)
        else:
            params[name] = Param(description=schema.get("description"), **rest)
    return params


def _start_date(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def task_kwargs(stage: ResolvedStage, spec: PipelineSpec) -> dict[str, Any]:
    """Arguments every task gets, whatever its operator: id, retries, timeout, pool, queue, docs."""
    kwargs: dict[str, Any] = {"task_id": stage.name, "owner": spec.owner,
                              **stage.policy.airflow_task_kwargs(stage.budget)}
    kwargs["execution_timeout"] = timedelta(seconds=stage.timeout) if stage.timeout is not None else None
    if stage.pool:
        kwargs["pool"] = stage.pool
    if stage.queue:
        kwargs["queue"] = stage.queue
    if stage.description:
        kwargs["doc_md"] = stage.description
    if stage.spec.outlets:
        from airflow.sdk import Asset

        kwargs["outlets"] = [Asset(uri) for uri in stage.spec.outlets]
    return kwargs


def build_dag(
    loaded: LoadedSpec,
    *,
    policies: dict[str, Policy],
    profile_name: str,
    profile: RuntimeProfile,
    registry: StageRegistry | None = None,
    auto_register: bool = True,
) -> DAG:
    """Build the DAG; ``auto_register=False`` keeps Airflow from collecting it (checks only)."""
    spec = loaded.spec
    registry = registry or default_registry()
    callbacks: dict[str, Any] = {}
    if spec.notifications.on_failure or spec.notifications.on_success:
        from pipeline_factory.notify import build_callbacks

        if spec.notifications.on_failure:
            callbacks["on_failure_callback"] = build_callbacks(
                [n.model_dump() for n in spec.notifications.on_failure]
            )
        if spec.notifications.on_success:
            callbacks["on_success_callback"] = build_callbacks(
                [n.model_dump() for n in spec.notifications.on_success]
            )
    schedule, start_date = schedule_and_start(spec, airflow_schedule(spec.schedule), _start_date(spec.start_date))
    dag = DAG(
        dag_id=spec.name,
        description=spec.description or None,
        schedule=schedule,
        start_date=start_date,
        catchup=spec.catchup,
        max_active_runs=spec.max_active_runs,
        tags=sorted({*spec.tags, "pipeline-factory"}),
        params=airflow_params(spec),
        default_args={"owner": spec.owner},
        doc_md=render_doc_md(loaded),
        auto_register=auto_register,
        **({"deadline": deadline_alert(spec)} if spec.deadline else {}),
        **callbacks,
    )
    tasks: dict[str, Any] = {}
    #: Where a stage's upstream edges end when it is not its own task (a mapped stage: its items task).
    entry: dict[str, Any] = {}
    groups: dict[str, TaskGroup] = {}
    with dag:
        for stage in loaded.stages.values():
            kwargs = task_kwargs(stage, spec)
            if stage.spec.group:
                if stage.spec.group not in groups:  # task ids stay the stage names: nothing else needs to know
                    groups[stage.spec.group] = TaskGroup(stage.spec.group, prefix_group_id=False)
                kwargs["task_group"] = groups[stage.spec.group]
            if stage.operator in ("gate", "approval"):
                assert stage.stage_type.builder, f"control stage type {stage.type} has no builder"
                build = import_dotted(stage.stage_type.builder)
                tasks[stage.name] = build(stage, spec, kwargs)  # type: ignore[operator]
            elif stage.operator == "gpu":
                tasks[stage.name] = build_gpu_task(spec, stage, profile_name, profile, kwargs)
            elif stage.spec.map_over:
                entry[stage.name], tasks[stage.name] = build_mapped_task(spec, stage, kwargs)
            else:
                tasks[stage.name] = StageOperator(
                    pipeline=spec.name, stage=stage.name, stage_type=stage.type, **kwargs
                )
        for stage in loaded.stages.values():
            for dep in stage.upstream:
                tasks[dep] >> entry.get(stage.name, tasks[stage.name])
    return dag
