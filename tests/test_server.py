"""Production, for real: `vidpipe server` on a free loopback port with its own home,
`vidpipe deploy`, a `vidpipe worker` on the rtx3060 pool, an enhance-video run
triggered through the API with an upload to S3 (moto's server on loopback), and the
deployment's run form in the Prefect UI, opened in headless Chromium."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import IN_CI, ROOT, VIDPIPE
from helpers import client as _client
from helpers import free_port as _free_port
from helpers import stop as _stop
from helpers import wait_healthy as _wait_healthy

pytestmark = pytest.mark.slow  # a Prefect server, workers and a browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory, s3_endpoint):
    """(api_url, env for clients): a real Prefect server, deployed, with one worker."""
    base = tmp_path_factory.mktemp("server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        VIDPIPE_HOME=str(base / "home"),
        PREFECT_HOME=str(base / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",  # no sweep of the checkout's downloads/ from the schedule
        PREFECT_LOGGING_TO_API_BATCH_INTERVAL="0.5",
    )
    procs = []
    server_log = base / "server.log"
    with server_log.open("w") as log:
        procs.append(
            subprocess.Popen(
                [VIDPIPE, "server", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        _wait_healthy(url, procs[0], server_log)
        env["PREFECT_API_URL"] = url
        deployed = subprocess.run([VIDPIPE, "deploy"], env=env, capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "vidpipe worker" in deployed.stderr  # tells the user what to start next
        worker_log = base / "worker.log"
        with worker_log.open("w") as log:
            procs.append(
                subprocess.Popen(
                    [VIDPIPE, "worker", "--name", "test-worker"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=ROOT,
                )
            )
        yield url, env, base
    finally:
        for p in reversed(procs):
            _stop(p)


@pytest.fixture(scope="module")
def killed_holder(server):
    """SIGKILL a process inside the GPU section (a 60 s lease, Prefect's minimum); returns when it was
    killed. Taken by the module's first test and checked by its last, so the lease runs out while the
    others run."""
    url, env, _ = server
    holder = (
        "from prefect.concurrency.sync import concurrency\n"
        "import time\n"
        "with concurrency('gpu-rtx3060', occupy=1, strict=True, lease_duration=60):\n"
        "    print('inside', flush=True)\n"
        "    time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout.readline().strip() == "inside"
        with _client(url) as client:
            assert client.read_global_concurrency_limit_by_name("gpu-rtx3060").active_slots == 1
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return time.monotonic()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_gpu_step_killed_inside_keeps_its_slot_until_the_lease_expires(server, killed_holder):
    with _client(server[0]) as client:
        assert client.read_global_concurrency_limit_by_name("gpu-rtx3060").active_slots == 1


def test_api_run_on_the_worker_uploads_and_reports(server, s3_endpoint, clip):
    import boto3

    url, env, base = server
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="finished")
    src = clip(width=64, height=36, frames=24, fps=24)
    out = base / "final_output"
    job = dict(
        input=str(src),
        output_dir=str(out),
        target="none",
        scale=2,
        segment_seconds=0.5,
        preset="ultrafast",
        upload="s3://finished/dance",
        s3_endpoint_url=s3_endpoint,
    )  # the 0.1 name of upload_endpoint_url: API scripts keep working

    with _client(url) as client:
        deployment = client.read_deployment_by_name("enhance-video/enhance-video")
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"job": job})
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            run = client.read_flow_run(run.id)
            if run.state and run.state.is_final():
                break
            time.sleep(1)
        worker_log = (base / "worker.log").read_text()[-4000:]
        assert run.state and run.state.is_completed(), f"{run.state}\n{worker_log}"

        final = out / f"{src.stem}_final.mp4"
        head = s3.head_object(Bucket="finished", Key=f"dance/{final.name}")
        assert head["Metadata"]["sha256"] == hashlib.sha256(final.read_bytes()).hexdigest()
        assert (out / f"{src.stem}_compare.jpg").stat().st_size > 0

        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        arts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
        kinds = {a.type: a for a in arts}
        assert {"markdown", "progress"} <= set(kinds), [a.type for a in arts]
        text = kinds["markdown"].data
        for needle in ("| upscale |", "| join |", "| upload |", "frames/s", "peak GPU MB", str(final), "presigned"):
            assert needle in text, needle
        assert float(kinds["progress"].data) == pytest.approx(100)

        limit = client.read_global_concurrency_limit_by_name("gpu-rtx3060")
        assert limit.limit == 2 and limit.active_slots <= 1  # the run holds none (the killed holder's may be held)
        pool = client.read_work_pool("rtx3060")
        assert pool.type == "process"
        folder = client.read_deployment_by_name("enhance-folder/enhance-folder")
        assert [s.schedule.interval.total_seconds() for s in folder.schedules] == [600]

    again = subprocess.run([VIDPIPE, "deploy"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr  # idempotent


def test_api_example_waits_and_prints_the_report(server, clip):
    url, env, base = server
    src = clip(width=48, height=32, frames=12, fps=12)
    out = base / "example_output"
    cmd = [
        sys.executable,
        str(ROOT / "examples" / "run_deployment.py"),
        str(src),
        "--target",
        "none",
        "--out",
        str(out),
        "--timeout",
        "300",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Completed" in done.stdout and "| join |" in done.stdout
    assert (out / f"{src.stem}_final.mp4").exists()


def test_deploy_without_a_server_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_URL")}
    done = subprocess.run([VIDPIPE, "deploy"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert "PREFECT_API_URL is not set" in done.stderr and "Traceback" not in done.stderr


def test_ui_run_form_shows_the_job_fields(server, tmp_path):
    if not Path(CHROMIUM).exists():
        msg = f"{CHROMIUM} is missing (make test installs Debian's chromium)"
        pytest.fail(msg) if IN_CI else pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    url, _, _ = server
    with _client(url) as client:
        deployment = client.read_deployment_by_name("enhance-video/enhance-video")
    page_url = url.removesuffix("/api") + f"/deployments/deployment/{deployment.id}/run"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2400})
            page.goto(page_url, wait_until="networkidle", timeout=90_000)
            for title in ("Input video", "Background", "Target size", "Upload to", "Restore faces", "Export alpha"):
                label = re.compile(rf"^{re.escape(title)}( \(Optional\))?$")  # the form's field titles
                page.get_by_text(label).first.wait_for(timeout=60_000)
            first = page.get_by_text(re.compile(r"^(Input video|Target size)")).first.inner_text()
            assert first.startswith("Input video")  # where the video is comes first
            page.screenshot(path=str(tmp_path / "enhance-video-run-form.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "enhance-video-run-form.png").stat().st_size > 10_000


def test_a_killed_gpu_step_gives_its_slot_back_when_the_lease_expires(server, killed_holder):
    """The slot the killed holder took comes back by itself once its lease expires and the server's
    repossessor runs. No manual reset."""
    with _client(server[0]) as client:
        while client.read_global_concurrency_limit_by_name("gpu-rtx3060").active_slots != 0:
            assert time.monotonic() - killed_holder < 240, "the killed holder's slot never came back"
            time.sleep(2)
    print(f"slot back {time.monotonic() - killed_holder:.0f} s after the kill")
