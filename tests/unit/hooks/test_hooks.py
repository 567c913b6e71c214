"""Every connection is read through a hook with ``conn_name_attr``; stage code asks the hooks, never Airflow."""

from __future__ import annotations

import json

import pytest

from pipeline_factory.hooks.ledger import LedgerHook
from pipeline_factory.hooks.mlflow import MlflowHook
from pipeline_factory.hooks.ncbi import NcbiHook
from pipeline_factory.hooks.webhook import WebhookHook


@pytest.mark.parametrize("hook", [LedgerHook, MlflowHook, NcbiHook, WebhookHook])
def test_hooks_declare_their_connection_like_a_provider(hook):
    assert hook.conn_name_attr and hook.default_conn_name and hook.conn_type and hook.hook_name
    assert getattr(hook(), hook.conn_name_attr) == hook.default_conn_name


def test_ncbi_settings_come_from_the_connection_when_the_environment_names_no_url(monkeypatch):
    from pipeline_factory.sources.ncbi_settings import load_ncbi_settings

    for name in ("NCBI_EUTILS_URL", "NCBI_EMAIL", "NCBI_API_KEY", "NCBI_TOOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_NCBI_DEFAULT", json.dumps(
        {"conn_type": "http", "host": "eutils.example.org", "schema": "entrez/eutils", "login": "me@example.org",
         "password": "k3y", "extra": {"tool": "mytool"}}))
    settings = load_ncbi_settings()
    assert settings.base_url == "https://eutils.example.org/entrez/eutils"
    assert (settings.email, settings.api_key, settings.tool) == ("me@example.org", "k3y", "mytool")


def test_the_mlflow_hook_reads_host_or_extra(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "http", "host": "mlflow", "port": 5000}))
    assert MlflowHook().get_tracking_uri() == "http://mlflow:5000"
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(
        {"conn_type": "http", "extra": {"tracking_uri": "https://tracking.example.org"}}))
    assert MlflowHook().get_tracking_uri() == "https://tracking.example.org"


def test_the_webhook_hook_builds_the_url(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HOOKS", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": 9000, "schema": "notify"}))
    assert WebhookHook("hooks").get_url() == "http://127.0.0.1:9000/notify"
