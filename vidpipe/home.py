"""Where vidpipe keeps its working files, and the environment Prefect needs for the
embedded default. Plain Python: sets environment variables, imports nothing heavy."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The project work folder: ``$VIDPIPE_HOME`` or ``./.vidpipe``."""
    return Path(os.environ.get("VIDPIPE_HOME", ".vidpipe")).resolve()


def work_dir() -> Path:
    """Per-step intermediate files live below this folder."""
    return home() / "work"


def prefect_home() -> Path:
    return home() / "prefect"


def results_dir() -> Path:
    """Prefect's persisted task results (cache records); file name = cache key."""
    return prefect_home() / "storage"


def logs_dir() -> Path:
    return Path(os.environ.get("VIDPIPE_LOG_DIR", "logs")).resolve()


def prepare_prefect_env() -> None:
    """Point Prefect at the project folder and enable the embedded (ephemeral) API.

    Must run before ``import prefect``. Values the user already set win, so a real
    server (``PREFECT_API_URL``) or another ``PREFECT_HOME`` still works.
    """
    defaults = {
        "PREFECT_HOME": str(prefect_home()),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(results_dir()),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
