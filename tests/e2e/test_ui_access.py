"""Who sees what in the Pipelines view: three users, three roles, on a real api-server with FAB.

The FAB auth manager (the deployments' one) grants DAGs per role, so two
logged-in users really differ here:

* ``viewer``: Airflow's ``Viewer`` role, every DAG;
* ``alice``: a role that may read the DAGs ``example_hello`` and ``docs_auto`` only;
* ``stranger``: a role that may use the Airflow UI but read no DAG.

Every route of the view, found from the app itself so a route added later is
covered without editing this file, is tried anonymously (401), with a forged
token and with a token signed by another key (403), as the stranger (403),
and as alice and the viewer (200, each seeing their own pipelines only).  A
password is planted in the MLflow tracking URI and in the Airflow database
URL; no response may contain it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import pytest

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PLANTED = "Pl4nted-Pa55-e2e"
USERS = {"viewer": "viewer-password-1", "alice": "alice-password-1", "stranger": "stranger-password-1"}
ALICE_DAGS = ("example_hello", "docs_auto")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

http = httpx.Client(trust_env=False, timeout=60)

#: Run inside the api-server's environment: roles with per-DAG grants and the three users (FAB's own API).
SETUP_USERS = """
import json, sys
from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
users, alice_dags = json.loads(sys.argv[1]), json.loads(sys.argv[2])
with get_application_builder() as appbuilder:
    sm = appbuilder.sm
    def role(name, grants):
        found = sm.find_role(name) or sm.add_role(name)
        for resource, action in grants:
            sm.add_permission_to_role(found, sm.create_permission(action, resource))
        return found
    roles = {
        "viewer": sm.find_role("Viewer"),
        "alice": role("PipelinesTeamA", [("Website", "can_read")] + [(f"DAG:{d}", "can_read") for d in alice_dags]),
        "stranger": role("NoDags", [("Website", "can_read")]),
    }
    for name, password in users.items():
        sm.add_user(name, name, "e2e", f"{name}@example.org", roles[name], password=password)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    data_dir: Path
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        """One login per user for the module (FAB hashes the password on every login)."""
        if user not in self.tokens:
            response = http.post(f"{self.url}/auth/token", json={"username": user, "password": USERS[user]})
            assert response.status_code == 201, response.text
            self.tokens[user] = response.json()["access_token"]
        return self.tokens[user]

    def get(self, path: str, user: str | None = None, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return http.get(f"{self.url}/pipelines{path}", headers=headers, follow_redirects=False, **kwargs)


def seed(data_dir: Path) -> None:
    """Jobs, reports and breakers of pipelines alice may and may not read."""
    from pipeline_factory.resilience.breaker import SQLBreakerStorage
    from pipeline_factory.stores.ledger import Ledger

    url = f"sqlite:///{data_dir / 'ledger.sqlite'}"
    ledger = Ledger(url)
    try:
        ledger.upsert_job("a:1", doc_id="1", pipeline="docs_auto", dag_run_id="docs_auto/r", state="gated")
        ledger.upsert_job("b:1", doc_id="1", pipeline="docs_pdf_two_phase", dag_run_id="docs_pdf_two_phase/r",
                          state="failed", error="team B's failure")
    finally:
        ledger.dispose()
    SQLBreakerStorage("pdf-host:papers.example.org", url)
    SQLBreakerStorage("ncbi-eutils", url)
    for pipeline in ("docs_auto", "model_training"):
        (data_dir / "reports" / pipeline).mkdir(parents=True)
        (data_dir / "reports" / pipeline / "run.json").write_text(json.dumps({"pipeline": pipeline}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("airflow_home_fab")
    data_dir = tmp_path_factory.mktemp("pipeline_data_fab")
    (home / "dags").mkdir()
    port = free_port()
    closed = free_port()  # nothing listens here: MLflow fails, and says where it tried
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?planted={PLANTED}",
        "PIPELINE_DATA_DIR": str(data_dir),
        "PIPELINE_FACTORY_CONFIG": str(ROOT / "config"),
        "MLFLOW_TRACKING_URI": f"http://mlflow:{PLANTED}@127.0.0.1:{closed}",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
    for name in ("PIPELINE_LEDGER_URL", "PIPELINE_REDIS_URL", "PIPELINE_RUNTIME"):
        env.pop(name, None)
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    users = subprocess.run([sys.executable, "-c", SETUP_USERS, json.dumps(USERS), json.dumps(ALICE_DAGS)],
                           env=env, capture_output=True, text=True, timeout=300)
    assert users.returncode == 0, users.stdout[-2000:] + users.stderr[-2000:]
    seed(data_dir)
    log = home / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", data_dir, log)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"api-server exited:\n{log.read_text()[-3000:]}"
            try:
                if http.get(f"{server.url}/api/v2/version", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"api-server did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


#: The query a route needs to get past parameter validation (alice's own report, a question, a plot).
QUERIES = {
    "/api/reports/file": "path=docs_auto/run.json",
    "/api/graphrag/search": "q=BRCA1",
    "/api/promotions/plot": "pipeline=model_training&report=r.promotion.json&name=roc.png",
}
#: What a reader gets where 200 is not the answer: alice reads no GraphRAG pipeline, and no plot is planted
#: (an unreadable pipeline's plot answers like a missing one).
STATUS = {
    ("/api/graphrag/search", "alice"): 403,
    ("/api/promotions/plot", "alice"): 404,
    ("/api/promotions/plot", "viewer"): 404,
}


def view_routes() -> list[str]:
    """Every GET route of the view, as the app defines it, with the query it needs."""
    from pipeline_factory.ui.app import create_app

    paths = sorted(r.path for r in create_app().routes if "GET" in (getattr(r, "methods", None) or ()))
    return [f"{p}?{QUERIES[p]}" if p in QUERIES else p for p in paths]


ROUTES = view_routes()


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_refuses_anonymous_forged_and_unauthorised_users(server: Server, path: str) -> None:
    anonymous = server.get(path)
    assert anonymous.status_code == (303 if path == "/" else 401), anonymous.text
    forged = http.get(f"{server.url}/pipelines{path}", headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code == 403
    signed_elsewhere = jwt.encode({"sub": "1", "exp": int(time.time()) + 600, "iat": int(time.time())},
                                  os.urandom(32).hex(), algorithm="HS512")
    wrong_key = http.get(f"{server.url}/pipelines{path}", headers={"Cookie": f"_token={signed_elsewhere}"})
    assert wrong_key.status_code == 403
    stranger = server.get(path, "stranger")
    assert stranger.status_code == 403, stranger.text
    for user in ("alice", "viewer"):
        allowed = server.get(path, user)
        assert allowed.status_code == STATUS.get((path.split("?")[0], user), 200), (user, allowed.text)
        assert PLANTED not in allowed.text
        for method in ("POST", "PUT", "DELETE"):
            write = http.request(method, f"{server.url}/pipelines{path}",
                                 headers={"Authorization": f"Bearer {server.token(user)}"})
            assert write.status_code == 405


def test_each_user_sees_the_pipelines_of_their_own_dags_only(server: Server) -> None:
    alice = {path: server.get(path, "alice").json() for path in ROUTES if path.startswith("/api/") and "?" not in path}
    viewer = {path: server.get(path, "viewer").json() for path in alice}

    assert {p["name"] for p in alice["/api/pipelines"]["pipelines"]} == set(ALICE_DAGS)
    assert {"docs_pdf_two_phase", "model_training", "example_hello"} <= {
        p["name"] for p in viewer["/api/pipelines"]["pipelines"]
    }
    assert [j["job_id"] for j in alice["/api/ledger"]["recent"]] == ["a:1"]
    assert alice["/api/ledger"]["counts"] == {"gated": 1}
    assert {j["job_id"] for j in viewer["/api/ledger"]["recent"]} == {"a:1", "b:1"}
    assert [r["pipeline"] for r in alice["/api/reports"]["reports"]] == ["docs_auto"]
    assert {r["pipeline"] for r in viewer["/api/reports"]["reports"]} == {"docs_auto", "model_training"}
    assert alice["/api/breakers"]["breakers"] == []  # the PDF hosts' and NCBI's breakers serve other pipelines
    assert {b["name"] for b in viewer["/api/breakers"]["breakers"]} == {"pdf-host:papers.example.org", "ncbi-eutils"}
    assert alice["/api/models"]["models"] == []
    # The viewer's models section fails (nothing listens at the tracking URI) and says so, scrubbed.
    assert viewer["/api/models"]["available"] is False
    assert "mlflow:***@127.0.0.1" in viewer["/api/models"]["reason"]
    overview = server.get("/api/overview", "alice").json()
    assert [j["job_id"] for j in overview["ledger"]["recent"]] == ["a:1"]


def test_a_report_of_another_teams_pipeline_is_not_found(server: Server) -> None:
    assert server.get("/api/reports/file?path=model_training/run.json", "alice").status_code == 404
    assert server.get("/api/reports/file?path=model_training/run.json", "viewer").status_code == 200
    assert server.get("/api/reports/file?path=../ledger.sqlite", "viewer").status_code == 404
