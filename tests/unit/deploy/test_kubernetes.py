"""Helm values and the RBAC the KubernetesPodOperator needs, checked offline."""

from __future__ import annotations

from typing import Any

from .conftest import ROOT


def env_of(values: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in values["env"]}


def test_helm_values_run_the_project_image_with_the_kubernetes_profile(helm_values: dict[str, Any]) -> None:
    assert helm_values["images"]["airflow"]["repository"] == "ghcr.io/pipeline-factory/airflow"
    assert helm_values["defaultAirflowRepository"] == helm_values["images"]["airflow"]["repository"]
    assert helm_values["airflowVersion"] == "3.3.2"
    assert helm_values["executor"] in ("CeleryExecutor", "KubernetesExecutor")
    env = env_of(helm_values)
    assert env["PIPELINE_RUNTIME"] == "kubernetes"
    assert env["PIPELINE_DATA_DIR"] == "/opt/pipeline/data"
    assert helm_values["dagProcessor"]["enabled"] and helm_values["triggerer"]["enabled"]


def test_helm_values_hold_secrets_by_reference_only(helm_values: dict[str, Any]) -> None:
    secret_words = ("PASSWORD", "SECRET", "API_KEY", "AIRFLOW_CONN_", "LEDGER_URL", "REDIS_URL")
    for name in env_of(helm_values):
        assert not any(word in name for word in secret_words), f"{name} is a plain value"
    referenced = {entry["envName"] for entry in helm_values["secret"]}
    assert {"NEO4J_PASSWORD", "PIPELINE_LEDGER_URL", "QDRANT_API_KEY"} <= referenced
    for key in ("fernetKeySecretName", "jwtSecretName", "apiSecretKeySecretName"):
        assert isinstance(helm_values[key], str) and helm_values[key]
    assert helm_values["data"]["metadataSecretName"]


def test_rbac_grants_the_kubernetes_pod_operator_its_verbs(rbac_documents: list[dict[str, Any]]) -> None:
    role = next(doc for doc in rbac_documents if doc["kind"] == "Role")
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""]
        for resource in rule["resources"]:
            granted.setdefault(resource, set()).update(rule["verbs"])
    needed = {
        "pods": {"create", "get", "list", "watch", "patch", "delete"},
        "pods/log": {"get"},
        "pods/exec": {"create", "get"},
        "events": {"list"},
    }
    for resource, verbs in needed.items():
        assert verbs <= granted.get(resource, set()), f"{resource}: missing {verbs - granted.get(resource, set())}"
    assert "*" not in {verb for verbs in granted.values() for verb in verbs}
    assert set(granted) == set(needed), "the role grants more resources than the operator uses"


def test_rbac_binds_the_service_accounts_the_chart_runs_tasks_and_triggers_as(
    rbac_documents: list[dict[str, Any]], helm_values: dict[str, Any], runtime_profiles: dict[str, Any]
) -> None:
    kubernetes = runtime_profiles["kubernetes"]
    stage_namespace = kubernetes["namespace"]
    namespace = next(doc for doc in rbac_documents if doc["kind"] == "Namespace")
    assert namespace["metadata"]["name"] == stage_namespace
    binding = next(doc for doc in rbac_documents if doc["kind"] == "RoleBinding")
    role = next(doc for doc in rbac_documents if doc["kind"] == "Role")
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"] == stage_namespace
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    subjects = {subject["name"] for subject in binding["subjects"]}
    assert helm_values["workers"]["serviceAccount"]["name"] in subjects
    assert helm_values["triggerer"]["serviceAccount"]["name"] in subjects
    runner = next(doc for doc in rbac_documents if doc["kind"] == "ServiceAccount")
    assert runner["metadata"]["name"] == kubernetes["service_account"]
    assert runner["metadata"]["namespace"] == stage_namespace
    assert runner["automountServiceAccountToken"] is False


def test_stage_pods_share_the_workers_data_claim(helm_values: dict[str, Any], runtime_profiles: dict[str, Any]) -> None:
    kubernetes = runtime_profiles["kubernetes"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in helm_values["volumes"]}
    assert kubernetes["workspace_volume"] in claims
    mounts = {m["mountPath"] for m in helm_values["volumeMounts"]}
    assert env_of(helm_values)["PIPELINE_DATA_DIR"] in mounts


def test_deploy_docs_name_the_files_they_describe() -> None:
    text = (ROOT / "docs/deploy.md").read_text()
    for name in ("docker-compose.yaml", ".env.example", "deploy/helm/values.yaml", "deploy/kubernetes/rbac.yaml",
                 "--profile gpu"):
        assert name in text, name
