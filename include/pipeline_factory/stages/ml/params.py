"""Parameter models of the ml stages (pydantic only: imported at parse time)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pipeline_factory.stages.contracts import StageParams
from pipeline_factory.tracking.promotion_rule import Guardrail, PromotionRule

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
DataFormat = Literal["csv", "parquet"]


def _all_formats() -> list[DataFormat]:
    return ["csv", "parquet"]


class FetchDataParams(StageParams):
    source: str = Field(
        ...,
        description="Folder of batch files: a path (relative paths resolve against the data dir), "
        "file:// or an object-store URL that pyarrow understands (s3://, gs://).",
    )
    dataset: str = Field("training", description="Name of the consolidated dataset kept in the data dir.")
    formats: list[DataFormat] = Field(default_factory=_all_formats, min_length=1)
    time_column: str | None = Field(None, description="Sorts the consolidated dataset when given.")

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("dataset must be a plain name: letters, digits and underscores")
        return value


class PreprocessParams(StageParams):
    label: str = Field(..., description="The class label column.")
    label_classes: list[str] | None = Field(None, description="Allowed label values; others fail the run.")
    time_column: str = Field(..., description="Orders the rows for the time-based split.")
    features: list[str] = Field(..., min_length=1, description="Numeric input columns.")
    components: list[str] = Field(default_factory=list, description="Numeric targets, one regressor each.")
    derived: dict[str, str] = Field(
        default_factory=dict,
        description="New feature name -> arithmetic over columns: + - * / **, log, log1p, sqrt, abs, exp.",
    )
    validation_fraction: float = Field(0.15, ge=0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0, lt=0.5)
    max_null_fraction: float = Field(0.0, ge=0, le=1, description="Per column; above it the run fails.")

    @model_validator(mode="after")
    def _targets_are_not_features(self) -> PreprocessParams:
        leaked = sorted((set(self.components) | {self.label}) & set(self.features))
        if leaked:
            raise ValueError(f"targets must not be features: {', '.join(leaked)}")
        clash = sorted(set(self.derived) & (set(self.features) | set(self.components) | {self.label}))
        if clash:
            raise ValueError(f"derived features shadow existing columns: {', '.join(clash)}")
        for name in self.derived:
            if not _NAME.match(name):
                raise ValueError(f"derived feature {name!r} must be a plain name")
        return self


class ModelSpec(StageParams):
    name: str = Field(..., description="Model name; regressors get '_<component>' appended.")
    library: Literal["lightgbm", "xgboost"]
    task: Literal["classify", "regress"] = Field(
        ..., description="classify: on the label; regress: one model per component target."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Hyper-parameters of the estimator.")

    @field_validator("name")
    @classmethod
    def _plain(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("model names are letters, digits and underscores")
        return value


class TrainParams(StageParams):
    models: list[ModelSpec] = Field(..., min_length=1)
    threads: int | None = Field(None, ge=1, description="Default: the cores this process may use.")
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="XGBoost device; auto = cuda when the stage has compute: gpu and sees a GPU."
    )
    early_stopping_rounds: int | None = Field(None, ge=1, description="On the validation split.")

    @field_validator("models")
    @classmethod
    def _unique(cls, value: list[ModelSpec]) -> list[ModelSpec]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique: {', '.join(dupes)}")
        return value


class ValidateArtifactsParams(StageParams):
    smoke_rows: int = Field(5, ge=1, description="Test rows each loaded model must predict.")


class EvaluateParams(StageParams):
    lead_model: str | None = Field(
        None, description="Classifier whose macro_f1/accuracy are the run's headline; default: the first."
    )


class RegisterParams(StageParams):
    experiment: str | None = Field(None, description="MLflow experiment; default: the pipeline name.")
    registered_model_prefix: str | None = Field(
        None, description="Registered model name = prefix + model name; default '<pipeline>.'."
    )


class PromoteParams(StageParams):
    @classmethod
    def inputs_required_by(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        return ("approval",) if params.get("approval") == "required" else ()

    metric: str = "macro_f1"
    higher_is_better: bool = True
    min_improvement: float = Field(0.0, ge=0)
    floor: float | None = None
    guardrails: dict[str, str] = Field(default_factory=dict)
    baseline_unavailable: Literal["refuse", "promote"] = Field(
        "refuse", description="When the champion cannot be scored on this run's held-out rows: keep it "
        "(refuse) or let a candidate that passes floor and guardrails replace it (promote)."
    )
    lead_model: str | None = Field(
        None, description="The model whose champion is compared; default: evaluate's lead model."
    )
    approval: Literal["none", "required"] = Field(
        "none", description="required: promote only after the approval stage recorded 'Approve'."
    )
    lock_timeout_seconds: float = Field(600.0, gt=0)

    @field_validator("guardrails")
    @classmethod
    def _guardrails(cls, value: dict[str, str]) -> dict[str, str]:
        for metric, expression in value.items():
            Guardrail.parse(metric, expression)
        return value

    def rule(self) -> PromotionRule:
        return PromotionRule(
            metric=self.metric,
            higher_is_better=self.higher_is_better,
            min_improvement=self.min_improvement,
            floor=self.floor,
            guardrails=dict(self.guardrails),
            baseline_unavailable=self.baseline_unavailable,
        )


class NotifyParams(StageParams):
    notifiers: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"type": "smtp"}],
        description="Notifier specs as for the DAG's notifications: {type: smtp, to: [...]}, ...",
    )
    subject: str | None = Field(None, description="Default: '<pipeline> <run>: <decision>'.")

    @field_validator("notifiers")
    @classmethod
    def _valid(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from pipeline_factory.notify import parse_notifiers

        parse_notifiers(value)
        return value
