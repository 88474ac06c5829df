from __future__ import annotations

from dataclasses import dataclass

from prefect import task

from tasks.cache import RETRIES, StepCache
from vidpipe.hashing import digest
from vidpipe.media.probe import MediaInfo, scan_timestamps
from vidpipe.media.segments import Segment
from vidpipe.media.segments import split as plan_segments
from vidpipe.version import code_version


@dataclass(frozen=True)
class Timeline:
    """The source's frame timestamps and the segments planned over them."""

    timestamps: tuple[int, ...]
    segments: tuple[Segment, ...]


def _plan(inputs):
    code = code_version("vidpipe.media.segments", "vidpipe.media.probe")
    return digest("split", code, inputs["info"].sha256, inputs["seconds"]), None


@task(name="split", cache_policy=StepCache(plan=_plan), **RETRIES)
def split(info: MediaInfo, seconds: float) -> Timeline:
    """Plan segments of about ``seconds`` by frame index, keeping each frame's timestamp."""
    timestamps = scan_timestamps(info.path, info.video_index)
    return Timeline(tuple(timestamps), plan_segments(timestamps, info.fps, seconds))
