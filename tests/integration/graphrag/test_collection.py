"""Collection against the E-utilities stand-in: rate limit kept, faults retried, breaker shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline_factory.devservers.eutils import Fault
from pipeline_factory.exceptions import CircuitOpenError, TransientServiceError
from pipeline_factory.sources.eutils import EutilsClient
from pipeline_factory.spec.loader import load_policies
from pipeline_factory.stages.graphrag.collect import CollectGenes, CollectPubmed
from pipeline_factory.stages.graphrag.graphrag_report import WriteRunSummary
from pipeline_factory.stages.graphrag.params import (
    CollectGenesParams,
    CollectPubmedParams,
    GraphragReportParams,
)
from pipeline_factory.stages.graphrag.snapshot import Snapshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TERMS = ["CRISPR gene editing", "mRNA vaccine"]


def test_collection_stays_under_the_rate_limit_and_fills_the_snapshot(eutils, make_ctx, data_dir):
    policy = load_policies()["polite-api"]
    result = CollectPubmed().run(
        make_ctx("collect_pubmed", policy=policy),
        CollectPubmedParams(search_terms=TERMS, max_results_per_term=30, batch_size=10),
    )
    genes = CollectGenes().run(make_ctx("collect_genes", policy=policy), CollectGenesParams(batch_size=20))

    stats = eutils.state.stats()
    assert stats["counters"].get("rate_limited", 0) == 0
    assert max(stats["achieved_rate"].values()) <= 3.0 * 1.1  # arrival jitter at the two ends only
    # 2 searches + 6 fetches of 10 + 3 elinks of 20 + at least one esummary
    assert stats["counters"]["requests"] >= 12
    assert result["papers_collected"] == 60
    assert result["retries"] == 0

    snapshot = Snapshot(data_dir)
    papers = snapshot.papers()
    assert len(papers) == 60
    paper = next(iter(papers.values()))
    assert paper["title"] and paper["abstract"] and paper["authors"] and paper["mesh"]
    assert paper["doi"].startswith("10.5555/") and paper["year"] >= 2000 and paper["journal"]["title"]
    assert genes["genes_collected"] > 0
    assert {g["organism"] for g in snapshot.genes().values()} == {"Homo sapiens"}
    linked = {g for p in papers.values() for g in p.get("gene_ids", [])}
    assert linked and linked <= set(snapshot.genes())

    report = data_dir / "reports" / "graphrag_incremental" / "manual__test"
    summary = json.loads((report / "collect_pubmed.json").read_text())
    assert summary["rate_limiter"]["acquired"] == summary["requests"]["requests"]
    assert summary["terms"][TERMS[0]]["fetched"] == 30
    assert "rate_limiter" in (report / "collect_pubmed.md").read_text()


def test_second_run_skips_stored_papers_and_the_window_moves(eutils, make_ctx, data_dir):
    policy = load_policies()["polite-api"]
    params = CollectPubmedParams(search_terms=TERMS[:1], max_results_per_term=15, batch_size=15)
    first = CollectPubmed().run(make_ctx("collect_pubmed", run_id="run1", policy=policy), params)
    assert first["papers_collected"] == 15

    again = CollectPubmed().run(make_ctx("collect_pubmed", run_id="run2", policy=policy), params)
    assert again["papers_collected"] == 0  # listed again, all already stored

    refreshed = CollectPubmed().run(
        make_ctx("collect_pubmed", run_id="run3", policy=policy),
        params.model_copy(update={"refresh": True}),
    )
    assert refreshed["papers_collected"] == 15

    # A successful run commits its window end; the next search starts there.
    summary_ctx = make_ctx("report", run_id="run3", upstream={"collect_pubmed": refreshed},
                           inputs={"papers": "collect_pubmed"})  # as the loader wires it
    WriteRunSummary().run(summary_ctx, GraphragReportParams())
    marks = Snapshot(data_dir).watermarks()
    assert marks[TERMS[0]] == time.strftime("%Y/%m/%d", time.gmtime())
    CollectPubmed().run(make_ctx("collect_pubmed", run_id="run4", policy=policy), params)
    report = json.loads(
        (data_dir / "reports" / "graphrag_incremental" / "run4" / "collect_pubmed.json").read_text()
    )
    term = report["terms"][TERMS[0]]
    assert term["window"].startswith(marks[TERMS[0]])
    assert term["hits"] == 0  # the stand-in's corpus ends before today


def test_429_5xx_and_truncated_bodies_are_retried_to_completion(eutils, make_ctx, fast_policy):
    eutils.add_faults(
        Fault("status", status=429, count=2),
        Fault("status", status=503, count=1),
        Fault("truncate", count=1, endpoint="efetch"),
        Fault("status", status=502, count=1, endpoint="efetch"),
    )
    result = CollectPubmed().run(
        make_ctx("collect_pubmed", policy=fast_policy),
        CollectPubmedParams(search_terms=TERMS[:1], max_results_per_term=20, batch_size=10),
    )
    assert result["papers_collected"] == 20
    assert result["retries"] == 5
    counters = eutils.state.stats()["counters"]
    assert counters["fault_status"] == 4 and counters["fault_truncate"] == 1
    assert counters.get("rate_limited", 0) == 0


_SECOND_TASK = """
import json, sys
from pipeline_factory.exceptions import CircuitOpenError
from pipeline_factory.resilience.policy import Policy
from pipeline_factory.sources.eutils import EutilsClient
policy = Policy.model_validate_json(sys.argv[1])
client = EutilsClient.from_policy(policy)
try:
    client.esearch("pubmed", "CAR-T cell therapy", retmax=1)
    print(json.dumps({"outcome": "called", "state": client.breaker.state}))
