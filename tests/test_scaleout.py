"""Several machines, for real: a Prefect server on a real Postgres (Debian's postgresql,
started here on a loopback port with its own data folder), `vidpipe deploy`, and two
`vidpipe worker`s that stand for two machines: each its own home, its own GPU limit
(`gpu-a`, `gpu-b`, 2 slots), the same rtx3060 pool. A batch started through the API is
shared between them, each video done once, neither machine over its limit."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import IN_CI, ROOT, VIDPIPE, frame_hashes
from helpers import client as _client
from helpers import free_port as _free_port
from helpers import stop as _stop
from helpers import wait_healthy as _wait_healthy

from vidpipe.media.probe import probe
from vidpipe.media.synth import make_clip

pytestmark = pytest.mark.slow  # Postgres, a server and several workers


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        msg = "Debian's postgresql is missing (make test installs it)"
        pytest.fail(msg) if IN_CI else pytest.skip(msg)
    return found[-1].parent


@pytest.fixture(scope="module")
def postgres():
    """A SQLAlchemy URL of a fresh Postgres database on a free loopback port."""
    bin_dir = _postgres_bin()
    data = Path(tempfile.mkdtemp(prefix="vidpipe-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # Postgres refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(data, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def pg(tool: str, *args: str) -> None:
        done = subprocess.run([*as_postgres, str(bin_dir / tool), *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    pg("initdb", "-D", str(data / "db"), "-A", "trust", "-U", "vidpipe", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    pg("pg_ctl", "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-t", "60", "-o", options, "start")
    try:
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "vidpipe", "prefect")
        yield f"postgresql+asyncpg://vidpipe@127.0.0.1:{port}/prefect"
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(autouse=True)
def _machines_stop_after_each_test(request):
    """Every worker a test started is stopped when it ends, passed or failed: a machine left running would take
    the next test's runs (seen: a failed test's two workers took the next one's video into their own homes)."""
    yield
    if "farm" in request.fixturenames:
        procs = request.getfixturevalue("farm").procs
        for name in [n for n in procs if n != "server"]:
            _stop(procs.pop(name))


