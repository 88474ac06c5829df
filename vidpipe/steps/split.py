"""split: segments of about N seconds, by frame index, over the source's timestamps.
A segment is the unit of caching, retry and resume. The planning arithmetic is
:mod:`vidpipe.media.segments`; this step keeps every frame's timestamp with it."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from vidpipe.media.motion import CONTEXT, output_rate
from vidpipe.media.probe import MediaInfo, scan_timestamps
from vidpipe.media.segments import Segment, split
from vidpipe.steps.base import Needs, Step


@dataclass(frozen=True)
class Timeline:
    """The source's frame timestamps (presentation order, in its time base) and the
    segments planned over them."""

    timestamps: tuple[int, ...]
    segments: tuple[Segment, ...]

    def pts(self, segment: Segment) -> tuple[int, ...]:
        return self.timestamps[segment.first_frame : segment.end_frame]

    def seconds(self, index: int, time_base: str) -> float:
        """Frame ``index``'s time in seconds from the first frame."""
        return float((self.timestamps[index] - self.timestamps[0]) * Fraction(time_base))


@dataclass(frozen=True)
class SplitWork:
    info: MediaInfo
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.seconds:g}s"


def timeline(info: MediaInfo, seconds: float) -> Timeline:
    timestamps = scan_timestamps(info.path, info.video_index)
    return Timeline(tuple(timestamps), split(timestamps, info.fps, seconds))


class Split(Step):
    name = "split"
    needs = Needs(cached=False)  # part of preparing a video (vidpipe.jobs), memoized by the timestamp scan

    def configure(self, spec, info=None) -> float:
        """The segment length: the job's, made long enough (two :data:`~vidpipe.media.motion.CONTEXT`
        of frames) for interpolate's neighbours, when it runs."""
        if info is None or output_rate(spec.fps, info.fps, info.vfr) is None:
            return spec.segment_seconds
        return max(spec.segment_seconds, 2 * CONTEXT / info.fps)

    def run(self, work: SplitWork, plan=None, on_frame=None) -> Timeline:
        return timeline(work.info, work.seconds)


STEP = Split()
