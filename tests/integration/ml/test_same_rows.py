"""Promotion compares champion and candidate on the same rows (real MLflow registry on SQLite, real models).

The models here are trained and registered directly, so each test controls
exactly which rows each model saw and which rows each run's own metric came
from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PREFIX = "t."
LEAD = "diagnosis_lgbm"
CLASSES = ["benign", "malignant"]


@pytest.fixture
def table():
    """The real breast-cancer rows in time order, with their row ids."""
    from pipeline_factory.stages.ml.preprocess import ROW_ID, row_ids
    from pipeline_factory.stages.ml.sample_data import load_table

    frame = load_table().drop(columns="_batch_no")
    frame[ROW_ID] = row_ids(frame)
    return frame


def _flip(frame, fraction: float, seed: int = 3):
    import numpy as np

    noisy = frame.copy()
    flip = np.random.default_rng(seed).random(len(noisy)) < fraction
    noisy.loc[flip, "diagnosis"] = noisy.loc[flip, "diagnosis"].map({"benign": "malignant", "malignant": "benign"})
    return noisy


def _train(rows, features: list[str], out: Path, **params):
    from pipeline_factory.stages.ml.params import ModelSpec
    from pipeline_factory.stages.ml.train import plan, train_models

    schema = {"features": features, "label": "diagnosis", "classes": CLASSES, "components": []}
    spec = ModelSpec(name=LEAD, library="lightgbm", task="classify",
                     params={"n_estimators": 40, "num_leaves": 7, "min_child_samples": 5, **params})
    train_models(plan([spec], schema), {"train": rows, "validation": rows.iloc[:0]}, schema, out,
                 threads=1, seed=42, device="cpu")
    return out


def _own_metrics(folder: Path, rows) -> dict[str, float]:
    from pipeline_factory.stages.ml.evaluate import evaluate_models

    return evaluate_models(folder, [LEAD], rows, LEAD)["metrics"]


def _register(client, folder: Path, metrics: dict[str, float], seen_rows, sample):
    """One MLflow run with the run's own metrics and seen row ids; the model registered as t.diagnosis_lgbm."""
    import mlflow

    from pipeline_factory.stages.ml import models
    from pipeline_factory.stages.ml.preprocess import ROW_ID
    from pipeline_factory.stages.ml.register import SEEN_ROWS_DIR, SEEN_ROWS_FILE, _log_model
    from pipeline_factory.tracking.mlflow_config import ensure_experiment
    from pipeline_factory.tracking.registry import RegisteredVersion, ensure_registered_model

    experiment_id = ensure_experiment(client, "same_rows")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metrics(metrics)
        seen_file = folder / SEEN_ROWS_FILE
        seen_rows[[ROW_ID]].to_parquet(seen_file, index=False)
        mlflow.log_artifact(str(seen_file), artifact_path=SEEN_ROWS_DIR)
        model = models.load(folder / LEAD)
        ensure_registered_model(client, PREFIX + LEAD)
        info = _log_model(model, sample, PREFIX + LEAD)
        version = str(info.registered_model_version)
        for key in ("library", "task", "target"):
            client.set_model_version_tag(PREFIX + LEAD, version, key, str(getattr(model, key)))
    return run.info.run_id, {LEAD: RegisteredVersion(PREFIX + LEAD, version, run.info.run_id)}


def _promote(client, rule, run_id, versions, folder: Path, rows, *, same_rows: bool = True):
    from pipeline_factory.stages.ml.compare import compare_on_rows, load_candidate
    from pipeline_factory.tracking.promotion import promote

    candidate = load_candidate(folder, [LEAD])

    def compare(champion):
        return compare_on_rows(client, champion, candidate, rows, lead_model=LEAD, prefix=PREFIX,
                               time_column="measured_at", classes=CLASSES)

    return promote(client, rule, run_id, versions, LEAD, compare=compare if same_rows else None,
                   lock_timeout_seconds=30)


def _champion_on(client, tmp_path: Path, rows, *, features: list[str], test_rows, **params):
    """Train, register and promote a first model (no champion yet); returns its folder."""
    from pipeline_factory.tracking.promotion_rule import PromotionRule

    folder = _train(rows, features, tmp_path / "champion", **params)
    run_id, versions = _register(client, folder, _own_metrics(folder, test_rows), rows, test_rows.head(5))
    first = _promote(client, PromotionRule(), run_id, versions, folder, test_rows)
    assert first.decision.outcome == "champion"
    return folder


@pytest.fixture
def client(ml_data_dir):
    from pipeline_factory.tracking.mlflow_config import configure

    return configure()


def test_a_candidate_better_only_because_its_split_is_easier_is_not_promoted(client, table, tmp_path):
    from pipeline_factory.stages.ml.sample_data import feature_columns
    from pipeline_factory.tracking.promotion_rule import PromotionRule, decide

    train = table.iloc[:300]
    hard = _flip(table.iloc[300:400], 0.4)  # the champion's own test split: many wrong labels
    easy = table.iloc[400:]  # the candidate's own test split: clean
    # The same model trained the same way on the same rows: there is nothing to choose between them.
    _champion_on(client, tmp_path, train, features=feature_columns(), test_rows=hard)
    folder = _train(train, feature_columns(), tmp_path / "candidate")
    own = _own_metrics(folder, easy)
    run_id, versions = _register(client, folder, own, train, easy.head(5))
    rule = PromotionRule(metric="macro_f1", min_improvement=0.001)
    champion = client.get_model_version_by_alias(PREFIX + LEAD, "champion")
    logged = client.get_run(champion.run_id).data.metrics
    assert own["macro_f1"] > logged["macro_f1"] + 0.1  # on their own splits the candidate looks far better
    assert decide(rule, own, logged).outcome == "champion"  # ... and comparing those would promote it

    result = _promote(client, rule, run_id, versions, folder, easy)

    assert result.decision.outcome == "challenger", result.decision.reason
    assert result.comparison.rows == len(easy)
    assert result.comparison.champion["macro_f1"] == pytest.approx(result.comparison.candidate["macro_f1"])
    assert result.decision.margin == pytest.approx(0.0)
    assert str(client.get_model_version_by_alias(PREFIX + LEAD, "champion").version) == "1"


