"""Each reader of the Pipelines view shows only the pipelines a user may read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_factory.resilience.breaker import SQLBreakerStorage
from pipeline_factory.stores.ledger import Ledger
from pipeline_factory.ui import overview


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(url)
    ledger.upsert_job("a:1", doc_id="1", pipeline="docs_auto", dag_run_id="docs_auto/r", state="gated")
    ledger.upsert_job("b:1", doc_id="1", pipeline="docs_pdf_two_phase", dag_run_id="docs_pdf_two_phase/r",
                      state="failed", error="secret failure of another team")
    ledger.upsert_job("b:2", doc_id="2", pipeline="docs_pdf_two_phase", dag_run_id="docs_pdf_two_phase/r",
                      state="gated")
    ledger.dispose()
    return url


def test_the_ledger_section_counts_and_lists_only_readable_pipelines(ledger_url: str) -> None:
    mine = overview.ledger_overview(ledger_url, allowed={"docs_auto"})
    assert mine["counts"] == {"gated": 1} and mine["total"] == 1
    assert [j["job_id"] for j in mine["gated"] + mine["failed"] + mine["recent"]] == ["a:1", "a:1"]
    none = overview.ledger_overview(ledger_url, allowed=set())
    assert none["total"] == 0 and none["recent"] == []
    everything = overview.ledger_overview(ledger_url)
    assert everything["total"] == 3


def test_pipelines_and_models_show_only_readable_pipelines() -> None:
    data = overview.pipelines_overview({"example_hello"}, all_problems=False)
    assert [p["name"] for p in data["pipelines"]] == ["example_hello"]
    models = overview.models_overview(allowed={"example_hello"})
    assert models == {"models": [], "reason": "no training pipeline"}


def test_reports_of_other_pipelines_are_neither_listed_nor_served(tmp_path: Path) -> None:
    for pipeline in ("docs_auto", "model_training"):
        (tmp_path / pipeline).mkdir()
        (tmp_path / pipeline / "run.json").write_text("{}")
    (tmp_path / "loose.json").write_text("{}")
    listed = overview.reports_overview(tmp_path, allowed={"docs_auto"})
    assert [r["path"] for r in listed["reports"]] == ["docs_auto/run.json"]
    assert overview.report_file("docs_auto/run.json", tmp_path, allowed={"docs_auto"})
    for other in ("model_training/run.json", "loose.json", "docs_auto/../model_training/run.json"):
        with pytest.raises(FileNotFoundError):
            overview.report_file(other, tmp_path, allowed={"docs_auto"})


def test_breakers_show_to_users_of_the_pipelines_that_share_them(ledger_url: str) -> None:
    for name in ("pdf-host:papers.example.org", "ncbi-eutils", "something-else"):
        SQLBreakerStorage(name, ledger_url)

    def names(allowed, every=False):
        data = overview.breakers_overview(redis_url="", ledger_url=ledger_url, allowed=allowed, all_pipelines=every)
        return {b["name"] for b in data["breakers"]}

    assert names({"docs_pdf_two_phase"}) == {"pdf-host:papers.example.org"}
    assert names({"graphrag_incremental"}) == {"ncbi-eutils"}
    assert names({"example_hello"}) == set()
    assert names({"example_hello"}, every=True) == {"something-else"}  # claimed by no stage type
    assert names(None) == {"pdf-host:papers.example.org", "ncbi-eutils", "something-else"}
