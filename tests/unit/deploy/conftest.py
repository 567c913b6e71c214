"""Shared readers for the deployment files (compose, Dockerfile, Helm, RBAC).

No Docker engine, Helm or cluster runs here, so these fixtures parse the
files the way those tools would and hand the tests plain data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]

#: ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?message}``, ``${VAR?message}``,
#: ``${VAR:+alt}``; ``$${...}`` is an escaped dollar and not a variable.
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Substitute variables as ``docker compose`` does (enough of it for these files)."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        if op in (":-", "-") and (value is None or (op == ":-" and value == "")):
            return arg
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            raise KeyError(f"{name}: {arg}")
        if op in (":+", "+"):
            return arg if value else ""
        return value or ""

    return INTERPOLATION.sub(replace, text)


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        env[key.strip()] = value.strip()
    return env


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def compose_text() -> str:
    return (ROOT / "docker-compose.yaml").read_text()


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return read_env_file(ROOT / ".env.example")


@pytest.fixture(scope="session")
def compose(compose_text: str, env_example: dict[str, str]) -> dict[str, Any]:
    """The compose file after interpolation, with every required secret set."""
    env = {key: value or f"example-{key.lower()}" for key, value in env_example.items()}
    return yaml.safe_load(interpolate(compose_text, env))


@pytest.fixture(scope="session")
def helm_values() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deploy/helm/values.yaml").read_text())


@pytest.fixture(scope="session")
def runtime_profiles() -> dict[str, Any]:
    """config/runtime.yaml: what the factory really gives GPU containers and pods."""
    return yaml.safe_load((ROOT / "config/runtime.yaml").read_text())["profiles"]


@pytest.fixture(scope="session")
def rbac_documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((ROOT / "deploy/kubernetes/rbac.yaml").read_text()) if doc]
