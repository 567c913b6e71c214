"""What the Pipelines view shows, gathered from the stores as plain JSON-safe dicts.

Each ``*_overview`` function is one section of the page.  A section whose
store is missing, unreachable or not created yet answers ``available: False``
with the reason instead of raising: the view must keep working on a laptop
with nothing but the ledger, and in a deployment where MLflow is down.

Reads only: nothing here creates tables or changes rows, so opening the view
never migrates a database behind the owners' backs.

Every reader takes ``allowed``: the pipelines (DAG ids) the asking user may
read, as Airflow's auth manager decided (:mod:`pipeline_factory.ui.access`);
``None`` means all (the CLI, tests).  Rows of other pipelines are filtered in
the query, not after it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline_factory import settings

log = logging.getLogger(__name__)

#: Job rows shown per state table; the counts are always complete.
JOB_LIMIT = 200
REPORT_LIMIT = 20
#: Reports at most this big are inlined (text) in the listing.
REPORT_PREVIEW_BYTES = 4096
REPORT_SUFFIXES = (".json", ".md", ".txt", ".html", ".csv")
TRAINING_STAGE_TYPES = ("register", "promote")
#: Which stage types share a breaker, by breaker name prefix: a breaker shows to users of those pipelines.
BREAKER_STAGE_TYPES = {
    "pdf-host:": ("download_pdf",),
    "http-json:": ("ingest",),
    "ncbi-eutils": ("collect_pubmed", "collect_genes"),
}


def _allows(allowed: Collection[str] | None, pipeline: str | None) -> bool:
    return allowed is None or (pipeline is not None and pipeline in allowed)


def section(name: str, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one section's reader; any failure becomes ``available: False`` with its reason."""
    try:
        result = build()
    except Exception as exc:  # one broken store must not take the page down
        from pipeline_factory.ui.scrub import scrub_text

        reason = f"{type(exc).__name__}: {exc}"
        # Store errors quote their URLs, passwords included: the log gets the scrubbed text,
        # the traceback only at debug level.
        log.warning("pipelines view: section %s unavailable: %s", name, scrub_text(reason))
        log.debug("pipelines view: section %s", name, exc_info=True)
        return {"available": False, "reason": reason}
    result.setdefault("available", True)
    return result


def _utc(value: Any) -> datetime | None:
    """Database timestamps as aware UTC (SQLite hands back naive ones, or strings)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: Any) -> str | None:
    moment = _utc(value)
    return moment.isoformat() if moment else None


# -- pipelines ------------------------------------------------------------------


def pipelines_overview(allowed: Collection[str] | None = None, *, all_problems: bool = True) -> dict[str, Any]:
    """Every spec the user may read as the factory renders it: the stage graph and each stage's policy.

    Spec problems name files, not DAGs: a user who may not read every DAG sees
    only the problems of files named after a pipeline they may read.
    """
    from pipeline_factory.spec.loader import load_specs

    specs = load_specs()
    visible = {name: loaded for name, loaded in specs.specs.items() if _allows(allowed, name)}
    rendered, build_errors = _rendered_tasks(specs, visible)
    pipelines = []
    for name, loaded in sorted(visible.items()):
        spec = loaded.spec
        tasks = rendered.get(name, {})
        stages = []
        for stage in loaded.stages.values():  # resolved once by the loader, as the builder saw them
            task = tasks.get(stage.name, {})
            stages.append(
                {
                    "name": stage.name,
                    "type": stage.type,
                    "compute": stage.compute,
                    "upstream": list(stage.upstream),
                    "inputs": dict(stage.inputs),
                    "policy": stage.policy.name,
                    "attempts": stage.budget.total,
                    "operator": task.get("operator", "").rsplit(".", 1)[-1] or None,
                    "retries": stage.budget.airflow_retries,
                    "timeout_seconds": stage.timeout,
                    "pool": stage.pool,
                    "condition": stage.condition.model_dump() if stage.condition else None,
                }
            )
        used = sorted({str(s["policy"]) for s in stages})
        pipelines.append(
            {
                "name": name,
                "file": loaded.display,
                "description": spec.description,
                "owner": spec.owner,
                "tags": spec.tags,
                "schedule": spec.model_dump(mode="json", include={"schedule"})["schedule"],  # asset conditions too
                "default_policy": spec.default_policy,
                "training": any(s.type in TRAINING_STAGE_TYPES for s in spec.stages),
                "build_error": build_errors.get(name),
                "stages": stages,
                "policies": {
                    p: specs.policies[p].model_dump(mode="json") for p in used if p in specs.policies
                },
            }
        )
    problems = [
        {"file": p.file, "line": p.line, "column": p.column, "path": p.path, "message": p.message}
        for p in specs.problems
        if all_problems or _allows(allowed, Path(p.file).stem)
    ]
    return {"runtime_profile": specs.profile_name, "pipelines": pipelines, "problems": problems}


def _rendered_tasks(specs: Any, visible: dict[str, Any]) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, str]]:
    """Per pipeline, the built operators (class, retries, timeout), and why a pipeline could not be built."""
    from pipeline_factory.factory.builder import build_dag
    from pipeline_factory.factory.describe import describe_task

    out: dict[str, dict[str, dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for name, loaded in visible.items():
        try:
            dag = build_dag(loaded, policies=specs.policies, profile_name=specs.profile_name, profile=specs.profile)
        except Exception as exc:  # the spec still shows, with the reason it has no DAG
            log.warning("pipelines view: could not build %s", name, exc_info=True)
            errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        out[name] = {task.task_id: describe_task(task) for task in dag.tasks}
    return out, errors


# -- the job ledger -------------------------------------------------------------


def _ledger_url(url: str | None) -> str | None:
    """The ledger database's URL, or None while its SQLite file does not exist (the view never creates it)."""
    from pipeline_factory.stores import ledger_db

    url = ledger_db.database_url(url)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    return url


