"""composite: put the matted person onto a new background, in float at the output
resolution, with RVM's predicted foreground colour (out = fgr*a + bg*(1-a)) so hair
edges carry no halo of the old background. Colour frames + matte in -> frames out,
streamed into join (no intermediate file)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
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
from vidpipe.steps.base import Needs, Plan, SegmentWork, Step, input_name
from vidpipe.version import code_version


@dataclass(frozen=True)
class CompositeConfig:
    background: str  # '#RRGGBB', 'blur', or an image/video path
    identity: str = ""  # the background's content identity (``background.check``); found when empty
    hdr: int = 0  # HDR kept: 16-bit frames in this transfer, the (SDR) background placed inside it


def plan(work: SegmentWork) -> Plan:
    """The key covers the frames and matte (their file names carry their keys) and the
    background's content. No file: the frames are made inside join."""
    cfg, i = work.config, work.inputs
    identity = cfg.identity or bg.check(cfg.background)
    key = digest(
        "composite",
        code_version(__name__),
        input_name(work.info, work.segment, i.frames),
        Path(i.matte).name,
        identity,
        cfg.hdr,
    )
    return Plan(key, None, work.size, frames=work.frames)


def composite_frames(work: SegmentWork) -> Iterator[np.ndarray]:
    """The segment's frames on the new background, one at a time (HWC uint8 RGB at the
    frames input's size). Each frame's time (``work.times``) picks the background video's
    frame, decoded from the segment's start, never from 0.

    At full size, RVM's predicted foreground is in the matte file, so only the matte is
    decoded; the colour frames are read too only for ``blur`` (it blurs them) or when
    the matte is smaller than them (matte before upscale, an input's own alpha)."""
    info, segment, cfg, times = work.info, work.segment, work.config, work.times
    upstream, matte_file = work.inputs.frames, work.inputs.matte
    if upstream is None:
        colour = lambda: read_frames(info.path, info.video_index, segment)  # noqa: E731 - the source's own frames
        size = (info.width, info.height)
    else:
        colour = lambda: read_frames(upstream)  # noqa: E731
        size = work.size if work.size != (0, 0) else frame_size(upstream)
    if cfg.hdr:
        yield from _deep_frames(work, size)
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


def _deep_frames(work: SegmentWork, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """HDR kept: the 16-bit colour frames over the background brought into the same HDR
    signal (:func:`vidpipe.media.tonemap.from_sdr`: SDR white at HDR reference white).
    Inside the person the frames' own pixels; at the matte's soft edges RVM's predicted
    foreground (made on the SDR view) brought back the same way, so hair carries no
    halo of the old background; a matte smaller than the frames is scaled up to them."""
    info, segment, cfg, times = work.info, work.segment, work.config, work.times
    upstream, matte_file = work.inputs.frames, work.inputs.matte
    w, h = size
    colour = (
        read_frames(upstream, fmt="rgb48")
        if upstream
        else read_frames(info.path, info.video_index, segment, fmt="rgb48")
    )
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


def composite(work: SegmentWork, plan: Plan, on_frame: Callable[[int], None] | None = None) -> Path:
    """The same frames written to the lossless file ``plan.out`` (tools, tests, the bench)."""
    size = frame_size(work.inputs.frames) if work.inputs.frames else (work.info.width, work.info.height)
    return write_segment(
        composite_frames(work),
        lambda f: f,
        plan.out,
        size,
        work.fps,
        work.frames,
        deep=bool(work.config.hdr),
        on_frame=on_frame,
    )


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
        return plan(work)

    def run(self, work: SegmentWork, plan: Plan, on_frame=None) -> str:
        """The frames into a file, when a caller asks for one (join streams them instead)."""
        return str(composite(work, plan, on_frame))

    def frames(self, work: SegmentWork, plan: Plan) -> Iterator[np.ndarray]:
        return composite_frames(work)

    def describe(self, work: SegmentWork) -> str:
        return f"background {work.config.background}, inside join"


STEP = Composite()
