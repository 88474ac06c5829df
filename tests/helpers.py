"""What several test modules share (test modules never import each other): paths, the CLI
as a subprocess, picture comparison, task-run states, and a Prefect server's life."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
VIDPIPE = str(Path(sys.executable).with_name("vidpipe"))
#: small, fast job settings for end-to-end runs on 2 cores
SMALL = dict(target="none", scale=2, segment_seconds=0.5, preset="ultrafast")
#: the same on the command line (one segment per short clip)
ARGS = ["--target", "none", "--scale", "2", "--segment-seconds", "10", "--preset", "ultrafast", "--no-sample"]


def psnr(a, b) -> float:
    import numpy as np

    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def frame_hashes(path: Path) -> list[str]:
    """sha256 of each decoded frame of ``path``."""
    import hashlib

    from vidpipe.media.reader import read_frames

    return [hashlib.sha256(f.tobytes()).hexdigest() for f in read_frames(path)]


def remux(src: Path, dst: Path) -> Path:
    """``src``'s video and audio copied packet for packet into the container ``dst``'s suffix names (a
    stream-copy remux: ``.ts``, ``.mkv``...)."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        streams = [s for s in i.streams if s.type in ("video", "audio")]
        to = {s.index: o.add_stream_from_template(s) for s in streams}
        for packet in i.demux(streams):
            if packet.dts is not None:
                packet.stream = to[packet.stream.index]
                o.mux(packet)
    return dst


def run(home: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``vidpipe ARGS`` in a process of its own, with ``home`` as its VIDPIPE_HOME and working folder."""
    environ = cli_env(home, seeded=args[:1] == ("run",), **(env or {}))  # only run starts Prefect
    return subprocess.run([VIDPIPE, *args], env=environ, capture_output=True, text=True, timeout=timeout, cwd=home)


def cli_env(home: Path, seeded: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a vidpipe process whose VIDPIPE_HOME is ``home`` (none of the test process's
    PREFECT_ settings), ``home`` given a ready Prefect database first (:func:`seed`) unless not ``seeded``."""
    if seeded:
        seed(home)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environ.update(VIDPIPE_HOME=str(home), VIDPIPE_LOG_DIR=str(home / "logs"), **extra)
    return environ


_TEMPLATE: list[Path] = []


def seed(home: Path) -> None:
    """A new ``home`` gets a copy of the embedded Prefect database of one made before in this session
    (migrated, block types registered): a first start in a new home spends about 6 s of a tiny run's 18 s
    there. The template is made by a real start of the embedded server; a home that has a database keeps it."""
    target = home / "prefect"
    if (target / "prefect.db").exists():
        return
    if not _TEMPLATE:
        import atexit
        import tempfile

        base = Path(tempfile.mkdtemp(prefix="vidpipe-home-template-"))
        atexit.register(shutil.rmtree, base, True)
        environ = cli_env(base, seeded=False)
        code = "from tasks.environment import prepare_prefect_env as p, start_embedded_server as s; p(); s()"
        made = subprocess.run(
            [sys.executable, "-c", code], env=environ, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert made.returncode == 0 and (base / "prefect" / "prefect.db").exists(), made.stderr[-3000:]
        _TEMPLATE.append(base / "prefect")
    shutil.copytree(_TEMPLATE[0], target, dirs_exist_ok=True)


def no_traceback(result: subprocess.CompletedProcess) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "╭" not in text, text[-3000:]


def task_states(flow_state) -> dict[str, str]:
    """Task-run name -> state name for one flow run, read back from the API."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run_id = flow_state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        for _ in range(100):
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            if runs and all(r.state is not None and r.state.is_final() for r in runs):
                break
            time.sleep(0.2)
    return {r.name: r.state.name for r in runs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"no answer from {url} in {seconds} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def client(url: str):
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(url, httpx_settings={"timeout": 60})
