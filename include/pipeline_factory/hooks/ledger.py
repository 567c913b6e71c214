"""The ledger database as an Airflow connection.

``PIPELINE_LEDGER_URL`` wins (every process of a deployment sees the same
ledger, pods included); otherwise the Airflow connection ``pipeline_ledger``
(any SQLAlchemy URL; ``postgres://`` is read as psycopg2); otherwise the
SQLite default of :func:`pipeline_factory.stores.ledger_db.database_url`.
The hook hands the URL on explicitly: it never writes the environment.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from pipeline_factory.stores.ledger import Ledger

log = logging.getLogger(__name__)

POSTGRES_DRIVER = "postgresql+psycopg2://"


class LedgerHook(BaseHook):
    """Resolves the ledger's URL from the environment or an Airflow connection and opens the ledger."""

    conn_name_attr = "ledger_conn_id"
    default_conn_name = "pipeline_ledger"
    conn_type = "generic"
    hook_name = "Pipeline ledger"

    def __init__(self, ledger_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger_conn_id = ledger_conn_id

    def get_url(self) -> str | None:
        """The ledger URL, or None when neither the environment nor the connection names one."""
        url = os.environ.get("PIPELINE_LEDGER_URL")
        if url:
            return url
        try:
            connection = self.get_connection(self.ledger_conn_id)
        except Exception:  # no such connection: the ledger's own default applies
            return None
        return with_driver(connection.get_uri())

    def get_ledger(self) -> Ledger:
        """The process's shared ledger for this URL (opened, and migrated, on first use)."""
        from pipeline_factory.stores import ledger_db

        return ledger_db.shared_ledger(self.get_url())


def with_driver(url: str) -> str:
    """An Airflow connection URI as a SQLAlchemy URL (``postgres://`` -> psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return POSTGRES_DRIVER + url[len(prefix) :]
    return url
