"""evaluate: metrics of every model on the held-out (newest) test split.

Classifiers: macro F1 and accuracy.  Regressors: R² and RMSE each, and their
averages over the component targets (``component_avg_r2``,
``component_avg_rmse``), which promotion guardrails refer to.  The lead
classifier's metrics are also reported unprefixed (``macro_f1``,
``accuracy``): the names a promotion rule uses.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml import models
from pipeline_factory.stages.ml.params import EvaluateParams
from pipeline_factory.workspace import write_json_atomic

log = logging.getLogger(__name__)


def classification_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn.metrics import mean_squared_error, r2_score

    return {
        "r2": float(r2_score(y_true, y_pred)),
        "rmse": float(math.sqrt(mean_squared_error(y_true, y_pred))),
    }


def score_models(
    loaded: dict[str, models.LoadedModel], rows: Any, lead_model: str | None
) -> dict[str, Any]:
    """Metrics of each model on ``rows``, their averages and the lead's unprefixed metrics.

    Also returns what was predicted (``predictions``: name -> y_true, y_pred and,
    for classifiers, the positive-class probability) so plots can be drawn from
    the very numbers the metrics come from.
    """
    import numpy as np

    from pipeline_factory.stages.ml.train import encode_label

    metrics: dict[str, float] = {}
    per_model: dict[str, dict[str, float]] = {}
    importances: dict[str, dict[str, float]] = {}
    predictions: dict[str, dict[str, Any]] = {}
    classifiers: list[str] = []
    regressors: list[str] = []
    for name, model in loaded.items():
        if model.task == "classify":
            y_true = np.asarray(encode_label(rows[model.target], model.classes))
            raw = model.raw_predict(rows)
            y_pred = model.predict(rows)
            scores = classification_metrics(y_true, y_pred)
            proba = raw if raw.ndim == 1 else raw[:, -1]
            predictions[name] = {"y_true": y_true, "y_pred": np.asarray(y_pred), "proba": np.asarray(proba),
                                 "classes": list(model.classes), "task": "classify"}
            classifiers.append(name)
        else:
            y_true = rows[model.target].astype(float).to_numpy()
            y_pred = np.asarray(model.predict(rows), dtype=float)
            scores = regression_metrics(y_true, y_pred)
            predictions[name] = {"y_true": y_true, "y_pred": y_pred, "target": model.target, "task": "regress"}
            regressors.append(name)
        per_model[name] = scores
        importances[name] = model.feature_importance()
        metrics.update({f"{name}.{k}": v for k, v in scores.items()})
    if regressors:
        metrics["component_avg_r2"] = sum(per_model[n]["r2"] for n in regressors) / len(regressors)
        metrics["component_avg_rmse"] = sum(per_model[n]["rmse"] for n in regressors) / len(regressors)
    lead = lead_model or (classifiers[0] if classifiers else None)
    if lead is not None:
        if lead not in per_model:
            raise StageError(f"lead_model {lead!r} is not among the trained models {sorted(per_model)}")
        metrics.update(per_model[lead])
    return {
        "metrics": metrics,
        "per_model": per_model,
        "importances": importances,
        "predictions": predictions,
        "lead_model": lead,
        "classifiers": classifiers,
        "regressors": regressors,
    }


def evaluate_models(folder: Path, names: list[str], test: Any, lead_model: str | None) -> dict[str, Any]:
    """:func:`score_models` on the models saved under ``folder``."""
    return score_models({name: models.load(folder / name) for name in names}, test, lead_model)


class Evaluate:
    def run(self, ctx: StageContext, params: EvaluateParams) -> StageResult:
        import pandas as pd

        trained = ctx.input("models")
        prep = ctx.input("features")
        test = pd.read_parquet(Path(prep["folder"]) / "test.parquet")
        report = evaluate_models(Path(trained["folder"]), list(trained["planned"]), test, params.lead_model)
        write_json_atomic(ctx.stage_dir / "metrics.json", report["metrics"])
        write_json_atomic(ctx.stage_dir / "feature_importance.json", report["importances"])
        log.info("evaluate: %s", {k: round(v, 4) for k, v in report["metrics"].items() if "." not in k})
        return {
            "kind": "ml.evaluate",
            "folder": str(ctx.stage_dir),
            "metrics": report["metrics"],
            "lead_model": report["lead_model"],
            "classifiers": report["classifiers"],
            "regressors": report["regressors"],
            "test_rows": len(test),
        }
