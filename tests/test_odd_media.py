"""Odd but valid media, and damaged media, through the real CLI in a subprocess: an
anamorphic clip comes out in square pixels at its display aspect; an MPEG-TS whose seeks
land where the decoder cannot start is split into segments and made whole (still and
run report included); garbage inside a TS is one line naming the input, before any step;
a rotated background video is used upright."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from helpers import ARGS, no_traceback, psnr, remux, run

from vidpipe.hashing import file_sha256
from vidpipe.media.background import cover
from vidpipe.media.probe import probe
from vidpipe.media.reader import read_frames
from vidpipe.media.still import frame_at
from vidpipe.media.synth import make_clip

pytestmark = pytest.mark.slow  # vidpipe run in a process of its own


def _damaged(src: Path, dst: Path) -> Path:
    """``src`` with 20 kB of random bytes written over its middle."""
    data = bytearray(src.read_bytes())
    rng = random.Random(7)
    middle = len(data) // 2
    data[middle : middle + 20_000] = bytes(rng.randrange(256) for _ in range(20_000))
    dst.write_bytes(data)
    return dst


def test_anamorphic_segmented_ts_and_a_damaged_ts(tmp_path):
    home, folder, out = tmp_path / "home", tmp_path / "in", tmp_path / "out"
    home.mkdir()
    # 176x144 stored, each pixel 16:11 wide: a 16:9 picture (256x144 in square pixels)
    wide = make_clip(folder / "wide.mp4", 176, 144, frames=12, fps=24, audio=False, sar=Fraction(16, 11))
    # one keyframe (x264's default GOP is longer than the clip): a seek into a TS lands on a frame that
    # does not start a picture, so the decoder yields nothing there
    long_gop = make_clip(tmp_path / "long_gop.mp4", 96, 54, frames=48, fps=24)
    ts = remux(long_gop, folder / "long_gop.ts")
    bad = _damaged(
        remux(make_clip(tmp_path / "long.mp4", 160, 90, frames=240, fps=24), tmp_path / "t.ts"), folder / "bad.ts"
    )
    assert probe(wide).display_size == (256, 144)
    result = run(home, "run", str(folder), "--out", str(out), *ARGS, "--segment-seconds", "0.5")
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.startswith(("done", "failed"))]
    assert result.returncode == 1 and len(lines) == 3, result.stderr[-3000:]

    # garbage inside a TS: the input is named, with the cause and where, before any step ran on it
    failed = next(line for line in lines if line.startswith("failed"))
    assert f"{bad}: damaged: the video data at" in failed and "is corrupt" in failed, failed
    assert not (home / "work" / file_sha256(bad)[:16]).exists()
    assert not any(p.name.startswith(".") for p in out.iterdir()), list(out.iterdir())

    # anamorphic: square pixels at the display aspect (--scale 2 of 256x144), the picture stretched, not cropped
    got = probe(out / "wide_final.mp4")
    assert (got.width, got.height, got.sar) == (512, 288, "1:1"), got
    first_in, first_out = next(read_frames(wide)), next(read_frames(out / "wide_final.mp4"))
    assert psnr(cv2.resize(first_in, (512, 288), interpolation=cv2.INTER_CUBIC), first_out) > 25

    # the long-GOP TS: every segment decoded, the same frames and timing as the source, with its still and report
    info, made = probe(ts), probe(out / "long_gop_final.mp4")
    assert (info.fps, made.fps, made.frame_count) == (24.0, 24.0, 48), (info, made)
    assert abs(made.duration - 2.0) < 0.05 and abs(made.audio[0].duration - 2.0) < 0.1, made
    assert (out / "long_gop_compare.jpg").is_file() and (out / "wide_compare.jpg").is_file()
    log = (home / "logs" / "vidpipe.log").read_text()
    assert log.count("run report:") == 2 and "no run report" not in log, log[-3000:]
    assert "| size | 176x144 (pixels 16:11, shown 256x144) | 512x288 |" in log


def test_a_rotated_background_video_is_used_upright(tmp_path, media, weights):
    """A phone clip stored landscape with a 270-degree rotation tag, as --background behind a frame with no
    person (RVM leaves it all background): the output is that clip as players show it, upright."""
    weights("rvm_mobilenetv3_fp32.onnx")
    home = tmp_path / "home"
    home.mkdir()
    mov = media("fate_iphone4_rotated_audiofirst.mov")
    flat = tmp_path / "in" / "flat.mp4"
    flat.parent.mkdir()
    with av.open(str(flat), "w") as c:  # portrait, one grey, nobody in it
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 136, 240, "yuv420p"
        for _ in range(24):
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.full((240, 136, 3), 128, np.uint8), format="rgb24")))
        c.mux(s.encode(None))
    as_is = [a for a in ARGS if a not in ("--scale", "2")]  # no --scale: the size as it is
    result = run(home, "run", str(flat), "--out", str(tmp_path / "out"), *as_is, "--background", str(mov))
    assert result.returncode == 0, result.stderr[-3000:]
    made = tmp_path / "out" / "flat_final.mp4"
    for t in (0.0, 0.5, 0.9):
        out = frame_at(made, t)
        upright = cover(frame_at(mov, t), 136, 240)
        sideways = cover(np.ascontiguousarray(np.rot90(frame_at(mov, t))), 136, 240)
        assert out.shape == (240, 136, 3)
        assert np.abs(out.astype(int) - upright).mean() < 5 < np.abs(out.astype(int) - sideways).mean(), t
