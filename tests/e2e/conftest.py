"""A real Airflow on a real Postgres, driven the way users drive it.

One cluster serves the whole e2e tier: a private PostgreSQL (Debian's
binaries, its own data dir and port) holding the Airflow metadata and the job
ledger, and Airflow's scheduler, dag-processor, triggerer and api-server as
separate processes with the LocalExecutor.  Tests trigger DAGs with the
``airflow`` CLI and follow runs through the REST API, as an operator would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pipeline_factory.devservers import control as devservers

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PASSWORD = "e2e-password"
TERMINAL = {"success", "failed"}

#: Extra specs the LocalExecutor tier adds to a copy of config/: a schedule that fires
#: within a minute, a gate on the ledger, and a stage slow enough to kill.
E2E_SPECS = {
    "e2e_every_minute.yaml": """\
name: e2e_every_minute
description: Fires every minute, to prove the scheduler creates runs from a spec's cron.
schedule: "* * * * *"
start_date: 2026-01-01
stages:
  - name: tick
    type: echo
    with: {message: tick}
""",
    "e2e_gate.yaml": """\
name: e2e_gate
description: Waits at a ledger gate, released by `ledger mark`.
stages:
  - name: before
    type: echo
  - name: wait_for_ir
    type: gate
    condition: {ledger_field: pdf_ir_ready, equals: true}
    timeout: 600
    poke_interval: 2
  - name: after
    type: echo
    with: {message: released}
""",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    url: str
    config: Path
    data_dir: Path
    ledger_url: str
    logs: Path

    @property
    def mailbox(self) -> Path:
        """Where the e2e SMTP sink keeps every mail the pipelines send."""
        return self.root / "mail"

    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str | None = None

    # -- the REST API ----------------------------------------------------------------
    def client(self) -> httpx.Client:
        if self._token is None:
            response = httpx.post(f"{self.url}/auth/token", json={"username": "admin", "password": PASSWORD})
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return httpx.Client(base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {self._token}"},
                            timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        with self.client() as client:
            response = client.get(path, params=params)
            response.raise_for_status()
            return response.json()

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        with self.client() as client:
            response = client.patch(path, json=body)
            response.raise_for_status()
            return response.json()

    # -- the CLI ---------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def project_cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipeline_factory", *args], env=self.env,
                              capture_output=True, text=True, timeout=120)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        args = ["dags", "trigger", dag_id, "--conf", json.dumps(conf or {}), "--output", "json"]
        if run_id:
            args += ["--run-id", run_id]
        proc = self.cli(*args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        start = proc.stdout.rfind("[{")
        runs = json.loads(proc.stdout[start:]) if start >= 0 else []
        return runs[0]["dag_run_id"] if runs else run_id  # type: ignore[return-value]

    # -- waiting ---------------------------------------------------------------------
    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dags = self.get("/dags", dag_id_pattern=dag_id, limit=100)["dags"]
            found = [d for d in dags if d["dag_id"] == dag_id]
            if found:
                if found[0]["is_paused"]:
                    self.patch(f"/dags/{dag_id}", {"is_paused": False})
                return found[0]
            time.sleep(2)
        self.fail(f"DAG {dag_id} never appeared")
        raise AssertionError  # unreachable

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        items = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in items}

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.task_states(dag_id, run_id).get(task_id)
            if state in states:
                return state
            time.sleep(1)
        self.fail(f"{dag_id}.{task_id} in {run_id} stayed {state}, expected one of {states}")
        raise AssertionError

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            run = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL:
                return run
            time.sleep(2)
        self.fail(f"run {dag_id}/{run_id} did not finish: {run.get('state')}, "
                  f"tasks {self.task_states(dag_id, run_id)}")
        raise AssertionError

    def start_process(self, name: str, argv: list[str], overrides: dict[str, str] | None = None) -> None:
        """Start (or restart) one of the tier's processes in its own process group, logging to logs/NAME.log."""
        self.processes[name] = subprocess.Popen(
            argv, env={**self.env, **(overrides or {})}, stdout=(self.logs / f"{name}.log").open("a"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def fail(self, message: str) -> None:
        logs = "\n".join(f"--- {name} ---\n{_tail(self.logs / f'{name}.log')}" for name in self.processes)
        pytest.fail(f"{message}\n{logs}")


def _start_postgres(root: Path) -> tuple[int, Path]:
    """A private PostgreSQL cluster owned by the ``postgres`` user (initdb refuses root)."""
    pgdata = root / "pgdata"
    pgdata.mkdir()
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(pgdata, "postgres")
    init = subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres"],
                          capture_output=True, text=True)
    assert init.returncode == 0, init.stdout + init.stderr
    subprocess.run(
        [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-l", str(root / "postgres.log"), "-w", "start",
         "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"],
        check=True, capture_output=True,
    )
    for db in ("airflow", "ledger"):
        subprocess.run([*as_postgres, "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", db],
                       check=True, capture_output=True)
    return port, pgdata


def _stop_postgres(pgdata: Path) -> None:
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"],
                   capture_output=True)


