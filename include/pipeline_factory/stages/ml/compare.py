"""Score the champion and the candidate on the same rows: the only fair comparison.

Each run evaluates its candidate on its own newest rows; a champion's logged
metrics come from *its* run's rows, which may have been easier or harder.  So
before promotion the champion (read from the registry by alias) is scored on
the candidate's held-out rows, minus every row either model trained or
early-stopped on, and both sets of metrics, the rows' fingerprint and count
are what the rule compares.

A champion that cannot be loaded or scored (artifact gone, feature columns
changed, a library error) never crashes the run: :func:`compare_on_rows`
returns a :class:`Comparison` whose ``unavailable`` says why, and the rule's
``baseline_unavailable`` setting decides.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline_factory.stages.ml import models
from pipeline_factory.stages.ml.evaluate import score_models
from pipeline_factory.stages.ml.preprocess import ROW_ID

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)

MAX_REASON = 300
#: user:password@ in a URL (a tracking or artifact store URI inside an exception message).
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+@")


class BaselineUnavailable(Exception):
    """The champion cannot be scored on the candidate's rows; the message says why."""


@dataclass
class Comparison:
    """Candidate and champion metrics on the same rows (or why the champion could not be scored)."""

    rows: int
    fingerprint: str
    candidate: dict[str, float]
    champion: dict[str, float] | None = None
    champion_version: str | None = None
    champion_run_id: str | None = None
    excluded_rows: int = 0
    unavailable: str | None = None
    candidate_predictions: dict[str, Any] = field(default_factory=dict, repr=False)
    champion_predictions: dict[str, Any] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-safe: what reports, tags, mails and the view show."""
        return {
            "rows": self.rows,
            "rows_fingerprint": self.fingerprint,
            "excluded_rows": self.excluded_rows,
            "candidate": dict(self.candidate),
            "champion": dict(self.champion) if self.champion is not None else None,
            "champion_version": self.champion_version,
            "champion_run_id": self.champion_run_id,
            "unavailable": self.unavailable,
        }


def rows_fingerprint(rows: Any) -> str:
    """sha256 of the sorted row ids: equal fingerprints mean the very same rows."""
    import numpy as np

    ids = np.sort(rows[ROW_ID].to_numpy(dtype="uint64")) if ROW_ID in rows.columns else np.arange(len(rows))
    return hashlib.sha256(ids.astype("<u8").tobytes()).hexdigest()[:16]


def _model_tags(client: MlflowClient, version: ModelVersion) -> dict[str, str]:
    tags = dict(version.tags or {})
    if {"library", "task", "target"} <= tags.keys():
        return tags
    model_id = getattr(version, "model_id", None)
    if model_id:
        try:
            tags = {**dict(client.get_logged_model(model_id).tags or {}), **tags}
        except Exception:
            log.debug("no logged model %s", model_id, exc_info=True)
    return tags


def load_registered(client: MlflowClient, version: ModelVersion, classes: list[str]) -> models.LoadedModel:
    """A registered model version as a :class:`~pipeline_factory.stages.ml.models.LoadedModel`."""
    import mlflow

    uri = f"models:/{version.name}/{version.version}"
    info = mlflow.models.get_model_info(uri)
    tags = _model_tags(client, version)
    library = tags.get("library") or next((f for f in ("lightgbm", "xgboost") if f in info.flavors), None)
    if library not in ("lightgbm", "xgboost"):
        raise BaselineUnavailable(f"{version.name} v{version.version} is neither a LightGBM nor an XGBoost model")
    if info.signature is None:
        raise BaselineUnavailable(f"{version.name} v{version.version} has no signature: its inputs are unknown")
    booster = (mlflow.lightgbm if library == "lightgbm" else mlflow.xgboost).load_model(uri)
    task = tags.get("task") or "classify"
    return models.LoadedModel(
        name=version.name, library=library, task=task, target=tags.get("target", ""),
        features=list(info.signature.inputs.input_names()), classes=list(classes) if task == "classify" else [],
        booster=booster, meta=dict(tags),
    )


def champion_seen_rows(client: MlflowClient, run_id: str, rows: Any, time_column: str) -> Any:
    """A boolean mask over ``rows``: True where the champion's run trained or early-stopped on the row.

    Exact from the run's ``split/seen_row_ids.parquet``; for runs that predate
    it, every row older than the run's first test row counts as seen.
    """
    import mlflow
    import pandas as pd

    from pipeline_factory.stages.ml.register import SEEN_ROWS_DIR, SEEN_ROWS_FILE

    try:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"{SEEN_ROWS_DIR}/{SEEN_ROWS_FILE}",
                                                    tracking_uri=client.tracking_uri)
        seen = pd.read_parquet(local)[ROW_ID]
        return rows[ROW_ID].isin(set(seen.tolist())).to_numpy()
    except Exception:
        log.info("run %s kept no seen row ids; falling back to its test split's start", run_id)
    test_from = client.get_run(run_id).data.params.get("split.test_from")
    if not test_from or test_from == "None":
        raise BaselineUnavailable(f"run {run_id} recorded neither its seen rows nor its test split's start")
    return (pd.to_datetime(rows[time_column]) < pd.Timestamp(test_from)).to_numpy()


def _champion_set(client: MlflowClient, champion: ModelVersion, prefix: str, wanted: list[str]) -> dict[str, Any]:
    """The champion's run's registered versions, keyed like the candidate's models."""
    found = {}
    for version in client.search_model_versions(f"run_id='{champion.run_id}'"):
        name = version.name.removeprefix(prefix)
        if name in wanted:
            found[name] = version
    return found


