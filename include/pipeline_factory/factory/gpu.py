"""GPU stages per runtime profile: a pod, a container, or a local process.

:func:`kpo_kwargs` and :func:`docker_kwargs` are pure functions from the spec
and the profile to operator arguments, so they can be checked without a
cluster or a Docker engine.  The provider modules are imported only when
their profile is active: importing the Kubernetes provider alone costs about a
second of every parse.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from pipeline_factory.spec.models import PipelineSpec, RuntimeProfile, StageSpec
    from pipeline_factory.spec.resolve import ResolvedStage

    #: What the GPU builders read (name, type, image): both carry it.
    GpuStage = ResolvedStage | StageSpec

RUNNER_CMD = ["python", "-m", "pipeline_factory.runner"]
SKIP_EXIT_CODE = 99


def runner_arguments(pipeline: str, stage: str) -> list[str]:
    """The runner's arguments, templated by Airflow at run time.

    ``dict(params)``: the task's context holds the run's params as a plain dict
    in Airflow 3 (a ``ParamsDict`` in older code paths), and both convert.
    """
    return [
        pipeline,
        stage,
        "--run-id", "{{ run_id }}",
        "--params", "{{ dict(params) | tojson }}",
        "--try-number", "{{ ti.try_number }}",
    ]


def _pod_name(pipeline: str, stage: str) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", f"{pipeline}-{stage}".lower()).strip("-")
    return name[:50].rstrip("-")


def container_env(spec: PipelineSpec, profile: RuntimeProfile, profile_name: str) -> dict[str, str]:
    from pipeline_factory.observability.metrics import PUSHGATEWAY_ENV, pushgateway_url

    pushgateway = pushgateway_url()
    return {
        "PIPELINE_RUNTIME": profile_name,
        "PIPELINE_DATA_DIR": profile.data_dir,
        "PIPELINE_UMASK": "002",  # group 0 shares the data volume with the worker
        # A stage in a container or pod pushes its metrics where the workers' stages do.
        **({PUSHGATEWAY_ENV: pushgateway} if pushgateway else {}),
        **profile.env,
    }


def kpo_kwargs(
    spec: PipelineSpec, stage: GpuStage, profile: RuntimeProfile, task_kwargs: dict[str, Any]
) -> dict[str, Any]:
    from kubernetes.client import models as k8s

    image = stage.image or profile.image
    limits = {profile.gpu_resource: str(profile.gpu_count)} if profile.gpu_count else {}
    if profile.memory_limit:
        limits["memory"] = profile.memory_limit
    requests = {}
    if profile.cpu_request:
        requests["cpu"] = profile.cpu_request
    if profile.memory_request:
        requests["memory"] = profile.memory_request
    volumes, mounts = [], []
    if profile.workspace_volume:
        volumes.append(
            k8s.V1Volume(
                name="workspace",
                persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=profile.workspace_volume),
            )
        )
        mounts.append(k8s.V1VolumeMount(name="workspace", mount_path=profile.data_dir))
    uid = profile.run_as_user
    return {
        **task_kwargs,
        "name": _pod_name(spec.name, stage.name),
        "namespace": profile.namespace,
        "image": image,
        "cmds": list(RUNNER_CMD),
        "arguments": runner_arguments(spec.name, stage.name),
        "env_vars": container_env(spec, profile, "kubernetes"),
        "container_resources": k8s.V1ResourceRequirements(limits=limits, requests=requests or None),
        "node_selector": dict(profile.node_selector),
        "tolerations": [k8s.V1Toleration(**t) for t in profile.tolerations],
        "security_context": k8s.V1PodSecurityContext(
            run_as_non_root=True, run_as_user=uid, run_as_group=uid, fs_group=uid
        ),
        "container_security_context": k8s.V1SecurityContext(
            run_as_non_root=True,
            run_as_user=uid,
            allow_privilege_escalation=False,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        "service_account_name": profile.service_account,
        "volumes": volumes,
        "volume_mounts": mounts,
        "labels": {"app.kubernetes.io/part-of": "pipeline-factory", "pipeline": spec.name, "stage": stage.name},
        "deferrable": True,
        "get_logs": True,
        "reattach_on_restart": True,
        "on_finish_action": "delete_pod",
        "skip_on_exit_code": SKIP_EXIT_CODE,
    }


def docker_kwargs(
    spec: PipelineSpec, stage: GpuStage, profile: RuntimeProfile, task_kwargs: dict[str, Any]
) -> dict[str, Any]:
    from docker.types import DeviceRequest, Mount

    mounts = []
    if profile.workspace_volume:
        mounts.append(Mount(target=profile.data_dir, source=profile.workspace_volume, type="volume"))
    # The entrypoint is set, as the pod's ``cmds`` are: Docker appends
    # ``command`` to the image's ENTRYPOINT, which the stage-runner image also
    # sets, so the runner would otherwise be asked to run itself.
    return {
        **task_kwargs,
        "image": stage.image or profile.image,
        "entrypoint": list(RUNNER_CMD),
        "command": runner_arguments(spec.name, stage.name),
        "environment": container_env(spec, profile, "docker"),
        "device_requests": [DeviceRequest(count=profile.gpu_count or -1, capabilities=[["gpu"]])],
        "mounts": mounts,
        "docker_url": profile.docker_url,
        "network_mode": profile.network_mode,
        # Group 0, as the Airflow image's worker: both share the data volume (umask 002).
        "user": f"{profile.run_as_user}:0",
        "auto_remove": "success",
        "mount_tmp_dir": False,
        "skip_on_exit_code": SKIP_EXIT_CODE,
    }


def build_gpu_task(
    spec: PipelineSpec,
    stage: GpuStage,
    profile_name: str,
    profile: RuntimeProfile,
    task_kwargs: dict[str, Any],
) -> BaseOperator:
    if profile_name == "kubernetes":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        return KubernetesPodOperator(**kpo_kwargs(spec, stage, profile, task_kwargs))
    if profile_name == "docker":
        from airflow.providers.docker.operators.docker import DockerOperator

        return DockerOperator(**docker_kwargs(spec, stage, profile, task_kwargs))
    from pipeline_factory.operators.stage import LocalProcessStageOperator

    return LocalProcessStageOperator(pipeline=spec.name, stage=stage.name, stage_type=stage.type, **task_kwargs)