@contextmanager
def airflow_cluster(
    root: Path,
    *,
    executor: str = "LocalExecutor",
    specs: dict[str, str] | None = None,
    configure: Callable[[Path], None] | None = None,
    extra_env: dict[str, str] | None = None,
    extra_processes: dict[str, tuple[list[str], dict[str, str]]] | None = None,
) -> Iterator[Cluster]:
    """Postgres, the stand-ins and Airflow's processes for one tier, stopped on exit.

    ``specs`` are added to a copy of config/ (then ``configure(config)`` may
    edit it); ``extra_processes`` start after the core ones, each as
    ``(argv, env overrides)`` (the Celery workers).
    """
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL server binaries are missing: run `make system-deps`")
    os.chmod(root, 0o755)
    # Outside pytest's 0700 temp root: the postgres user must reach it.
    pg_root = Path(tempfile.mkdtemp(prefix="pipeline-factory-e2e-pg-"))
    os.chmod(pg_root, 0o755)
    pg_port, pgdata = _start_postgres(pg_root)
    home, data_dir, logs, config = root / "airflow", root / "data", root / "logs", root / "config"
    for folder in (home, data_dir, logs):
        folder.mkdir()
    # The stand-ins the pipelines call (the machine has no internet, no mail relay), started as `make run` does.
    eutils = devservers.start("eutils", free_port(), home=logs)
    eutils_url = eutils.url
    mail = devservers.start("mail", free_port(), home=root / "mail")
    mail_port = mail.port
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("schema"))
    for name, text in (specs if specs is not None else E2E_SPECS).items():
        (config / "pipelines" / name).write_text(text)
    if configure:
        configure(config)
    (home / "passwords.json").write_text(json.dumps({"admin": PASSWORD}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    pg = f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}"
    ledger_url = f"{pg}/ledger"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{pg}/airflow",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:{pg_port}/airflow",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Paused until a test unpauses it (wait_for_dag): schedules start when the test is ready.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "e2e-" + os.urandom(16).hex(),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        "PIPELINE_FACTORY_CONFIG": str(config),
        "PIPELINE_DATA_DIR": str(data_dir),
        "PIPELINE_LEDGER_URL": ledger_url,
        "NEO4J_URI": os.environ["NEO4J_URI"],
        "NCBI_EUTILS_URL": eutils_url,
        "NCBI_EMAIL": "e2e@example.org",
        "PIPELINE_NOTIFY_TO": "ops@example.org",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": mail_port,
            "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "pipelines@e2e.local"},
        }),
        **(extra_env or {}),
    }
    env.pop("PIPELINE_RUNTIME", None)
    cluster = Cluster(root=root, env=env, url=url, config=config, data_dir=data_dir, ledger_url=ledger_url,
                      logs=logs)
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    pools = cluster.project_cli("pools")
    (root / "pools.json").write_text(pools.stdout)
    assert cluster.cli("pools", "import", str(root / "pools.json")).returncode == 0
    try:
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            cluster.processes[name] = subprocess.Popen(
                [AIRFLOW, name], env=env, stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for name, (argv, overrides) in (extra_processes or {}).items():
            cluster.start_process(name, argv, overrides)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            for name, proc in cluster.processes.items():
                if proc.poll() is not None:
                    cluster.fail(f"airflow {name} exited with {proc.returncode}")
            time.sleep(2)
        else:
            cluster.fail("the api-server did not answer")
        yield cluster
    finally:
        for proc in cluster.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in cluster.processes.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        devservers.stop("eutils", home=logs)
        devservers.stop("mail", home=root / "mail")
        _stop_postgres(pgdata)
        shutil.rmtree(pg_root, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, neo4j_server: Any) -> Iterator[Cluster]:
    """The LocalExecutor tier's cluster, shared by the whole session."""
    with airflow_cluster(tmp_path_factory.mktemp("e2e")) as running:
        yield running


# --- The CeleryExecutor tier (test_celery.py) ----------------------------------------

WORKERS = ("worker-a", "worker-b")


def _collect_spec(name: str, queue: str, policy: str, term: str, results: int) -> str:
    return f"""\
name: {name}
description: One PubMed collection pinned to the {queue} queue.
stages:
  - name: collect
    type: collect_pubmed
    policy: {policy}
    pool: ncbi
    queue: {queue}
    with:
      search_terms: [{json.dumps(term)}]
      max_results_per_term: {results}
      batch_size: 2
      mode: full
      refresh: true
"""


#: Collections pinned to one worker each: two at once (the limiter), and a trip/probe pair (the breaker).
CELERY_SPECS = {
    "e2e_collect_a.yaml": _collect_spec("e2e_collect_a", "worker_a", "polite-api", "mRNA vaccine", 40),
    "e2e_collect_b.yaml": _collect_spec("e2e_collect_b", "worker_b", "polite-api", "genome sequencing", 40),
    "e2e_breaker_trip.yaml": _collect_spec("e2e_breaker_trip", "worker_a", "e2e-breaker", "CAR-T cell therapy", 4),
    "e2e_breaker_probe.yaml": _collect_spec("e2e_breaker_probe", "worker_b", "e2e-breaker", "CAR-T cell therapy", 4),
}


def _configure(config: Path) -> None:
    """Two NCBI callers at once (the shared limiter keeps them under the limit), quick retries, a touchy breaker.

    The GraphRAG pipelines run on demand only here: unpausing a scheduled DAG
    starts its latest slot with the default (large) params, work the two
    one-slot workers have no time for.  Schedules are the LocalExecutor tier's.
    """
    for name in ("graphrag_incremental", "graphrag_consistency"):
        path = config / "pipelines" / f"{name}.yaml"
        path.write_text(re.sub(r"(?m)^schedule: .*$", "schedule: null", path.read_text()))
    pools = yaml.safe_load((config / "pools.yaml").read_text())
    pools["pools"]["ncbi"]["slots"] = 2
    (config / "pools.yaml").write_text(yaml.safe_dump(pools))
    policies = yaml.safe_load((config / "policies.yaml").read_text())
    policies["policies"]["default"].update(backoff_initial_seconds=1, backoff_jitter_seconds=0,
                                           backoff_strategy="none")
    policies["policies"]["e2e-breaker"] = {
        "description": "Fails at the first error and opens the shared breaker for a long while.",
        "max_attempts": 1, "backoff_strategy": "none", "backoff_initial_seconds": 0, "backoff_max_seconds": 0,
        "timeout_seconds": 300, "rate_limit_per_second": 3,
        "circuit_breaker": {"failure_threshold": 1, "reset_timeout_seconds": 600, "success_threshold": 1},
    }
    (config / "policies.yaml").write_text(yaml.safe_dump(policies, sort_keys=False))


def _worker(name: str, root: Path) -> tuple[list[str], dict[str, str]]:
    queue = name.replace("-", "_")
    argv = [AIRFLOW, "celery", "worker", "--queues", f"default,{queue}", "--concurrency", "1",
            "--celery-hostname", f"{name}@%h", "--pid", str(root / f"{name}.pid"), "--without-mingle",
            "--without-gossip"]
    # Each worker serves its task logs on its own port: two on one machine.
    return argv, {"PIPELINE_WORKER_NAME": name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}


def _wait_ready(cluster: Cluster, names: tuple[str, ...], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(" ready." in (cluster.logs / f"{name}.log").read_text(errors="replace") for name in names):
            return
        for name in names:
            if cluster.processes[name].poll() is not None:
                cluster.fail(f"celery {name} exited with {cluster.processes[name].returncode}")
        time.sleep(2)
    cluster.fail(f"celery workers {names} did not report ready")


@pytest.fixture(scope="module")
def celery_cluster(tmp_path_factory: pytest.TempPathFactory, neo4j_server: Any) -> Iterator[Cluster]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is missing: run `make system-deps`")
    root = tmp_path_factory.mktemp("e2e-celery")
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=(root / "redis.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    env = {
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "pipeline_factory.hostname.worker_hostname",
        "PIPELINE_REDIS_URL": f"redis://127.0.0.1:{redis_port}/1",
    }
    try:
        with airflow_cluster(root, executor="CeleryExecutor", specs=CELERY_SPECS, configure=_configure,
                             extra_env=env, extra_processes={w: _worker(w, root) for w in WORKERS}) as cluster:
            _wait_ready(cluster, WORKERS)
            yield cluster
    finally:
        redis.terminate()
        redis.wait(timeout=30)
        # The LocalExecutor tier shares this Neo4j and counts what it holds.
        neo4j_server.write("MATCH (n) DETACH DELETE n")