def compare_on_rows(
    client: MlflowClient,
    champion: ModelVersion,
    candidate: Mapping[str, models.LoadedModel],
    rows: Any,
    *,
    lead_model: str,
    prefix: str,
    time_column: str,
    classes: list[str],
    candidate_seen: Any = None,
    candidate_metrics: Mapping[str, float] | None = None,
) -> Comparison:
    """Score ``candidate`` and the champion's model set on ``rows`` minus what either trained on.

    ``candidate_seen`` is the candidate's own train and validation row ids
    (normally disjoint from ``rows`` by construction; checked anyway).
    Never raises for a champion problem: the result's ``unavailable`` says why.
    """
    fallback = dict(candidate_metrics or {})
    try:
        if champion.run_id is None:
            raise BaselineUnavailable(f"champion version {champion.version} names no MLflow run")
        seen = champion_seen_rows(client, champion.run_id, rows, time_column)
        if candidate_seen is not None and ROW_ID in rows.columns:
            seen = seen | rows[ROW_ID].isin(set(candidate_seen)).to_numpy()
        eval_rows = rows[~seen]
        excluded = int(seen.sum())
        if not len(eval_rows):
            raise BaselineUnavailable(f"all {len(rows)} held-out rows were seen in training by the champion")
        versions = _champion_set(client, champion, prefix, list(candidate))
        if lead_model not in versions:
            raise BaselineUnavailable(f"the champion's run registered no {lead_model}")
        loaded = {name: load_registered(client, version, classes) for name, version in versions.items()}
        for name, model in loaded.items():
            missing = sorted(set(model.features) - set(eval_rows.columns))
            if missing:
                raise BaselineUnavailable(f"champion {name} needs columns the candidate's rows lack: {missing}")
        champion_report = score_models(loaded, eval_rows, lead_model)
        candidate_report = score_models(dict(candidate), eval_rows, lead_model)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, BaselineUnavailable) else f"{type(exc).__name__}: {exc}"
        reason = _URL_CREDENTIALS.sub("***@", reason)[:MAX_REASON]
        log.warning("champion v%s cannot be scored on the candidate's rows: %s", champion.version, reason)
        return Comparison(rows=len(rows), fingerprint=rows_fingerprint(rows), candidate=fallback,
                          champion_version=str(champion.version), champion_run_id=champion.run_id,
                          unavailable=reason)
    return Comparison(
        rows=len(eval_rows),
        fingerprint=rows_fingerprint(eval_rows),
        candidate=candidate_report["metrics"],
        champion=champion_report["metrics"],
        champion_version=str(champion.version),
        champion_run_id=champion.run_id,
        excluded_rows=excluded,
        candidate_predictions=candidate_report["predictions"],
        champion_predictions=champion_report["predictions"],
    )


def load_candidate(folder: Path, names: list[str]) -> dict[str, models.LoadedModel]:
    return {name: models.load(folder / name) for name in names}
