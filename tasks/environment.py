"""The environment Prefect needs for the embedded default, set before ``import prefect``:
its home, database and task records under ``$VIDPIPE_HOME``, the ephemeral API, no
analytics. Values the user already set win, so a real server (``PREFECT_API_URL``) or
another ``PREFECT_HOME`` still works."""

from __future__ import annotations

import os
from pathlib import Path

from vidpipe.paths import home


def prefect_home() -> Path:
    return home() / "prefect"


def results_dir() -> Path:
    """Prefect's persisted task results (cache records); file name = cache key."""
    return prefect_home() / "storage"


def prepare_prefect_env() -> None:
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
