"""The three GraphRAG pipelines under a real Airflow (``dag.test()``), against the stand-in and real stores."""

from __future__ import annotations

import json

import pytest

from pipeline_factory.stages.graphrag.snapshot import Snapshot
from pipeline_factory.workspace import run_dir, safe_run_id

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONF = {"search_terms": ["CRISPR-Cas9", "CAR-T cell therapy"], "max_results_per_term": 8}


def _result(pipeline: str, run, stage: str) -> dict:
    return json.loads((run_dir(pipeline, run.run_id) / stage / "result.json").read_text())


def test_incremental_full_rebuild_and_consistency_pipelines_run(
    dag_runner, dagbag, eutils, graph, data_dir, embedder
):
    incremental = dag_runner.run(dagbag.get_dag("graphrag_incremental"), CONF)
    states = dag_runner.states(incremental)
    assert incremental.state == "success", states
    assert set(states.values()) == {"success"}
    collected = _result("graphrag_incremental", incremental, "collect_pubmed")
    assert collected["papers_collected"] == 16
    assert set(Snapshot(data_dir).watermarks()) == set(CONF["search_terms"])
    summary = data_dir / "reports" / "graphrag_incremental" / safe_run_id(incremental.run_id) / "summary.md"
    assert "collect_pubmed" in summary.read_text() and "update_vectors" in summary.read_text()

    rebuild = dag_runner.run(dagbag.get_dag("graphrag_full_rebuild"), {**CONF, "max_results_per_term": 12})
    assert rebuild.state == "success", dag_runner.states(rebuild)
    assert _result("graphrag_full_rebuild", rebuild, "collect_pubmed")["papers_collected"] == 8
    graph_result = _result("graphrag_full_rebuild", rebuild, "update_graph")
    assert graph_result["graph"]["Paper"] == 24
    assert _result("graphrag_full_rebuild", rebuild, "update_vectors")["collection_size"] == 24

    check = dag_runner.run(dagbag.get_dag("graphrag_consistency"), {"repair": False})
    assert check.state == "success", dag_runner.states(check)
    assert _result("graphrag_consistency", check, "consistency_check")["outcome"] == "consistent"


@pytest.mark.parametrize("pipeline", ["graphrag_incremental", "graphrag_full_rebuild", "graphrag_consistency"])
def test_every_stage_renamed_gives_the_same_outcome(dag_runner, airflow_db, config_copy, renamed_pipeline, eutils,
                                                    graph, data_dir, embedder, pipeline):
    """YAML owns the topology: with every stage renamed the pipeline runs as shipped and, for the
    collecting pipelines, still moves the watermarks (the report finds the papers by kind)."""
    from pipeline_factory.factory.dagfile import render_all

    names = renamed_pipeline(pipeline)
    rendered = render_all(auto_register=False)
    assert not rendered.problems, rendered.problems
    conf = {"repair": False} if pipeline == "graphrag_consistency" else CONF
    run = dag_runner.run(rendered.dags[pipeline], conf)
    states = dag_runner.states(run)
    assert run.state == "success", states
    assert set(states) == set(names.values()) and set(states.values()) == {"success"}
    if pipeline != "graphrag_consistency":
        assert set(Snapshot(data_dir).watermarks()) == set(CONF["search_terms"])
        collected = _result(pipeline, run, names["collect_pubmed"])
        assert collected["papers_collected"] == 16
