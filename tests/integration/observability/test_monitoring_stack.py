"""The real monitoring stack: Debian's Pushgateway, Prometheus and Alertmanager, and a real SMTP server.

A stage run under ``dag.test()`` pushes its figures and the run listener the
run's; Prometheus scrapes them and its HTTP API returns them.  A failure-rate
rule rendered from a spec fires once on a constructed failure history, the
alert mail reaches the aiosmtpd server through Alertmanager's own email
receiver, and a resolved notice follows when the history clears.  Short
scrape, evaluation and group intervals keep it quick.
"""

from __future__ import annotations

import email
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.integration]

ALERTED_SPEC = """\
name: alerted_pipeline
notifications:
  on_failure: [{type: smtp, to: [oncall@example.org]}]
alerts:
  - {kind: failure_rate, runs: 4, above: 0.5}
stages:
  - name: hello
    type: echo
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m["Subject"]) for m in self.messages]


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box, port = Mailbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mailbox) -> Iterator[Any]:
    """The three servers on free ports, with the rules and routes rendered from ``ALERTED_SPEC``."""
    from pipeline_factory.devservers import monitoring
    from pipeline_factory.observability.alerts import SmtpServer, alertmanager_config, rules_file
    from pipeline_factory.spec.loader import load_specs

    if monitoring.missing_binaries():
        pytest.skip(f"not installed: {monitoring.missing_binaries()} (make monitoring-deps)")
    config = tmp_path_factory.mktemp("config")
    import shutil

    shutil.copytree(Path(os.environ["PIPELINE_FACTORY_CONFIG"]), config, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("schema"))
    (config / "pipelines" / "alerted_pipeline.yaml").write_text(ALERTED_SPEC)
    loaded = load_specs(config_dir=config)
    specs = {name: spec.spec for name, spec in loaded.specs.items()}
    assert "alerted_pipeline" in specs, loaded.problems
    _, smtp_port = mailbox
    ports = {name: _free_port() for name in monitoring.DEFAULT_PORTS}
    running = monitoring.start(
        tmp_path_factory.mktemp("monitoring"), ports,
        rules=rules_file(specs, interval="1s"),
        alertmanager=alertmanager_config(
            specs, group_wait="1s", group_interval="2s", repeat_interval="1h",
            smtp=lambda conn_id: SmtpServer(smarthost=f"127.0.0.1:{smtp_port}", sender="alerts@example.org")),
        scrape_interval="1s", evaluation_interval="1s",
    )
    try:
        yield running
    finally:
        monitoring.stop(running)


def _query(stack, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(stack.url("prometheus") + "/api/v1/query", params={"query": promql}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]["result"]


def _eventually(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_a_stage_run_pushes_series_prometheus_returns(stack, dagbag, monkeypatch):
    monkeypatch.setenv("PIPELINE_PUSHGATEWAY_URL", stack.url("pushgateway"))
    dag = dagbag.get_dag("example_hello")
    run = dag.test()
    assert str(getattr(run.state, "value", run.state)) == "success"

    tasks = {t.task_id for t in dag.tasks}

    def every_stage() -> list:
        # A scrape during the run holds the stages pushed so far: wait for the one after the last push.
        found = _query(stack, 'pipeline_stage_outcome{pipeline="example_hello"}')
        return found if {s["metric"]["stage"] for s in found} == tasks else []

    stage = _eventually(every_stage, what="the series of every stage")
    assert {s["metric"]["outcome"] for s in stage} == {"success"}
    assert all(s["metric"]["job"] == "pipeline_stage" for s in stage)
    durations = _query(stack, 'pipeline_stage_duration_seconds{pipeline="example_hello"}')
    assert durations and all(float(s["value"][1]) >= 0 for s in durations)

    runs = _eventually(lambda: _query(stack, 'pipeline_run_outcome{pipeline="example_hello"}'),
                       what="the run series")
    assert runs[0]["metric"]["outcome"] == "success"
    ratio = _query(stack, 'pipeline_run_failure_ratio{pipeline="example_hello",window="10"}')
    assert float(ratio[0]["value"][1]) == 0.0
    [last_success] = _query(stack, 'pipeline_run_last_success_timestamp_seconds{pipeline="example_hello"}')
    assert abs(float(last_success["value"][1]) - time.time()) < 600


def _push_history(stack, monkeypatch, states: list[str]) -> None:
    """A constructed run history (newest first), pushed the way the run listener pushes it."""
    from pipeline_factory.observability import metrics

    monkeypatch.setenv("PIPELINE_PUSHGATEWAY_URL", stack.url("pushgateway"))
    registry = metrics.run_registry(
        outcome=states[0], duration=3.0, ended_at=time.time(), last_success=None,
        failure_ratios={w: metrics.failure_ratio(states, w) for w in (4, 10)})
    assert metrics.push(registry, job=metrics.RUN_JOB, grouping={"pipeline": "alerted_pipeline"})


def test_a_rule_fires_once_mails_and_resolves(stack, mailbox, monkeypatch):
    box, _ = mailbox
    _push_history(stack, monkeypatch, ["failed", "failed", "failed", "success"])  # 3 of the last 4 failed

    firing = _eventually(lambda: [s for s in box.subjects() if "FIRING" in s], timeout=90, what="the alert mail")
    assert len(firing) == 1 and "PipelineFailureRateHigh" in firing[0]
    [mail] = [m for m in box.messages if "FIRING" in str(m["Subject"])]
    assert mail["To"] == "oncall@example.org"
    alerts = httpx.get(stack.url("alertmanager") + "/api/v2/alerts", timeout=10).json()
    [alert] = [a for a in alerts if a["labels"].get("pipeline") == "alerted_pipeline"]
    assert alert["labels"]["severity"] == "warning" and alert["status"]["state"] == "active"

    time.sleep(6)  # several evaluation and group intervals: still firing, but no second mail
    assert len([s for s in box.subjects() if "FIRING" in s]) == 1

    _push_history(stack, monkeypatch, ["success", "success", "success", "failed"])  # cleared
    resolved = _eventually(lambda: [s for s in box.subjects() if "RESOLVED" in s], timeout=90,
                           what="the resolved notice")
    assert len(resolved) == 1 and "PipelineFailureRateHigh" in resolved[0]
    assert len(box.subjects()) == 2, box.subjects()
    body = json.dumps([p.get_payload() for p in box.messages[-1].walk() if not p.is_multipart()])
    assert "alerted_pipeline" in body