def test_a_truly_better_candidate_is_promoted_and_the_tags_carry_both_models_on_the_same_rows(
        client, table, tmp_path):
    from pipeline_factory.stages.ml.sample_data import feature_columns
    from pipeline_factory.tracking.promotion_rule import PromotionRule

    train, test = table.iloc[:300], table.iloc[400:]
    weak = ["mean_fractal_dimension", "symmetry_error"]
    _champion_on(client, tmp_path, train.iloc[:40], features=weak, test_rows=test, n_estimators=3)
    folder = _train(train, feature_columns(), tmp_path / "candidate")
    run_id, versions = _register(client, folder, _own_metrics(folder, test), train, test.head(5))
    rule = PromotionRule(metric="macro_f1", min_improvement=0.01)
    result = _promote(client, rule, run_id, versions, folder, test)

    assert result.decision.outcome == "champion", result.decision.reason
    comparison = result.comparison
    assert comparison.rows == len(test) and comparison.excluded_rows == 0
    tags = client.get_model_version(PREFIX + LEAD, "2").tags
    assert tags["promotion.baseline"] == "same_rows"
    assert tags["promotion.rows"] == str(len(test))
    assert tags["promotion.rows_fingerprint"] == comparison.fingerprint
    champion_f1, candidate_f1 = float(tags["promotion.champion.macro_f1"]), float(tags["promotion.candidate.macro_f1"])
    assert candidate_f1 - champion_f1 == pytest.approx(float(tags["promotion.margin"]), abs=1e-5)
    assert candidate_f1 > champion_f1 + 0.01
    assert float(tags["promotion.champion.accuracy"]) == pytest.approx(comparison.champion["accuracy"], abs=1e-5)
    assert str(client.get_model_version_by_alias(PREFIX + LEAD, "champion").version) == "2"


def test_rows_the_champion_trained_on_are_left_out_of_the_comparison(client, table, tmp_path):
    import pandas as pd

    from pipeline_factory.stages.ml.compare import rows_fingerprint
    from pipeline_factory.stages.ml.sample_data import feature_columns
    from pipeline_factory.tracking.promotion_rule import PromotionRule

    test = table.iloc[400:]
    # The champion saw the first 50 of the candidate's test rows (as a late, older batch would have let it).
    champion_rows = pd.concat([table.iloc[:300], test.iloc[:50]])
    _champion_on(client, tmp_path, champion_rows, features=feature_columns(), test_rows=test.iloc[50:])
    folder = _train(table.iloc[:300], feature_columns(), tmp_path / "candidate")
    run_id, versions = _register(client, folder, _own_metrics(folder, test), table.iloc[:300], test.head(5))
    result = _promote(client, PromotionRule(), run_id, versions, folder, test)

    assert result.comparison.excluded_rows == 50
    assert result.comparison.rows == len(test) - 50
    assert result.comparison.fingerprint == rows_fingerprint(test.iloc[50:])
    assert result.comparison.fingerprint != rows_fingerprint(test)


@pytest.mark.parametrize("setting, outcome", [("refuse", "challenger"), ("promote", "champion")])
def test_a_champion_whose_artifact_is_gone_is_a_clear_decision_not_a_crash(client, table, tmp_path, ml_data_dir,
                                                                           setting, outcome):
    from pipeline_factory.stages.ml.sample_data import feature_columns
    from pipeline_factory.tracking.promotion_rule import PromotionRule

    train, test = table.iloc[:300], table.iloc[400:]
    _champion_on(client, tmp_path, train, features=feature_columns(), test_rows=test)
    artifacts = ml_data_dir / "mlflow" / "artifacts"
    for model_file in artifacts.rglob("model.lgb"):
        model_file.unlink()
    folder = _train(train, feature_columns(), tmp_path / "candidate", n_estimators=60)
    run_id, versions = _register(client, folder, _own_metrics(folder, test), train, test.head(5))
    result = _promote(client, PromotionRule(baseline_unavailable=setting), run_id, versions, folder, test)

    assert result.decision.outcome == outcome
    assert result.decision.baseline == "unavailable"
    assert "could not be scored" in result.decision.reason
    assert f"baseline_unavailable: {setting}" in result.decision.reason
    tags = client.get_model_version(PREFIX + LEAD, "2").tags
    assert tags["promotion.baseline"] == "unavailable"
    assert tags["promotion.baseline_unavailable"]
    champion = client.get_model_version_by_alias(PREFIX + LEAD, "champion")
    assert str(champion.version) == ("1" if setting == "refuse" else "2")


def test_a_champion_needing_columns_the_rows_lack_is_named(client, table, tmp_path):
    from pipeline_factory.stages.ml.sample_data import feature_columns
    from pipeline_factory.tracking.promotion_rule import PromotionRule

    train, test = table.iloc[:300], table.iloc[400:]
    _champion_on(client, tmp_path, train, features=feature_columns(), test_rows=test)
    features = [f for f in feature_columns() if f != "worst_area"]
    folder = _train(train, features, tmp_path / "candidate")
    run_id, versions = _register(client, folder, _own_metrics(folder, test), train, test.head(5))
    result = _promote(client, PromotionRule(), run_id, versions, folder, test.drop(columns="worst_area"))
    assert result.decision.outcome == "challenger"
    assert "worst_area" in result.comparison.unavailable
