"""``python -m pipeline_factory validate|render|list``, as an author runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from pipeline_factory.cli import main


def test_validate_all_shipped_specs_passes(capsys):
    assert main(["validate"]) == 0
    assert "valid" in capsys.readouterr().err


def test_validate_reports_one_line_per_problem_and_exits_1(config_copy: Path, capsys):
    broken = config_copy / "pipelines" / "broken.yaml"
    broken.write_text("name: broken\nstages:\n  - name: a\n    type: echo\n    policy: gpu-bund\n")
    assert main(["validate"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3  # the problem, the source line, the caret
    assert re.match(r"^.*broken\.yaml:5:\d+: stages\.0\.policy: .*did you mean 'gpu-bound'\?", out[0]), out
    column = int(out[0].split(":")[2])
    assert out[1] == "    5 |     policy: gpu-bund"
    assert out[2].index("^") == out[1].index("| ") + 2 + column - 1


def test_validate_takes_folders_and_files(config_copy: Path, tmp_path: Path, capsys):
    folder = tmp_path / "specs" / "nested"
    folder.mkdir(parents=True)
    (folder / "one.yaml").write_text("name: one\nstages:\n  - name: a\n    type: echo\n")
    (folder.parent / "two.yml").write_text("name: two\nstages:\n  - name: a\n    type: ecoh\n")
    assert main(["validate", str(tmp_path / "specs")]) == 1
    assert "two.yml:4:" in capsys.readouterr().out
    assert main(["validate", str(folder), str(config_copy / "pipelines")]) == 0
    assert "10 pipeline(s) valid" in capsys.readouterr().err


def test_validate_json_and_github_formats(config_copy: Path, capsys):
    broken = config_copy / "pipelines" / "broken.yaml"
    broken.write_text("name: broken\nstages:\n  - name: a\n    type: echo\n    policy: gpu-bund\n")
    assert main(["validate", "--format", "json", str(broken)]) == 1
    [problem] = json.loads(capsys.readouterr().out)
    assert (problem["line"], problem["path"], problem["type"]) == (5, "stages.0.policy", "unknown_policy")
    assert main(["validate", "--format", "github", str(broken)]) == 1
    [annotation] = capsys.readouterr().out.strip().splitlines()
    pattern = r"^::error file=[^,]*broken\.yaml,line=5,col=\d+,title=stages\.0\.policy::unknown policy"
    assert re.match(pattern, annotation)
    assert main(["validate", "--format", "json", str(config_copy / "pipelines" / "example_hello.yaml")]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_validate_given_paths_only(config_copy: Path, capsys):
    good = config_copy / "pipelines" / "example_hello.yaml"
    (config_copy / "pipelines" / "broken.yaml").write_text("")
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(config_copy / "pipelines" / "broken.yaml")]) == 1
    assert main(["validate", str(config_copy / "nope.yaml")]) == 2
    assert main(["validate", str(config_copy / "pipelines")]) == 1  # a folder: every spec in it


def test_render_json_describes_tasks(capsys):
    assert main(["render", "example_hello", "--format", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert rendered["dag_id"] == "example_hello"
    assert rendered["params"]["greeting"]["default"] == "hello"
    tasks = {t["task_id"]: t for t in rendered["tasks"]}
    assert list(tasks) == ["greet", "list_workspace", "summarize"]
    assert tasks["summarize"]["upstream"] == ["greet", "list_workspace"]
    assert tasks["greet"]["operator"].endswith("StageOperator")
    assert tasks["greet"]["retries"] == 2  # default policy: 3 attempts
    assert tasks["greet"]["retry_delay_seconds"] == 30
    assert tasks["greet"]["retry_exponential_backoff"]
    assert tasks["greet"]["timeout_seconds"] == 3600


def test_render_unknown_pipeline_fails(capsys):
    assert main(["render", "no_such_pipeline"]) == 1
    assert "no pipeline 'no_such_pipeline'" in capsys.readouterr().err


def test_list_shows_pipelines_and_schedules(capsys):
    assert main(["list", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["example_hello"]["schedule"] == "None"
    assert main(["list", "--types"]) == 0
    assert re.search(r"^gate\s+control\s+gate", capsys.readouterr().out, re.M)


def test_cli_runs_as_a_module_without_airflow_home(tmp_path: Path, project_root: Path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "no-airflow-here")}
    proc = subprocess.run([sys.executable, "-m", "pipeline_factory", "validate"], cwd=project_root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "no-airflow-here" / "airflow.db").exists()


def test_render_shows_the_gpu_container_in_the_kubernetes_profile(monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_RUNTIME", "kubernetes")
    assert main(["render", "docs_auto", "--format", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert rendered["runtime_profile"] == "kubernetes"
    embed = next(t for t in rendered["tasks"] if t["task_id"] == "embed")
    assert embed["operator"].endswith("KubernetesPodOperator")
    assert embed["retries"] == 0  # gpu-bound
    container = embed["container"]
    assert container["image"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["deferrable"] is True
    assert container["tolerations"][0]["key"] == "nvidia.com/gpu"
    cpu_stage = next(t for t in rendered["tasks"] if t["task_id"] == "chunk")
    assert cpu_stage["operator"].endswith("StageOperator") and "container" not in cpu_stage


def test_render_describes_duration_and_asset_schedules(config_copy, capsys):
    pipelines = config_copy / "pipelines"
    (pipelines / "on_assets.yaml").write_text(
        "name: on_assets\nschedule: ['s3://bucket/pdfs', 'file:///data/ready']\nstages:\n  - name: a\n    type: echo\n"
    )
    (pipelines / "fortnightly.yaml").write_text(
        "name: fortnightly\nschedule: P15D\nstages:\n  - name: a\n    type: echo\n"
    )
    assert main(["render", "on_assets", "--format", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert rendered["schedule"] == ["s3://bucket/pdfs", "file:///data/ready"]
    assert rendered["timetable"] == "AssetTriggeredTimetable"
    assert main(["render", "fortnightly", "--format", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert rendered["schedule"] == "every 15 days, 0:00:00"
    assert rendered["timetable"] == "DeltaTriggerTimetable"


def test_render_describes_asset_conditions_and_asset_or_cron_schedules(config_copy, capsys):
    pipelines = config_copy / "pipelines"
    condition = {"any": ["s3://bucket/pdfs", {"all": ["file:///a", "file:///b"]}]}
    (pipelines / "on_either.yaml").write_text(
        f"name: on_either\nschedule: {json.dumps(condition)}\nstages:\n  - name: a\n    type: echo\n")
    (pipelines / "swept.yaml").write_text(
        f"name: swept\nschedule:\n  assets: {json.dumps(condition)}\n  or_cron: '15 * * * *'\n"
        "stages:\n  - name: a\n    type: echo\n")
    assert main(["render", "on_either", "--format", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert rendered["schedule"] == condition and rendered["timetable"] == "AssetTriggeredTimetable"
    assert main(["render", "swept", "--format", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert rendered["schedule"] == {"assets": condition, "or_cron": "15 * * * *"}
    assert rendered["timetable"] == "AssetOrTimeSchedule"


def test_render_shows_a_cron_schedule_as_its_expression(capsys):
    assert main(["render", "graphrag_consistency", "--format", "json"]) == 0
    rendered = json.loads(capsys.readouterr().out)
    assert (rendered["schedule"], rendered["timetable"]) == ("0 1 * * *", "CronTriggerTimetable")
