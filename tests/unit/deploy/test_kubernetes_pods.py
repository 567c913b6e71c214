"""Every GPU stage's pod against the Kubernetes API schema, without a cluster.

The pod is the one the KubernetesPodOperator would send
(``build_pod_request_obj(dry_run=True)``), serialized as the client sends it.
The schema is derived from the pinned ``kubernetes`` client's generated models
(one per OpenAPI definition of its API release): their ``openapi_types`` give
each field's type, ``attribute_map`` its JSON name, and the setters that
refuse ``None`` the required fields.  Unknown fields are refused, as the API
server's strict field validation does.  Quantities (resource limits and
requests) carry the pattern the API server parses them with, and names and
labels the API server's own syntax checks.
"""

from __future__ import annotations

import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from .conftest import ROOT

#: resource.Quantity as the API server accepts it (k8s.io/apimachinery, as controller-gen renders it).
_NUMBER = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
QUANTITY = rf"^(\+|-)?{_NUMBER}(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?{_NUMBER}))?$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS_SUBDOMAIN = rf"^{_SUBDOMAIN}$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
QUALIFIED_NAME = rf"^({_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
PRIMITIVES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "object": {},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
}


def _required(cls: type) -> list[str]:
    """JSON names of the fields whose generated setter refuses ``None``."""
    return [cls.attribute_map[attr] for attr in cls.openapi_types
            if "must not be `None`" in inspect.getsource(getattr(cls, attr).fset)]


def _schema_of(type_name: str, defs: dict[str, Any]) -> dict[str, Any]:
    from kubernetes.client import models

    if type_name in PRIMITIVES:
        return PRIMITIVES[type_name]
    if match := re.fullmatch(r"list\[(.+)\]", type_name):
        return {"type": "array", "items": _schema_of(match.group(1), defs)}
    if match := re.fullmatch(r"dict[(\[]str, (.+)[)\]]", type_name):
        return {"type": "object", "additionalProperties": _schema_of(match.group(1), defs)}
    cls = getattr(models, type_name)
    if type_name not in defs:
        defs[type_name] = {}  # recursion guard (JSONSchemaProps refers to itself)
        defs[type_name] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {cls.attribute_map[a]: _schema_of(t, defs) for a, t in cls.openapi_types.items()},
            "required": _required(cls),
        }
    return {"$ref": f"#/$defs/{type_name}"}


@cache
def pod_schema() -> dict[str, Any]:
    """The V1Pod JSON Schema of the pinned client's API release, with the API server's syntax checks."""
    defs: dict[str, Any] = {}
    root = _schema_of("V1Pod", defs)
    quantities = {"type": "object", "additionalProperties": {"type": "string", "pattern": QUANTITY}}
    defs["V1ResourceRequirements"]["properties"].update(limits=quantities, requests=quantities)
    meta = defs["V1ObjectMeta"]["properties"]
    meta["name"] = {"type": "string", "pattern": DNS_SUBDOMAIN, "maxLength": 253}
    meta["namespace"] = {"type": "string", "pattern": DNS_LABEL, "maxLength": 63}
    meta["labels"] = {"type": "object", "propertyNames": {"pattern": QUALIFIED_NAME, "maxLength": 316},
                      "additionalProperties": {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63}}
    for model in ("V1Container", "V1Volume", "V1VolumeMount"):
        defs[model]["properties"]["name"] = {"type": "string", "pattern": DNS_LABEL, "maxLength": 63}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **root, "$defs": defs}


def pod_errors(pod: Any) -> list[str]:
    """Every schema violation of ``pod`` (a V1Pod or its JSON), as ``path: message``."""
    from kubernetes.client import ApiClient

    body = pod if isinstance(pod, dict) else ApiClient().sanitize_for_serialization(pod)
    validator = Draft202012Validator(pod_schema())
    return [f"{'.'.join(map(str, e.absolute_path)) or '<pod>'}: {e.message}" for e in validator.iter_errors(body)]


