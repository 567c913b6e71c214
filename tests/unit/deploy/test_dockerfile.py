"""The images install exactly what the tests run against.

No Docker engine here, so this proves the link instead: both targets install
the same requirements.txt (+ constraints.txt) and the package, and every pin
in requirements.txt is the version installed in the venv the tests use.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

import pytest

from .conftest import ROOT


def stages() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    parts = re.split(r"^FROM \S+ AS (\S+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, pinned = line.partition("==")
            pins[name.strip()] = pinned.strip()
    return pins


@pytest.mark.parametrize("target", ["airflow", "stage-runner"])
def test_each_target_installs_the_pinned_requirements_and_the_package(target: str) -> None:
    body = stages()[target]
    copy_line = re.search(r"^COPY .*requirements\.txt constraints\.txt \./$", body, flags=re.M)
    assert copy_line, f"{target}: requirements.txt and constraints.txt are not copied together"
    assert re.search(r"pip install [^\n]*-r requirements\.txt", body), target
    assert re.search(r"pip install --no-cache-dir --no-deps \.$", body, flags=re.M), target
    assert body.index("-r requirements.txt") < body.index("--no-deps ."), "package before its requirements"


def test_requirements_apply_the_constraints_file() -> None:
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-c constraints.txt" in lines


def test_every_pin_is_what_the_test_venv_runs() -> None:
    pins = requirement_pins()
    assert "apache-airflow" in pins
    mismatched = {}
    for name, pinned in pins.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            mismatched[name] = (pinned, installed)
    assert not mismatched, mismatched


def test_airflow_image_tag_matches_the_pinned_airflow() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG AIRFLOW_VERSION=(\S+)$", text, flags=re.M).group(1) == requirement_pins()["apache-airflow"]


def test_the_stage_runner_runs_the_stage_runner_as_a_non_root_user() -> None:
    body = stages()["stage-runner"]
    assert 'ENTRYPOINT ["python", "-m", "pipeline_factory.runner"]' in body
    users = re.findall(r"^USER (\S+)$", body, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"python3\.11", body)


def test_the_airflow_image_carries_dags_plugins_and_config() -> None:
    body = stages()["airflow"]
    for source, target in [("dags/", "/opt/airflow/dags/"), ("plugins/", "/opt/airflow/plugins/"),
                           ("config/", "/opt/pipeline/config/")]:
        assert re.search(rf"^COPY .*{re.escape(source)} {re.escape(target)}$", body, flags=re.M), source


def test_dockerignore_keeps_secrets_and_the_venv_out_of_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".venv", ".git", ".data"):
        assert entry in ignored
