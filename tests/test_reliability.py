"""Crash and resume, one run per video, and hostile input: a run killed at any moment
resumes to the same output, never leaves a partial file in final_output/, and bad
input is one line that names the file and the cause."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import cli_env, frame_hashes

pytestmark = pytest.mark.slow  # kills and signals to real processes

VIDPIPE = str(Path(sys.executable).with_name("vidpipe"))
ARGS = ["--target", "none", "--scale", "2", "--segment-seconds", "0.25", "--preset", "ultrafast", "--no-sample"]


def _start(folder: Path, out: Path, home: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [VIDPIPE, "run", str(folder), "--out", str(out), *ARGS, *extra],
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _run(folder: Path, out: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [VIDPIPE, "run", str(folder), "--out", str(out), *ARGS, *extra]
    return subprocess.run(cmd, env=cli_env(home), capture_output=True, text=True, timeout=600)


def _kill_when(proc: subprocess.Popen, ready, what: str, seconds: float = 300) -> None:
    """SIGKILL the run's whole process group as soon as ``ready()`` holds (polled, no fixed sleep)."""
    deadline = time.monotonic() + seconds
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}:\n{proc.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"no {what} in {seconds} s")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def dance_folder(tmp_path_factory, clip):
    folder = tmp_path_factory.mktemp("resume") / "downloads"
    folder.mkdir()
    # 8 segments of 6 frames; large enough that each upscale segment takes a moment on a CPU
    (folder / "dance.mp4").write_bytes(clip(width=320, height=180, frames=48, fps=24).read_bytes())
    return folder


@pytest.fixture(scope="module")
def reference(dance_folder, tmp_path_factory):
    """One run of the dance folder never interrupted: (home, out, its output's frame hashes). The hashes are
    taken now. The join test goes on from this home and output folder and changes them (a new --crf): it is
    their last user, and a test that needs them as made must come before it."""
    root = tmp_path_factory.mktemp("reference")
    home, out = root / "home", root / "final_output"
    done = _run(dance_folder, out, home)
    assert done.returncode == 0, done.stderr
    return home, out, frame_hashes(out / "dance_final.mp4")


def test_kill_during_upscale_then_resume_gives_the_same_output(dance_folder, reference, tmp_path):
    home, out = tmp_path / "home", tmp_path / "final_output"
    sidecars = lambda: sorted(home.glob("work/*/upscale/*.stats.json"))  # noqa: E731 - written per finished segment
    proc = _start(dance_folder, out, home)
    _kill_when(proc, lambda: len(sidecars()) >= 2, "two finished segments")
    finished = {p: p.stat().st_mtime_ns for p in sidecars()}
    assert 2 <= len(finished) < 8
    assert not (out / "dance_final.mp4").exists()
    assert not list(out.glob(".*partial*")) if out.exists() else True

    resumed = _run(dance_folder, out, home)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"reused {len(finished)}/8 cached segments" in resumed.stderr, resumed.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # finished segments were not recomputed

    assert frame_hashes(out / "dance_final.mp4") == reference[2]  # as a run never interrupted


def _processes_of(home: Path) -> list[int]:
    """Processes still running with this test's VIDPIPE_HOME in their environment (the
    CLI and the embedded Prefect server it started)."""
    marker = f"VIDPIPE_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


#: a stop that takes longer than this is a hang, however loaded the machine (a busy 2-core CI included)
HANG = 120
#: the stop as the process itself timed it (its log: the signal's line to the stop's line); one frame's work
STOP = 10
#: from the stop's line to the process's end (the embedded server is stopped), as a busy CI meets it
EXIT = 30


def _stop_seconds(log: Path) -> float:
    """From the run's own log: the signal's line to the "stopped" line."""
    from datetime import datetime

    def at(line: str) -> datetime:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")

    lines = log.read_text().splitlines()
    asked = [at(line) for line in lines if ": signal " in line and "stopping after the current frame" in line]
    stopped = [at(line) for line in lines if ": stopped: " in line]
    assert asked and stopped, f"{log} lacks the signal's or the stop's line:\n" + "\n".join(lines[-20:])
    return (stopped[-1] - asked[0]).total_seconds()


