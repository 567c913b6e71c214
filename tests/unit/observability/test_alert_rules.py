"""Alert rules in the spec: validated at their line, rendered for Prometheus (checked by promtool) and Alertmanager."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.observability.alerts import alertmanager_config, rule_expression, rules_file
from pipeline_factory.spec.loader import load_specs

SPEC = """\
name: {name}
notifications:
  on_failure:
    - {{type: smtp, to: [oncall@example.org]}}
    - {{type: webhook, conn_id: alerts_hook}}
alerts:
{alerts}
stages:
  - name: first
    type: echo
"""

GOOD_ALERTS = """\
  - {kind: failure_rate, runs: 5, above: 0.4}
  - {kind: run_duration, above: 2h, for: 5m}
  - {kind: breaker_open, longer_than: 15m, breaker: ncbi-eutils}
  - {kind: no_success, within: P16D, severity: critical}
"""


def _load(config: Path, alerts: str, name: str = "alerted"):
    (config / "pipelines" / f"{name}.yaml").write_text(SPEC.format(name=name, alerts=alerts))
    return load_specs(config_dir=config)


def _mine(specs, name: str = "alerted"):
    return [(p.line, p.path, p.type) for p in specs.problems if p.file.endswith(f"{name}.yaml")]


BAD = {
    "unknown_kind": ("  - {kind: failure_ratio, above: 0.5}\n", (7, "alerts.0", "union_tag_invalid")),
    "ratio_above_one": ("  - {kind: failure_rate, above: 1.5}\n", (7, "alerts.0.above",
                                                                    "less_than")),
    "bad_duration": ("  - {kind: run_duration, above: two hours}\n", (7, "alerts.0.above",
                                                                      "value_error")),
    "negative_duration": ("  - {kind: no_success, within: -5}\n", (7, "alerts.0.within", "value_error")),
    "typo_key": ("  - {kind: breaker_open, longer_then: 15m}\n",
                 (7, "alerts.0.longer_then", "extra_forbidden")),
    "gate_rule_without_gate": ("  - {kind: gate_waiting, longer_than: 1h}\n", (7, "alerts.0.kind", "no_gate")),
}


@pytest.mark.parametrize(("alerts", "expected"), BAD.values(), ids=BAD.keys())
def test_a_bad_rule_is_reported_at_its_line(config_copy: Path, alerts, expected):
    specs = _load(config_copy, alerts)
    assert "alerted" not in specs.specs
    found = _mine(specs)
    line, path, error_type = expected
    assert any(f[0] == line and f[1].startswith(path) and f[2] == error_type for f in found), found


def test_rules_in_defaults_apply_to_pipelines_without_their_own(config_copy: Path):
    defaults = config_copy / "pipelines" / "defaults.yaml"
    text = defaults.read_text()
    defaults.write_text(text[: text.index("\nalerts:")] + "\nalerts:\n  - {kind: no_success, within: 8d}\n")
    specs = load_specs(config_dir=config_copy)
    assert not specs.problems, specs.problems
    assert [r.kind for r in specs.specs["example_hello"].spec.alerts] == ["no_success"]
    assert "run_duration" in {r.kind for r in specs.specs["model_training"].spec.alerts}  # its own list wins


def test_rendered_rules_pass_promtool(config_copy: Path, tmp_path: Path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (Debian package prometheus: make monitoring-deps)")
    specs = _load(config_copy, GOOD_ALERTS)
    assert not _mine(specs), specs.problems
    rendered = rules_file({n: s.spec for n, s in specs.specs.items()})
    [group] = [g for g in rendered["groups"] if g["name"] == "pipeline_alerted"]
    assert [r["alert"] for r in group["rules"]] == [
        "PipelineFailureRateHigh", "PipelineRunTooLong", "PipelineBreakerOpenTooLong", "PipelineNoRecentSuccess"]
    assert group["rules"][0]["expr"] == 'pipeline_run_failure_ratio{pipeline="alerted",window="5"} > 0.4'
    assert group["rules"][1]["for"] == "300s"
    assert group["rules"][3]["labels"]["severity"] == "critical"
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rendered))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_routes_each_pipeline_to_its_notifiers(config_copy: Path, tmp_path: Path):
    from pipeline_factory.observability.alerts import SmtpServer

    specs = _load(config_copy, GOOD_ALERTS)
    config = alertmanager_config(
        {n: s.spec for n, s in specs.specs.items()}, group_wait="1s",
        smtp=lambda conn_id: SmtpServer(smarthost="127.0.0.1:2525", sender="alerts@example.org"),
        webhook=lambda conn_id: f"http://127.0.0.1:9/{conn_id}",
    )
    [route] = [r for r in config["route"]["routes"] if r["receiver"] == "pipeline_alerted"]
    assert route["matchers"] == ['pipeline="alerted"']
    [receiver] = [r for r in config["receivers"] if r["name"] == "pipeline_alerted"]
    assert receiver["email_configs"][0]["to"] == "oncall@example.org"
    assert receiver["email_configs"][0]["send_resolved"] is True
    assert receiver["webhook_configs"] == [{"url": "http://127.0.0.1:9/alerts_hook", "send_resolved": True}]
    assert config["route"]["group_by"] == ["alertname", "pipeline"]
    amtool = shutil.which("amtool")
    if amtool:
        path = tmp_path / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@settings(max_examples=60, deadline=None)
@given(pipeline=st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,30}", fullmatch=True),
       breaker=st.text(min_size=1, max_size=20))
def test_any_pipeline_or_breaker_name_stays_inside_its_label(pipeline, breaker):
    """A name never escapes its PromQL string: every rule selects exactly its pipeline."""
    from pipeline_factory.spec.alerts import BreakerOpenRule

    rule = BreakerOpenRule(kind="breaker_open", longer_than=60, breaker=breaker)
    expr, _ = rule_expression(pipeline, rule)
    import json

    assert f"pipeline={json.dumps(pipeline)}" in expr
    assert f"breaker={json.dumps(breaker)}" in expr


def test_the_cli_refuses_broken_specs_unless_asked_to_skip_them(config_copy: Path, tmp_path: Path, capsys):
    from pipeline_factory.cli import main

    _load(config_copy, "  - {kind: failure_ratio, above: 0.5}\n")
    assert main(["alerts", "render", "--rules", str(tmp_path / "rules.yml")]) == 1
    assert "alerted.yaml:7:" in capsys.readouterr().err
    assert not (tmp_path / "rules.yml").exists()
    assert main(["alerts", "render", "--skip-invalid", "--rules", str(tmp_path / "rules.yml"),
                 "--alertmanager", str(tmp_path / "am.yml")]) == 0
    groups = yaml.safe_load((tmp_path / "rules.yml").read_text())["groups"]
    assert "pipeline_model_training" in {g["name"] for g in groups}
    assert "pipeline_alerted" not in {g["name"] for g in groups}
    assert (tmp_path / "am.yml").stat().st_mode & 0o777 == 0o600
