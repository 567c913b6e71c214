"""The retry budget under a real Airflow: a policy's max_attempts is the total a request gets.

A stage that retries transient API faults itself (here ``ingest`` reading an
HTTP JSON source) is run with ``dag.test()`` against a local server that
always answers 503; the server counts the requests.  In-task retries and
Airflow's task retries together make exactly the policy's total, never its
square.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration


class _Unavailable(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def unavailable() -> Iterator[tuple[str, type[_Unavailable]]]:
    handler = type("Handler", (_Unavailable,), {"hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/documents", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("max_attempts", "task_attempts", "airflow_tries"), [(5, None, 1), (4, 2, 2), (3, 3, 3)])
def test_attempts_in_all_are_the_policy_total(dag_runner, airflow_db, config_copy: Path, unavailable, tmp_path,
                                              monkeypatch, max_attempts, task_attempts, airflow_tries):
    from pipeline_factory.factory.dagfile import render_all

    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path / "data"))
    url, handler = unavailable
    policies = yaml.safe_load((config_copy / "policies.yaml").read_text())
    policies["policies"]["budget"] = {
        "max_attempts": max_attempts, "backoff_strategy": "none", "backoff_initial_seconds": 0,
        "backoff_max_seconds": 0, **({"task_attempts": task_attempts} if task_attempts else {}),
    }
    (config_copy / "policies.yaml").write_text(yaml.safe_dump(policies))
    (config_copy / "pipelines" / "budget.yaml").write_text(
        f"name: budget\nstages:\n  - name: read\n    type: ingest\n    policy: budget\n"
        f"    with: {{source: http_json, url: '{url}'}}\n")
    rendered = render_all(auto_register=False)
    assert not rendered.problems, rendered.problems
    dag = rendered.dags["budget"]
    assert dag.get_task("read").retries == airflow_tries - 1
    run = dag_runner.run(dag)
    assert run.state == "failed"
    assert handler.hits == max_attempts