def _ledger_tables(url: str, name: str) -> tuple[Any, Any] | None:
    """The ledger database's engine (never migrated from here) and its table ``name``, or None if not created."""
    from sqlalchemy import inspect

    from pipeline_factory.stores import ledger_db, ledger_schema

    engine = ledger_db.engine(url, migrate=False)
    if not inspect(engine).has_table(name):
        return None
    return engine, ledger_schema.metadata.tables[name]


def ledger_overview(
    url: str | None = None, *, now: datetime | None = None, allowed: Collection[str] | None = None
) -> dict[str, Any]:
    """Jobs by state, gated jobs with how long they have waited, failed jobs with their errors (readable pipelines)."""
    from sqlalchemy import false, func, select

    url = _ledger_url(url)
    if url is None:
        return {"available": False, "reason": "no ledger database yet (no document pipeline has run)"}
    found = _ledger_tables(url, "jobs")
    if found is None:
        return {"available": False, "reason": "the ledger database has no jobs table yet"}
    engine, jobs = found
    now = now or datetime.now(UTC)
    if allowed is None:
        readable = jobs.c.pipeline.isnot(None)
    else:
        readable = jobs.c.pipeline.in_(sorted(allowed)) if allowed else false()
    with engine.connect() as connection:
        counts = dict(
            connection.execute(select(jobs.c.state, func.count()).where(readable).group_by(jobs.c.state)).all()
        )
        gated = connection.execute(
            select(jobs).where(readable, jobs.c.state == "gated").order_by(jobs.c.updated_at).limit(JOB_LIMIT)
        ).mappings().all()
        failed = connection.execute(
            select(jobs).where(readable, jobs.c.state == "failed").order_by(jobs.c.updated_at.desc()).limit(JOB_LIMIT)
        ).mappings().all()
        recent = connection.execute(
            select(jobs).where(readable).order_by(jobs.c.updated_at.desc()).limit(50)
        ).mappings().all()

    def row(job: Any) -> dict[str, Any]:
        return {
            "job_id": job["job_id"],
            "pipeline": job["pipeline"],
            "doc_id": job["doc_id"],
            "state": job["state"],
            "stage": job.get("current_stage"),
            "dag_run_id": job.get("dag_run_id"),
            "attempts": job.get("attempts"),
            "updated_at": _iso(job["updated_at"]),
        }

    gated_rows = []
    for job in gated:
        since = _utc(job["updated_at"])
        waited = max(0.0, (now - since).total_seconds()) if since else None
        flags = {k: job[k] for k in ("pdf_downloaded", "pdf_ir_ready") if k in job}
        gated_rows.append({**row(job), "gated_since": _iso(since), "waited_seconds": waited, **flags})
    return {
        "counts": {state: int(n) for state, n in sorted(counts.items())},
        "total": int(sum(counts.values())),
        "gated": gated_rows,
        "failed": [{**row(job), "error": job.get("error")} for job in failed],
        "recent": [row(job) for job in recent],
    }


