"""One unit of a step on files a tool names (the bench; tests use it too): the step's
work made as the planner makes it, its plan's output placed where the tool asks. The
steps themselves take only ``(work, plan, on_frame)``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from vidpipe.media.encode import Delivery, EncodeConfig
from vidpipe.media.probe import MediaInfo, scan_timestamps
from vidpipe.media.reader import frame_size
from vidpipe.media.segments import Segment
from vidpipe.steps import composite as composite_step
from vidpipe.steps import join as join_step
from vidpipe.steps import matte as matte_step
from vidpipe.steps import upscale as upscale_step
from vidpipe.steps.base import Inputs, SegmentFile, SegmentWork, run_to


def work(info: MediaInfo, segment: Segment, config, inputs: Inputs = Inputs()) -> SegmentWork:
    """``segment`` of ``info`` with its source timestamps, reading ``inputs``."""
    pts = tuple(scan_timestamps(info.path, info.video_index)[segment.first_frame : segment.end_frame])
    size = frame_size(inputs.frames) if inputs.frames else (info.width, info.height)
    return SegmentWork(info, segment, config, inputs, size, pts)


def upscale(info: MediaInfo, segment: Segment, config, out: str | Path) -> str:
    return run_to(upscale_step.STEP, work(info, segment, config), out)


def matte(
    info: MediaInfo,
    segment: Segment,
    frames: str | None,
    config,
    out: str | Path,
    *,
    prev: str | None = None,
    prev_frames: str | None = None,
) -> str:
    """The matte of ``frames`` (a segment file; None: the source's), chained to ``prev``."""
    return run_to(matte_step.STEP, work(info, segment, config, Inputs(frames, prev=prev, prev_frames=prev_frames)), out)


def composite(
    info: MediaInfo, segment: Segment, frames: str | None, matte_file: str, config, out: str | Path | None = None
) -> str | Iterator:
    """The composited frames (``out`` None: as a stream, the way join reads them), else written to ``out``."""
    unit = work(info, segment, config, Inputs(frames, str(matte_file)))
    if out is None:
        return composite_step.composite_frames(unit)
    return run_to(composite_step.STEP, unit, out)


def join(
    files: Sequence[str | Path],
    info: MediaInfo,
    timestamps: Sequence[int],
    out: str | Path,
    encode: EncodeConfig = EncodeConfig(),
) -> Delivery:
    """Join segment files into the delivered ``out``."""
    unit = join_step.JoinWork(info, tuple(SegmentFile(str(f)) for f in files), tuple(timestamps), str(out), encode)
    return join_step.join(unit, out)
