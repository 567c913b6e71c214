"""The NCBI E-utilities identity as an Airflow connection (``ncbi_default``).

host: the E-utilities base (``https://host[:port]/schema`` or a full URL),
login: the contact e-mail, password: the API key, extra ``{"tool": ...}``.
:func:`pipeline_factory.sources.ncbi_settings.load_ncbi_settings` asks this
hook only where Airflow is installed; the environment wins over it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class NcbiHook(BaseHook):
    """Reads the E-utilities settings from the connection; values it does not hold are left out."""

    conn_name_attr = "ncbi_conn_id"
    default_conn_name = "ncbi_default"
    conn_type = "http"
    hook_name = "NCBI E-utilities"

    def __init__(self, ncbi_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ncbi_conn_id = ncbi_conn_id

    def settings_values(self) -> dict[str, str]:
        """``base_url``, ``email``, ``api_key`` and ``tool`` as far as the connection sets them."""
        conn = self.get_connection(self.ncbi_conn_id)
        values: dict[str, str] = {}
        if conn.host:
            if "://" in conn.host:
                base = conn.host
            else:
                base = f"https://{conn.host}" + (f":{conn.port}" if conn.port else "")
                if conn.schema:
                    base += "/" + conn.schema.strip("/")
            values["base_url"] = base.rstrip("/")
        if conn.login:
            values["email"] = conn.login
        if conn.password:
            values["api_key"] = conn.password
        tool = (conn.extra_dejson or {}).get("tool")
        if tool:
            values["tool"] = tool
        return values
