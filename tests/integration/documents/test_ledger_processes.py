"""The ledger under several real processes: no lost updates, and a gate released from another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from pipeline_factory.stores.ledger import Ledger
from pipeline_factory.triggers.ledger_gate import LedgerGateTrigger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WRITER = textwrap.dedent(
    """
    import sys
    from pipeline_factory.stores.ledger import Ledger

    url, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ledger = Ledger(url)
    lost = 0
    for _ in range(n):
        if mode == "increment":
            ledger.increment_attempts("shared")
            continue
        while True:  # read, decide, compare-and-set: retry when another process wrote first
            job = ledger.get("cas")
            if ledger.mark("cas", expected_version=job["version"], attempts=job["attempts"] + 1):
                break
            lost += 1
    print(lost)
    """
)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request, tmp_path, monkeypatch):
    """The same tests on the embedded default (SQLite, WAL) and on the deployments' database (Postgres)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_ledger_url")
    monkeypatch.setenv("PIPELINE_LEDGER_URL", url)
    ledger = Ledger(url)
    with ledger.engine.begin() as connection:  # the Postgres database outlives one test
        connection.exec_driver_sql("DELETE FROM job_events")
        connection.exec_driver_sql("DELETE FROM jobs")
    yield ledger
    ledger.dispose()


@pytest.fixture
def sqlite_ledger(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    monkeypatch.setenv("PIPELINE_LEDGER_URL", url)
    ledger = Ledger(url)
    yield ledger
    ledger.dispose()


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_writers_in_several_processes_lose_no_update(ledger):
    ledger.upsert_job("shared", doc_id="s", pipeline="p")
    ledger.upsert_job("cas", doc_id="c", pipeline="p")
    procs = [spawn("-c", WRITER, ledger.url, mode, "40") for mode in ("increment", "cas") for _ in range(3)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 6, [err for _, err in outputs]
    assert ledger.get("shared")["attempts"] == 120
    cas = ledger.get("cas")
    assert cas["attempts"] == 120
    # every write bumped the version exactly once: 1 (created) + 120 successful compare-and-sets
    assert cas["version"] == 121


async def _gate(ledger_url: str, run: str):
    trigger = LedgerGateTrigger(
        dag_run_id=run,
        poll_interval=0.2,
        deadline=(datetime.now(UTC) + timedelta(seconds=60)).isoformat(),
        ledger_url=ledger_url,
    )
    return await trigger.run().asend(None)


async def _cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pipeline_factory.stores.ledger_cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


async def test_ledger_mark_from_another_process_releases_the_gate(ledger):
    run = "docs_pdf_two_phase/manual__cli"
    ledger.upsert_job("job-a", doc_id="a", pipeline="docs_pdf_two_phase", dag_run_id=run, state="gated")
    ledger.upsert_job("job-b", doc_id="b", pipeline="docs_pdf_two_phase", dag_run_id=run, state="gated")
    gate = asyncio.create_task(_gate(ledger.url, run))
    assert (await _cli("mark", "job-a", "pdf_ir_ready=true"))[0] == 0
    await asyncio.sleep(0.5)
    assert not gate.done()
    code, out = await _cli("mark", "job-b", "pdf_ir_ready=true", "current_stage=pdf_to_ir")
    assert code == 0 and '"pdf_ir_ready": true' in out
    event = await asyncio.wait_for(gate, 10)
    assert event.payload["status"] == "success"
    assert [e["data"]["fields"] for e in ledger.events(type="job.marked", job_id="job-b")] == [
        {"pdf_ir_ready": True, "current_stage": "pdf_to_ir"}
    ]


async def test_ledger_mark_failed_from_another_process_fails_the_gate_at_once(ledger):
    run = "docs_pdf_two_phase/manual__fail"
    ledger.upsert_job("job-c", doc_id="c", pipeline="docs_pdf_two_phase", dag_run_id=run, state="gated")
    gate = asyncio.create_task(_gate(ledger.url, run))
    await asyncio.sleep(0.3)
    code, _ = await _cli("mark", "job-c", "state=failed", "error=converter: encrypted PDF")
    assert code == 0
    event = await asyncio.wait_for(gate, 10)
    assert event.payload["status"] == "failed"
    assert "encrypted PDF" in event.payload["message"]


async def test_ledger_cli_lists_and_shows_jobs(sqlite_ledger):
    ledger = sqlite_ledger
    ledger.upsert_job("job-d", doc_id="d", pipeline="docs_auto", dag_run_id="docs_auto/r1", state="gated")
    code, out = await _cli("list", "--state", "gated")
    assert code == 0 and "job-d" in out and "docs_auto/r1" in out
    code, out = await _cli("show", "job-d")
    assert code == 0 and '"doc_id": "d"' in out
    code, out = await _cli("mark", "job-d", "colour=red")
    assert code == 2 and "unknown ledger field" in out
    code, out = await _cli("show", "nope")
    assert code == 1