@pytest.mark.parametrize("sig, code, to_group", [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)])
def test_a_signal_stops_promptly_and_cleanly_and_the_rerun_resumes(dance_folder, tmp_path, sig, code, to_group):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM to
    the CLI alone, mid-upscale: stopped within STOP s by the process's own clock (HANG s
    of wall time is a hang) with 130 / 143 and one line, no traceback, no partial file,
    no process left behind (the embedded server included); the rerun reuses the segments
    that were finished."""
    home, out = tmp_path / "home", tmp_path / "final_output"
    sidecars = lambda: sorted(home.glob("work/*/upscale/*.stats.json"))  # noqa: E731
    proc = _start(dance_folder, out, home)
    deadline = time.monotonic() + 300
    while len(sidecars()) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.stdout.read()[-3000:]
    sent = time.monotonic()
    os.killpg(proc.pid, sig) if to_group else proc.send_signal(sig)
    try:
        output, _ = proc.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"still running {HANG} s after signal {sig}")
    took = time.monotonic() - sent
    lines = [line for line in output.splitlines() if line.strip()]
    assert proc.returncode == code, output[-3000:]
    assert lines[-1].startswith("interrupted; ") and "segments kept, run the same command to resume" in lines[-1]
    assert "Traceback" not in output and "Connection refused" not in output and "EventsWorker" not in output
    own = _stop_seconds(home / "logs" / "vidpipe.log")
    print(f"stopped {own:.1f} s after the signal by its own log, {took:.1f} s of wall time: {lines[-1]}")
    assert own < STOP, f"the stop took {own:.1f} s by the process's own log"
    assert took < own + EXIT, f"the process ended {took - own:.1f} s after it logged its stop"
    assert not list(home.glob("work/**/.*partial*")) and not (out.exists() and list(out.glob(".*partial*")))
    for _ in range(50):  # the embedded server is stopped on the way out
        if not _processes_of(home):
            break
        time.sleep(0.1)
    assert not _processes_of(home), "a process was left running"
    kept = len(sidecars())
    assert f"{kept}/8 segments kept" in lines[-1]
    resumed = _run(dance_folder, out, home)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"reused {kept}/8 cached segments" in resumed.stderr


def test_kill_during_join_keeps_the_previous_file_and_cleans_up(dance_folder, reference):
    home, out, _ = reference  # a finished run
    final = out / "dance_final.mp4"
    before = final.read_bytes()

    # new encoder settings: every segment is cached, join runs again; kill it mid-encode
    proc = _start(dance_folder, out, home, "--crf", "30")
    _kill_when(proc, lambda: any(out.glob(".dance_final.*.partial.mp4")), "join's partial file")
    assert final.read_bytes() == before  # the previous complete file, untouched
    assert [p.name for p in out.iterdir() if p.suffix == ".mp4" and not p.name.startswith(".")] == [final.name]

    again = _run(dance_folder, out, home, "--crf", "30")
    assert again.returncode == 0, again.stderr
    assert "reused 8/8 cached segments" in again.stderr
    assert not list(out.glob(".*partial*"))  # the killed run's partial file is gone
    assert final.read_bytes() != before and len(frame_hashes(final)) == 48


def test_two_runs_on_one_folder_process_each_video_once(tmp_path, clip):
    folder = tmp_path / "downloads"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.mp4").write_bytes(clip(name=name, width=160, height=90, frames=24, fps=24).read_bytes())
    home, out = tmp_path / "home", tmp_path / "final_output"
    runs = [_start(folder, out, home) for _ in range(2)]
    logs = [p.communicate(timeout=600)[0] for p in runs]
    assert [p.returncode for p in runs] == [0, 0], logs
    done = [line for log in logs for line in log.splitlines() if line.startswith("done")]
    assert sorted(Path(line.split()[1]).name for line in done) == ["a.mp4", "b.mp4"], logs  # each exactly once
    for name in ("a", "b"):
        assert len(frame_hashes(out / f"{name}_final.mp4")) == 24


def test_video_lock_is_exclusive_across_processes_and_reentrant_within_one(tmp_path):
    from vidpipe.resources import VideoLock

    other = (
        "import sys\nfrom vidpipe.resources import Busy, VideoLock\n"
        "try:\n    with VideoLock(sys.argv[1], 'k' * 16, 'v.mp4'):\n        print('got it')\n"
        "except Busy as e:\n    print(e)\n"
    )

    def ask() -> str:
        return subprocess.run([sys.executable, "-c", other, str(tmp_path)], capture_output=True, text=True).stdout

    with VideoLock(tmp_path, "k" * 16, "v.mp4"):
        with VideoLock(tmp_path, "k" * 16, "v.mp4"):  # the same process may nest it
            pass
        assert f"v.mp4: already being processed by another run (pid {os.getpid()})" in ask()  # still held
    assert ask().strip() == "got it"  # released
