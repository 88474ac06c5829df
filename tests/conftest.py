"""Test set-up: an isolated work folder and Prefect home for the whole session (set
before anything imports Prefect), one session-wide Prefect test harness for the
flow tests, real media from ../shared/media and generated clips."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="vidpipe-test-"))
_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights"
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
        "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS": "1",  # GPU-limit waiters poll often
        "DO_NOT_TRACK": "1",
        # tests look in ../shared/weights first, then the user's own folders
        "VIDPIPE_MODELS_DIR": os.pathsep.join(
            p for p in (str(_WEIGHTS), os.environ.get("VIDPIPE_MODELS_DIR", "")) if p
        ),
        "XDG_CACHE_HOME": str(_TMP / "cache"),  # never download into the user's cache
    }
)

import pytest  # noqa: E402
from helpers import IN_CI, ROOT  # noqa: E402

SHARED = ROOT.parent / "shared"


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
def weights():
    """``weights(file)`` -> path of a real weight file in ../shared/weights."""
    return lambda name: _require(SHARED / "weights" / name)


@pytest.fixture(scope="session")
def random_gfpgan(tmp_path_factory):
    """A GFPGAN (v1 clean) network of the real architecture with random weights,
    saved as a .pth, so the loading path is the real one."""
    import torch
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    net = GFPGAN(
        out_size=512,
        num_style_feat=512,
        channel_multiplier=2,
        decoder_load_path=None,
        fix_decoder=False,
        num_mlp=8,
        input_is_latent=True,
        different_w=True,
        narrow=1,
        sft_half=True,
    )
    path = tmp_path_factory.mktemp("gfpgan") / "gfpgan_random.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    return path


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


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API (moto's server) on a free loopback port, with throwaway
    credentials in the environment for this process and its children."""
    from moto.server import ThreadedMotoServer

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "vidpipe-test",
            "AWS_SECRET_ACCESS_KEY": "vidpipe-test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, request):
    """A fresh bucket on the loopback S3 server; yields (name, boto3 client)."""
    import re

    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    client.create_bucket(Bucket=name)
    return name, client


@pytest.fixture
def dance(clip, tmp_path):
    """A 96x54, 24-frame clip with audio, at in/dance.mp4."""
    src = tmp_path / "in" / "dance.mp4"
    src.parent.mkdir()
    src.write_bytes(clip(width=96, height=54, frames=24, fps=24).read_bytes())
    return src
