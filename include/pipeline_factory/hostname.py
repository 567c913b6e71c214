"""The host name a worker reports for the tasks it runs.

Airflow records ``socket.getfqdn()`` on every task instance, so several Celery
workers on one machine (``make run EXECUTOR=celery``, the e2e tier) would all
look alike in the UI and the API.  Pointing ``[core] hostname_callable`` at
:func:`worker_hostname` and giving each worker ``PIPELINE_WORKER_NAME`` keeps
them apart; without the variable it is the usual fully qualified name.
"""

from __future__ import annotations

import os
import socket

__all__ = ["worker_hostname"]


def worker_hostname() -> str:
    """``$PIPELINE_WORKER_NAME`` when set, else the machine's fully qualified name."""
    return os.environ.get("PIPELINE_WORKER_NAME") or socket.getfqdn()
