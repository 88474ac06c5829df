"""split: plan segments of about N seconds by frame index (pure logic, no I/O).

Segments are frame ranges of the *source*; each keeps the presentation timestamps
of its first and last frame so a reader can find them exactly after a seek.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidpipe.errors import ConfigError


@dataclass(frozen=True)
class Segment:
    index: int
    first_frame: int
    n_frames: int
    first_pts: int
    last_pts: int

    @property
    def end_frame(self) -> int:
        """One past the last frame."""
        return self.first_frame + self.n_frames

    @property
    def name(self) -> str:
        return f"seg{self.index:04d}"


def plan_ranges(n_frames: int, fps: float, seconds: float) -> list[tuple[int, int]]:
    """(first_frame, count) pairs covering ``range(n_frames)`` exactly once, in order.

    Segments hold ``round(seconds * fps)`` frames (at least 1); a short tail of less
    than half a segment joins the segment before it.
    """
    if n_frames < 0:
        raise ConfigError(f"frame count must be >= 0, got {n_frames}")
    if seconds <= 0 or fps <= 0:
        raise ConfigError(f"segment seconds and fps must be > 0, got {seconds} s at {fps} fps")
    size = max(1, round(seconds * fps))
    starts = list(range(0, n_frames, size))
    if len(starts) > 1 and n_frames - starts[-1] < size / 2:
        starts.pop()
    bounds = starts + [n_frames]
    return [(a, b - a) for a, b in zip(bounds, bounds[1:])]


def split(timestamps: list[int], fps: float, seconds: float = 4.0) -> tuple[Segment, ...]:
    """Segments over frames whose sorted presentation timestamps are ``timestamps``."""
    return tuple(
        Segment(i, first, n, timestamps[first], timestamps[first + n - 1])
        for i, (first, n) in enumerate(plan_ranges(len(timestamps), fps, seconds))
    )
