"""Deployment defaults that keep the boundaries: bind address, key lengths, auth managers, non-root, read-only."""

from __future__ import annotations

import stat
import subprocess
import warnings
from pathlib import Path
from typing import Any

import jwt
import pytest

ROOT = Path(__file__).resolve().parents[3]
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
CONTROL_PLANE = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if name.startswith("airflow-")}


def bash(script: str, env: dict[str, str]) -> str:
    clean = {"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": env.get("HOME", "/tmp"), **env}
    return subprocess.run(["bash", "-c", script], env=clean, capture_output=True, text=True, check=True).stdout


# -- make run ----------------------------------------------------------------------


def test_make_run_binds_the_api_server_to_loopback_unless_asked() -> None:
    script = f"source {ROOT / 'scripts' / 'airflow-env.sh'}; echo $AIRFLOW__API__HOST"
    assert bash(script, {}).strip() == "127.0.0.1"
    assert bash(script, {"AIRFLOW__API__HOST": "0.0.0.0"}).strip() == "0.0.0.0"


def test_make_run_keeps_keys_of_the_recommended_length_readable_only_by_the_owner(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    script = (f"set -euo pipefail; source {ROOT / 'scripts' / 'local-secrets.sh'} {secrets}; "
              "echo $AIRFLOW__API_AUTH__JWT_SECRET; echo $AIRFLOW__API__SECRET_KEY")
    jwt_secret, api_key = bash(script, {}).split()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert len(jwt_secret.encode()) >= 64 and len(api_key.encode()) >= 32
    assert bash(script, {}).split() == [jwt_secret, api_key]  # kept: logins survive a restart
    assert bash(script, {"AIRFLOW__API_AUTH__JWT_SECRET": "x" * 128}).split()[0] == "x" * 128
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyJWT's InsecureKeyLengthWarning for a short HS512 key
        jwt.encode({"sub": "admin"}, jwt_secret, algorithm="HS512")


def test_run_standalone_uses_the_generated_keys() -> None:
    script = (ROOT / "scripts" / "run-standalone.sh").read_text()
    assert 'local-secrets.sh" "$AIRFLOW_HOME/secrets.env"' in script
    assert script.index("local-secrets.sh") < script.index("airflow standalone")


# -- compose -------------------------------------------------------------------------


def test_compose_uses_fab_and_keeps_the_simple_auth_manager_to_make_run(compose: dict[str, Any],
                                                                      compose_text: str) -> None:
    for name, svc in airflow_services(compose).items():
        assert svc["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] == FAB, name
    assert "SIMPLE_AUTH_MANAGER" not in compose_text
    init = compose["services"]["airflow-init"]["environment"]
    assert init["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert "${AIRFLOW_ADMIN_PASSWORD:?" in compose_text  # the admin's password from .env, required


def test_compose_services_run_as_non_root(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    assert env_example["AIRFLOW_UID"] not in ("", "0")
    for name, svc in airflow_services(compose).items():
        if name == "airflow-init":  # chowns the volumes, then runs nothing else
            continue
        assert not str(svc["user"]).startswith("0"), name
    assert not str(compose["services"]["mlflow"]["user"]).startswith("0")


def test_the_control_plane_has_a_read_only_root_filesystem(compose: dict[str, Any]) -> None:
    for name in CONTROL_PLANE:
        svc = compose["services"][name]
        assert svc["read_only"] is True, name
        assert "/tmp" in svc["tmpfs"]
        config = svc["environment"]["AIRFLOW_CONFIG"]
        assert any(config.startswith(f"{mount}/") for mount in svc["tmpfs"]), name


def test_services_without_a_login_listen_on_the_hosts_loopback_only(compose: dict[str, Any]) -> None:
    for name in ("mlflow", "neo4j", "qdrant"):
        for port in compose["services"][name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


# -- Helm ----------------------------------------------------------------------------


def test_helm_uses_fab_and_runs_every_pod_as_non_root(helm_values: dict[str, Any]) -> None:
    assert helm_values["config"]["core"]["auth_manager"] == FAB
    pod = helm_values["securityContexts"]["pod"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    container = helm_values["securityContexts"]["containers"]
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("component", ["apiServer", "scheduler", "dagProcessor", "triggerer"])
def test_helm_control_plane_containers_have_read_only_root_filesystems(helm_values: dict[str, Any],
                                                                       component: str) -> None:
    values = helm_values[component]
    assert values["securityContexts"]["container"]["readOnlyRootFilesystem"] is True
    tmp = {v["name"] for v in values["extraVolumes"] if "emptyDir" in v}
    assert any(m["mountPath"] == "/tmp" and m["name"] in tmp for m in values["extraVolumeMounts"])


def test_helm_takes_no_password_from_values(helm_values: dict[str, Any]) -> None:
    assert helm_values["createUserJob"]["enabled"] is False  # its password would live in values
    text = (ROOT / "deploy" / "helm" / "values.yaml").read_text().lower()
    assert "password:" not in text.replace("passwordsecretname:", "")


def test_the_fab_provider_is_pinned_for_the_deployments() -> None:
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    constraints = (ROOT / "constraints.txt").read_text().splitlines()
    [pin] = [line for line in requirements if line.startswith("apache-airflow-providers-fab==")]
    assert pin in constraints
