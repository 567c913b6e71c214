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


def evaluate_models(folder: Path, names: list[str], test: Any, lead_model: str | None) -> dict[str, Any]:
    from pipeline_factory.stages.ml.train import encode_label

    metrics: dict[str, float] = {}
    per_model: dict[str, dict[str, float]] = {}
    importances: dict[str, dict[str, float]] = {}
    classifiers: list[str] = []
    regressors: list[str] = []
    for name in names:
        model = models.load(folder / name)
        if model.task == "classify":
            y_true = encode_label(test[model.target], model.classes)
            scores = classification_metrics(y_true, model.predict(test))
            classifiers.append(name)
        else:
            scores = regression_metrics(test[model.target].astype(float), model.predict(test))
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
        "lead_model": lead,
        "classifiers": classifiers,
        "regressors": regressors,
    }


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
