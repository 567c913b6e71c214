"""Notifications through the smtp provider to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.integration


def test_send_delivers_the_summary_as_html(mailbox):
    from pipeline_factory.notify import send, summary_html

    sections = {"Metrics (test split)": {"macro_f1": 0.91234}, "Promotion": {"decision": "champion"}}
    sent = send([{"type": "smtp", "to": ["a@example.org", "b@example.org"]}, {"type": "log"}],
                "model_training r1: champion", "plain text", html_body=summary_html("Run r1", sections))
    assert sent == ["smtp", "log"]
    [mail] = mailbox.wait_for(1)
    assert mail["Subject"] == "model_training r1: champion"
    assert mailbox.envelopes[0] == ("pipelines@example.org", ["a@example.org", "b@example.org"])
    body = mailbox.text(mail)
    assert "<td>macro_f1</td><td>0.9123</td>" in body and "champion" in body


def test_dag_callbacks_word_the_outcome_from_the_run(mailbox):
    from pipeline_factory.notify import build_callbacks

    [on_failure] = build_callbacks([{"type": "smtp", "to": ["ops@example.org"]}])
    failed_run = SimpleNamespace(dag_id="model_training", run_id="r9", state="failed")
    on_failure({"dag_run": failed_run, "reason": "task_failure", "ti": SimpleNamespace(task_id="train")})
    [on_success] = build_callbacks([{"type": "smtp", "to": ["ops@example.org"], "subject": "all good"}])
    on_success({"dag_run": SimpleNamespace(dag_id="model_training", run_id="r10", state="success"),
                "reason": "success"})
    failure, success = mailbox.wait_for(2)
    assert failure["Subject"] == "[failed] model_training r9"
    assert "Failed task(s): train" in mailbox.text(failure)
    assert success["Subject"] == "all good"
    assert "run r10 succeeded" in mailbox.text(success)


def test_a_broken_notifier_does_not_break_the_callback(monkeypatch):
    from pipeline_factory.notify import build_callbacks

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", '{"conn_type": "smtp", "host": "127.0.0.1", "port": 1, '
                       '"extra": {"disable_tls": true, "disable_ssl": true, "retry_limit": 0, "timeout": 2}}')
    [callback] = build_callbacks([{"type": "smtp", "to": ["ops@example.org"]}])
    callback({"dag_run": SimpleNamespace(dag_id="d", run_id="r", state="failed")})  # logs, does not raise


def test_the_local_sink_keeps_each_mail_as_a_file(tmp_path, monkeypatch):
    import json
    import socket

    from pipeline_factory.devservers import control as devservers
    from pipeline_factory.notify import send

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "mail"
    devservers.start("mail", port, home=out)
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
             "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "p@localhost", "retry_limit": 0}}))
        send([{"type": "smtp", "to": ["me@localhost"]}], "hello from the sink test", "body")
        [eml] = list(out.glob("*.eml"))
        assert "Subject: hello from the sink test" in eml.read_text()
    finally:
        devservers.stop("mail", home=out)
