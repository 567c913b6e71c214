"""A plain description of a built DAG, for ``render`` and for tests.

Reads the operators the factory really built (not the spec), so what it
prints is what Airflow will run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _k8s_dict(obj: Any) -> Any:
    if obj is None:
        return None
    if hasattr(obj, "to_dict"):
        return {k: v for k, v in obj.to_dict().items() if v is not None}
    return obj


def describe_task(task: Any) -> dict[str, Any]:
    cls = type(task)
    out: dict[str, Any] = {
        "task_id": task.task_id,
        "operator": f"{cls.__module__}.{cls.__qualname__}",
        "upstream": sorted(task.upstream_task_ids),
        "retries": task.retries,
        "retry_delay_seconds": _seconds(task.retry_delay),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "max_retry_delay_seconds": _seconds(task.max_retry_delay),
        "timeout_seconds": _seconds(task.execution_timeout),
        "pool": task.pool,
        "queue": task.queue,
    }
    if hasattr(task, "stage_type"):
        out["stage_type"] = task.stage_type
    if hasattr(task, "poke_interval"):
        out["sensor"] = {
            "timeout_seconds": _seconds(getattr(task, "timeout", None)),
            "poke_interval_seconds": _seconds(task.poke_interval),
            "mode": getattr(task, "mode", None),
            "deferrable": getattr(task, "deferrable", None),
        }
    if cls.__name__ == "KubernetesPodOperator":
        out["container"] = {
            "image": task.image,
            "cmds": task.cmds,
            "arguments": task.arguments,
            "namespace": task.namespace,
            "resources": _k8s_dict(task.container_resources),
            "node_selector": task.node_selector,
            "tolerations": [_k8s_dict(t) for t in task.tolerations or []],
            "service_account": task.service_account_name,
            "deferrable": task.deferrable,
        }
    elif cls.__name__ == "DockerOperator":
        out["container"] = {
            "image": task.image,
            "command": task.command,
            "device_requests": [dict(r) for r in task.device_requests or []],
        }
    return out


def _asset_condition(condition: Any) -> Any:
    """Airflow's asset expression as the spec writes it: a URI, or {all: [...]} / {any: [...]}."""
    from airflow.sdk import AssetAll, AssetAny

    if isinstance(condition, AssetAll | AssetAny):
        key = "all" if isinstance(condition, AssetAll) else "any"
        return {key: [_asset_condition(o) for o in condition.objects]}
    return getattr(condition, "uri", repr(condition))


def describe_schedule(schedule: Any) -> Any:
    """The DAG's ``schedule`` argument in plain words or plain data (asset URIs, cron, a duration)."""
    from airflow.sdk import AssetOrTimeSchedule
    from airflow.sdk.definitions.asset import BaseAsset

    if isinstance(schedule, timedelta):
        return f"every {schedule}"
    if isinstance(schedule, list):  # assets: the factory renders an asset schedule as a list
        return [asset.uri for asset in schedule]
    if isinstance(schedule, AssetOrTimeSchedule):  # Airflow turns a list of assets into AssetAll
        condition = _asset_condition(schedule.asset_condition)
        assets = condition["all"] if isinstance(condition, dict) and list(condition) == ["all"] else condition
        return {"assets": assets, "or_cron": describe_schedule(schedule.timetable)}
    if isinstance(schedule, BaseAsset):  # an all/any asset condition
        return _asset_condition(schedule)
    expression = getattr(schedule, "expression", None) or getattr(schedule, "_expression", None)
    if isinstance(expression, str):  # a cron timetable (catchup off: no startup slot)
        return expression
    return schedule


def describe_dag(dag: Any) -> dict[str, Any]:
    schedule = describe_schedule(dag.schedule)
    params = {}
    for name in dag.params:
        param = dag.params.get_param(name)
        default = param.value if param.has_value else None
        params[name] = {"default": default, "schema": param.schema, "description": param.description}
    return {
        "dag_id": dag.dag_id,
        "description": dag.description,
        "schedule": schedule,
        "timetable": type(dag.timetable).__name__,
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tags": sorted(dag.tags),
        "owner": dag.owner,
        "params": params,
        "tasks": [describe_task(t) for t in dag.topological_sort()],
    }
