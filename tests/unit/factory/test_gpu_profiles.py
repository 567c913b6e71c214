"""GPU stages per runtime profile: a valid pod, a GPU container, a local process.

The pod is built exactly as the operator builds it, without a cluster
(``build_pod_request_obj(dry_run=True)``), and checked against the Kubernetes
API's own model by serializing it through the client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_factory.factory.builder import build_dag
from pipeline_factory.spec.loader import load_specs

GPU_SPEC = """\
name: gpu_job
params:
  size: {type: integer, default: 3}
stages:
  - name: prepare
    type: echo
  - name: convert
    type: command
    compute: gpu
    policy: gpu-bound
    with: {argv: [nvidia-smi]}
"""


def _dag(config: Path, profile: str):
    (config / "pipelines" / "gpu_job.yaml").write_text(GPU_SPEC)
    specs = load_specs(config_dir=config, profile_name=profile)
    assert not specs.problems, specs.problems
    return build_dag(specs.specs["gpu_job"], policies=specs.policies, profile_name=profile, profile=specs.profile)


def test_kubernetes_profile_renders_a_valid_gpu_pod(config_copy: Path):
    from kubernetes.client import ApiClient

    task = _dag(config_copy, "kubernetes").get_task("convert")
    assert type(task).__name__ == "KubernetesPodOperator"
    assert task.deferrable is True
    assert task.retries == 0  # gpu-bound: fail fast
    pod = task.build_pod_request_obj(dry_run=True)
    container = pod.spec.containers[0]
    assert container.image == "ghcr.io/pipeline-factory/stage-runner:0.1.0"
    assert container.command == ["python", "-m", "pipeline_factory.runner"]
    assert container.args[:2] == ["gpu_job", "convert"]
    assert "--run-id" in container.args and "--params" in container.args
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert container.resources.requests == {"cpu": "2", "memory": "8Gi"}
    assert pod.spec.node_selector == {"nvidia.com/gpu.present": "true"}
    toleration = pod.spec.tolerations[0]
    assert (toleration.key, toleration.operator, toleration.effect) == ("nvidia.com/gpu", "Exists", "NoSchedule")
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.security_context.run_as_user == 1000
    assert container.security_context.allow_privilege_escalation is False
    assert pod.spec.service_account_name == "pipeline-stage-runner"
    assert pod.metadata.namespace == "pipelines"
    assert {m.mount_path for m in container.volume_mounts} >= {"/opt/pipeline/data"}
    env = {e.name: e.value for e in container.env}
    assert env["PIPELINE_RUNTIME"] == "kubernetes"
    assert env["PIPELINE_DATA_DIR"] == "/opt/pipeline/data"
    # A valid API object: it serializes to the wire form the API server accepts.
    wire = ApiClient().sanitize_for_serialization(pod)
    assert wire["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert wire["apiVersion"] == "v1" and wire["kind"] == "Pod"


def test_cpu_stages_stay_in_the_worker_in_every_profile(config_copy: Path):
    task = _dag(config_copy, "kubernetes").get_task("prepare")
    assert type(task).__name__ == "StageOperator"


def test_docker_profile_requests_a_gpu(config_copy: Path):
    task = _dag(config_copy, "docker").get_task("convert")
    assert type(task).__name__ == "DockerOperator"
    assert task.image == "ghcr.io/pipeline-factory/stage-runner:0.1.0"
    # The image's ENTRYPOINT is replaced, not prefixed to the command (Docker appends command to it).
    assert task.entrypoint == ["python", "-m", "pipeline_factory.runner"]
    assert task.command[:2] == ["gpu_job", "convert"]
    assert task.user == "1000:0"
    request = task.device_requests[0]
    assert request["Capabilities"] == [["gpu"]] and request["Count"] == 1
    assert task.skip_on_exit_code == [99] or 99 in task.skip_on_exit_code
    assert task.pool == "gpu"
    assert task.docker_url == "tcp://docker-socket-proxy:2375"  # the compose stack's socket proxy
    assert task.network_mode == "pipeline-factory"  # stage containers reach the stack's stores
    assert [m["Target"] for m in task.mounts] == ["/opt/pipeline/data"]


def test_local_profile_runs_a_local_process_in_the_gpu_pool(config_copy: Path):
    task = _dag(config_copy, "local").get_task("convert")
    assert type(task).__name__ == "LocalProcessStageOperator"
    assert task.pool == "gpu"


@pytest.mark.parametrize("profile", ["local", "docker", "kubernetes"])
def test_every_profile_runs_the_same_entrypoint(config_copy: Path, profile: str):
    task = _dag(config_copy, profile).get_task("convert")
    if profile == "kubernetes":
        argv = [*task.cmds, *task.arguments]
    elif profile == "docker":
        argv = [*task.entrypoint, *task.command]
    else:
        argv = task.command({"run_id": "r1", "params": {}, "ti": type("TI", (), {"try_number": 1})()})
        argv = ["python", *argv[1:]]
    assert argv[:5] == ["python", "-m", "pipeline_factory.runner", "gpu_job", "convert"]


@pytest.mark.parametrize("profile", ["docker", "kubernetes"])
@pytest.mark.parametrize("as_params_dict", [False, True])
def test_container_arguments_render_the_runs_params_as_json(config_copy: Path, profile: str, as_params_dict: bool):
    import json

    from airflow.sdk.definitions.param import ParamsDict

    task = _dag(config_copy, profile).get_task("convert")
    argv = list(task.command) if profile == "docker" else list(task.arguments)
    params = {"size": 7, "name": "x y"}
    context = {"run_id": "manual__1", "params": ParamsDict(params) if as_params_dict else dict(params),
               "ti": type("TI", (), {"try_number": 2})()}
    rendered = task.render_template(argv, context, task.dag.get_template_env())
    assert json.loads(rendered[rendered.index("--params") + 1]) == params
    assert rendered[rendered.index("--run-id") + 1] == "manual__1"
    assert rendered[rendered.index("--try-number") + 1] == "2"


def test_a_stage_queue_routes_its_task_and_others_keep_the_default(config_copy: Path):
    from airflow.configuration import conf

    (config_copy / "pipelines" / "gpu_job.yaml").write_text(GPU_SPEC.replace(
        "    policy: gpu-bound\n", "    policy: gpu-bound\n    queue: gpu_workers\n"))
    specs = load_specs(config_dir=config_copy, profile_name="local")
    assert not specs.problems, specs.problems
    dag = build_dag(specs.specs["gpu_job"], policies=specs.policies, profile_name="local", profile=specs.profile)
    assert dag.get_task("convert").queue == "gpu_workers"
    assert dag.get_task("prepare").queue == conf.get("operators", "default_queue")


def test_worker_hostname_names_the_worker_when_told(monkeypatch: pytest.MonkeyPatch):
    import socket

    from pipeline_factory.hostname import worker_hostname

    monkeypatch.setenv("PIPELINE_WORKER_NAME", "worker-a")
    assert worker_hostname() == "worker-a"
    monkeypatch.delenv("PIPELINE_WORKER_NAME")
    assert worker_hostname() == socket.getfqdn()
