"""composite: put the matted person onto a new background, in float at the output
resolution, with RVM's predicted foreground colour (out = fgr*a + bg*(1-a)) so hair
edges carry no halo of the old background. Colour frames + matte in -> lossless
segment out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidpipe.hashing import digest
from vidpipe.media import background as bg
from vidpipe.media.frames import blend, cutout, rotate_upright
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import frame_size, read_frames
from vidpipe.media.segments import Segment
from vidpipe.media.writer import segment_path
from vidpipe.steps.base import Needs, Plan, SegmentWork, Step
from vidpipe.version import code_version


@dataclass(frozen=True)
class CompositeConfig:
    background: str  # '#RRGGBB', 'blur', or an image/video path
    identity: str = ""  # the background's content identity (``background.check``); found when empty


def plan(
    info: MediaInfo, segment: Segment, upstream: str, matte_file: str, cfg: CompositeConfig, size=None
) -> Plan:
    code = code_version(__name__, "vidpipe.media.background", "vidpipe.media.frames")
    identity = cfg.identity or bg.check(cfg.background)
    key = digest("composite", code, Path(upstream).name, Path(matte_file).name, identity)
    return Plan(key, segment_path(info.sha256, "composite", segment.name, key), size, frames=segment.n_frames)


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
    """``times``: each frame's presentation time in seconds (picks background video
    frames; a background video is decoded from the segment's start, never from 0)."""
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

    try:
        return write_segment(frames(), process, out, (w, h), info.fps, segment.n_frames, on_frame=on_frame)
    finally:
        back.close()


class Composite(Step):
    """Reads the colour frames and the matte; writes the frames on the new background."""

    name = "composite"
    scope = "segment"
    needs = Needs(intermediate=True, frames=True)
    consumes = ("frames", "matte")
    produces = "frames"

    def configure(self, spec, info: MediaInfo) -> CompositeConfig | None:
        if spec.background == "none":
            return None
        return CompositeConfig(bg.resolve(spec.background), bg.check(spec.background))

    def plan(self, work: SegmentWork) -> Plan:
        return plan(work.info, work.segment, work.inputs["frames"], work.inputs["matte"], work.config, work.size)

    def run(self, work: SegmentWork, plan: Plan, on_frame=None) -> str:
        i = work.inputs
        return str(composite(work.info, work.segment, i["frames"], i["matte"], work.config, work.times, plan.out,
                             on_frame))

    def describe(self, work: SegmentWork) -> str:
        return f"background {work.config.background}"


STEP = Composite()
