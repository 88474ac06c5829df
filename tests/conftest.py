"""Test set-up: an isolated work folder and Prefect home for the whole session (set
before anything imports Prefect), one session-wide Prefect test harness for the
flow tests, real media from ../shared/media and generated clips."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="vidpipe-test-"))
os.environ.pop("PREFECT_API_URL", None)
os.environ.update(
    {
        "VIDPIPE_HOME": str(_TMP / "home"),
        "VIDPIPE_LOG_DIR": str(_TMP / "logs"),
        "PREFECT_HOME": str(_TMP / "prefect"),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(_TMP / "prefect" / "storage"),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
)

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _require(path: Path) -> Path:
    """Shared media/weights must exist in CI (fail); locally a missing file skips."""
    if not path.exists():
        msg = f"{path} is missing (tests read real media and weights from ../shared)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def media():
    """``media(name)`` -> path of a real clip in ../shared/media."""
    return lambda name: _require(SHARED / "media" / name)


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """``clip(**kwargs)`` -> a generated clip (cached per arguments for the session)."""
    from vidpipe.media.synth import make_clip

    folder = tmp_path_factory.mktemp("clips")
    made: dict[tuple, Path] = {}

    def make(name: str = "clip", suffix: str = ".mp4", **kwargs) -> Path:
        key = (name, suffix, tuple(sorted(kwargs.items())))
        if key not in made:
            made[key] = make_clip(folder / f"{name}-{len(made)}{suffix}", **kwargs)
        return made[key]

    return make


@pytest.fixture(scope="session")
def prefect_api():
    """One Prefect API server for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def psnr(a, b) -> float:
    import numpy as np

    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
