"""Model-registry helpers built on aliases (MLflow's registry stages are deprecated).

A training run registers one model version per model of the spec.  Those
versions travel together: the promotion decision is taken once, on the *lead*
model's champion, and the alias moves on every model of the set, so the
``champion`` versions of a pipeline always come from one MLflow run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding ``alias``, or None when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        code = getattr(exc, "error_code", "")
        if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND") or "not found" in str(
            exc
        ).lower():
            return None
        raise


def run_metrics(client: MlflowClient, run_id: str | None) -> dict[str, float]:
    if run_id is None:
        raise ValueError("the model version names no MLflow run to read metrics from")
    return dict(client.get_run(run_id).data.metrics)


def ensure_registered_model(client: MlflowClient, name: str, description: str = "") -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, description=description or None)
        except MlflowException:
            # Created concurrently by another run: fine.
            client.get_registered_model(name)


def set_alias_on_set(client: MlflowClient, versions: Mapping[str, RegisteredVersion], alias: str) -> None:
    for version in versions.values():
        client.set_registered_model_alias(version.name, alias, version.version)
        log.info("alias %s -> %s v%s", alias, version.name, version.version)


def tag_set(client: MlflowClient, versions: Mapping[str, RegisteredVersion], tags: Mapping[str, str]) -> None:
    for version in versions.values():
        for key, value in tags.items():
            client.set_model_version_tag(version.name, version.version, key, value)
