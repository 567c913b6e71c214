"""Who we are to NCBI and where E-utilities lives.

NCBI asks every client to send ``tool`` and ``email`` and allows 10 requests/s
instead of 3 with an API key.  Values come from the environment
(``NCBI_EUTILS_URL``, ``NCBI_EMAIL``, ``NCBI_TOOL``, ``NCBI_API_KEY``) or,
when Airflow is importable and a connection ``ncbi_default`` exists, from it
(host = base URL, login = email, password = API key, extra ``{"tool": ...}``).
Environment variables win so tests and ``make run`` can point at the local
stand-in.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
DEFAULT_TOOL = "pipeline-factory"
CONNECTION_ID = "ncbi_default"

#: NCBI's published limits, requests per second.
RATE_WITHOUT_KEY = 3.0
RATE_WITH_KEY = 10.0


@dataclass(frozen=True)
class NcbiSettings:
    base_url: str = DEFAULT_EUTILS_URL
    tool: str = DEFAULT_TOOL
    email: str | None = None
    api_key: str | None = None

    @property
    def allowed_rate(self) -> float:
        return RATE_WITH_KEY if self.api_key else RATE_WITHOUT_KEY

    def identity_params(self) -> dict[str, str]:
        params = {"tool": self.tool}
        if self.email:
            params["email"] = self.email
        if self.api_key:
            params["api_key"] = self.api_key
        return params

    def describe(self) -> dict[str, str | float | bool | None]:
        """Safe to log and to put in reports: the key is never shown."""
        return {
            "base_url": self.base_url,
            "tool": self.tool,
            "email": self.email,
            "api_key": bool(self.api_key),
            "allowed_rate_per_second": self.allowed_rate,
        }


def _from_connection() -> dict[str, str]:
    try:
        from airflow.sdk import Connection
    except Exception:  # Airflow not installed where the stage runs (a bare pod)
        return {}
    try:
        conn = Connection.get(CONNECTION_ID)
    except Exception:
        return {}
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


def load_ncbi_settings(*, use_connection: bool | None = None) -> NcbiSettings:
    """Environment first; the Airflow connection only when no base URL is set in the environment."""
    if use_connection is None:
        use_connection = not os.environ.get("NCBI_EUTILS_URL")
    values = _from_connection() if use_connection else {}
    env = {
        "base_url": os.environ.get("NCBI_EUTILS_URL"),
        "email": os.environ.get("NCBI_EMAIL"),
        "tool": os.environ.get("NCBI_TOOL"),
        "api_key": os.environ.get("NCBI_API_KEY"),
    }
    values.update({k: v for k, v in env.items() if v})
    if "base_url" in values:
        values["base_url"] = values["base_url"].rstrip("/")
    settings = NcbiSettings(**values)
    if settings.base_url == DEFAULT_EUTILS_URL and not settings.email:
        log.warning("NCBI_EMAIL is not set: NCBI asks every E-utilities client for a contact email")
    return settings
