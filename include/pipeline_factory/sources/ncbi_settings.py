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
    """The Airflow connection's values through :class:`~pipeline_factory.hooks.ncbi.NcbiHook`, where Airflow is."""
    try:
        from pipeline_factory.hooks.ncbi import NcbiHook
    except ImportError:  # Airflow not installed where the stage runs (a bare pod)
        return {}
    try:
        return NcbiHook(CONNECTION_ID).settings_values()
    except Exception:  # no such connection
        return {}


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
