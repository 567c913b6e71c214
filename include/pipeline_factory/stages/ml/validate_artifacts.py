"""validate_artifacts: every planned model exists, loads back and predicts.

Cheap insurance before anything is logged or registered: a model that was
never written, or whose file is truncated, fails the run here with its name,
rather than surfacing as an MLflow error or, worse, as a champion that cannot
be served.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml import models
from pipeline_factory.stages.ml.params import ValidateArtifactsParams

log = logging.getLogger(__name__)


class ValidateArtifacts:
    def run(self, ctx: StageContext, params: ValidateArtifactsParams) -> StageResult:
        import numpy as np
        import pandas as pd

        trained = ctx.input("models")
        prep = ctx.input("features")
        sample = pd.read_parquet(Path(prep["folder"]) / "test.parquet").head(params.smoke_rows)
        folder = Path(trained["folder"])
        problems: list[str] = []
        checked: list[str] = []
        for name in trained["planned"]:
            try:
                model = models.load(folder / name)
                predictions = model.predict(sample)
            except StageError as exc:
                problems.append(str(exc))
                continue
            except Exception as exc:
                problems.append(f"model {name}: does not predict: {exc}")
                continue
            if len(predictions) != len(sample) or not np.all(np.isfinite(np.asarray(predictions, dtype=float))):
                problems.append(f"model {name}: predictions are not {len(sample)} finite values")
                continue
            checked.append(name)
        if problems:
            missing = [p.split(":", 1)[0].removeprefix("model ") for p in problems]
            raise StageError(f"{len(problems)} model artifact(s) failed validation ({', '.join(missing)}): "
                             + "; ".join(problems))
        log.info("validate_artifacts: %d models load and predict", len(checked))
        return {"kind": "ml.validate_artifacts", "models": checked}