def _gpu_pods(config: Path) -> dict[str, Any]:
    """``{"pipeline.stage": V1Pod}`` for every KubernetesPodOperator of every shipped pipeline."""
    from pipeline_factory.factory.builder import build_dag
    from pipeline_factory.spec.loader import load_specs

    specs = load_specs(config_dir=config, profile_name="kubernetes")
    assert not specs.problems, specs.problems
    pods = {}
    for name, loaded in sorted(specs.specs.items()):
        dag = build_dag(loaded, policies=specs.policies, profile_name="kubernetes", profile=specs.profile,
                        auto_register=False)
        for task in dag.tasks:
            if type(task).__name__ == "KubernetesPodOperator":
                pods[f"{name}.{task.task_id}"] = task.build_pod_request_obj(dry_run=True)
    return pods


def test_the_schema_is_the_pinned_clients_api_release() -> None:
    from kubernetes.client import Configuration

    release = re.search(r"Version of the API: (release-[\d.]+)", Configuration().to_debug_report())
    assert release and release.group(1) == "release-1.36"  # kubernetes==36.0.3
    defs = pod_schema()["$defs"]
    assert "name" in defs["V1Container"]["required"] and "containers" in defs["V1PodSpec"]["required"]
    assert {"key", "operator", "effect", "value", "tolerationSeconds"} == set(defs["V1Toleration"]["properties"])


def test_every_gpu_stage_of_every_shipped_pipeline_renders_a_valid_pod() -> None:
    from kubernetes.client import ApiClient

    pods = _gpu_pods(ROOT / "config")
    assert {"docs_auto.embed", "docs_pdf_two_phase.embed", "pdf_ir_worker.pdf_to_ir", "model_training.train"} <= set(
        pods), sorted(pods)
    problems = {stage: errors for stage, pod in pods.items() if (errors := pod_errors(pod))}
    assert not problems, problems
    for stage, pod in pods.items():  # what the schema checks is there to check
        body = ApiClient().sanitize_for_serialization(pod)
        [container] = body["spec"]["containers"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1", stage
        assert body["spec"]["tolerations"] and body["spec"]["securityContext"]["runAsNonRoot"] is True, stage
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], stage
        [volume] = body["spec"]["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == "pipeline-data", stage
        assert [m["mountPath"] for m in container["volumeMounts"]] == ["/opt/pipeline/data"], stage


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("spec", "containers", 0, "resources", "limits", "memory"), "16 GB", "does not match"),
        (("spec", "tolerations", 0, "tolerate"), "always", "Additional properties"),
        (("spec", "securityContext", "runAsUser"), "1000", "is not of type 'integer'"),
        (("spec", "volumes", 0, "name"), "Workspace_Volume", "does not match"),
        (("spec", "containers", 0, "name"), None, "None is not of type 'string'"),
        (("metadata", "labels", "stage"), "x" * 64, "is too long"),
    ],
)
def test_the_schema_refuses_what_the_api_server_refuses(path: tuple, value: Any, complaint: str) -> None:
    from kubernetes.client import ApiClient

    pod = ApiClient().sanitize_for_serialization(_gpu_pods(ROOT / "config")["docs_auto.embed"])
    target = pod
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = pod_errors(pod)
    assert any(complaint in e for e in errors), errors


def test_a_pod_without_its_container_is_refused() -> None:
    from kubernetes.client import ApiClient

    pod = ApiClient().sanitize_for_serialization(_gpu_pods(ROOT / "config")["docs_auto.embed"])
    del pod["spec"]["containers"]
    assert any("'containers' is a required property" in e for e in pod_errors(pod))


QUANTITIES = st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 4096), st.sampled_from(["", "Mi", "Gi", "M", "G"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gpus=st.integers(0, 8),
    memory=QUANTITIES,
    cpu=st.sampled_from(["500m", "1", "2", "16"]),
    effect=st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
    uid=st.integers(1, 65535),
    namespace=st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True),
)
def test_any_valid_kubernetes_profile_renders_a_valid_pod(
    config_copy: Path, gpus: int, memory: str, cpu: str, effect: str, uid: int, namespace: str
) -> None:
    import yaml

    runtime = yaml.safe_load((config_copy / "runtime.yaml").read_text())
    runtime["profiles"]["kubernetes"].update(
        gpu_count=gpus, memory_request=memory, memory_limit=memory, cpu_request=cpu, run_as_user=uid,
        namespace=namespace, tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": effect}],
    )
    (config_copy / "runtime.yaml").write_text(yaml.safe_dump(runtime))
    pods = _gpu_pods(config_copy)
    assert pods
    problems = {stage: errors for stage, pod in pods.items() if (errors := pod_errors(pod))}
    assert not problems, problems
