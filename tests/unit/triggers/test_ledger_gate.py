from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_factory.stores import ledger_db
from pipeline_factory.triggers.ledger_gate import LedgerGateTrigger

RUN = "docs_pdf_two_phase/manual__1"


def make_trigger(ledger_url, run=RUN, **overrides) -> LedgerGateTrigger:
    kwargs = {
        "dag_run_id": run,
        "field": "pdf_ir_ready",
        "equals": True,
        "poll_interval": 0.1,
        "deadline": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
        "exclude_jobs": [],
        "ledger_url": ledger_url,
    }
    kwargs.update(overrides)
    return LedgerGateTrigger(**kwargs)


def test_serialize_mirrors_init_and_rebuilds_exactly(ledger_url):
    trigger = LedgerGateTrigger(
        dag_run_id=RUN,
        field="pdf_ir_ready",
        equals=True,
        poll_interval=5,
        deadline="2026-11-23T00:00:00+00:00",
        exclude_jobs=["b", "a"],
        ledger_url=ledger_url,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "pipeline_factory.triggers.ledger_gate.LedgerGateTrigger"
    assert kwargs == {
        "dag_run_id": RUN,
        "field": "pdf_ir_ready",
        "equals": True,
        "poll_interval": 5.0,
        "deadline": "2026-11-23T00:00:00+00:00",
        "exclude_jobs": ["a", "b"],
        "ledger_url": ledger_url,
    }
    rebuilt = LedgerGateTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_unknown_or_naive_arguments_are_rejected():
    with pytest.raises(TypeError):
        LedgerGateTrigger(dag_run_id=RUN, pole_interval=3)
    with pytest.raises(ValueError, match="time zone"):
        LedgerGateTrigger(dag_run_id=RUN, deadline="2026-11-23T00:00:00")


async def test_does_not_fire_while_jobs_wait_then_releases(ledger, ledger_url, add_jobs):
    ids = add_jobs(ledger, RUN, 3, state="gated", pdf_downloaded=True)
    task = asyncio.create_task(make_trigger(ledger_url).run().asend(None))
    await asyncio.sleep(0.5)
    assert not task.done()
    ledger.mark_many(ids[:2], pdf_ir_ready=True)
    await asyncio.sleep(0.3)
    assert not task.done()
    ledger.mark(ids[2], pdf_ir_ready=True)
    event = await asyncio.wait_for(task, 5)
    assert event.payload["status"] == "success"
    assert event.payload["jobs"]["ready"] == sorted(ids)
    assert "all 3 job(s)" in event.payload["message"]


async def test_fails_fast_when_a_job_fails(ledger, ledger_url, add_jobs):
    ids = add_jobs(ledger, RUN, 3, state="gated", pdf_downloaded=True)
    # no deadline: the only way this trigger can fire is the failure
    task = asyncio.create_task(make_trigger(ledger_url, deadline=None).run().asend(None))
    await asyncio.sleep(0.3)
    ledger.fail(ids[1], "pdf_to_ir: no text layer", stage="pdf_to_ir")
    event = await asyncio.wait_for(task, 10)
    assert event.payload["status"] == "failed"
    assert event.payload["jobs"]["failed"] == {ids[1]: "pdf_to_ir: no text layer"}
    assert ids[1] in event.payload["message"] and "no text layer" in event.payload["message"]


async def test_jobs_failed_before_the_gate_are_left_out(ledger, ledger_url, add_jobs):
    ids = add_jobs(ledger, RUN, 2, state="gated", pdf_downloaded=True)
    ledger.fail(ids[0], "download: not a PDF")
    ledger.mark(ids[1], pdf_ir_ready=True)
    event = await asyncio.wait_for(make_trigger(ledger_url, exclude_jobs=[ids[0]]).run().asend(None), 5)
    assert event.payload["status"] == "success"


async def test_timeout_names_the_jobs_still_not_ready(ledger, ledger_url, add_jobs):
    ids = add_jobs(ledger, RUN, 3, state="gated", pdf_downloaded=True)
    ledger.mark(ids[0], pdf_ir_ready=True)
    deadline = (datetime.now(UTC) + timedelta(seconds=0.6)).isoformat()
    event = await asyncio.wait_for(make_trigger(ledger_url, deadline=deadline).run().asend(None), 5)
    assert event.payload["status"] == "timeout"
    assert event.payload["jobs"]["waiting"] == sorted(ids[1:])
    message = event.payload["message"]
    assert ids[1] in message and ids[2] in message and ids[0] not in message.split(":", 3)[-1]


async def test_a_deadline_already_past_reports_timeout_at_once(ledger, ledger_url, add_jobs):
    add_jobs(ledger, RUN, 1, state="gated")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    event = await asyncio.wait_for(make_trigger(ledger_url, deadline=past).run().asend(None), 2)
    assert event.payload["status"] == "timeout"


async def test_many_gates_share_one_query_per_poll(ledger, ledger_url, query_counter, add_jobs):
    runs = [f"docs_pdf_two_phase/run{i}" for i in range(200)]
    for run in runs:
        add_jobs(ledger, run, 1, state="gated", pdf_downloaded=True)
    query_counter.selects = 0
    triggers = [make_trigger(ledger_url, run=run, poll_interval=0.2) for run in runs]
    tasks = [asyncio.create_task(t.run().asend(None)) for t in triggers]
    await asyncio.sleep(1.1)
    assert not any(t.done() for t in tasks)
    # about 1.1 s / 0.2 s polls, plus the first: one query each, not one per gate
    assert 1 <= query_counter.selects <= 12, query_counter.selects
    ledger.mark_many([f"{run}#doc0" for run in runs], pdf_ir_ready=True)
    events = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert {e.payload["status"] for e in events} == {"success"}
    assert query_counter.selects <= 16


async def test_a_recreated_trigger_keeps_waiting_after_a_triggerer_restart(ledger, ledger_url, add_jobs):
    ids = add_jobs(ledger, RUN, 1, state="gated", pdf_downloaded=True)
    original = make_trigger(ledger_url)
    first = asyncio.create_task(original.run().asend(None))
    await asyncio.sleep(0.3)
    first.cancel()  # the triggerer stops: the trigger is cancelled and cleaned up
    with pytest.raises(asyncio.CancelledError):
        await first
    await original.cleanup()
    classpath, kwargs = original.serialize()
    assert classpath.rsplit(".", 1)[-1] == "LedgerGateTrigger"
    revived = LedgerGateTrigger(**kwargs)
    second = asyncio.create_task(revived.run().asend(None))
    await asyncio.sleep(0.3)
    assert not second.done()
    ledger.mark(ids[0], pdf_ir_ready=True)
    event = await asyncio.wait_for(second, 5)
    assert event.payload["status"] == "success"
    assert revived.deadline == original.deadline


async def test_an_unreadable_ledger_keeps_gates_waiting_until_the_deadline(tmp_path):
    url = f"sqlite:///{tmp_path}/missing-dir/x/ledger.sqlite"
    ledger_db.forget(url)
    deadline = (datetime.now(UTC) + timedelta(seconds=0.5)).isoformat()
    (tmp_path / "missing-dir").write_text("a file where a folder should be")
    event = await asyncio.wait_for(make_trigger(url, deadline=deadline).run().asend(None), 5)
    assert event.payload["status"] == "error"
    assert "ledger could not be read" in event.payload["message"]


async def test_a_slow_ledger_never_blocks_the_event_loop(ledger, ledger_url, add_jobs, monkeypatch):
    from pipeline_factory.stores.ledger import Ledger

    add_jobs(ledger, RUN, 1, state="gated")
    real = Ledger.gate_status

    def slow_gate_status(self, *args, **kwargs):
        import time

        time.sleep(0.6)  # a database under load
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "gate_status", slow_gate_status)
    gate = asyncio.create_task(make_trigger(ledger_url, poll_interval=0.1).run().asend(None))
    loop = asyncio.get_running_loop()
    gaps, last = [], loop.time()
    for _ in range(20):  # the triggerer's other triggers keep running meanwhile
        await asyncio.sleep(0.05)
        now = loop.time()
        gaps.append(now - last)
        last = now
    assert max(gaps) < 0.55, gaps  # a blocking query would stall the loop for 0.6 s at a time
    assert not gate.done()
    gate.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gate
