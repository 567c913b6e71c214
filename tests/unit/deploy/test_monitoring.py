"""Compose and Helm carry the same monitoring pieces as ``make run``; the dashboard reads only real metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_factory.observability.metrics import METRICS

from .conftest import ROOT

MONITORING = ("pushgateway", "prometheus", "alertmanager", "statsd-exporter")


def _airflow_services(compose: dict[str, Any]) -> dict[str, Any]:
    return {n: s for n, s in compose["services"].items() if "AIRFLOW__CORE__EXECUTOR" in s.get("environment", {})}


def test_compose_runs_the_monitoring_stack_on_loopback(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in MONITORING:
        assert name in services, name
        for port in services[name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert services["prometheus"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert "alerts render --skip-invalid --rules /etc/monitoring/rules.yml" in services["airflow-init"]["command"][1]


def test_compose_turns_airflow_statsd_on_and_points_stages_at_the_pushgateway(compose: dict[str, Any]) -> None:
    for name, service in _airflow_services(compose).items():
        env = service["environment"]
        assert env["AIRFLOW__METRICS__STATSD_ON"] == "true", name
        assert env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter", name
        assert env["PIPELINE_PUSHGATEWAY_URL"] == "http://pushgateway:9091", name


def test_the_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (Debian package prometheus: make monitoring-deps)")
    from pipeline_factory.observability.alerts import rules_file
    from pipeline_factory.spec.loader import load_specs

    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules_file(
        {n: s.spec for n, s in load_specs().specs.items()})))
    config = yaml.safe_load((ROOT / "deploy/compose/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/monitoring/rules.yml"]
    [push] = [job for job in config["scrape_configs"] if job["job_name"] == "pushgateway"]
    assert push["honor_labels"] is True  # the pushed pipeline and stage labels must survive the scrape
    config["rule_files"] = [str(tmp_path / "rules.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_helm_turns_statsd_on_and_points_stages_at_the_pushgateway(helm_values: dict[str, Any]) -> None:
    assert helm_values["statsd"]["enabled"] is True
    assert helm_values["config"]["metrics"]["statsd_on"] == "True"
    env = {e["name"]: e["value"] for e in helm_values["env"]}
    assert env["PIPELINE_PUSHGATEWAY_URL"].startswith("http://prometheus-prometheus-pushgateway.")
    monitoring = yaml.safe_load((ROOT / "deploy/helm/monitoring-values.yaml").read_text())
    assert monitoring["alertmanager"]["enabled"] and monitoring["prometheus-pushgateway"]["enabled"]


def test_the_grafana_dashboard_plots_only_metrics_that_exist() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/pipelines-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    names = set()
    for expr in exprs:
        names |= set(re.findall(r"\b((?:pipeline|airflow)_[a-z_]+)\b", expr))
    project = {n for n in names if n.startswith("pipeline_")}
    assert project <= set(METRICS), project - set(METRICS)
    # Every figure the issue names has a panel.
    for figure in ("pipeline_api_rate_limited_total", "pipeline_breaker_open", "pipeline_gate_wait_seconds",
                   "pipeline_embed_items_per_second", "pipeline_training_duration_seconds",
                   "pipeline_promotion_candidate_value", "pipeline_run_duration_seconds", "pipeline_stage_items"):
        assert figure in project, figure
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