except CircuitOpenError as exc:
    print(json.dumps({"outcome": "rejected", "state": client.breaker.state, "message": str(exc)}))
"""


def _second_task(policy) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _SECOND_TASK, policy.model_dump_json()],
        capture_output=True, text=True, env=os.environ.copy(), timeout=60, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_five_failures_open_the_breaker_for_every_process_until_reset(eutils, data_dir, fast_policy):
    eutils.add_faults(Fault("status", status=503, count=5))
    client = EutilsClient.from_policy(fast_policy)
    with pytest.raises(TransientServiceError):
        client.esearch("pubmed", "CAR-T cell therapy", retmax=1)
    assert client.breaker.state == "open"
    served = eutils.state.stats()["counters"]["requests"]
    assert served == 5

    with pytest.raises(CircuitOpenError):
        client.esearch("pubmed", "CAR-T cell therapy", retmax=1)
    # Another process, another task: it sees the shared state.  Its own reset timeout is long so
    # that however slowly it starts on a busy machine, the breaker is still open when it asks.
    patient = fast_policy.model_copy(
        update={"circuit_breaker": fast_policy.circuit_breaker.model_copy(update={"reset_timeout_seconds": 3600})}
    )
    second = _second_task(patient)
    assert second["outcome"] == "rejected" and second["state"] == "open"
    assert eutils.state.stats()["counters"]["requests"] == served  # nobody called the API

    time.sleep(fast_policy.circuit_breaker.reset_timeout_seconds + 0.2)
    client.esearch("pubmed", "CAR-T cell therapy", retmax=1)
    assert client.breaker.state == "half-open"
    client.esearch("pubmed", "CAR-T cell therapy", retmax=1)
    third = _second_task(fast_policy)
    assert third == {"outcome": "called", "state": "closed"}  # the third success closes it
    client.close()


_LIMITED_TASK = """
import sys, time
from pipeline_factory.resilience.policy import Policy
from pipeline_factory.sources.eutils import EutilsClient
client = EutilsClient.from_policy(Policy(name="p", rate_limit_per_second=3, max_attempts=1))
for i in range(int(sys.argv[1])):
    client.esearch("pubmed", "genome sequencing", retmax=1)
"""


def test_the_rate_limit_holds_across_worker_processes(eutils, data_dir: Path):
    procs = [
        subprocess.Popen([sys.executable, "-c", _LIMITED_TASK, "5"], env=os.environ.copy())
        for _ in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]  # max_attempts=1: a 429 would fail them
    stats = eutils.state.stats()
    assert stats["counters"]["requests"] == 15
    assert stats["counters"].get("rate_limited", 0) == 0
    assert max(stats["achieved_rate"].values()) <= 3.0 * 1.1
