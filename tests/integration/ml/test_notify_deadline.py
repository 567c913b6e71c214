"""A missed deadline notifies the pipeline's notifiers: Airflow's own callback trigger, a real SMTP server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SPEC = """\
name: nightly_with_deadline
schedule: "0 1 * * *"
deadline: {within: PT3H}
notifications:
  on_failure: [{type: smtp, to: [ops@example.org]}]
stages:
  - name: only
    type: echo
"""


def test_missed_deadline_mails_the_on_failure_recipients(config_copy: Path, mailbox):
    from airflow.triggers.callback import CallbackTrigger

    from pipeline_factory.factory.dagfile import render_all

    (config_copy / "pipelines" / "nightly_with_deadline.yaml").write_text(SPEC)
    [alert] = render_all(auto_register=False).dags["nightly_with_deadline"].deadline
    # What the scheduler hands the triggerer when the deadline passes: the serialized callback and a context.
    kwargs = {**alert.callback.kwargs, "context": {"dag_run": {"run_id": "scheduled__2026-01-02T01:00:00+00:00"}}}
    trigger = CallbackTrigger(alert.callback.path, kwargs)

    async def events() -> list[dict]:
        return [event.payload async for event in trigger.run()]

    *_, last = asyncio.run(events())
    assert last["state"] == "success", last
    assert last["body"] == ["smtp"]
    [message] = mailbox.wait_for(1)
    assert "nightly_with_deadline: deadline missed" in message["Subject"]
    assert mailbox.envelopes[0][1] == ["ops@example.org"]
    text = mailbox.text(message)
    assert "within PT3H of its scheduled time" in text and "scheduled__2026-01-02T01:00:00+00:00" in text
