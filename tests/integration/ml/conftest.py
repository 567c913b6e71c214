"""Fixtures for the model-training tests: a data dir per test, sample batches, a real SMTP server."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

SOURCE = "ml/incoming/breast_cancer"

#: The test pipeline: the shipped spec's shape with small models (few trees) so a run takes seconds.
ML_SPEC = """\
name: ml_test
schedule: P15D
params:
  force_full_retrain: {{type: boolean, default: false}}
default_policy: fast-fail
notifications:
  on_failure: [{{type: smtp, to: ["oncall@example.org"]}}]
stages:
  - name: fetch_data
    type: fetch_data
    with: {{source: {source}, dataset: breast_cancer, time_column: measured_at}}
  - name: preprocess
    type: preprocess
    with:
      label: diagnosis
      label_classes: [benign, malignant]
      time_column: measured_at
      features: {features}
      components: [mean_radius, mean_perimeter, mean_area]
      derived: {{worst_area_per_radius: "worst_area / worst_radius"}}
  - name: train
    type: train
    compute: {compute}
    with:
      threads: 1  # tiny data: more threads only add OpenMP spin-waits on a busy CI machine
      models:
        - {{name: diagnosis_lgbm, library: lightgbm, task: classify,
            params: {{n_estimators: 50, num_leaves: 7, min_child_samples: 5}}}}
        - {{name: diagnosis_xgb, library: xgboost, task: classify, params: {{n_estimators: 50, max_depth: 3}}}}
        - {{name: size_lgbm, library: lightgbm, task: regress,
            params: {{n_estimators: 50, num_leaves: 7, min_child_samples: 5}}}}
  - name: validate_artifacts
    type: validate_artifacts
  - name: evaluate
    type: evaluate
    with: {{lead_model: diagnosis_lgbm}}
  - name: register
    type: register
{approval_stage}  - name: promote
    type: promote
    with:
      metric: macro_f1
      min_improvement: 0.001
      floor: 0.70
      guardrails: {{component_avg_r2: ">= 0.80"}}
      approval: {approval}
  - name: notify
    type: notify
    with:
      notifiers: [{{type: smtp, to: ["ml-team@example.org"]}}]
"""

APPROVAL_STAGE = """\
  - name: approve_promotion
    type: approval
    with: {subject: "Promote the diagnosis model?"}
"""


def _ml_spec(*, features: list[str] | None = None, compute: str = "cpu", approval: bool = False) -> str:
    from pipeline_factory.stages.ml.sample_data import feature_columns

    return ML_SPEC.format(
        source=SOURCE,
        features=json.dumps(features or feature_columns()),
        compute=compute,
        approval="required" if approval else "none",
        approval_stage=APPROVAL_STAGE if approval else "",
    )


@pytest.fixture
def ml_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir (dataset, watermark, MLflow SQLite store, ledger) for one test."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    for name in ("MLFLOW_TRACKING_URI", "AIRFLOW_CONN_MLFLOW_DEFAULT", "PIPELINE_PROMOTION_LOCK_URL"):
        monkeypatch.delenv(name, raising=False)
    return data


def _add_batches(data_dir: Path, batches: str, *, label_noise: float = 0.0) -> list[Path]:
    from pipeline_factory.stages.ml.sample_data import parse_batches, write_batches

    return write_batches(data_dir / SOURCE, parse_batches(batches), label_noise=label_noise)


@pytest.fixture
def ml_spec():
    """``ml_spec(features=..., compute=..., approval=...)`` -> the test pipeline's YAML."""
    return _ml_spec


@pytest.fixture
def add_batches():
    """``add_batches(data_dir, "1-2", label_noise=0.0)``: batches arrive in the source folder."""
    return _add_batches


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.content))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.1)
        raise AssertionError(f"expected {count} mails, got {len(self.messages)}")

    @staticmethod
    def text(message: Message) -> str:
        parts = [p for p in message.walk() if p.get_content_maintype() == "text"]
        return "\n".join(p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8") for p in parts)


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on localhost, wired to the ``smtp_default`` connection."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "pipelines@example.org",
                  "retry_limit": 0, "timeout": 10},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
    try:
        yield box
    finally:
        controller.stop()
