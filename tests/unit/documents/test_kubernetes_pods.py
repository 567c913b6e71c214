"""The GPU stages of the document pipelines as Kubernetes pods, checked offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_factory.factory.builder import build_dag
from pipeline_factory.spec.loader import load_specs


def _task(config: Path, pipeline: str, stage: str):
    specs = load_specs(config_dir=config, profile_name="kubernetes")
    assert not specs.problems, specs.problems
    dag = build_dag(specs.specs[pipeline], policies=specs.policies, profile_name="kubernetes", profile=specs.profile)
    return dag.get_task(stage)


@pytest.mark.parametrize(
    ("pipeline", "stage", "image"),
    [
        ("pdf_ir_worker", "pdf_to_ir", "ghcr.io/pipeline-factory/stage-runner-mineru:0.1.0"),
        ("docs_auto", "embed", "ghcr.io/pipeline-factory/stage-runner:0.1.0"),
        ("docs_pdf_two_phase", "embed", "ghcr.io/pipeline-factory/stage-runner:0.1.0"),
    ],
)
def test_gpu_document_stages_become_gpu_pods(config_copy: Path, pipeline: str, stage: str, image: str):
    task = _task(config_copy, pipeline, stage)
    assert type(task).__name__ == "KubernetesPodOperator"
    assert task.deferrable is True
    assert task.retries == 0  # gpu-bound: a failed conversion fails its job at once, not after retries
    pod = task.build_pod_request_obj(dry_run=True)
    container = pod.spec.containers[0]
    assert container.image == image
    assert container.command == ["python", "-m", "pipeline_factory.runner"]
    assert container.args[:2] == [pipeline, stage]
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert pod.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in pod.spec.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    env = {e.name: e.value for e in container.env}
    assert env["PIPELINE_RUNTIME"] == "kubernetes"
    assert {m.mount_path for m in container.volume_mounts} >= {env["PIPELINE_DATA_DIR"]}


def test_cpu_document_stages_and_the_gate_stay_in_airflow(config_copy: Path):
    assert type(_task(config_copy, "docs_pdf_two_phase", "download_pdf")).__name__ == "StageOperator"
    gate = _task(config_copy, "docs_pdf_two_phase", "wait_for_pdf_ir")
    assert type(gate).__name__ == "LedgerGateSensor"
    assert (gate.deferrable, gate.field, gate.equals, gate.timeout) == (True, "pdf_ir_ready", True, 86400.0)
    assert _task(config_copy, "docs_auto", "index").pool == "qdrant_local"


def test_the_converter_picks_mineru_in_the_kubernetes_profile(monkeypatch):
    from pipeline_factory.stages.documents.pdf_to_ir import choose_engine

    monkeypatch.setenv("PIPELINE_RUNTIME", "kubernetes")
    assert choose_engine("auto", ["mineru"]) == "mineru"
    monkeypatch.setenv("PIPELINE_RUNTIME", "local")
    assert choose_engine("auto", ["no-such-mineru-binary"]) == "pypdf"
    assert choose_engine("mineru", ["x"]) == "mineru"
