"""GraphRAG collection fanned out per search term: parallel tasks, one shared rate limit, no 429s.

The LocalExecutor (and Celery) run each mapped task in its own process; here
each task is such a process, started at once, running the stage as its task
would (``run_stage`` with its element and map index).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

TERMS = ["genome sequencing", "TP53 tumour", "CRISPR-Cas9", "BRCA1"]
SPEC = """\
name: fan_collect
params:
  search_terms: {type: array, items: {type: string}, default: [genome sequencing]}
stages:
  - name: collect_pubmed
    type: collect_pubmed
    policy: polite-api
    map_over: search_terms
    with:
      search_terms: "{{ params.search_terms }}"
      max_results_per_term: 40
      batch_size: 10
"""
_TASK = """
import json, sys
from pipeline_factory.runner import run_stage
terms = json.loads(sys.argv[1])
index = int(sys.argv[2])
run_stage("fan_collect", "collect_pubmed", run_id="manual__fan", params={"search_terms": terms},
          map_item=terms[index], map_index=index)
"""


def test_mapped_collection_shares_the_rate_limit_and_the_run(eutils, data_dir: Path, config_copy: Path):
    from pipeline_factory.stages.contracts import read_stage_result
    from pipeline_factory.stages.graphrag.collect import run_papers
    from pipeline_factory.stages.graphrag.snapshot import Snapshot
    from pipeline_factory.workspace import run_dir

    (config_copy / "pipelines" / "fan_collect.yaml").write_text(SPEC)
    procs = [subprocess.Popen([sys.executable, "-c", _TASK, json.dumps(TERMS), str(i)], env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(len(TERMS))]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(TERMS), outputs[0][-3000:]
    stats = eutils.state.stats()
    assert stats["counters"].get("rate_limited", 0) == 0  # the limiter held across the parallel tasks
    assert max(stats["achieved_rate"].values()) <= 3.0 * 1.1
    merged = read_stage_result(run_dir("fan_collect", "manual__fan") / "collect_pubmed")
    assert merged is not None
    assert sorted(merged["pending_watermarks"]) == sorted(TERMS)  # what downstream commits: every term
    papers = run_papers(Snapshot(data_dir), "manual__fan")
    assert merged["papers_collected"] >= len(papers) > 0
    assert {t for paper in papers.values() for t in paper["terms"]} == set(TERMS)  # no task lost another's