@pytest.fixture(scope="module")
def farm(tmp_path_factory, postgres):
    """A server on Postgres, deployed; ``start(machine)`` starts that machine's worker."""
    base = tmp_path_factory.mktemp("farm")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIDPIPE_HOME"))}
    env.update(
        VIDPIPE_HOME=str(base / "server-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PREFECT_LOGGING_TO_API_BATCH_INTERVAL="0.5",
        PREFECT_WORKER_QUERY_SECONDS="2",
    )
    procs: dict[str, subprocess.Popen] = {}
    log = base / "server.log"
    with log.open("w") as f:
        procs["server"] = subprocess.Popen(
            [VIDPIPE, "server", "--port", str(port), "--database-url", postgres],
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(url, procs["server"], log, seconds=300)
        assert "database: postgres" in log.read_text(), log.read_text()[-2000:]
        env["PREFECT_API_URL"] = url
        deployed = subprocess.run([VIDPIPE, "deploy"], env=env, capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr

        def start(
            machine: str, limit: str | None = None, home: Path | None = None, spread: bool = False
        ) -> subprocess.Popen:
            # the machine's name reaches vidpipe only as --machine: the worker hands it to what it starts (stats,
            # claims, report); the test finds a machine's processes by a variable of its own
            machine_env = dict(
                env, VIDPIPE_HOME=str(home or base / machine), VIDPIPE_LIMIT_CPU_MODELS="1", TEST_MACHINE=machine
            )
            args = ["--spread"] if spread else []
            with (base / f"worker-{machine}.log").open("a") as f:
                procs[machine] = subprocess.Popen(
                    [
                        VIDPIPE,
                        "worker",
                        "--machine",
                        machine,
                        "--gpu-limit",
                        limit or f"gpu-{machine}",
                        "--limit",
                        "2",
                        *args,
                    ],
                    env=machine_env,
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    cwd=ROOT,
                )
            return procs[machine]

        yield SimpleNamespace(url=url, env=env, base=base, start=start, procs=procs, database=postgres)
    finally:
        for _name, p in reversed(list(procs.items())):
            _stop(p)


def _online(url: str, *names: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    with _client(url) as client:
        while time.monotonic() < deadline:
            up = {w.name for w in client.read_workers_for_work_pool("rtx3060") if str(w.status).endswith("ONLINE")}
            if set(names) <= up:
                return
            time.sleep(1)
    pytest.fail(f"workers {names} never came online")


class Sampler(threading.Thread):
    """The active slots of each machine's limit, read from the server every 0.2 s."""

    def __init__(self, url: str, limits: list[str]):
        super().__init__(daemon=True)
        self.url, self.limits = url, limits
        self.most = dict.fromkeys(limits, 0)
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with _client(self.url) as client:
            while not self.stop.is_set():
                for name in self.limits:
                    active = client.read_global_concurrency_limit_by_name(name).active_slots
                    self.most[name] = max(self.most[name], active)
                self.samples += 1
                time.sleep(0.2)


def _sources(home: Path) -> set[str]:
    return {p.read_text().strip() for p in (home / "work").glob("*/source.txt")}


def test_two_machines_on_postgres_share_a_batch_each_within_its_limit(farm, tmp_path):
    farm.start("a")
    farm.start("b")
    _online(farm.url, "rtx3060-a", "rtx3060-b")
    # a restart of a machine's worker changes nothing (same name, same limit: not a conflict with itself)
    _stop(farm.procs["b"])
    farm.start("b")
    # a machine started with a limit another live machine holds: one line, before any work
    clash = subprocess.run(
        [VIDPIPE, "worker", "--machine", "c", "--gpu-limit", "gpu-a"],
        cwd=ROOT,
        env=dict(farm.env, VIDPIPE_HOME=str(farm.base / "c")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clash.returncode == 1 and "GPU limit gpu-a is already machine a's" in clash.stderr, clash.stderr
    assert "Traceback" not in clash.stderr and len(clash.stderr.strip().splitlines()) == 1, clash.stderr
    _online(farm.url, "rtx3060-a", "rtx3060-b")

    videos = [make_clip(tmp_path / f"v{i}.mp4", 64, 36, frames=12 + 6 * i, fps=12) for i in range(4)]
    out = tmp_path / "out"
    sampler = Sampler(farm.url, ["gpu-a", "gpu-b"])
    sampler.start()
    with _client(farm.url) as client:
        deployment = client.read_deployment_by_name("enhance-video/enhance-video")
        runs = [
            client.create_flow_run_from_deployment(
                deployment.id,
                parameters={
                    "job": dict(
                        input=str(v),
                        output_dir=str(out),
                        target="none",
                        scale=2,
                        segment_seconds=0.5,
                        preset="ultrafast",
                    )
                },
            )
            for v in videos
        ]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = [client.read_flow_run(r.id) for r in runs]
            if all(r.state and r.state.is_final() for r in runs):
                break
            time.sleep(1)
        sampler.stop.set()
        sampler.join()
        logs = {m: (farm.base / f"worker-{m}.log").read_text()[-3000:] for m in ("a", "b")}
        assert all(r.state.is_completed() for r in runs), ([r.state for r in runs], logs)
        final = {n: client.read_global_concurrency_limit_by_name(n).active_slots for n in ("gpu-a", "gpu-b")}
        assert final == {"gpu-a": 0, "gpu-b": 0}
    for i, v in enumerate(videos):
        assert probe(out / f"{v.stem}_final.mp4").frame_count == 12 + 6 * i
    done_on = {m: _sources(farm.base / m) for m in ("a", "b")}
    assert done_on["a"] and done_on["b"], done_on  # both machines worked
    assert not done_on["a"] & done_on["b"]  # each video once
    assert done_on["a"] | done_on["b"] == {str(v.resolve()) for v in videos}
    print(
        f"most slots held {sampler.most} in {sampler.samples} samples; videos on a: {len(done_on['a'])}, "
        f"on b: {len(done_on['b'])}"
    )
    assert sampler.samples > 10
    assert all(1 <= most <= 2 for most in sampler.most.values()), sampler.most  # slots taken, never over

    # the records are in Postgres: the server's flow runs are rows there
    import asyncio

    import asyncpg

    async def count() -> int:
        conn = await asyncpg.connect("postgresql://" + farm.database.split("://", 1)[1])
        try:
            return await conn.fetchval("select count(*) from flow_run where deployment_id = $1", deployment.id)
        finally:
            await conn.close()

    assert asyncio.run(count()) == 4

    # deploying again changes nothing: the same deployments, limits and pool
    with _client(farm.url) as client:
        before = {d.name: d.id for d in client.read_deployments()}
    again = subprocess.run([VIDPIPE, "deploy"], env=farm.env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    with _client(farm.url) as client:
        assert {d.name: d.id for d in client.read_deployments()} == before
        assert client.read_global_concurrency_limit_by_name("gpu-a").limit == 2


def _machine_processes(machine: str) -> list[int]:
    """Every process started for ``machine`` (the worker, Prefect's worker, its flow runs)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"TEST_MACHINE={machine}".encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_a_machine_dies_mid_video_and_another_finishes_it_from_the_shared_work(farm, tmp_path):
    """Both machines' VIDPIPE_HOME is one shared folder (intermediates, task records,
    locks). Machine c dies (every process SIGKILLed) with some segments done; the video
    started again runs on d, reuses c's finished segments and gives the frames of an
    uninterrupted run."""
    shared = tmp_path / "shared-home"
    video = make_clip(tmp_path / "long.mp4", 96, 64, frames=96, fps=24)
    job = dict(
        input=str(video),
        output_dir=str(tmp_path / "out"),
        target="none",
        scale=2,
        segment_seconds=0.5,
        preset="ultrafast",
    )
    farm.start("c", home=shared)
    _online(farm.url, "rtx3060-c")
    stats = lambda: sorted((shared / "work").glob("*/upscale/*.stats.json"))  # noqa: E731
    with _client(farm.url) as client:
        deployment = client.read_deployment_by_name("enhance-video/enhance-video")
        first = client.create_flow_run_from_deployment(deployment.id, parameters={"job": job})
        deadline = time.monotonic() + 300
        while len(stats()) < 2:
            assert time.monotonic() < deadline, (farm.base / "worker-c.log").read_text()[-3000:]
            time.sleep(0.1)
        for pid in _machine_processes("c"):
            os.kill(pid, signal.SIGKILL)
        farm.procs.pop("c").wait(timeout=30)
        finished = {p: p.stat().st_mtime_ns for p in stats()}
        assert 2 <= len(finished) < 8, "the video finished before the machine died: make it longer"
        assert not (tmp_path / "out" / "long_final.mp4").exists()
        assert not _machine_processes("c")

        farm.start("d", home=shared)
        _online(farm.url, "rtx3060-d")
        again = client.create_flow_run_from_deployment(deployment.id, parameters={"job": job})
        deadline = time.monotonic() + 600
        while not (again.state and again.state.is_final()):
            assert time.monotonic() < deadline, (farm.base / "worker-d.log").read_text()[-3000:]
            time.sleep(1)
            again = client.read_flow_run(again.id)
        assert again.state.is_completed(), (farm.base / "worker-d.log").read_text()[-3000:]
        assert client.read_flow_run(first.id).state.name != "Completed"
    for path, mtime in finished.items():  # c's finished segments were reused, not made again
        assert path.exists() and path.stat().st_mtime_ns == mtime, path
    assert len(stats()) == 8

    assert frame_hashes(tmp_path / "out" / "long_final.mp4") == frame_hashes(_alone(farm, tmp_path, video))


def _task_workers(url: str, count: int = 0, besides: set[str] = frozenset(), seconds: float = 120) -> set[str]:
    """The task workers the server sees taking segments; with ``count``, wait until
    that many are there that are not in ``besides`` (workers stopped a moment ago may
    still be listed)."""
    import httpx

    from tasks.spread import segment

    deadline = time.monotonic() + seconds
    while True:
        answer = httpx.post(
            f"{url}/task_workers/filter", timeout=10, json={"task_worker_filter": {"task_keys": [segment.task_key]}}
        )
        found = {w["identifier"] for w in answer.json()} if answer.status_code == 200 else set()
        if len(found - besides) >= count:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{count} task workers never came online")
        time.sleep(1)


def _alone(farm, tmp_path: Path, video: Path, *args: str) -> Path:
    """The same video made on one machine by `vidpipe run` (no server): the reference."""
    reference = tmp_path / "reference"
    alone = subprocess.run(
        [
            VIDPIPE,
            "run",
            str(video),
            "--out",
            str(reference),
            "--target",
            "none",
            "--scale",
            "2",
            "--segment-seconds",
            "0.5",
            "--preset",
            "ultrafast",
            "--no-sample",
            *args,
        ],
        env={
            **{k: v for k, v in farm.env.items() if not k.startswith("PREFECT_")},
            "VIDPIPE_HOME": str(tmp_path / "alone"),
        },
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert alone.returncode == 0, alone.stderr[-3000:]
    return reference / f"{video.stem}_final.mp4"


def _machine_of(flow_run) -> str:
    """The machine whose worker runs ``flow_run`` (its process's VIDPIPE_MACHINE)."""
    pid = int(str(flow_run.infrastructure_pid).rsplit(":", 1)[-1])
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"VIDPIPE_MACHINE="))


def test_one_video_spreads_over_both_machines_and_survives_one_dying(farm, tmp_path):
    """Machines e and f share one VIDPIPE_HOME and run `vidpipe worker --spread`. One video's
    upscale segments are made on both (matte stays in its flow run, in order); then the
    machine that does not run the flow dies while it makes a segment: that segment is
    queued again and made by the other, and the output has the frames of a single-machine run."""
    import json

    shared = tmp_path / "shared-home"
    video = make_clip(tmp_path / "spread.mp4", 96, 64, frames=144, fps=24)  # 12 segments
    job = dict(
        input=str(video),
        output_dir=str(tmp_path / "out"),
        target="none",
        scale=2,
        segment_seconds=0.5,
        preset="ultrafast",
        background="#00b140",
    )
    before = _task_workers(farm.url)
    farm.start("e", home=shared, spread=True)
    farm.start("f", home=shared, spread=True)
    _online(farm.url, "rtx3060-e", "rtx3060-f")
    _task_workers(farm.url, 2, before)

    def made_on():
        return {json.loads(p.read_text()).get("machine") for p in (shared / "work").glob("*/upscale/*.stats.json")}

    with _client(farm.url) as client:
        deployment = client.read_deployment_by_name("enhance-video/enhance-video")
        run = client.create_flow_run_from_deployment(deployment.id, parameters={"job": job})
        deadline = time.monotonic() + 300
        while not (run.state and run.state.is_running() and run.infrastructure_pid):
            assert time.monotonic() < deadline, "the flow run never started"
            time.sleep(0.5)
            run = client.read_flow_run(run.id)
        here = _machine_of(run)
        other = ({"e", "f"} - {here}).pop()
        claims = lambda: [json.loads(p.read_text()) for p in (shared / "spread").glob("*.json")]  # noqa: E731
        while not (other in made_on() and any(c["machine"] == other for c in claims())):
            assert time.monotonic() < deadline, (farm.base / f"worker-{other}.log").read_text()[-3000:]
            assert not client.read_flow_run(run.id).state.is_final(), "the video finished first: make it longer"
            time.sleep(0.1)
        assert here in made_on() or any(c["machine"] == here for c in claims())  # both machines at work
        for pid in _machine_processes(other):
            os.kill(pid, signal.SIGKILL)
        farm.procs.pop(other).wait(timeout=30)
        deadline = time.monotonic() + 600
        while not run.state.is_final():
            assert time.monotonic() < deadline, (farm.base / f"worker-{here}.log").read_text()[-3000:]
            time.sleep(1)
            run = client.read_flow_run(run.id)
        log = (farm.base / f"worker-{here}.log").read_text()
        assert run.state.is_completed(), log[-3000:]
        assert "stopped answering while it made this segment; queued again" in log, log[-3000:]
        assert "spread over 2 task workers" in log
        assert re.search(r" on e \(\d+\), f \(\d+\)", log), log[-3000:]  # the report names each --machine
    assert made_on() == {"e", "f"}
    assert len(list((shared / "work").glob("*/upscale/*.stats.json"))) == 12
    assert not list((shared / "spread").glob("*.json"))  # no claim left behind
    reference = _alone(farm, tmp_path, video, "--background", "#00b140")
    assert frame_hashes(tmp_path / "out" / "spread_final.mp4") == frame_hashes(reference)


def test_a_spread_machine_without_the_shared_home_fails_the_segment_in_one_line(farm, tmp_path):
    """Machine g takes segments but has a home of its own: it cannot read what the run
    stored, and the run fails with one line saying why, instead of waiting forever."""
    before = _task_workers(farm.url)
    farm.start("g", home=tmp_path / "g-home", spread=True)
    _task_workers(farm.url, 1, before)
    video = make_clip(tmp_path / "lonely.mp4", 64, 36, frames=12, fps=12)
    started = time.monotonic()
    done = subprocess.run(
        [
            VIDPIPE,
            "run",
            str(video),
            "--out",
            str(tmp_path / "out"),
            "--target",
            "none",
            "--scale",
            "2",
            "--segment-seconds",
            "0.5",
            "--no-sample",
        ],
        env=dict(farm.env, VIDPIPE_HOME=str(tmp_path / "here")),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "cannot read its parameters" in done.stderr and "--spread needs every machine's VIDPIPE_HOME" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "lonely_final.mp4").exists()
    print(f"failed in {time.monotonic() - started:.1f} s")


def test_task_records_in_an_object_store_are_checked_before_the_worker_starts(farm, s3_endpoint, tmp_path):
    """PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK names an S3 bucket block (moto's server): the
    worker writes there first; a missing bucket or block is one line before any run."""
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="records")
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            f"""
from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters
keys = AwsCredentials(aws_access_key_id="vidpipe-test", aws_secret_access_key="vidpipe-test", region_name="us-east-1",
                      aws_client_parameters=AwsClientParameters(endpoint_url="{s3_endpoint}"))
S3Bucket(bucket_name="records", credentials=keys).save("records", overwrite=True)
S3Bucket(bucket_name="no-such-bucket", credentials=keys).save("missing", overwrite=True)
""",
        ],
        env=farm.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    env = dict(farm.env, VIDPIPE_HOME=str(tmp_path / "h"), VIDPIPE_MACHINE="h")
    for block, words in (("s3-bucket/missing", "cannot write there"), ("s3-bucket/nowhere", "cannot load the block")):
        done = subprocess.run(
            [VIDPIPE, "worker", "--gpu-limit", "gpu-h"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=dict(env, PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK=block),
            timeout=120,
        )
        last = done.stderr.strip().splitlines()[-1]
        assert done.returncode == 1 and words in last and block in last, done.stderr
        assert "Traceback" not in done.stderr
    log = tmp_path / "worker-h.log"
    with log.open("w") as f:
        good = subprocess.Popen(
            [VIDPIPE, "worker", "--gpu-limit", "gpu-h"],
            cwd=ROOT,
            stdout=f,
            stderr=subprocess.STDOUT,
            env=dict(env, PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK="s3-bucket/records"),
            start_new_session=True,
        )
    try:
        _online(farm.url, "rtx3060-h")
        assert "task records in s3-bucket/records" in log.read_text()
    finally:
        _stop(good)
    listed = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").list_objects_v2(Bucket="records")
    assert [o["Key"] for o in listed["Contents"]] == ["vidpipe-probe/h"]


def test_a_wrong_database_url_or_no_server_is_one_line_before_anything_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["VIDPIPE_HOME"] = str(tmp_path / "home")
    closed = _free_port()  # nothing listens there
    for url, words in (
        (f"postgresql+asyncpg://vidpipe:secret@127.0.0.1:{closed}/prefect", "cannot connect"),
        ("mysql://vidpipe@127.0.0.1/prefect", "not a Postgres or SQLite URL"),
    ):
        started = time.monotonic()
        done = subprocess.run(
            [VIDPIPE, "server", "--port", str(_free_port()), "--database-url", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1 and words in done.stderr, done.stderr
        assert "secret" not in done.stderr and "Traceback" not in done.stderr
        assert time.monotonic() - started < 30
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{closed}/api"  # a worker pointed at no server
    done = subprocess.run([VIDPIPE, "worker", "--machine", "x"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "does not answer" in done.stderr and "Traceback" not in done.stderr, done.stderr
    (tmp_path / "a-file").write_text("")
    done = subprocess.run(
        [VIDPIPE, "worker", "--machine", "x"],
        env=dict(env, VIDPIPE_HOME=str(tmp_path / "a-file")),
        capture_output=True,
        text=True,
        timeout=120,
    )  # a work folder that cannot be written
    assert done.returncode == 1 and "cannot write there" in done.stderr and "Traceback" not in done.stderr, done.stderr
