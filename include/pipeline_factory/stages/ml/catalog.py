"""ML stage types: incremental data to a promoted model."""

from __future__ import annotations

from pipeline_factory.stages.registry import StageType

_P = "pipeline_factory.stages.ml"

STAGE_TYPES = [
    StageType(
        name="fetch_data",
        lineage=f"{_P}.lineage:fetch_data",
        produces=("dataset",),
        family="ml",
        params=f"{_P}.params:FetchDataParams",
        impl=f"{_P}.fetch_data:FetchData",
        description="Append unseen batch files to the consolidated dataset; skip the run when none "
        "(unless the run param force_full_retrain is true).",
    ),
    StageType(
        name="preprocess",
        lineage=f"{_P}.lineage:preprocess",
        consumes=("dataset",),
        produces=("features",),
        family="ml",
        params=f"{_P}.params:PreprocessParams",
        impl=f"{_P}.preprocess:Preprocess",
        description="Schema checks, derived features and a time-based train/validation/test split.",
    ),
    StageType(
        name="train",
        consumes=("features",),
        produces=("models",),
        family="ml",
        params=f"{_P}.params:TrainParams",
        impl=f"{_P}.train:Train",
        description="Fit the listed LightGBM/XGBoost models (XGBoost on CUDA under compute: gpu).",
    ),
    StageType(
        name="validate_artifacts",
        consumes=("models", "features"),
        family="ml",
        params=f"{_P}.params:ValidateArtifactsParams",
        impl=f"{_P}.validate_artifacts:ValidateArtifacts",
        description="Every planned model exists, loads back and predicts; a missing one fails naming it.",
    ),
    StageType(
        name="evaluate",
        consumes=("models", "features"),
        produces=("metrics",),
        family="ml",
        params=f"{_P}.params:EvaluateParams",
        impl=f"{_P}.evaluate:Evaluate",
        description="Macro F1/accuracy per classifier, R²/RMSE per regressor and their averages, on the test split.",
    ),
    StageType(
        name="register",
        lineage=f"{_P}.lineage:register",
        consumes=("dataset", "features", "models", "metrics"),
        produces=("registered",),
        family="ml",
        params=f"{_P}.params:RegisterParams",
        impl=f"{_P}.register:Register",
        description="Log params, spec, dataset, metrics, importances and models to MLflow; register each model.",
    ),
    StageType(
        name="promote",
        lineage=f"{_P}.lineage:promote",
        consumes=("registered", "metrics", "features", "models"),  # the champion is scored on this run's rows
        optional=("approval",),
        produces=("promotion",),
        family="ml",
        params=f"{_P}.params:PromoteParams",
        impl=f"{_P}.promote:Promote",
        description="Apply the promotion rule under a lock: alias champion or challenger, reason tagged.",
    ),
    StageType(
        name="notify",
        optional=("dataset", "models", "metrics", "registered", "promotion"),
        family="ml",
        params=f"{_P}.params:NotifyParams",
        impl=f"{_P}.notify:Notify",
        description="Send the run summary (rows, models, metrics, decision, MLflow link) via notifiers.",
    ),
]
