"""The view's promotion section: compact same-rows tables and plots served only from the run workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_factory.ui.promotions import plot_file, promotions_overview

REPORT = "manual__r2.promotion.json"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    plots = data / "runs" / "model_training" / "manual__r2" / "promote" / "plots"
    plots.mkdir(parents=True)
    (plots / "confusion_diagnosis_lgbm.png").write_bytes(b"\x89PNG fake")
    (plots / "unlisted.png").write_bytes(b"\x89PNG fake")
    reports = data / "reports" / "model_training"
    reports.mkdir(parents=True)
    (reports / REPORT).write_text(json.dumps({
        "pipeline": "model_training", "run_id": "manual__r2", "outcome": "champion", "reason": "beats it",
        "margin": 0.02, "baseline": "same_rows", "champion_version": "2", "run_url": "http://mlflow/#/r",
        "comparison": {"rows": 57, "rows_fingerprint": "abc", "champion_version": "1",
                       "candidate": {"macro_f1": 0.96, "diagnosis_lgbm.macro_f1": 0.96, "size_lgbm_mean_area.r2": 0.9},
                       "champion": {"macro_f1": 0.94, "diagnosis_lgbm.macro_f1": 0.94}},
        "plots_dir": str(plots), "plots": {"confusion_diagnosis_lgbm.png": "confusion matrices"},
    }))
    (data / "secret.png").write_bytes(b"\x89PNG not a plot")
    return data


def test_the_latest_promotion_becomes_compact_tables_per_model(data_dir):
    [promotion] = promotions_overview(data_dir / "reports")["promotions"]
    assert promotion["decision"] == "champion" and promotion["rows"] == 57
    assert promotion["headline"] == [{"metric": "macro_f1", "candidate": 0.96, "champion": 0.94,
                                      "delta": pytest.approx(0.02)}]
    assert promotion["models"]["diagnosis_lgbm"][0]["delta"] == pytest.approx(0.02)
    assert promotion["models"]["size_lgbm_mean_area"] == [{"metric": "r2", "candidate": 0.9, "champion": None,
                                                          "delta": None}]
    [plot] = promotion["plots"]
    assert plot["url"] == ("api/promotions/plot?pipeline=model_training&report=manual__r2.promotion.json"
                           "&name=confusion_diagnosis_lgbm.png")


def test_a_listed_plot_is_served(data_dir):
    path = plot_file("model_training", REPORT, "confusion_diagnosis_lgbm.png", folder=data_dir / "reports",
                     data_dir=data_dir)
    assert path.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("pipeline, report, name", [
    ("model_training", REPORT, "unlisted.png"),  # in the folder, but not in the report
    ("model_training", REPORT, "../../../../secret.png"),
    ("model_training", "../../secret.png", "confusion_diagnosis_lgbm.png"),
    ("..", "model_training/" + REPORT, "confusion_diagnosis_lgbm.png"),
    ("model_training", "other.promotion.json", "confusion_diagnosis_lgbm.png"),
])
def test_anything_else_is_not_found(data_dir, pipeline, report, name):
    with pytest.raises(FileNotFoundError):
        plot_file(pipeline, report, name, folder=data_dir / "reports", data_dir=data_dir)


def test_a_report_pointing_outside_the_run_workspace_serves_nothing(data_dir):
    path = data_dir / "reports" / "model_training" / REPORT
    report = json.loads(path.read_text())
    report["plots_dir"] = str(data_dir)
    report["plots"] = {"secret.png": "not a plot"}
    path.write_text(json.dumps(report))
    with pytest.raises(FileNotFoundError):
        plot_file("model_training", REPORT, "secret.png", folder=data_dir / "reports", data_dir=data_dir)