# -- circuit breakers -----------------------------------------------------------

BREAKER_NAMESPACE = "pipeline_factory:breaker:"


def breakers_overview(
    *,
    redis_url: str | None = None,
    ledger_url: str | None = None,
    allowed: Collection[str] | None = None,
    all_pipelines: bool = True,
) -> dict[str, Any]:
    """Every shared breaker's state the user may see, from wherever ``resilience.breaker`` keeps it.

    A breaker is shared by pipelines (one per PDF host, one for NCBI): it shows
    to a user who may read one of the pipelines whose stages use it; one no
    stage type claims shows only to users who may read every pipeline.
    """
    result = _all_breakers(redis_url=redis_url, ledger_url=ledger_url)
    if allowed is not None:
        users = _breaker_users(allowed)
        result["breakers"] = [
            b for b in result["breakers"] if _breaker_visible(b["name"], users, all_pipelines=all_pipelines)
        ]
    return result


def _breaker_users(allowed: Collection[str]) -> set[str]:
    """The stage types used by the pipelines in ``allowed``."""
    from pipeline_factory.spec.loader import load_specs

    specs = load_specs()
    return {stage.type for name in allowed if name in specs.specs for stage in specs.specs[name].spec.stages}


def _breaker_visible(name: str, stage_types: set[str], *, all_pipelines: bool) -> bool:
    for prefix, types in BREAKER_STAGE_TYPES.items():
        if name.startswith(prefix):
            return bool(stage_types.intersection(types))
    return all_pipelines


def _all_breakers(*, redis_url: str | None, ledger_url: str | None) -> dict[str, Any]:
    redis_url = redis_url if redis_url is not None else os.environ.get("PIPELINE_REDIS_URL")
    if redis_url:
        return {"store": "redis", "breakers": _redis_breakers(redis_url)}
    url = _ledger_url(ledger_url)
    found = _ledger_tables(url, "circuit_breakers") if url else None
    if found is None:
        return {"store": "ledger", "breakers": []}
    from sqlalchemy import select

    engine, table = found
    with engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.name)).mappings().all()
    return {
        "store": "ledger",
        "breakers": [
            {
                "name": r["name"],
                "state": r["state"],
                "fail_counter": r["fail_counter"],
                "opened_at": _iso(r.get("opened_at")),
                "updated_at": _iso(r.get("updated_at")),
            }
            for r in rows
        ],
    }


def _redis_breakers(url: str) -> list[dict[str, Any]]:
    """Names from a key scan; values through the breaker module's own storage, so formats stay its business."""
    import redis

    from pipeline_factory.resilience.breaker import breaker_storage

    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3, decode_responses=True)
    suffix = ":pybreaker:state"
    names = sorted(
        key.removeprefix(BREAKER_NAMESPACE).removesuffix(suffix)
        for key in client.scan_iter(match=f"{BREAKER_NAMESPACE}*{suffix}")
    )
    breakers = []
    for name in names:
        storage = breaker_storage(name, redis_url=url)
        breakers.append(
            {
                "name": name,
                "state": storage.state,
                "fail_counter": storage.counter,
                "opened_at": _iso(storage.opened_at),
                "updated_at": None,
            }
        )
    return breakers


# -- reports --------------------------------------------------------------------


def _report_pipeline(relative: str) -> str | None:
    return relative.split("/", 1)[0] if "/" in relative else None


