"""The monitoring links of the "Latest runs" section come from the deployment's settings only."""

from __future__ import annotations

from pipeline_factory.ui.runs import monitoring_links


def test_links_to_the_configured_monitoring_pages(monkeypatch):
    monkeypatch.setenv("PIPELINE_PROMETHEUS_URL", "http://127.0.0.1:9090/")
    monkeypatch.setenv("PIPELINE_ALERTMANAGER_URL", "http://127.0.0.1:9093")
    monkeypatch.delenv("PIPELINE_PUSHGATEWAY_URL", raising=False)
    monkeypatch.delenv("PIPELINE_GRAFANA_URL", raising=False)
    assert monitoring_links() == [
        {"name": "prometheus", "label": "Prometheus", "href": "http://127.0.0.1:9090/alerts"},
        {"name": "alertmanager", "label": "Alertmanager", "href": "http://127.0.0.1:9093/#/alerts"},
    ]


def test_no_links_when_nothing_is_configured(monkeypatch):
    for variable in ("PIPELINE_PROMETHEUS_URL", "PIPELINE_ALERTMANAGER_URL", "PIPELINE_PUSHGATEWAY_URL",
                     "PIPELINE_GRAFANA_URL"):
        monkeypatch.delenv(variable, raising=False)
    assert monitoring_links() == []
