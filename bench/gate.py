"""Many gates waiting at once: deferred (one triggerer) against poke mode (a worker slot each).

    .venv/bin/python bench/gate.py [--gates 1000] [--interval 5] [--runs 3] [--ledger URL]

Deferred: ``--gates`` :class:`LedgerGateTrigger` instances run in one asyncio
event loop, the way the triggerer runs them (the triggerer's own machinery is
left out; its process is this one), against a ledger holding one gated job per
run.  Reported, each the median of ``--runs`` runs:

* extra memory once every gate waits (after one warm-up gate has gone through,
  so one-time costs are left out): the process's RSS growth in the first run
  (later runs reuse freed memory) and the Python heap the waiting gates hold
  (tracemalloc, every run);
* ledger queries per second while they wait (SELECTs counted at the driver);
* release delay: ``pdf_ir_ready=true`` is set for the runs in ten waves at
  random moments, and each gate's delay from its mark to its event is taken;
  median, p95 and max.  (Resuming the task then takes the scheduler's own
  pick-up time, which this benchmark does not include.)

Poke mode: each gate is a sensor poking from a worker slot.  Its queries per
second are measured with ``--poke-sample`` sensors poking in threads and
scaled to ``--gates`` (one query per gate per interval, by construction), and
its memory is one task process's RSS (a Python process with the Task SDK and
the sensor imported, poking) times ``--gates``.  Never part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psutil
from sqlalchemy import event
from sqlalchemy.engine import Engine


class QueryCounter:
    def __init__(self) -> None:
        self.selects = 0
        self._lock = threading.Lock()

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM jobs" in statement:
            with self._lock:
                self.selects += 1


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def prepare(url: str, gates: int):
    from pipeline_factory.stores.ledger import Ledger

    ledger = Ledger(url)
    with ledger.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM job_events")
        connection.exec_driver_sql("DELETE FROM jobs")
    ledger.upsert_jobs(
        [
            {
                "job_id": f"job-{i}",
                "doc_id": f"doc-{i}",
                "pipeline": "bench_gate",
                "dag_run_id": f"bench_gate/run-{i}",
                "state": "gated",
                "pdf_downloaded": True,
            }
            for i in range(gates)
        ]
    )
    return ledger


async def deferred(url: str, gates: int, interval: float, counter: QueryCounter) -> dict[str, float]:
    from pipeline_factory.stores import ledger_db
    from pipeline_factory.triggers.ledger_gate import LedgerGateTrigger

    ledger = prepare(url, gates)
    await asyncio.to_thread(ledger_db.shared_ledger, url)  # the triggerer's engine, opened once
    deadline = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    # warm-up: one gate through its whole life, so one-time costs (lazy imports, the poller, the thread pool)
    # are not counted as the gates' memory
    ledger.upsert_job("warm", doc_id="warm", pipeline="bench_gate", dag_run_id="bench_gate/warm", pdf_ir_ready=True)
    warm = LedgerGateTrigger(dag_run_id="bench_gate/warm", poll_interval=interval, deadline=deadline, ledger_url=url)
    await warm.run().asend(None)
    before = rss_mb()
    tracemalloc.start()
    heap_before = tracemalloc.get_traced_memory()[0]
    triggers = [
        LedgerGateTrigger(dag_run_id=f"bench_gate/run-{i}", poll_interval=interval, deadline=deadline, ledger_url=url)
        for i in range(gates)
    ]
    fired: dict[int, float] = {}

    async def wait(i: int, trigger: LedgerGateTrigger) -> None:
        event_ = await trigger.run().asend(None)
        assert event_.payload["status"] == "success", event_.payload
        fired[i] = time.monotonic()

    tasks = [asyncio.create_task(wait(i, t)) for i, t in enumerate(triggers)]
    await asyncio.sleep(interval * 1.5)
    assert not fired, "gates fired before any job was ready"
    memory = rss_mb() - before
    heap = (tracemalloc.get_traced_memory()[0] - heap_before) / 2**20
    tracemalloc.stop()
    counter.selects = 0
    window = interval * 4
    await asyncio.sleep(window)
    queries_per_second = counter.selects / window

    order = list(range(gates))
    random.Random(11).shuffle(order)
    waves = [order[w::10] for w in range(10)]
    marked: dict[int, float] = {}
    for wave in waves:
        await asyncio.sleep(random.uniform(0, interval))
        at = time.monotonic()
        await asyncio.to_thread(ledger.mark_many, [f"job-{i}" for i in wave], pdf_ir_ready=True)
        marked.update(dict.fromkeys(wave, at))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=interval * 4 + 30)
    delays = sorted(fired[i] - marked[i] for i in range(gates))
    ledger.dispose()
    return {
        "rss_growth_mb": memory,
        "heap_mb": heap,
        "queries_per_s": queries_per_second,
        "delay_median": statistics.median(delays),
        "delay_p95": delays[int(0.95 * (len(delays) - 1))],
        "delay_max": delays[-1],
    }


def poke_queries_per_second(url: str, sample: int, interval: float, counter: QueryCounter) -> float:
    from pipeline_factory.sensors.ledger_gate import LedgerGateSensor

    prepare(url, sample)
    stop = threading.Event()

    def poke_loop(i: int) -> None:
        sensor = LedgerGateSensor(
            task_id=f"gate_{i}",
            dag_run_id=f"bench_gate/run-{i}",
            deferrable=False,
            ledger_url=url,
            poke_interval=interval,
            timeout=3600,
        )
        context = {"dag": SimpleNamespace(dag_id="bench_gate"), "run_id": f"run-{i}"}
        time.sleep(random.uniform(0, interval))
        while not stop.is_set():
            sensor.poke(context)
            stop.wait(interval)

    threads = [threading.Thread(target=poke_loop, args=(i,), daemon=True) for i in range(sample)]
    for thread in threads:
        thread.start()
    time.sleep(interval * 1.5)
    counter.selects = 0
    window = interval * 4
    time.sleep(window)
    rate = counter.selects / window
    stop.set()
    for thread in threads:
        thread.join()
    return rate


POKER = """
import sys, time, psutil
from types import SimpleNamespace
from pipeline_factory.sensors.ledger_gate import LedgerGateSensor
url = sys.argv[1]
sensor = LedgerGateSensor(task_id="gate", dag_run_id="bench_gate/run-0", deferrable=False, ledger_url=url,
                          poke_interval=1, timeout=60)
