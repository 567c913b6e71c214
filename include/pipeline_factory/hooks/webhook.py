"""A webhook receiver as an Airflow connection (the notifiers' ``conn_id``)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class WebhookHook(BaseHook):
    """The URL to POST to: ``host`` (a full URL, or a host name with ``port``) and ``schema`` as the path."""

    conn_name_attr = "webhook_conn_id"
    default_conn_name = "webhook_default"
    conn_type = "http"
    hook_name = "Webhook"

    def __init__(self, webhook_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_conn_id = webhook_conn_id

    def get_url(self) -> str:
        conn = self.get_connection(self.webhook_conn_id)
        host = conn.host or ""
        if "://" not in host:
            scheme = "https" if conn.conn_type in ("https",) else "http"
            host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
        return f"{host.rstrip('/')}/{(conn.schema or '').lstrip('/')}" if conn.schema else host
