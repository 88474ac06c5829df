"""``vidpipe server``, ``vidpipe deploy`` and ``vidpipe worker``: the environment each
needs, and the idempotent set-up of pool, GPU limit and deployments."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidpipe.errors import ConfigError
from vidpipe.paths import home

ROOT = Path(__file__).resolve().parents[1]
PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
POOL = "rtx3060"
GPU_LIMIT = "gpu-rtx3060"
GPU_SLOTS = 2
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"
DEPLOYMENTS = ("enhance-video/enhance-video", "enhance-folder/enhance-folder")


def prefect_cli() -> str:
    return str(Path(sys.executable).with_name("prefect"))


def server_env(host: str, port: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """A server with its own home (never the embedded default's SQLite file), leases on
    disk so a restart does not leak GPU slots, short slot-wait polling, and a UI that
    talks to this server's API (not the default port's)."""
    env = dict(os.environ if base is None else base)
    public = socket.gethostname() if host in ("0.0.0.0", "::") else host
    env.setdefault("PREFECT_UI_API_URL", f"http://{public}:{port}/api")
    env.pop("PREFECT_API_URL", None)
    env.setdefault("PREFECT_HOME", str(home() / "server"))
    env["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] = LEASE_STORAGE
    env.setdefault("PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS", "5")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    env.pop("PREFECT_SERVER_EPHEMERAL_ENABLED", None)
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def server_command(host: str, port: int) -> list[str]:
    return [prefect_cli(), "server", "start", "--host", host, "--port", str(port)]


def worker_env(gpu_limit: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """Flow runs inherit the worker's environment: the GPU limit of this machine and
    absolute paths for the work folder and the task result records."""
    env = dict(os.environ if base is None else base)
    require_api(env)
    env["VIDPIPE_GPU_LIMIT"] = gpu_limit
    env.setdefault("VIDPIPE_HOME", str(home()))
    env.setdefault("PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(home() / "prefect" / "storage"))
    return env


def worker_command(pool: str, limit: int, name: str | None = None) -> list[str]:
    name = name or f"{pool}-{socket.gethostname()}"
    return [prefect_cli(), "worker", "start", "--pool", pool, "--name", name, "--limit", str(limit)]


def task_worker_command(slots: int) -> list[str]:
    """This machine's task worker for spread segments (``tasks.spread``), ``slots`` at a time."""
    return [sys.executable, "-c", f"from tasks.spread import serve; serve({int(slots)})"]


def require_api(env: dict[str, str] | None = None) -> str:
    url = (env or os.environ).get("PREFECT_API_URL", "")
    if not url:
        raise ConfigError(
            "PREFECT_API_URL is not set: start a server (vidpipe server) and "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    return url


@contextmanager
def api_client() -> Iterator:
    """A client of the server at ``PREFECT_API_URL``, which answers (else one line)."""
    url = require_api()
    from prefect import get_client

    with get_client(sync_client=True) as client:
        if client.api_healthcheck() is not None:
            raise ConfigError(f"the Prefect server at {url} does not answer: is `vidpipe server` running?")
        yield client


def deploy(pool: str = POOL, gpu_limit: str = GPU_LIMIT, slots: int = GPU_SLOTS) -> list[str]:
    """Create the work pool (if missing), the GPU limit (or set its slots) and the
    deployments (updated in place when they exist). Returns the deployment names."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with api_client() as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(WorkPoolCreate(name=pool, type="process", base_job_template=template))
        client.upsert_global_concurrency_limit_by_name(gpu_limit, limit=slots)
    env = dict(os.environ, VIDPIPE_PROJECT_DIR=str(ROOT))
    cmd = [prefect_cli(), "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE)]
    if pool != POOL:
        cmd += ["--pool", pool]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise ConfigError("prefect deploy failed:\n" + "\n".join(tail))
    return list(DEPLOYMENTS)


def start_run(video: Path, out: Path, deployment: str | None) -> str:
    """Start enhance-video for ``video``: on the server's deployment (returns at once)
    or, without a server, here (returns when done). Returns one line to print."""
    from vidpipe.config import VideoJob

    job = VideoJob(input=str(video.resolve()), output_dir=str(out.resolve()))
    if deployment:
        from prefect.deployments import run_deployment

        run = run_deployment(deployment, parameters={"job": job.model_dump()}, timeout=0)
        return f"{video}: started flow run {run.name} ({run.id})"
    from flows.enhance_video import enhance_video

    state = enhance_video(job, return_state=True)
    return f"{video}: {state.name} {state.message or ''}".rstrip()
