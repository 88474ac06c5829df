"""composite: put the matted person onto a new background, in float at the output
resolution, with RVM's predicted foreground colour (out = fgr*a + bg*(1-a)) so hair
edges carry no halo of the old background. Colour frames + matte in -> frames out,
streamed into join (no intermediate file)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidpipe.hashing import digest
from vidpipe.media import background as bg
from vidpipe.media import tonemap
from vidpipe.media.colour import kept
from vidpipe.media.frames import blend, blend_deep, cutout, rotate_upright
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import frame_size, read_frames
from vidpipe.media.segments import Segment
from vidpipe.steps.base import Needs, Plan, SegmentWork, Step, input_name
from vidpipe.version import code_version


@dataclass(frozen=True)
class CompositeConfig:
    background: str  # '#RRGGBB', 'blur', or an image/video path
    identity: str = ""  # the background's content identity (``background.check``); found when empty
    hdr: int = 0  # HDR kept: 16-bit frames in this transfer, the (SDR) background placed inside it


def plan(
    info: MediaInfo, segment: Segment, upstream: str | None, matte_file: str, cfg: CompositeConfig, size=None
) -> Plan:
    """The key covers the frames and matte (their file names carry their keys) and the
    background's content. No file: the frames are made inside join."""
    code = code_version(__name__, "vidpipe.media.background", "vidpipe.media.frames")
    identity = cfg.identity or bg.check(cfg.background)
    key = digest("composite", code, input_name(info, segment, upstream), Path(matte_file).name, identity, cfg.hdr)
    return Plan(key, None, size, frames=segment.n_frames)


def composite_frames(
    info: MediaInfo,
    segment: Segment,
    upstream: str | Path | None,
    matte_file: str | Path,
    cfg: CompositeConfig,
    times: Sequence[float],
    size: tuple[int, int] | None = None,
) -> Iterator[np.ndarray]:
    """The segment's frames on the new background, one at a time (HWC uint8 RGB at the
    ``upstream`` frames' ``size``). ``times``: each frame's presentation time in seconds
    (picks background video frames, decoded from the segment's start, never from 0).

    At full size, RVM's predicted foreground is in the matte file, so only the matte is
    decoded; the colour frames are read too only for ``blur`` (it blurs them) or when
    the matte is smaller than them (matte before upscale, an input's own alpha)."""
    if upstream is None:
        colour = lambda: read_frames(info.path, info.video_index, segment)  # noqa: E731 - the source's own frames
        size = size or (info.width, info.height)
    else:
        colour = lambda: read_frames(upstream)  # noqa: E731
        size = size or frame_size(upstream)
    if cfg.hdr:
        yield from _deep_frames(info, segment, upstream, matte_file, cfg, times, size)
        return
    w, h = size
    needs_colour = cfg.background == "blur" or frame_size(matte_file) != (w, h)
    dw, dh = (h, w) if info.rotation % 180 else (w, h)  # the background is given upright
    back = bg.Background(cfg.background, dw, dh)
    try:
        originals = colour() if needs_colour else itertools.repeat(None)
        for i, (rgba, orig) in enumerate(zip(read_frames(matte_file, fmt="rgba"), originals)):
            if orig is not None:
                rgba = cutout(rgba, orig)
            if cfg.background == "blur":  # blurring does not care about orientation
                yield blend(rgba, back.at(times[i], orig))
            else:
                yield blend(rgba, rotate_upright(back.at(times[i]), -info.rotation))
    finally:
        back.close()


def _deep_frames(info, segment, upstream, matte_file, cfg: CompositeConfig, times, size) -> Iterator[np.ndarray]:
    """HDR kept: the 16-bit colour frames over the background brought into the same HDR
    signal (:func:`vidpipe.media.tonemap.from_sdr`: SDR white at HDR reference white).
    Inside the person the frames' own pixels; at the matte's soft edges RVM's predicted
    foreground (made on the SDR view) brought back the same way, so hair carries no
    halo of the old background; a matte smaller than the frames is scaled up to them."""
    w, h = size
    colour = read_frames(upstream, fmt="rgb48") if upstream else read_frames(
        info.path, info.video_index, segment, fmt="rgb48")
    dw, dh = (h, w) if info.rotation % 180 else (w, h)
    back = bg.Background(cfg.background, dw, dh)
    placed: tuple = (None, None)  # (SDR frame, its HDR version): a still background is converted once
    try:
        for i, (rgba, orig) in enumerate(zip(read_frames(matte_file, fmt="rgba"), colour)):
            if cfg.background == "blur":
                under = cv2.GaussianBlur(orig, (0, 0), max(orig.shape[:2]) / 40)
            else:
                sdr = back.at(times[i])
                if placed[0] is not sdr:
                    placed = (sdr, tonemap.from_sdr(rotate_upright(sdr, -info.rotation), cfg.hdr))
                under = placed[1]
            fg, alpha = orig, rgba[..., 3]
            if rgba.shape[:2] != (h, w):
                alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
            else:
                edge = (alpha > 0) & (alpha < 255)
                if edge.any():
                    fg = orig.copy()
                    fg[edge] = tonemap.from_sdr(rgba[..., :3][edge][None], cfg.hdr)[0]
            yield blend_deep(fg, alpha, under)
    finally:
        back.close()


def composite(
    info: MediaInfo,
    segment: Segment,
    upstream: str | Path | None,
    matte_file: str | Path,
    cfg: CompositeConfig,
    times: Sequence[float],
    out: Path,
    on_frame: Callable[[int], None] | None = None,
) -> Path:
    """The same frames written to the lossless file ``out`` (tools, tests, the bench)."""
    size = frame_size(upstream) if upstream else (info.width, info.height)
    frames = composite_frames(info, segment, upstream, matte_file, cfg, times, size)
    return write_segment(frames, lambda f: f, out, size, info.fps, segment.n_frames, deep=bool(cfg.hdr),
                         on_frame=on_frame)


class Composite(Step):
    """Reads the colour frames and the matte; streams the frames on the new background
    into join. Changing only the background re-runs only join (which composites as it
    encodes): no lossless file is written and read back for it (docs/performance.md)."""

    name = "composite"
    scope = "segment"
    needs = Needs(streamed=True)
    consumes = ("frames", "matte")
    produces = "frames"

    def configure(self, spec, info: MediaInfo) -> CompositeConfig | None:
        if spec.background == "none":
            return None
        return CompositeConfig(bg.resolve(spec.background), bg.check(spec.background), kept(spec.hdr, info))

    def plan(self, work: SegmentWork) -> Plan:
        planned = plan(work.info, work.segment, work.inputs["frames"], work.inputs["matte"], work.config, work.size)
        return dataclasses.replace(planned, frames=work.frames)

    def frames(self, work: SegmentWork, plan: Plan) -> Iterator[np.ndarray]:
        i = work.inputs
        return composite_frames(work.info, work.segment, i["frames"], i["matte"], work.config, work.times, work.size)

    def describe(self, work: SegmentWork) -> str:
        return f"background {work.config.background}, inside join"


STEP = Composite()
