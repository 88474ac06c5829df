"""End to end under one Prefect API: enhance-video and enhance-folder on small clips
with the real model; caching asserted on task-run states."""

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import SMALL, psnr, task_states
from typer.testing import CliRunner

from vidpipe.config import JobSpec, VideoJob
from vidpipe.media.probe import probe
from vidpipe.media.reader import frame_size, read_frames
from vidpipe.media.synth import make_audio_only

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_enhance_video_output_cache_and_resume(dance, tmp_path):
    from flows.enhance_video import enhance_video
    from vidpipe.steps import upscale as engine
    from vidpipe.steps.base import SegmentWork

    job = VideoJob(input=str(dance), output_dir=str(tmp_path / "out"), **SMALL)
    first = enhance_video(job, return_state=True)
    assert first.is_completed(), first.message
    out = Path(first.result().path)
    assert out == tmp_path / "out" / "dance_final.mp4"

    src, got = probe(dance), probe(out)
    assert (got.width, got.height) == (192, 108)
    assert got.frame_count == src.frame_count == 24
    assert abs(got.duration - src.duration) <= src.frame_duration
    assert len(got.audio) == 1 and abs(got.audio[0].duration - src.audio[0].duration) <= src.frame_duration
    a = next(read_frames(dance))
    b = next(read_frames(out))
    assert psnr(cv2.resize(a, (192, 108), interpolation=cv2.INTER_CUBIC), b) > 25  # same picture, upscaled

    states = task_states(first)
    assert states["upscale-seg0000"] == states["upscale-seg0001"] == "Completed"

    second = enhance_video(job, return_state=True)
    states = task_states(second)
    assert states["upscale-seg0000"] == states["upscale-seg0001"] == "Cached"
    assert [v for k, v in states.items() if k.startswith("join")] == ["Cached"]

    # a cached segment whose file is gone is recomputed; only that one
    info = probe(dance)
    from vidpipe.steps.split import timeline as plan_segments

    timeline = plan_segments(info, job.segment_seconds)
    seg1 = engine.plan(SegmentWork(info, timeline.segments[1], engine.STEP.configure(job.spec(), info))).out
    seg1.unlink()
    third = enhance_video(job, return_state=True)
    states = task_states(third)
    assert states["upscale-seg0000"] == "Cached" and states["upscale-seg0001"] == "Completed"
    fourth = enhance_video(job, return_state=True)  # and the recomputed segment is cached again
    assert set(task_states(fourth)[k] for k in ("upscale-seg0000", "upscale-seg0001")) == {"Cached"}
    assert seg1.exists() and probe(out).frame_count == 24

    # a deleted final output is written again (and a marker an earlier vidpipe left beside it is moved away)
    out.with_name(out.name + ".gen").write_text("1")
    out.unlink()
    fourth = enhance_video(job, return_state=True)
    assert fourth.is_completed() and out.exists()
    assert [v for k, v in task_states(fourth).items() if k.startswith("join")] == ["Completed"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["dance_compare.jpg", "dance_final.mp4"]  # outputs only


def _bad_folder(folder: Path, media, good: Path) -> Path:
    folder.mkdir(parents=True)
    friday = media("mdn_friday.mp4").read_bytes()
    (folder / "a_empty.mp4").write_bytes(b"")
    (folder / "b_truncated.mp4").write_bytes(friday[: len(friday) // 3])
    (folder / "c_notes.mp4").write_text("not a video\n")
    (folder / "d_good clip é.mp4").write_bytes(good.read_bytes())
    make_audio_only(folder / "e_audio_only.mp4")
    return folder


def test_enhance_folder_reports_bad_files_and_processes_the_rest(tmp_path, media, clip):
    from flows.enhance_folder import enhance_folder

    folder = _bad_folder(tmp_path / "downloads", media, clip(width=64, height=36, frames=12))
    out = tmp_path / "final_output"
    report = enhance_folder(str(folder), str(out), JobSpec(**SMALL))
    status = {Path(r.input).name: r for r in report.results}
    assert status["d_good clip é.mp4"].status == "done"
    for name, cause in [
        ("a_empty.mp4", "empty file"),
        ("b_truncated.mp4", "truncated"),
        ("c_notes.mp4", "not a video"),
        ("e_audio_only.mp4", "no video stream"),
    ]:
        assert status[name].status == "failed" and name in status[name].message and cause in status[name].message
    names = sorted(p.name for p in out.iterdir())
    assert names == ["d_good clip é_compare.jpg", "d_good clip é_final.mp4"]  # nothing partial; a before/after still

    again = enhance_folder(str(folder), str(out), JobSpec(**SMALL))
    assert {Path(r.input).name: r.status for r in again.results}["d_good clip é.mp4"] == "skipped"


def test_cli_run_one_line_per_bad_file_and_exit_code(tmp_path, media, clip, monkeypatch):
    from app.cli import app

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.mp4").write_text("not a video")
    (folder / "ok.mp4").write_bytes(clip(width=64, height=36, frames=12).read_bytes())
    monkeypatch.chdir(tmp_path)
    args = ["run", str(folder), "--out", "out", "--target", "none", "--scale", "2", "--preset", "ultrafast"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1
    text = r.output  # stdout and stderr together
    assert "Traceback" not in text
    failed = [line for line in text.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and "broken.mp4" in failed[0] and "not a video" in failed[0]
    assert (tmp_path / "out" / "ok_final.mp4").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok_compare.jpg", "ok_final.mp4"]


def test_turning_face_restore_on_reuses_cached_upscale(dance, tmp_path, random_gfpgan):
    from flows.enhance_video import enhance_video

    plain = VideoJob(input=str(dance), output_dir=str(tmp_path / "out"), **SMALL)
    assert enhance_video(plain, return_state=True).is_completed()
    faces = plain.model_copy(update={"restore_faces": True, "restore_faces_model": str(random_gfpgan)})
    state = enhance_video(faces, return_state=True)
    assert state.is_completed(), state.message
    states = task_states(state)
    assert states["upscale-seg0000"] == states["upscale-seg0001"] == "Cached"
    assert states["restore_faces-seg0000"] == states["restore_faces-seg0001"] == "Completed"
    assert probe(tmp_path / "out" / "dance_final.mp4").frame_count == 24


def test_changing_background_reruns_only_the_join_that_composites(dance, tmp_path, weights):
    from flows.enhance_video import enhance_video

    weights("rvm_mobilenetv3_fp32.onnx")
    red = VideoJob(input=str(dance), output_dir=str(tmp_path / "out"), background="#FF0000", **SMALL)
    first = enhance_video(red, return_state=True)
    assert first.is_completed(), first.message
    blue = red.model_copy(update={"background": "#0000FF", "export_alpha": "png"})
    second = enhance_video(blue, return_state=True)
    assert second.is_completed(), second.message
    states = task_states(second)
    for seg in ("seg0000", "seg0001"):
        assert states[f"upscale-{seg}"] == states[f"matte-{seg}"] == "Cached"
    assert not [k for k in states if k.startswith("composite-")]  # streamed into join: no task, no file
    assert [v for k, v in states.items() if k.startswith("join-")] == ["Completed"]
    centre = next(read_frames(tmp_path / "out" / "dance_final.mp4"))[2:10, 2:10].reshape(-1, 3).mean(axis=0)
    assert np.abs(centre - [0, 0, 255]).max() < 12  # the corner is the new background, blue
    assert len(list((tmp_path / "out" / "dance_final_alpha").glob("*.png"))) == 24
    assert probe(tmp_path / "out" / "dance_final.mp4").frame_count == 24


def test_cli_bad_background_fails_before_anything_runs(tmp_path, clip):
    import subprocess
    import sys

    video = clip(width=64, height=36, frames=12)
    started = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "app", "run", str(video), "--out", str(tmp_path / "o"), "--background", "nope.png"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "background nope.png: file not found" in lines[0]
    assert not (tmp_path / "o").exists() and time.monotonic() - started < 30


def test_input_with_its_own_alpha_uses_it(media, tmp_path):
    from flows.enhance_video import enhance_video
    from vidpipe.media.reader import read_frames as frames_of

    src = media("fate_vp8_video_with_alpha.webm")
    job = VideoJob(
        input=str(src),
        output_dir=str(tmp_path),
        background="#0000FF",
        target="none",
        segment_seconds=2,
        preset="ultrafast",
    )
    state = enhance_video(job, return_state=True)
    assert state.is_completed(), state.message
    assert "matte-seg0000" in task_states(state)
    alpha = next(frames_of(src, 0, fmt="rgba"))[..., 3]
    out = next(frames_of(tmp_path / "fate_vp8_video_with_alpha_final.mp4"))
    assert out.shape[:2] == (214, 322)  # 213 rounded up to even (aspect kept), no model run
    clear = cv2.resize(alpha, (322, 214)) == 0
    assert np.abs(out[clear].astype(float) - [0, 0, 255]).mean() < 4  # transparent input pixels -> background


def test_matte_before_upscale_runs_on_the_source_frames(dance, tmp_path, weights):
    from flows.enhance_video import enhance_video

    weights("rvm_mobilenetv3_fp32.onnx")
    job = VideoJob(input=str(dance), output_dir=str(tmp_path), background="blur", matte_before_upscale=True, **SMALL)
    state = enhance_video(job, return_state=True)
    assert state.is_completed(), state.message
    states = task_states(state)
    assert states["matte-seg0000"] == states["matte-seg0001"] == "Completed"
    assert not [name for name in states if name.startswith("source-")]  # matte reads the source itself: no copy
    mattes = Path(os.environ["VIDPIPE_HOME"]).glob(f"work/{probe(dance).sha256[:16]}/matte/seg0000-*.nut")
    newest = max(mattes, key=lambda p: p.stat().st_mtime)  # this run's (other tests matte the same clip)
    assert frame_size(newest) == (96, 54)  # made at the source's size
    got = probe(tmp_path / "dance_final.mp4")
    assert (got.width, got.height, got.frame_count) == (192, 108, 24)


def test_finished_files_without_cache_records_are_not_recomputed(dance, tmp_path, monkeypatch):
    """A kill between a segment's rename and Prefect storing its record loses nothing."""
    import os
    import shutil

    from flows.enhance_video import enhance_video
    from vidpipe.steps import upscale as engine

    job = VideoJob(input=str(dance), output_dir=str(tmp_path / "out"), **{**SMALL, "crf": 23})
    assert enhance_video(job, return_state=True).is_completed()
    shutil.rmtree(os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"])  # every record gone, the files stay

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished segment was recomputed")

    monkeypatch.setattr(engine, "upscale", must_not_run)
    again = enhance_video(job, return_state=True)
    assert again.is_completed(), again.message
    assert (again.result().reused, again.result().segments) == (2, 2)
