"""The Pipelines view in a real Airflow api-server, and in a real browser.

One api-server (simple auth manager, this checkout's plugins folder, a
throwaway AIRFLOW_HOME and data dir) serves every test of the module.  The
auth tests prove the plugin's routes are not open the way plugin apps are by
default; the browser test loads the page in Debian's headless Chromium,
driven over the DevTools protocol so that it can carry the session cookie the
Airflow UI would have set, and keeps a screenshot under ``artifacts/``.

Chromium comes from ``make browser-deps``; without it the browser test skips.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
ADMIN_PASSWORD = "e2e-admin-password"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

#: Loopback only: never route these requests through a proxy from the environment.
http = httpx.Client(trust_env=False, timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ApiServer:
    url: str
    data_dir: Path
    log: Path

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'ledger.sqlite'}"

    def token(self) -> str:
        response = http.post(f"{self.url}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert response.status_code == 201, response.text
        return response.json()["access_token"]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    home = tmp_path_factory.mktemp("airflow_home")
    data_dir = tmp_path_factory.mktemp("pipeline_data")
    (home / "dags").mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": ADMIN_PASSWORD}))
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PIPELINE_DATA_DIR": str(data_dir),
        "PIPELINE_FACTORY_CONFIG": str(ROOT / "config"),
        "PIPELINE_RUNTIME": "local",
        "MLFLOW_TRACKING_URI": f"sqlite:///{data_dir / 'mlflow.db'}",
    }
    for name in ("PIPELINE_LEDGER_URL", "PIPELINE_REDIS_URL"):
        env.pop(name, None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=180)
    log = home / "api-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", data_dir, log)
    try:
        deadline = time.monotonic() + 120
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


@pytest.fixture(scope="module")
def gated_job(api_server: ApiServer) -> str:
    """A document job parked at the PDF gate, written through the ledger's own API."""
    from pipeline_factory.stores.ledger import Ledger

    ledger = Ledger(api_server.ledger_url)
    try:
        ledger.upsert_job("docs_auto:pmid-4242", doc_id="pmid-4242", pipeline="docs_auto",
                          dag_run_id="manual__e2e", state="gated", current_stage="wait_for_pdf_ir")
        ledger.upsert_job("docs_auto:pmid-7", doc_id="pmid-7", pipeline="docs_auto",
                          dag_run_id="manual__e2e", state="pending")
        ledger.fail("docs_auto:pmid-7", "download_pdf: HTTP 404 from the publisher", stage="download_pdf")
    finally:
        ledger.dispose()
    return "docs_auto:pmid-4242"


