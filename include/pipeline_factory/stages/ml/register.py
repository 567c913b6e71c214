"""register: one MLflow run per training run, and one model version per model.

The MLflow run holds everything needed to judge and reproduce the models:
hyper-parameters, the spec file, the run's params, the dataset fingerprint
and training split, the metrics, the feature importances and each model with
its signature and an input example.  Every model is registered as
``<prefix><model name>``; promotion then moves aliases on those versions.

A retried task finds the MLflow run its first attempt finished (by the
Airflow run id and stage tags) and returns it instead of registering twice.
"""

from __future__ import annotations

import json
import logging
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from pipeline_factory import settings
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml import models
from pipeline_factory.stages.ml.params import RegisterParams
from pipeline_factory.tracking import mlflow_config
from pipeline_factory.tracking.registry import ensure_registered_model

log = logging.getLogger(__name__)

TAG_DAG = "airflow.dag_id"
TAG_RUN = "airflow.run_id"
TAG_STAGE = "pipeline.stage"
TAG_DONE = "pipeline.registered"
SEEN_ROWS_DIR = "split"
SEEN_ROWS_FILE = "seen_row_ids.parquet"


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = str(value)[:6000]


def _previous_attempt(client: Any, experiment_id: str, ctx: StageContext) -> Any | None:
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{TAG_RUN}` = '{ctx.run_id}' and tags.`{TAG_STAGE}` = '{ctx.stage}' "
            f"and tags.`{TAG_DONE}` = 'true'"
        ),
        max_results=1,
    )
    return runs[0] if runs else None


def _seen_rows(prep_folder: Path, train_split: Any, out: Path) -> Path | None:
    """The ``row_id`` of every row the models trained or early-stopped on, as a parquet file.

    Promotion reads it back from the champion's run to keep those rows out of
    the rows it compares a later candidate and the champion on.
    """
    import pandas as pd

    from pipeline_factory.stages.ml.preprocess import ROW_ID

    validation = pd.read_parquet(prep_folder / "validation.parquet")
    if ROW_ID not in train_split.columns:
        return None
    seen = pd.concat([train_split[[ROW_ID]], validation[[ROW_ID]]], ignore_index=True)
    path = out / SEEN_ROWS_FILE
    seen.to_parquet(path, index=False)
    return path


def _log_model(model: models.LoadedModel, sample: Any, registered_name: str) -> Any:
    import mlflow
    from mlflow.models import infer_signature

    example = sample[model.features]
    signature = infer_signature(example, model.raw_predict(example))
    flavour = mlflow.lightgbm if model.library == "lightgbm" else mlflow.xgboost
    # Explicit requirements: inferring them imports and profiles the model, seconds per model.
    requirements = [f"{model.library}=={package_version(model.library)}", f"pandas=={package_version('pandas')}"]
    return flavour.log_model(
        model.booster,
        name=model.name,
        signature=signature,
        input_example=example.head(3),
        registered_model_name=registered_name,
        pip_requirements=requirements,
        tags={"target": model.target, "task": model.task},
    )


class Register:
    def run(self, ctx: StageContext, params: RegisterParams) -> StageResult:
        import mlflow
        import pandas as pd

        fetched = ctx.input("dataset")
        prep = ctx.input("features")
        trained = ctx.input("models")
        evaluated = ctx.input("metrics")
        client = mlflow_config.configure()
        experiment = params.experiment or ctx.pipeline
        prefix = params.registered_model_prefix if params.registered_model_prefix is not None else f"{ctx.pipeline}."
        experiment_id = mlflow_config.ensure_experiment(client, experiment)

        previous = _previous_attempt(client, experiment_id, ctx)
        if previous is not None:
            log.info("register: MLflow run %s already registered this run's models", previous.info.run_id)
            versions: dict[str, dict[str, str]] = {
                mv.name.removeprefix(prefix): {"name": mv.name, "version": str(mv.version)}
                for mv in client.search_model_versions(f"run_id='{previous.info.run_id}'")
            }
            return self._result(previous.info.run_id, experiment_id, experiment, versions, evaluated, prefix)

        prep_folder = Path(prep["folder"])
        train_split = pd.read_parquet(prep_folder / "train.parquet")
        sample = pd.read_parquet(prep_folder / "test.parquet").head(10)
        spec_file = settings.pipelines_dir() / f"{ctx.pipeline}.yaml"
        tags = {
            TAG_DAG: ctx.pipeline,
            TAG_RUN: ctx.run_id,
            TAG_STAGE: ctx.stage,
            "dataset.fingerprint": str(fetched.get("fingerprint")),
        }
        versions = {}
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"{ctx.pipeline}:{ctx.run_id}", tags=tags) as run:
            flat: dict[str, str] = {}
            _flatten("", trained["params"], flat)
            flat.update({
                "train.threads": str(trained["threads"]),
                "train.device": str(trained["device"]),
                "dataset.fingerprint": str(fetched.get("fingerprint")),
                "dataset.rows": str(fetched.get("total_rows")),
                "dataset.rows_added": str(fetched.get("rows_added")),
                "dataset.batches_added": ",".join(fetched.get("batches_added") or []) or "-",
                "split.train_rows": str(prep["splits"]["train"]["rows"]),
                "split.test_rows": str(prep["splits"]["test"]["rows"]),
                "split.test_from": str(prep["splits"]["test"]["from"]),
            })
            mlflow.log_params(flat)
            mlflow.log_metrics({k: float(v) for k, v in evaluated["metrics"].items()})
            mlflow.log_dict(dict(ctx.params), "run_params.json")
            if spec_file.exists():
                mlflow.log_artifact(str(spec_file), artifact_path="spec")
            importance_file = Path(evaluated["folder"]) / "feature_importance.json"
            mlflow.log_dict(json.loads(importance_file.read_text()), "feature_importance.json")
            mlflow.log_dict(json.loads((prep_folder / "schema.json").read_text()), "schema.json")
            mlflow.log_input(
                mlflow.data.from_pandas(  # type: ignore[attr-defined]  # mlflow.data binds it lazily
                    train_split, name=f"train@{fetched.get('fingerprint')}"
                ),
                context="training",
            )
            seen_file = _seen_rows(prep_folder, train_split, ctx.stage_dir)
            if seen_file is not None:
                mlflow.log_artifact(str(seen_file), artifact_path=SEEN_ROWS_DIR)
            folder = Path(trained["folder"])
            for name in trained["planned"]:
                model = models.load(folder / name)
                registered_name = f"{prefix}{name}"
                ensure_registered_model(client, registered_name, f"{model.library} {model.task} on {model.target}")
                info = _log_model(model, sample, registered_name)
                version = str(info.registered_model_version)
                client.set_model_version_tag(registered_name, version, TAG_RUN, ctx.run_id)
                for key in ("library", "task", "target"):
                    client.set_model_version_tag(registered_name, version, key, str(getattr(model, key)))
                client.set_model_version_tag(registered_name, version, "dataset.fingerprint",
                                             str(fetched.get("fingerprint")))
                versions[name] = {"name": registered_name, "version": version}
                log.info("registered %s v%s", registered_name, version)
            mlflow.set_tag(TAG_DONE, "true")
            run_id = run.info.run_id
        return self._result(run_id, experiment_id, experiment, versions, evaluated, prefix)

    @staticmethod
    def _result(run_id: str, experiment_id: str, experiment: str, versions: dict, evaluated: Any,
                prefix: str) -> StageResult:
        return {
            "kind": "ml.register",
            "mlflow_run_id": run_id,
            "experiment": experiment,
            "experiment_id": experiment_id,
            "run_url": mlflow_config.run_url(experiment_id, run_id),
            "registered_model_prefix": prefix,
            "versions": versions,
            "lead_model": evaluated.get("lead_model"),
        }
