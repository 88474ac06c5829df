"""Generated test clips: a figure "dancing" over a gradient, with an audio beat.

Used by ``make run`` (a sample when ``downloads/`` is empty) and by the tests
(odd sizes, variable frame rate, rotation metadata, no audio...).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidpipe.media.colour import encode_frame, tag_stream


def figure_frame(width: int, height: int, t: float) -> np.ndarray:
    """One HWC uint8 RGB frame at time ``t`` seconds: a gradient and a moving figure."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (40 + 120 * y + 40 * np.sin(6 * x + t)).astype(np.uint8)
    img[..., 1] = (60 + 80 * x).astype(np.uint8) + np.zeros_like(y, dtype=np.uint8)
    img[..., 2] = (150 - 60 * y).astype(np.uint8) + np.zeros_like(x, dtype=np.uint8)
    s = min(width, height)
    cx = int(width / 2 + 0.2 * width * math.sin(2 * math.pi * 0.5 * t))
    cy = int(height * 0.55)
    body = (230, 200, 60)
    cv2.circle(img, (cx, cy - int(0.28 * s)), max(2, int(0.08 * s)), (240, 210, 190), -1, cv2.LINE_AA)
    cv2.line(img, (cx, cy - int(0.2 * s)), (cx, cy + int(0.1 * s)), body, max(1, s // 20), cv2.LINE_AA)
    swing = math.sin(2 * math.pi * t)
    for side in (-1, 1):
        hand = (cx + side * int(0.18 * s), cy - int(0.1 * s) - int(side * swing * 0.1 * s))
        foot = (cx + side * int(0.1 * s), cy + int(0.3 * s))
        cv2.line(img, (cx, cy - int(0.15 * s)), hand, body, max(1, s // 30), cv2.LINE_AA)
        cv2.line(img, (cx, cy + int(0.1 * s)), foot, body, max(1, s // 30), cv2.LINE_AA)
    return img


def make_clip(
    path: str | Path,
    width: int = 270,
    height: int = 480,
    frames: int = 48,
    fps: int = 24,
    *,
    audio: bool = True,
    audio_channels: int = 2,
    vfr: bool = False,
    rotation: int = 0,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    silent: bool = False,
    sar: Fraction | None = None,
) -> Path:
    """Write a short clip. ``vfr`` alternates frame durations (1 and 2 ticks);
    ``rotation`` stores display-rotation metadata (frames stay as drawn); ``pix_fmt``
    e.g. ``yuv420p10le`` for 10-bit; ``silent`` writes an audio track of digital silence;
    ``sar`` stores a sample aspect ratio (anamorphic: the frames are drawn as stored)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tb = Fraction(1, fps * 2)
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=fps)
        v.width, v.height = width, height
        v.pix_fmt = pix_fmt
        v.codec_context.time_base = tb
        tag_stream(v)  # BT.709, tagged, as phones and editors write
        if codec == "libx264":
            v.options = {"crf": "16", "preset": "veryfast"}
        if rotation:
            v.set_display_rotation(rotation)
        if sar is not None:
            v.codec_context.sample_aspect_ratio = sar
        a = None
        if audio:
            a = out.add_stream("aac", rate=44100)
            a.layout = {1: "mono", 2: "stereo", 6: "5.1"}[audio_channels]
        pts = 0
        for i in range(frames):
            frame = encode_frame(figure_frame(width, height, pts * float(tb)), "rgb24", pix_fmt)
            frame.pts, frame.time_base = pts, tb
            out.mux(v.encode(frame))
            pts += (1 + (i % 2)) if vfr else 2
        out.mux(v.encode(None))
        if a is not None:
            _write_beat(out, a, duration=pts * float(tb), channels=audio_channels, volume=0.0 if silent else 0.3)
    return path


def _write_beat(out, stream, duration: float, channels: int, volume: float = 0.3) -> None:
    """A 440 Hz tone pulsing twice a second, generated chunk by chunk (constant memory)."""
    rate, chunk = 44100, 1024
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    total = int(duration * rate)
    for start in range(0, total, chunk):
        t = (start + np.arange(min(chunk, total - start))) / rate
        tone = (volume * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(np.repeat(tone[None, :], channels, axis=0)), format="fltp", layout=layout
        )
        frame.sample_rate, frame.pts = rate, start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def make_audio_only(path: str | Path, empty_video_track: bool = False) -> Path:
    """A file with 10 frames of silence and no pictures: audio only (AAC), or - with
    ``empty_video_track``, in Matroska - a video track that holds no frames."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        if empty_video_track:
            v = out.add_stream("ffv1", rate=24)
            v.width, v.height, v.pix_fmt = 64, 36, "yuv420p"
        a = out.add_stream("flac" if empty_video_track else "aac", rate=44100)
        a.layout = "mono"
        fmt, dtype = ("s16", np.int16) if empty_video_track else ("fltp", np.float32)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype), format=fmt, layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            out.mux(a.encode(frame))
        out.mux(a.encode(None))
    return path
