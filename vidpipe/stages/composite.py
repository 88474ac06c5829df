"""composite: put the matted person onto a new background, in float at the output
resolution, with RVM's predicted foreground colour (out = fgr*a + bg*(1-a)) so hair
edges carry no halo of the old background. Segment in -> lossless segment out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidpipe.hashing import digest
from vidpipe.media import background as bg
from vidpipe.media.frames import rotate_upright
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import frame_size, read_frames
from vidpipe.media.segments import Segment
from vidpipe.media.writer import segment_path
from vidpipe.version import code_version


@dataclass(frozen=True)
class CompositeConfig:
    background: str  # '#RRGGBB', 'blur', or an image/video path


def cutout(rgba: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """The RGBA to blend: as matted, or - when the matte was made at a lower
    resolution (matte before upscale) - the full-resolution frame with the alpha
    scaled up to it."""
    h, w = frame.shape[:2]
    if rgba.shape[:2] == (h, w):
        return rgba
    alpha = cv2.resize(rgba[..., 3], (w, h), interpolation=cv2.INTER_LINEAR)
    return np.dstack([frame, alpha])


def blend(rgba: np.ndarray, back: np.ndarray) -> np.ndarray:
    """HWC uint8 RGBA (fgr + alpha) over HWC uint8 RGB, in float32."""
    a = rgba[..., 3:4].astype(np.float32) * (1 / 255.0)
    out = rgba[..., :3].astype(np.float32) * a + back.astype(np.float32) * (1 - a)
    return (out + 0.5).astype(np.uint8)


def plan(info: MediaInfo, segment: Segment, upstream: str, matte_file: str, cfg: CompositeConfig) -> tuple[str, Path]:
    code = code_version(__name__, "vidpipe.media.background")
    identity = bg.check(cfg.background)
    key = digest("composite", code, Path(upstream).name, Path(matte_file).name, identity)
    return key, segment_path(info.sha256, "composite", segment.name, key)


def composite(
    info: MediaInfo,
    segment: Segment,
    upstream: str | Path,
    matte_file: str | Path,
    cfg: CompositeConfig,
    times: Sequence[float],
    out: Path,
    on_frame: Callable[[int], None] | None = None,
) -> Path:
    """``times``: each frame's presentation time in seconds (picks background video frames)."""
    w, h = frame_size(upstream)
    dw, dh = (h, w) if info.rotation % 180 else (w, h)  # the background is given upright
    back = bg.Background(cfg.background, dw, dh)

    def frames():
        for i, (orig, rgba) in enumerate(zip(read_frames(upstream), read_frames(matte_file, fmt="rgba"))):
            yield i, orig, rgba

    def process(item) -> np.ndarray:
        i, orig, rgba = item
        rgba = cutout(rgba, orig)
        if cfg.background == "blur":  # blurring does not care about orientation
            return blend(rgba, back.at(times[i], orig))
        return blend(rgba, rotate_upright(back.at(times[i]), -info.rotation))

    return write_segment(frames(), process, out, (w, h), info.fps, segment.n_frames, on_frame=on_frame)
