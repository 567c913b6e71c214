"""Estimators, their native files and loading them back.

Models are saved in each library's own format (LightGBM text, XGBoost UBJSON)
rather than pickles: they load across library patch versions and in MLflow's
flavours.  :class:`LoadedModel` gives validate, evaluate and register one way
to predict, whatever the library.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_factory.exceptions import StageError

MODEL_FILES = {"lightgbm": "model.txt", "xgboost": "model.ubj"}


def machine_threads() -> int:
    """The cores this process may run on (respects CPU affinity and container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cuda_available() -> bool:
    """XGBoost was built with CUDA and a GPU device is visible."""
    try:
        import xgboost

        if not xgboost.build_info().get("USE_CUDA"):
            return False
    except Exception:
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia/version").exists()


def build_estimator(
    library: str, task: str, params: dict[str, Any], *, threads: int, seed: int, device: str,
    early_stopping_rounds: int | None = None,
) -> Any:
    if library == "lightgbm":
        import lightgbm as lgb

        kwargs = {"verbose": -1, "random_state": seed, **params, "n_jobs": threads}
        return lgb.LGBMClassifier(**kwargs) if task == "classify" else lgb.LGBMRegressor(**kwargs)
    import xgboost as xgb

    kwargs = {"tree_method": "hist", "random_state": seed, **params, "n_jobs": threads, "device": device}
    if early_stopping_rounds:
        kwargs["early_stopping_rounds"] = early_stopping_rounds
    return xgb.XGBClassifier(**kwargs) if task == "classify" else xgb.XGBRegressor(**kwargs)


def fit(
    estimator: Any, library: str, X: Any, y: Any, X_val: Any, y_val: Any, early_stopping_rounds: int | None
) -> None:
    has_val = X_val is not None and len(X_val) > 0
    if library == "lightgbm":
        import lightgbm as lgb

        kwargs: dict[str, Any] = {}
        if has_val:
            kwargs["eval_X"], kwargs["eval_y"] = X_val, y_val
            if early_stopping_rounds:
                kwargs["callbacks"] = [lgb.early_stopping(early_stopping_rounds, verbose=False)]
        estimator.fit(X, y, **kwargs)
    else:
        kwargs = {"verbose": False}
        if has_val:
            kwargs["eval_set"] = [(X_val, y_val)]
        elif early_stopping_rounds:
            estimator.set_params(early_stopping_rounds=None)
        estimator.fit(X, y, **kwargs)


def save(estimator: Any, library: str, folder: Path, meta: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILES[library]
    if library == "lightgbm":
        estimator.booster_.save_model(str(path))
    else:
        estimator.get_booster().save_model(str(path))
    (folder / "meta.json").write_text(json.dumps({**meta, "file": path.name}, indent=2, default=str))
    return path


@dataclass
class LoadedModel:
    """A model read back from its native file, with what it needs to predict."""

    name: str
    library: str
    task: str
    target: str
    features: list[str]
    classes: list[str]
    booster: Any
    meta: dict[str, Any]

    def raw_predict(self, X: Any) -> Any:
        """Probabilities for classifiers, values for regressors (what MLflow's flavour returns)."""
        import numpy as np

        if self.library == "lightgbm":
            out = self.booster.predict(X[self.features])
        else:
            import xgboost as xgb

            out = self.booster.predict(xgb.DMatrix(X[self.features]))
        return np.asarray(out)

    def predict(self, X: Any) -> Any:
        """Class indices for classifiers, values for regressors."""

        out = self.raw_predict(X)
        if self.task != "classify":
            return out
        if out.ndim == 1:
            return (out >= 0.5).astype(int)
        return out.argmax(axis=1)

    def feature_importance(self) -> dict[str, float]:
        if self.library == "lightgbm":
            gains = self.booster.feature_importance(importance_type="gain")
            return {f: float(g) for f, g in zip(self.booster.feature_name(), gains, strict=True)}
        scores = self.booster.get_score(importance_type="gain")
        return {f: float(scores.get(f, 0.0)) for f in self.features}


def load(folder: Path) -> LoadedModel:
    """Read a saved model back; raises :class:`StageError` naming it when it cannot."""
    name = folder.name
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        raise StageError(f"model {name}: no artifact at {folder}")
    meta = json.loads(meta_path.read_text())
    path = folder / meta["file"]
    if not path.exists():
        raise StageError(f"model {name}: artifact file {path.name} is missing from {folder}")
    booster: Any
    try:
        if meta["library"] == "lightgbm":
            import lightgbm as lgb

            booster = lgb.Booster(model_file=str(path))
        else:
            import xgboost as xgb

            booster = xgb.Booster()
            booster.load_model(str(path))
    except Exception as exc:
        raise StageError(f"model {name}: {path.name} does not load: {exc}") from exc
    return LoadedModel(
        name=name,
        library=meta["library"],
        task=meta["task"],
        target=meta["target"],
        features=list(meta["features"]),
        classes=list(meta.get("classes") or []),
        booster=booster,
        meta=meta,
    )
