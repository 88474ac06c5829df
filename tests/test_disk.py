"""The intermediates' lifecycle: a size cap with least-recently-used eviction of whole
segment files, never the files of a video a running job holds; ``vidpipe cache`` and
``vidpipe cache prune``; the run summary's disk line. The CLI tests run the real CLI in
a subprocess, with real models, and check the files on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ARGS, VIDPIPE, cli_env, no_traceback, run

from vidpipe import intermediates
from vidpipe.errors import ConfigError
from vidpipe.media.probe import probe
from vidpipe.media.synth import make_clip

pytestmark = pytest.mark.slow  # vidpipe run in processes of its own


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("VIDPIPE_HOME", str(h))
    monkeypatch.delenv(intermediates.CAP_ENV, raising=False)
    return h


def fake_segment(home: Path, video: str, step: str, segment: str, size: int, used: float) -> Path:
    """A segment file with the sidecars a real step leaves (stats, matte state, generation)."""
    folder = home / "work" / video / step
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{segment}-{'ab' * 8}.nut"
    path.write_bytes(b"\0" * size)
    for name in (path.name + ".stats.json", path.stem + ".state.npz", path.name + ".gen"):
        (folder / name).write_bytes(b"{}")
        os.utime(folder / name, (used, used))
    os.utime(path, (used, used))
    return path


def test_sizes_and_ages_parse_and_bad_ones_are_one_line(monkeypatch):
    assert intermediates.parse_size("20GB") == 20 * 10**9
    assert intermediates.parse_size("500 mb") == 500 * 10**6
    assert intermediates.parse_size("1.5GiB") == int(1.5 * (1 << 30))
    assert intermediates.parse_size("0") == 0
    assert intermediates.parse_size("none") is None
    with pytest.raises(ConfigError, match="VIDPIPE_CACHE_MAX='lots': not a size"):
        intermediates.parse_size("lots")
    assert intermediates.parse_age("7d") == 7 * 86400
    assert intermediates.parse_age("12h") == 12 * 3600
    assert intermediates.parse_age("3") == 3 * 86400
    with pytest.raises(ConfigError, match="not an age"):
        intermediates.parse_age("soon")
    monkeypatch.delenv(intermediates.CAP_ENV, raising=False)
    assert 0 < intermediates.cap() <= intermediates.DEFAULT_CAP


def test_eviction_is_least_recently_used_whole_files_and_skips_held_videos(home):
    now = time.time()
    old = fake_segment(home, "a" * 16, "upscale", "seg0000", 1000, now - 300)
    mid = fake_segment(home, "b" * 16, "upscale", "seg0000", 1000, now - 200)
    new = fake_segment(home, "c" * 16, "matte", "seg0000", 1000, now - 100)
    listed = {e.path: e for e in intermediates.entries()}
    assert set(listed) == {old, mid, new}  # sidecars belong to their segment file
    assert all(len(e.files) == 4 and e.size == 1000 + 3 * 2 for e in listed.values())
    with intermediates.in_use("a" * 64):  # a running job holds the oldest video
        freed = intermediates.evict(2100)
    assert not mid.exists() and old.exists() and new.exists()  # the held one skipped, the next oldest gone
    assert freed.files == 1 and not list(mid.parent.parent.glob("**/*"))  # with its sidecars and folders
    assert not (home / "work" / ("b" * 16)).exists()
    freed = intermediates.evict(1100)  # nobody holds it now
    assert not old.exists() and new.exists() and freed.files == 1


def test_a_prune_never_removes_what_another_process_holds(home):
    now = time.time()
    held = fake_segment(home, "d" * 16, "upscale", "seg0000", 500, now - 10 * 86400)
    stale = fake_segment(home, "e" * 16, "upscale", "seg0000", 500, now - 10 * 86400)
    recent = fake_segment(home, "e" * 16, "upscale", "seg0001", 500, now)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from vidpipe import intermediates\n"
            "with intermediates.in_use('d' * 64):\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "VIDPIPE_HOME": str(home)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        freed = intermediates.prune(older_than=7 * 86400)
    finally:
        holder.kill()
        holder.wait()
    assert held.exists() and recent.exists() and not stale.exists()
    assert (freed.files, freed.busy_files) == (1, 1)
    leftover = recent.with_name(".seg0002-abababababababab.99999999.partial.nut")  # a killed writer's
    leftover.write_bytes(b"\0" * 100)
    writing = recent.with_name(f".seg0003-abababababababab.{os.getpid()}.partial.nut")  # a live writer's
    writing.write_bytes(b"\0" * 100)
    assert intermediates.entries() and all(e.path != leftover for e in intermediates.entries())
    assert intermediates.prune(video="eeee").files == 1 and not recent.exists()  # an id prefix, as listed
    assert not leftover.exists() and writing.exists()  # a running writer's partial file is never taken
    assert intermediates.prune().files == 1 and not held.exists()  # the holder died: its lock went with it


def cache_rows(home: Path) -> list[dict]:
    shown = run(home, "cache", "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["rows"]


def test_the_cap_evicts_old_segments_and_never_the_running_jobs(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    old = make_clip(tmp_path / "in" / "old.mp4", 64, 48, frames=48, fps=24)
    busy = make_clip(tmp_path / "in" / "busy.mp4", 160, 120, frames=72, fps=24)
    out = tmp_path / "out"
    args = [a if a != "10" else "1" for a in ARGS]  # 1 s segments: several per video
    first = run(home, "run", str(old), "--out", str(out), *args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "disk: " in first.stderr and "of intermediates kept in" in first.stderr
    (old_id,) = {r["video"] for r in cache_rows(home) if r["source"] == str(old.resolve())}

    # a run in progress: a prune takes everything else, and none of its files
    job = subprocess.Popen(
        [VIDPIPE, "run", str(busy), "--out", str(out), *args],
        env=cli_env(home),
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not [p for p in (home / "work").glob("*/upscale/*.stats.json") if old_id not in str(p)]:
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()
        time.sleep(0.1)
    pruned = run(home, "cache", "prune")
    still_running = job.poll() is None
    stdout, stderr = job.communicate(timeout=600)
    assert job.returncode == 0, stderr[-3000:]
    assert still_running, "the job ended before the prune: make the busy clip longer"
    assert pruned.returncode == 0 and "a running job holds" in pruned.stderr, pruned.stderr
    no_traceback(pruned)
    rows = cache_rows(home)
    assert {r["source"] for r in rows} == {str(busy.resolve())}  # old's are gone, busy's all there
    assert {r["step"]: r["files"] for r in rows} == {"upscale": 3}
    assert probe(out / "busy_final.mp4").frame_count == 72
    assert not list(home.glob("work/**/.*partial*"))

    # a cap below what is kept: a new run evicts the least recently used (busy's), keeps its own
    kept = sum(r["bytes"] for r in rows)
    again = run(
        home,
        "run",
        str(old),
        "--out",
        str(out),
        "--background",
        "#00ff00",
        *args,
        env={intermediates.CAP_ENV: str(kept)},
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "evicted to stay under the cap" in again.stderr, again.stderr[-2000:]
    rows = cache_rows(home)
    by_source = {}
    for r in rows:
        by_source.setdefault(r["source"], {})[r["step"]] = r["files"]
    assert by_source[str(old.resolve())] == {"upscale": 2, "matte": 2}  # the running job's, whole
    assert sum(r["bytes"] for r in rows) <= kept
    assert by_source.get(str(busy.resolve()), {}).get("upscale", 0) < 3
    assert probe(out / "old_final.mp4").frame_count == 48


def test_a_video_over_the_cap_is_said_up_front_and_its_files_go_after(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    clip = make_clip(tmp_path / "in" / "clip.mp4", 64, 48, frames=24, fps=24)
    result = run(home, "run", str(clip), "--out", str(tmp_path / "out"), *ARGS, env={intermediates.CAP_ENV: "1KB"})
    assert result.returncode == 0, result.stderr[-3000:]
    warning = result.stderr.index("more than the 1 kB cap")
    assert warning < result.stderr.index("done"), result.stderr  # said before the run goes on
    assert "0 kB of intermediates kept" in result.stderr
    assert cache_rows(home) == []
    assert probe(tmp_path / "out" / "clip_final.mp4").frame_count == 24  # the delivery is never touched
    listing = run(home, "cache")
    assert listing.returncode == 0 and "0 segment files" in listing.stdout
    for bad, words in (("--older-than=soon", "not an age"), ("--video=nothing.mp4", "no such file")):
        mistake = run(home, "cache", "prune", bad)
        assert mistake.returncode == 1 and words in mistake.stderr, mistake.stderr
        no_traceback(mistake)
