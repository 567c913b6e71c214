"""The shipped deployment under a real scheduler, triggerer and api-server.

Driven as users drive it: ``airflow dags trigger`` with ``--conf``, runs
followed through the REST API, outcomes checked in the stores.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from croniter import croniter

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_trigger_with_conf_runs_to_success(cluster):
    cluster.wait_for_dag("example_hello")
    run_id = cluster.trigger("example_hello", {"greeting": "from the CLI"})
    run = cluster.wait_for_run("example_hello", run_id)
    assert run["state"] == "success", cluster.task_states("example_hello", run_id)
    assert run["conf"] == {"greeting": "from the CLI"}
    from pipeline_factory.workspace import run_dir

    echoed = json.loads((run_dir("example_hello", run_id, cluster.data_dir) / "greet" / "echo.json").read_text())
    assert echoed["message"] == "from the CLI"


def test_invalid_conf_is_refused(cluster):
    cluster.wait_for_dag("example_hello")
    proc = cluster.cli("dags", "trigger", "example_hello", "--conf", json.dumps({"repeat": 99}))
    assert proc.returncode != 0 or "error" in (proc.stdout + proc.stderr).lower()


def test_scheduler_creates_runs_from_a_specs_cron(cluster):
    cluster.wait_for_dag("e2e_every_minute")
    deadline = time.monotonic() + 170
    runs: list = []
    while time.monotonic() < deadline:
        runs = cluster.get("/dags/e2e_every_minute/dagRuns", run_type="scheduled")["dag_runs"]
        if any(r["state"] == "success" for r in runs):
            break
        time.sleep(3)
    done = [r for r in runs if r["state"] == "success"]
    assert done, f"no scheduled run succeeded: {runs}"
    assert done[0]["run_type"] == "scheduled"


def test_every_shipped_cron_is_what_the_scheduler_plans(cluster):
    from pipeline_factory.spec.loader import load_specs
    from pipeline_factory.spec.models import schedule_kind

    specs = load_specs(config_dir=cluster.config)
    crons = {name: s.spec.schedule for name, s in specs.specs.items()
             if schedule_kind(s.spec.schedule) == "cron" and not name.startswith("e2e_")}
    assert crons, "no shipped pipeline has a cron schedule"
    for dag_id, expression in crons.items():
        dag = cluster.wait_for_dag(dag_id)
        planned = dag.get("next_dagrun_run_after") or dag.get("next_dagrun_logical_date")
        assert planned, f"{dag_id}: the scheduler planned no run"
        when = datetime.fromisoformat(planned.replace("Z", "+00:00")).astimezone(UTC)
        assert croniter.match(expression, when), f"{dag_id}: planned {when} does not match {expression!r}"
        assert when > datetime.now(UTC) - (croniter(expression, when).get_next(datetime) - when)


def test_gate_waits_deferred_until_ledger_mark_releases_it(cluster):
    from pipeline_factory.stores.ledger import Ledger, run_key

    cluster.wait_for_dag("e2e_gate")
    run_id = f"manual__gate_{int(time.time())}"
    ledger = Ledger(cluster.ledger_url)
    jobs = [f"e2e-gate-{run_id}-{i}" for i in range(3)]
    for job_id in jobs:
        ledger.upsert_job(job_id, doc_id=job_id, pipeline="e2e_gate", dag_run_id=run_key("e2e_gate", run_id),
                          state="gated", pdf_downloaded=True, pdf_ir_ready=False)
    cluster.trigger("e2e_gate", run_id=run_id)
    cluster.wait_for_task("e2e_gate", run_id, "wait_for_ir", {"deferred"})
    time.sleep(6)  # several poke intervals: still waiting, and holding no worker slot
    assert cluster.task_states("e2e_gate", run_id)["wait_for_ir"] == "deferred"
    assert cluster.get(f"/dags/e2e_gate/dagRuns/{run_id}")["state"] == "running"
    for job_id in jobs:
        proc = cluster.project_cli("ledger", "mark", job_id, "pdf_ir_ready=true")
        assert proc.returncode == 0, proc.stderr
    run = cluster.wait_for_run("e2e_gate", run_id, timeout=120)
    assert run["state"] == "success", cluster.task_states("e2e_gate", run_id)
    assert cluster.task_states("e2e_gate", run_id)["after"] == "success"


KILLABLE = """\
name: e2e_killable
description: A slow idempotent writer, killed mid-run and retried by Airflow.
default_policy: e2e-quick-retry
stages:
  - name: write_rows
    type: command
    with:
      argv: [{python}, {script}, {db}, "40"]
