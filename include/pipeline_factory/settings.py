"""Where the project finds its configuration and keeps its data.

Every path the code uses is resolved here (the ledger database's URL by its
owner, :mod:`pipeline_factory.stores.ledger_db`), from environment
variables with embedded defaults, so that a laptop, CI, a container and a pod
differ only in their environment.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout root (``include/pipeline_factory/settings.py`` -> three levels up).
PROJECT_ROOT = Path(__file__).resolve().parents[2]

RUNTIME_PROFILES = ("local", "docker", "kubernetes")


def config_dir() -> Path:
    """The folder holding ``pipelines/``, ``policies.yaml`` and ``runtime.yaml``."""
    return Path(os.environ.get("PIPELINE_FACTORY_CONFIG") or PROJECT_ROOT / "config").resolve()


def pipelines_dir() -> Path:
    return config_dir() / "pipelines"


def data_dir() -> Path:
    """Embedded stores, run workspaces and reports live here."""
    path = Path(os.environ.get("PIPELINE_DATA_DIR") or PROJECT_ROOT / ".data").resolve()
    return path


def runtime_profile() -> str:
    profile = os.environ.get("PIPELINE_RUNTIME", "local").strip() or "local"
    if profile not in RUNTIME_PROFILES:
        from pipeline_factory.exceptions import ConfigError

        raise ConfigError(
            f"PIPELINE_RUNTIME={profile!r} is not a runtime profile; expected one of {', '.join(RUNTIME_PROFILES)}"
        )
    return profile


def reports_dir() -> Path:
    return data_dir() / "reports"
