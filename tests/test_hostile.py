"""Odd and hostile input through the real flows: each bad file is one line naming the
file and the cause and the batch goes on; odd but valid media is processed and
keeps what matters (size math, bit depth, audio channels, silent tracks)."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import av
import numpy as np
import pytest

from vidpipe.config import JobSpec, VideoJob
from vidpipe.errors import OutputError
from vidpipe.media.probe import probe
from vidpipe.media.synth import make_audio_only

pytestmark = pytest.mark.usefixtures("prefect_api")
SMALL = dict(target="none", scale=2, segment_seconds=1.0, preset="ultrafast")


def _huge_header(path: Path) -> Path:
    """A header that declares 16000x16000 frames (YUV4MPEG), followed by a scrap of data."""
    path.write_bytes(b"YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\x80" * 4096)
    return path


@pytest.mark.slow
def test_hostile_files_fail_one_line_each_and_odd_sizes_are_processed(tmp_path, clip):
    from flows.enhance_folder import enhance_folder

    folder = tmp_path / "downloads ünïcode"
    folder.mkdir()
    make_audio_only(folder / "a_no_frames.mkv", empty_video_track=True)
    _huge_header(folder / "b_huge.mp4")
    shutil.copy(
        clip(name="tiny", width=1, height=1, frames=2, codec="ffv1", pix_fmt="yuv444p", suffix=".mkv"),
        folder / "c_one_pixel.mkv",
    )
    shutil.copy(clip(name="odd", width=853, height=479, frames=2, pix_fmt="yuv444p"), folder / "d odd size.mp4")
    gone = folder / "e_deleted_while_queued.mp4"  # listed, then deleted before its turn
    out = tmp_path / "final_output"
    report = enhance_folder(str(folder), str(out), JobSpec(**SMALL), files=[str(folder), str(gone)])
    status = {Path(r.input).name: r for r in report.results}
    for name, cause in [
        ("a_no_frames.mkv", "no decodable frames"),
        ("b_huge.mp4", "16000x16000 is too large"),
        ("c_one_pixel.mkv", "1x1 is too small"),
        (gone.name, "not found"),
    ]:
        r = status[name]
        assert r.status == "failed" and name in r.message and cause in r.message and "\n" not in r.message, r
    assert status["d odd size.mp4"].status == "done"
    got = probe(out / "d odd size_final.mp4")
    assert (got.width, got.height) == (1706, 958) and got.frame_count == 2  # even, aspect within a pixel
    assert sorted(p.name for p in out.iterdir()) == ["d odd size_compare.jpg", "d odd size_final.mp4"]


def test_ten_bit_multichannel_and_silent_audio(tmp_path, clip):
    from flows.enhance_video import enhance_video

    src = clip(name="deep", width=64, height=36, frames=12, pix_fmt="yuv420p10le", audio_channels=6, silent=True)
    assert probe(src).bit_depth == 10
    state = enhance_video(VideoJob(input=str(src), output_dir=str(tmp_path), **SMALL), return_state=True)
    assert state.is_completed(), state.message
    got = probe(state.result().path)
    assert got.bit_depth == 8 and got.pix_fmt == "yuv420p"  # 10-bit in, 8-bit SDR out (documented)
    assert [(a.channels, a.layout) for a in got.audio] == [(6, "5.1")]  # 5.1 kept
    with av.open(state.result().path) as c:  # the silent track is kept, and still silent
        samples = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    assert samples.size > 0 and np.abs(samples).max() < 1e-3


def test_output_folder_that_cannot_be_written_fails_before_any_work(tmp_path, clip):
    from flows.enhance_video import enhance_video

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    job = VideoJob(input=str(clip(width=48, height=32, frames=6)), output_dir=str(blocker / "out"), **SMALL)
    state = enhance_video(job, return_state=True)
    error = state.result(raise_on_failure=False)
    assert isinstance(error, OutputError) and str(blocker) in str(error) and "not writable" in str(error)


def test_not_enough_disk_is_said_up_front(tmp_path, clip, monkeypatch):
    import vidpipe.resources as resources
    from flows.enhance_video import enhance_video

    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda _p: Usage(10**9, 10**9 - 1000, 1000))
    src = clip(width=48, height=32, frames=6)
    state = enhance_video(VideoJob(input=str(src), output_dir=str(tmp_path / "out"), **SMALL), return_state=True)
    error = state.result(raise_on_failure=False)
    assert isinstance(error, OutputError)
    assert str(src) in str(error) and "GB free" in str(error) and "\n" not in str(error)
    assert not (tmp_path / "out" / f"{src.stem}_final.mp4").exists()


def test_intermediate_estimate_grows_with_frames_size_and_steps():
    from vidpipe.resources import intermediate_bytes

    one = intermediate_bytes(100, 1080, 1920, 1)
    assert intermediate_bytes(200, 1080, 1920, 1) == pytest.approx(2 * one, rel=0.01)
    assert intermediate_bytes(100, 1080, 1920, 3) > 2.5 * one
    assert 50e6 < one < 500e6  # 100 frames of 1080x1920 lossless: tens to hundreds of MB