"""

WRITER = """\
import os, sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
open(db + ".task-pid", "w").write(str(os.getppid()))  # the Airflow task process runs this stage
con = sqlite3.connect(db, timeout=30)
con.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, attempt INTEGER)")
con.execute("CREATE TABLE IF NOT EXISTS attempts (pid INTEGER)")
con.execute("INSERT INTO attempts VALUES (?)", (os.getppid(),)); con.commit()
for i in range(n):
    con.execute("INSERT INTO rows (id, attempt) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET attempt = excluded.attempt",
                (i, os.getppid()))
    con.commit()
    time.sleep(0.25)
"""


def test_task_killed_mid_run_is_retried_to_completion_without_duplicates(cluster):
    script = cluster.root / "writer.py"
    script.write_text(WRITER)
    db = cluster.root / "killable.sqlite"
    policies = cluster.config / "policies.yaml"
    if "e2e-quick-retry" not in policies.read_text():
        policies.write_text(policies.read_text() + (
            "\n  e2e-quick-retry:\n    max_attempts: 3\n    backoff_strategy: none\n"
            "    backoff_initial_seconds: 0\n    backoff_max_seconds: 0\n    timeout_seconds: 300\n"))
    (cluster.config / "pipelines" / "e2e_killable.yaml").write_text(
        KILLABLE.format(python=json.dumps(sys.executable), script=json.dumps(str(script)), db=json.dumps(str(db))))
    cluster.wait_for_dag("e2e_killable")
    run_id = cluster.trigger("e2e_killable")
    pid_file = Path(str(db) + ".task-pid")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _rows(db):
        time.sleep(0.5)
    assert _rows(db), "the writer never started"
    task_pid = int(pid_file.read_text())
    os.kill(task_pid, signal.SIGKILL)
    run = cluster.wait_for_run("e2e_killable", run_id, timeout=240)
    assert run["state"] == "success", cluster.task_states("e2e_killable", run_id)
    [ti] = cluster.get(f"/dags/e2e_killable/dagRuns/{run_id}/taskInstances")["task_instances"]
    assert ti["try_number"] >= 2, ti
    con = sqlite3.connect(db)
    count, distinct = con.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM rows").fetchone()
    attempts = con.execute("SELECT COUNT(DISTINCT pid) FROM attempts").fetchone()[0]
    assert (count, distinct) == (40, 40)
    assert attempts >= 2


def _rows(db: Path) -> int:
    try:
        return sqlite3.connect(db, timeout=5).execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_broken_spec_added_while_running_is_an_import_error_and_others_keep_running(cluster):
    cluster.wait_for_dag("example_hello")
    broken = cluster.config / "pipelines" / "e2e_broken.yaml"
    broken.write_text("name: e2e_broken\nstages:\n  - name: a\n    type: echo\n    policy: polite-apy\n")
    try:
        deadline = time.monotonic() + 120
        errors: list = []
        while time.monotonic() < deadline:
            errors = cluster.get("/importErrors")["import_errors"]
            if any("e2e_broken.yaml" in e["stack_trace"] for e in errors):
                break
            time.sleep(3)
        error = next((e for e in errors if "e2e_broken.yaml" in e["stack_trace"]), None)
        assert error, errors
        assert error["filename"].endswith("pipeline_spec_errors.py")
        assert "e2e_broken.yaml:5:" in error["stack_trace"] and "stages.0.policy" in error["stack_trace"]
        run_id = cluster.trigger("example_hello", {"greeting": "still here"})
        assert cluster.wait_for_run("example_hello", run_id)["state"] == "success"
        dag_ids = {d["dag_id"] for d in cluster.get("/dags", limit=100)["dags"]}
        assert "example_hello" in dag_ids and "e2e_broken" not in dag_ids
    finally:
        broken.unlink()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not any("e2e_broken.yaml" in e["stack_trace"] for e in cluster.get("/importErrors")["import_errors"]):
            return
        time.sleep(3)
    pytest.fail("the import error stayed after the broken spec was removed")


def test_cli_runs_under_the_deployment(cluster):
    proc = subprocess.run([sys.executable, "-m", "pipeline_factory", "list"], env=cluster.env, capture_output=True,
                          text=True, timeout=120)
    assert "example_hello" in proc.stdout
