"""Collection stages: PubMed papers and NCBI Gene records into the snapshot.

Progress survives a failed attempt: papers are saved to the run's own file and
to the merged view after each term, every ``CHECKPOINT_PAPERS`` papers and
when the stage fails, so an Airflow retry skips what the failed attempt already
fetched and still hands the whole run's papers to the stages downstream.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from pipeline_factory.resilience.policy import Policy
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.graphrag.params import CollectGenesParams, CollectPubmedParams
from pipeline_factory.stages.graphrag.reports import write_stage_report
from pipeline_factory.stages.graphrag.snapshot import Snapshot
from pipeline_factory.stages.graphrag.writers import WriterRegistry

log = logging.getLogger(__name__)

RUN_PAPERS = "papers.json"
RUN_GENES = "genes.json"

#: Papers fetched between two checkpoints of the snapshot (each rewrites the view's file).
CHECKPOINT_PAPERS = 1000


def _client(ctx: StageContext):
    from pipeline_factory.sources.eutils import EutilsClient

    return EutilsClient.from_policy(ctx.policy or Policy(name="default"))


def run_papers(snapshot: Snapshot, run_id: str) -> dict[str, dict[str, Any]]:
    path = snapshot.run_dir(run_id) / RUN_PAPERS
    return json.loads(path.read_text()) if path.exists() else {}


class CollectPubmed:
    def run(self, ctx: StageContext, params: CollectPubmedParams) -> StageResult:
        from pipeline_factory.sources.pubmed import DateWindow, fetch_batches, search_pubmed

        started = time.monotonic()
        WriterRegistry(ctx.data_dir).begin(ctx.pipeline, ctx.run_id, ctx.stage)  # the snapshot moves ahead now
        snapshot = Snapshot(ctx.data_dir)
        stored = set() if params.refresh else set(snapshot.papers())
        marks = snapshot.watermarks()
        window_end = datetime.now(UTC).strftime("%Y/%m/%d")
        collected = run_papers(snapshot, ctx.run_id)  # a previous attempt's papers, if any
        terms: dict[str, dict[str, Any]] = {}
        pending: dict[str, str] = {}
        outcome = "success"
        client = _client(ctx)
        unsaved: dict[str, dict[str, Any]] = {}

        def checkpoint() -> None:
            """Persist progress: the run's file and the merged view (also when the stage fails)."""
            if unsaved:
                snapshot.merge_run(ctx.run_id, RUN_PAPERS, unsaved)  # siblings of a fan-out add theirs
                snapshot.merge_papers(unsaved)
                unsaved.clear()

        try:
            for term in params.search_terms:
                since = params.since or (marks.get(term) if params.mode == "incremental" else None)
                window = DateWindow(mindate=since, maxdate=window_end) if since else DateWindow()
                result = search_pubmed(client, term, window, params.max_results_per_term)
                wanted = [p for p in result.ids if p not in stored and p not in collected]
                fetched = 0
                for batch in fetch_batches(client, result, wanted, params.batch_size, params.concurrency):
                    for paper in batch:
                        paper["terms"] = sorted({*collected.get(paper["pmid"], {}).get("terms", []), term})
                        collected[paper["pmid"]] = unsaved[paper["pmid"]] = paper
                    fetched += len(batch)
                    if len(unsaved) >= CHECKPOINT_PAPERS:
                        checkpoint()
                checkpoint()
                terms[term] = {
                    "hits": result.count,
                    "listed": len(result.ids),
                    "already_stored": len(result.ids) - len(wanted),
                    "fetched": fetched,
                    "window": f"{window.mindate or '-'} .. {window.maxdate or '-'}",
                }
                pending[term] = window_end
                ctx.log.info("term %r: %s", term, terms[term])
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}: {exc}"
            checkpoint()
            raise
        finally:
            report = client.report()
            client.close()
            write_stage_report(
                ctx,
                {
                    "outcome": {"outcome": outcome, "duration_seconds": round(time.monotonic() - started, 2)},
                    "papers": {
                        "collected_this_run": len(collected),
                        "mode": params.mode,
                        "refresh": params.refresh,
                        "max_results_per_term": params.max_results_per_term,
                    },
                    "terms": terms,
                    "rate_limiter": report.get("rate_limiter", {}),
                    "circuit_breaker": report.get("circuit_breaker", {}),
                    "requests": report["client"],
                    "ncbi": report["ncbi"],
                },
            )
        return {
            "papers_collected": len(collected),
            "papers_file": str(snapshot.run_dir(ctx.run_id) / RUN_PAPERS),
            "pending_watermarks": pending,
            "requests": report["client"]["requests"],
            "retries": report["client"]["retries"],
        }


class CollectGenes:
    def run(self, ctx: StageContext, params: CollectGenesParams) -> StageResult:
        from pipeline_factory.sources.genes import genes_linked_to_papers, summarise_genes

        started = time.monotonic()
        WriterRegistry(ctx.data_dir).begin(ctx.pipeline, ctx.run_id, ctx.stage)
        snapshot = Snapshot(ctx.data_dir)
        pmids = sorted(run_papers(snapshot, ctx.run_id))
        known = set() if params.refresh else set(snapshot.genes())
        outcome = "success"
        links: dict[str, list[str]] = {}
        genes: list[dict[str, Any]] = []
        wanted: list[str] = []
        client = _client(ctx)
        try:
            links = genes_linked_to_papers(client, pmids, params.batch_size, params.concurrency) if pmids else {}
            linked = sorted({g for ids in links.values() for g in ids})
            wanted = [g for g in linked if g not in known]
            genes = summarise_genes(
                client, wanted, organisms=params.organisms, batch_size=params.batch_size, concurrency=params.concurrency
            )
            by_id = {g["gene_id"]: g for g in genes}
            snapshot.merge_genes(by_id, links)
            snapshot.write_run(ctx.run_id, RUN_GENES, by_id)
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            report = client.report()
            client.close()
            write_stage_report(
                ctx,
                {
                    "outcome": {"outcome": outcome, "duration_seconds": round(time.monotonic() - started, 2)},
                    "genes": {
                        "papers_linked": len(pmids),
                        "paper_gene_links": sum(len(v) for v in links.values()),
                        "genes_summarised": len(wanted),
                        "genes_kept": len(genes),
                        "filtered_out_by_organism": len(wanted) - len(genes),
                        "organisms": params.organisms,
                    },
                    "rate_limiter": report.get("rate_limiter", {}),
                    "circuit_breaker": report.get("circuit_breaker", {}),
                    "requests": report["client"],
                },
            )
        return {"papers_linked": len(pmids), "genes_collected": len(genes), "links": sum(map(len, links.values()))}