def test_the_plugin_registers_its_app_and_a_pipelines_nav_entry(api_server: ApiServer) -> None:
    response = http.get(f"{api_server.url}/api/v2/plugins", headers={"Authorization": f"Bearer {api_server.token()}"})
    assert response.status_code == 200
    [plugin] = [p for p in response.json()["plugins"] if p["name"] == "pipelines_view"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/pipelines"
    [view] = plugin["external_views"]
    assert (view["name"], view["href"], view["destination"]) == ("Pipelines", "/pipelines/", "nav")


@pytest.mark.parametrize("section", ["overview", "pipelines", "ledger", "breakers", "reports", "models", "promotions",
                                     "runs",
                                     "promotions/plot?pipeline=model_training&report=x.promotion.json&name=a.png"])
def test_anonymous_requests_are_refused(api_server: ApiServer, section: str) -> None:
    anonymous = http.get(f"{api_server.url}/pipelines/api/{section}")
    assert anonymous.status_code == 401
    forged = http.get(f"{api_server.url}/pipelines/api/{section}", headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code == 403
    # A well-formed token for the admin, signed with someone else's key.
    signed_elsewhere = jwt.encode(
        {"sub": "admin", "role": "ADMIN", "exp": int(time.time()) + 600, "iat": int(time.time())},
        os.urandom(32).hex(), algorithm="HS512",
    )
    wrong_key = http.get(f"{api_server.url}/pipelines/api/{section}", headers={"Cookie": f"_token={signed_elsewhere}"})
    assert wrong_key.status_code == 403


def test_the_page_sends_anonymous_browsers_to_the_login(api_server: ApiServer) -> None:
    response = http.get(f"{api_server.url}/pipelines/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/auth/login?next=%2Fpipelines%2F")


def test_a_wrong_password_gets_no_token(api_server: ApiServer) -> None:
    response = http.post(f"{api_server.url}/auth/token", json={"username": "admin", "password": "guess"})
    assert response.status_code == 401


def test_an_authenticated_user_reads_the_ledger(api_server: ApiServer, gated_job: str) -> None:
    token = api_server.token()
    for auth in ({"headers": {"Authorization": f"Bearer {token}"}}, {"headers": {"Cookie": f"_token={token}"}}):
        response = http.get(f"{api_server.url}/pipelines/api/ledger", **auth)
        assert response.status_code == 200, response.text
        ledger = response.json()
        assert ledger["available"] is True
        assert [job["job_id"] for job in ledger["gated"]] == [gated_job]
        assert ledger["failed"][0]["error"] == "download_pdf: HTTP 404 from the publisher"
    pipelines = http.get(f"{api_server.url}/pipelines/api/pipelines", headers={"Authorization": f"Bearer {token}"})
    assert "example_hello" in {p["name"] for p in pipelines.json()["pipelines"]}


# -- the browser ------------------------------------------------------------------------


class DevTools:
    """The few Chrome DevTools Protocol calls the test needs, over one page's websocket."""

    def __init__(self, websocket_url: str):
        import websocket

        self._ws = websocket.create_connection(websocket_url, timeout=30, suppress_origin=True)
        self._next = 0

    def call(self, method: str, **params: object) -> dict:
        self._next += 1
        self._ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._next:
                assert "error" not in message, message
                return message.get("result", {})

    def evaluate(self, expression: str) -> object:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        self._ws.close()


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium is not installed: run `make browser-deps`")
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--window-size=1400,1800", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = http.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        devtools = DevTools(page["webSocketDebuggerUrl"])
        yield devtools
        devtools.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def load_page(browser: DevTools, url: str) -> None:
    browser.call("Page.navigate", url=url)
    deadline = time.monotonic() + 60
    while browser.evaluate("document.body && document.body.dataset.ready") != "true":
        assert time.monotonic() < deadline, browser.evaluate("document.documentElement.outerHTML")
        time.sleep(0.25)


@pytest.mark.slow
def test_the_page_renders_in_chromium_and_shows_a_new_gated_job(api_server: ApiServer, browser: DevTools) -> None:
    from pipeline_factory.stores.ledger import Ledger

    browser.call("Page.enable")
    browser.call("Network.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1800, deviceScaleFactor=1, mobile=False)
    # What the Airflow UI's login leaves in the browser: the JWT in the `_token` cookie.
    browser.call("Network.setCookie", name="_token", value=api_server.token(), url=api_server.url, httpOnly=True)

    load_page(browser, f"{api_server.url}/pipelines/")
    assert browser.evaluate("document.title") == "Pipelines"
    assert browser.evaluate("!!document.querySelector('#pipelines [data-pipeline=\"example_hello\"] svg')"), (
        browser.evaluate("document.querySelector('#pipelines').innerText")
    )

    job_id = "docs_auto:pmid-browser"
    ledger = Ledger(api_server.ledger_url)
    try:
        ledger.upsert_job(job_id, doc_id="pmid-browser", pipeline="docs_auto", dag_run_id="manual__browser",
                          state="gated", current_stage="wait_for_pdf_ir")
    finally:
        ledger.dispose()

    load_page(browser, f"{api_server.url}/pipelines/")
    gated = browser.evaluate(
        "Array.from(document.querySelectorAll('#ledger-gated tbody tr')).map(r => r.dataset.key)"
    )
    assert job_id in gated
    assert browser.evaluate("document.querySelector('#ledger-counts [data-state=gated] b').textContent") == str(
        len(gated)
    )
    text = browser.evaluate("document.body.innerText")
    assert "Could not load" not in text

    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "pipelines_view.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000


@pytest.mark.slow
def test_the_airflow_ui_shows_the_view_under_its_pipelines_nav_entry(api_server: ApiServer, browser: DevTools) -> None:
    browser.call("Page.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False)
    browser.call("Network.setCookie", name="_token", value=api_server.token(), url=api_server.url, httpOnly=True)
    browser.call("Page.navigate", url=f"{api_server.url}/plugin/pipelines")

    frame_ready = (
        "(() => { const f = document.querySelector('iframe');"
        " return f && f.contentDocument && f.contentDocument.body"
        " ? [f.getAttribute('src'), f.contentDocument.body.dataset.ready] : null })()"
    )
    deadline = time.monotonic() + 60
    while (state := browser.evaluate(frame_ready)) is None or state[1] != "true":
        assert time.monotonic() < deadline, browser.evaluate("document.body.innerText")
        time.sleep(0.25)
    assert state[0].rstrip("/").endswith("/pipelines")
    shot = browser.call("Page.captureScreenshot", format="png")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "airflow_ui_pipelines.png").write_bytes(base64.b64decode(shot["data"]))
    # The top-level nav entry the plugin's external view adds, beside Home, Dags, Assets...
    nav = browser.evaluate(
        "Array.from(document.querySelectorAll('a, button')).filter(e => e.closest('iframe') === null)"
        ".map(e => [e.getAttribute('title'), e.innerText, e.getAttribute('href')])"
    )
    assert [label for label in nav if "Pipelines" in (label[1] or "") or label[0] == "Pipelines"], nav


# -- the promotion evidence ---------------------------------------------------------------


@pytest.fixture(scope="module")
def two_promotions(api_server: ApiServer) -> str:
    """The shipped model_training spec run twice, stage by stage, into the api-server's data dir and MLflow."""
    from pipeline_factory.runner import run_stage
    from pipeline_factory.stages.ml.sample_data import parse_batches, write_batches

    env = {"PIPELINE_DATA_DIR": str(api_server.data_dir), "PIPELINE_FACTORY_CONFIG": str(ROOT / "config"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{api_server.data_dir / 'mlflow.db'}"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        source = api_server.data_dir / "ml" / "incoming" / "breast_cancer"
        for run_id, batches in (("manual__ui_1", "1-3"), ("manual__ui_2", "4")):
            write_batches(source, parse_batches(batches))
            for stage in ("fetch_data", "preprocess", "train", "validate_artifacts", "evaluate", "register",
                          "promote"):
                run_stage("model_training", stage, run_id=run_id)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return "manual__ui_2"


def test_a_plot_needs_a_login_and_a_listed_name(api_server: ApiServer, two_promotions: str) -> None:
    token = api_server.token()
    promotions = http.get(f"{api_server.url}/pipelines/api/promotions",
                          headers={"Authorization": f"Bearer {token}"}).json()["promotions"]
    [latest] = [p for p in promotions if p["pipeline"] == "model_training"]
    assert latest["run_id"] == two_promotions and latest["rows"] > 0
    plot_url = f"{api_server.url}/pipelines/{latest['plots'][0]['url']}"
    assert http.get(plot_url).status_code == 401
    served = http.get(plot_url, headers={"Cookie": f"_token={token}"})
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content.startswith(b"\x89PNG")
    sneaky = plot_url.replace("name=", "name=..%2F..%2F..%2Fmlflow.db%23")
    assert http.get(sneaky, headers={"Cookie": f"_token={token}"}).status_code == 404


@pytest.mark.slow
def test_the_view_shows_the_same_rows_tables_and_the_plots(api_server: ApiServer, browser: DevTools,
                                                           two_promotions: str) -> None:
    browser.call("Page.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1800, deviceScaleFactor=1, mobile=False)
    browser.call("Network.setCookie", name="_token", value=api_server.token(), url=api_server.url, httpOnly=True)
    load_page(browser, f"{api_server.url}/pipelines/")
    browser.evaluate("document.querySelector('#models').scrollIntoView()")

    # The models table: a compact metric/candidate/champion/delta table per model, no wall of metric text.
    headers = browser.evaluate("Array.from(document.querySelectorAll('#models-table table.compact thead')).map("
                               "h => h.innerText.trim().split(/\\s+/).join(' '))")
    assert headers and set(headers) == {"metric candidate champion delta"}, headers
    assert "macro_f1=" not in browser.evaluate("document.querySelector('#models').innerText")
    lead_rows = browser.evaluate(
        "Array.from(document.querySelectorAll('#models-table tr')).filter(r => r.innerText.includes("
        "'model_training.diagnosis_lgbm')).map(r => r.querySelector('table.compact tbody').innerText)")
    assert lead_rows and "macro_f1" in lead_rows[0]

    # The promotion section: the decision, the headline table and every plot, loaded (not broken images).
    promotion = "#promotions [data-promotion=model_training]"
    assert browser.evaluate(f"document.querySelector('{promotion} .pill').innerText") in ("champion", "challenger")
    plots = browser.evaluate(f"Array.from(document.querySelectorAll('{promotion} img')).map(i => i.dataset.plot)")
    assert {"confusion_diagnosis_lgbm.png", "roc_pr_diagnosis_lgbm.png", "history_macro_f1.png",
            "pred_vs_actual_size_lgbm_mean_area.png", "importance_diagnosis_lgbm.png"} <= set(plots)
    browser.evaluate(f"document.querySelectorAll('{promotion} img').forEach(i => i.loading = 'eager')")
    deadline = time.monotonic() + 30
    loaded = "Array.from(document.querySelectorAll('#promotions img')).every(i => i.complete && i.naturalWidth > 0)"
    while not browser.evaluate(loaded):
        assert time.monotonic() < deadline, "plots did not load"
        time.sleep(0.25)

    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "pipelines_view_promotions.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 50_000
    # The models table and the promotion section alone, at a size a person can read.
    box = browser.evaluate("(() => { const a = document.querySelector('#models').getBoundingClientRect(),"
                           " b = document.querySelector('#promotions').getBoundingClientRect();"
                           " return [a.left + scrollX, a.top + scrollY, b.right - a.left, b.bottom - a.top] })()")
    detail = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                          clip={"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1})
    (ARTIFACTS / "pipelines_view_promotions_detail.png").write_bytes(base64.b64decode(detail["data"]))