def reports_overview(folder: Path | None = None, *, allowed: Collection[str] | None = None) -> dict[str, Any]:
    """The newest run reports under ``<data dir>/reports/<pipeline>/`` the user may read, small text ones inlined."""
    folder = folder or settings.reports_dir()
    if not folder.is_dir():
        return {"folder": str(folder), "reports": []}
    files = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix in REPORT_SUFFIXES
        and _allows(allowed, _report_pipeline(p.relative_to(folder).as_posix()))
    ]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    reports = []
    for path in files[:REPORT_LIMIT]:
        stat = path.stat()
        relative = path.relative_to(folder).as_posix()
        entry: dict[str, Any] = {
            "path": relative,
            "pipeline": _report_pipeline(relative),
            "size": stat.st_size,
            "modified": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
        }
        if stat.st_size <= REPORT_PREVIEW_BYTES and path.suffix != ".html":
            entry["preview"] = path.read_text(errors="replace")
        reports.append(entry)
    return {"folder": str(folder), "reports": reports}


def report_file(relative: str, folder: Path | None = None, *, allowed: Collection[str] | None = None) -> Path:
    """A report's path, refusing anything outside the reports folder or of a pipeline the user may not read.

    Both refusals look the same (not found), so a user cannot probe which
    reports exist for pipelines they may not see.
    """
    folder = (folder or settings.reports_dir()).resolve()
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder) or not path.is_file() or path.suffix not in REPORT_SUFFIXES:
        raise FileNotFoundError(relative)
    if not _allows(allowed, _report_pipeline(path.relative_to(folder).as_posix())):
        raise FileNotFoundError(relative)
    return path


# -- models ---------------------------------------------------------------------


def models_overview(
    pipelines: list[dict[str, Any]] | None = None, *, allowed: Collection[str] | None = None
) -> dict[str, Any]:
    """For training pipelines the user may read: each registered model's champion and challenger, metrics, links."""
    if pipelines is None:
        pipelines = pipelines_overview(allowed)["pipelines"]
    pipelines = [p for p in pipelines if _allows(allowed, p["name"])]
    training = [p for p in pipelines if p.get("training")]
    if not training:
        return {"models": [], "reason": "no training pipeline"}
    from mlflow import MlflowClient

    from pipeline_factory.tracking.mlflow_config import tracking_uri, ui_base_url

    uri = tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        # Opening it would create and migrate a new MLflow database.
        return {"tracking_uri": uri, "models": [], "reason": "no MLflow database yet (no training run)"}
    client = MlflowClient(tracking_uri=uri)
    ui = ui_base_url()
    models = []
    for pipeline in training:
        prefix = f"{pipeline['name']}."
        for registered in client.search_registered_models(filter_string=f"name LIKE '{prefix}%'"):
            if not registered.name.startswith(prefix):  # LIKE's "_" matches any character
                continue
            aliases = dict(getattr(registered, "aliases", {}) or {})
            entry: dict[str, Any] = {
                "pipeline": pipeline["name"],
                "model": registered.name,
                "link": f"{ui}/#/models/{registered.name}",
            }
            for alias in ("champion", "challenger"):
                version = aliases.get(alias)
                entry[alias] = _model_version(client, ui, registered.name, version) if version else None
            models.append(entry)
    return {"tracking_uri": uri, "models": models}


def _model_version(client: Any, ui: str, name: str, version: str) -> dict[str, Any]:
    detail = client.get_model_version(name, str(version))
    run = client.get_run(detail.run_id) if detail.run_id else None
    experiment = run.info.experiment_id if run else None
    return {
        "version": str(version),
        "run_id": detail.run_id,
        "metrics": dict(run.data.metrics) if run else {},
        "link": f"{ui}/#/models/{name}/versions/{version}",
        "run_link": f"{ui}/#/experiments/{experiment}/runs/{detail.run_id}" if run else None,
    }


def overview(allowed: Collection[str] | None = None, *, all_pipelines: bool = True) -> dict[str, Any]:
    """Every section at once (the page fetches them one by one)."""
    pipelines = section("pipelines", lambda: pipelines_overview(allowed, all_problems=all_pipelines))
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "pipelines": pipelines,
        "ledger": section("ledger", lambda: ledger_overview(allowed=allowed)),
        "breakers": section("breakers", lambda: breakers_overview(allowed=allowed, all_pipelines=all_pipelines)),
        "reports": section("reports", lambda: reports_overview(allowed=allowed)),
        "models": section("models", lambda: models_overview(pipelines.get("pipelines", []))),
    }
