"""The environment Prefect needs for the embedded default, set before ``import prefect``:
its home, database and task records under ``$VIDPIPE_HOME``, the ephemeral API, no
analytics. Values the user already set win, so a real server (``PREFECT_API_URL``) or
another ``PREFECT_HOME`` still works."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
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


def start_embedded_server() -> None:
    """Start Prefect's ephemeral API now, in a session of its own, so a terminal's Ctrl-C
    (sent to the whole foreground process group) reaches vidpipe only: vidpipe winds
    down while the API still answers, and Prefect stops the server at exit. The server
    also gets PR_SET_PDEATHSIG, so it dies with vidpipe even when vidpipe is killed.
    Prefect's later calls find this running instance (one per process). Nothing to do
    with a real server (PREFECT_API_URL)."""
    if os.environ.get("PREFECT_API_URL"):
        return
    from tasks.prefect_compat import start_ephemeral_server

    real = subprocess.Popen

    def popen(*args, **kwargs):
        kwargs.setdefault("start_new_session", True)
        kwargs.setdefault("preexec_fn", _die_with_parent)
        return real(*args, **kwargs)

    subprocess.Popen = popen  # only while the server process is spawned
    try:
        start_ephemeral_server()
    finally:
        subprocess.Popen = real


def _prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not after fork
    except (OSError, AttributeError):
        return None  # not Linux: the server is still stopped at exit


_PRCTL = _prctl()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it ends."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