context = {"dag": SimpleNamespace(dag_id="bench_gate"), "run_id": "run-0"}
for _ in range(3):
    sensor.poke(context)
    time.sleep(0.2)
print(psutil.Process().memory_info().rss / 2**20)
"""


def poke_process_mb(url: str) -> float:
    out = subprocess.run([sys.executable, "-c", POKER, url], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0, help="the gates' poke interval (seconds)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poke-sample", type=int, default=100)
    parser.add_argument("--ledger", default=None, help="ledger URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # one "still waiting" line per poke would drown the figures
    tmp = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    url = args.ledger or f"sqlite:///{tmp / 'ledger.sqlite'}"
    os.environ["PIPELINE_LEDGER_URL"] = url
    counter = QueryCounter()
    event.listen(Engine, "before_cursor_execute", counter)

    results = []
    for number in range(args.runs):
        result = asyncio.run(deferred(url, args.gates, args.interval, counter))
        results.append(result)
        print(f"run {number + 1}: " + ", ".join(f"{k}={v:.3f}" for k, v in result.items()), flush=True)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    poke_rate = poke_queries_per_second(url, args.poke_sample, args.interval, counter)
    per_slot = poke_process_mb(url)
    print(
        f"\n{args.gates} gates, poke interval {args.interval:g} s, ledger {url.split(':')[0]}, "
        f"median of {args.runs} runs:"
    )
    print(
        f"  deferred, one triggerer: +{results[0]['rss_growth_mb']:.1f} MB RSS (first run), "
        f"{med('heap_mb'):.1f} MB Python heap held by the waiting gates, {med('queries_per_s'):.2f} ledger queries/s, "
        f"release delay median {med('delay_median'):.2f} s, p95 {med('delay_p95'):.2f} s, "
        f"max {med('delay_max'):.2f} s"
    )
    print(
        f"  poke mode: {poke_rate:.1f} queries/s measured for {args.poke_sample} sensors -> "
        f"{poke_rate * args.gates / args.poke_sample:.0f} queries/s for {args.gates}; "
        f"{per_slot:.0f} MB per sensor process -> {per_slot * args.gates / 1024:.1f} GB and {args.gates} "
        f"worker slots"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
