"""Motion: the output frame grid of a new frame rate, and what each output frame is made
of (pure logic and cheap measurements; the model is in :mod:`vidpipe.models.rife`).

Timing. Output frames sit on a constant-rate grid ``t_k = k / fps`` (seconds from the
source's first frame) for ``k < N = round(duration * fps)``, so the duration stays within
half an output frame. Output frame ``k`` belongs to the segment whose first source frame
is the last one at or before ``t_k``; its timestamps are in a time base that holds both
the source's start time and the grid exactly (:class:`Clock`).

Decisions, from the mean absolute difference ``d`` of consecutive frames' small grey
thumbnails (0..255), each a function of a fixed window of pairs around it, so a segment
that reads :data:`CONTEXT` frames of its neighbours decides exactly as one continuous pass:

- a *repeat*: ``d <= REPEAT``, or ``d <= REPEAT_SOFT`` and a quarter of the largest ``d`` of
  the :data:`WINDOW` pairs on either side (an encoder touches a repeated frame up). A run of at most :data:`MAX_REPEATS` repeats followed by
  a new frame (not a cut) is one motion: the repeats are dropped as keyframes and the
  motion from the run's first frame to the next new frame is spread over the run's time.
  A longer run is a deliberate hold and stays as it is;
- a *cut*: ``d >= cut`` (the job's threshold) and ``d >= CUT_RATIO`` times the median
  ``d`` of the :data:`WINDOW` pairs on either side (fast motion moves every pair; a cut
  stands out). Across a cut nothing is blended: the nearer frame is repeated.

An output frame at a keyframe's time is that frame; between keyframes ``a`` and ``b`` it
is the model's frame at ``(t - s_a) / (s_b - s_a)``; after the last frame, the last frame.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from vidpipe.errors import ConfigError

#: thumbnail long side for the pair differences
THUMB = 64
#: a pair this similar (mean absolute difference of the thumbnails, 0..255) is a repeat;
#: measured: x264 CRF 18 repeats 0.01-0.05, real motion 0.2 and up on four real clips
REPEAT = 0.1
#: ... and so is a pair up to ``REPEAT_SOFT`` that moves less than ``REPEAT_RATIO`` of the most
#: any pair moves within :data:`WINDOW` (an encoder refines a repeat a little: 0.2 at x264
#: ultrafast, beside 4-7 for the motion around it)
REPEAT_SOFT = 0.5
REPEAT_RATIO = 0.25
#: the most repeats in a row spread as one motion; more is a hold
MAX_REPEATS = 3
#: pairs on either side whose median a cut must stand out from, and by how much
WINDOW = 4
CUT_RATIO = 3.0
#: default cut threshold: measured cuts between real clips 87-127, motion up to 16
CUT = 30.0
#: frames of each neighbouring segment a segment's decisions need
CONTEXT = 2 * MAX_REPEATS + 2 * WINDOW + 2
#: frame rates written with NTSC's 1000/1001
_NTSC = {
    "23.976": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}


def parse_fps(text: str) -> str:
    """Validate a ``--fps`` value: ``source``, a rate (``30``, ``29.97``, ``30000/1001``)
    or a multiple of the source's (``x2``). Returns it normalised; ConfigError otherwise."""
    text = str(text).strip().lower()
    if text in ("", "source", "off", "none"):
        return "source"
    if text.startswith("x"):
        try:
            factor = Fraction(text[1:])
        except (ValueError, ZeroDivisionError):
            factor = Fraction(0)
        if not 1 < factor <= 8:
            raise ConfigError(f"--fps {text}: a multiple of the source's rate must be between x1 and x8 (e.g. x2)")
        return f"x{factor}"
    try:
        rate = _NTSC.get(text) or Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(
            f"--fps {text!r}: give a rate (30, 60, 29.97, 30000/1001), a multiple (x2) or source"
        ) from None
    if not 1 <= rate <= 240:
        raise ConfigError(f"--fps {text}: the rate must be between 1 and 240 frames per second")
    return str(rate)


def target_rate(fps: str, source_fps: float) -> Fraction | None:
    """The output rate a normalised ``--fps`` asks for on a source of ``source_fps``, or None."""
    if fps == "source":
        return None
    if fps.startswith("x"):
        return Fraction(source_fps).limit_denominator(1001) * Fraction(fps[1:])
    return Fraction(fps)


@dataclass(frozen=True)
class Clock:
    """The timing of a video's frames: timestamps in ``time_base`` (a Fraction string),
    the nominal rate (a Fraction string), the first frame's timestamp and the frame count."""

    time_base: str
    fps: str
    start: int
    frames: int

    def time(self, pts: int) -> Fraction:
        """A timestamp's exact time from the first frame, in seconds."""
        return (pts - self.start) * Fraction(self.time_base)

    def seconds(self, pts: int) -> float:
        return float(self.time(pts))


def output_rate(fps: str, source_fps: float, vfr: bool) -> Fraction | None:
    """The rate the setting ``fps`` asks of a source, or None when its frames keep their
    timing (``source``, or a constant-rate source already at that rate)."""
    rate = target_rate(fps, source_fps)
    if rate is None or (not vfr and rate == Fraction(source_fps).limit_denominator(1001)):
        return None
    return rate


def source_clock(time_base: str, fps: float, start: int, frames: int) -> Clock:
    return Clock(time_base, str(Fraction(fps).limit_denominator(100000)), start, frames)


def _gcd(a: Fraction, b: Fraction) -> Fraction:
    return Fraction(math.gcd(a.numerator * b.denominator, b.numerator * a.denominator), a.denominator * b.denominator)


def grid_clock(rate: Fraction, start_pts: int, time_base: str, duration: float) -> Clock:
    """The output clock of ``rate`` over a source starting at ``start_pts`` and lasting
    ``duration`` seconds: its time base holds the start and every grid step exactly (or,
    where that takes too fine a base, the start is moved onto the grid)."""
    frames = max(1, round(duration * rate))
    step, start = 1 / rate, start_pts * Fraction(time_base)
    base = _gcd(start, step) if start else step
    if base.denominator > 2**30 or step / base > 2**20:
        base, start = step, round(start / step) * step
    return Clock(str(base), str(rate), int(start / base), frames)


def grid_range(clock: Clock, first: Fraction, end: Fraction | None) -> range:
    """The output frames ``k`` whose time (from the first frame) is in ``[first, end)``;
    ``end`` None: to the last output frame."""
    rate = Fraction(clock.fps)
    lo = min(clock.frames, math.ceil(first * rate))
    hi = clock.frames if end is None else min(clock.frames, math.ceil(end * rate))
    return range(lo, max(lo, hi))


def grid_pts(clock: Clock, ks: range) -> tuple[int, ...]:
    step = int(1 / Fraction(clock.fps) / Fraction(clock.time_base))
    return tuple(clock.start + k * step for k in ks)


def thumbnail(hwc: np.ndarray) -> np.ndarray:
    """A frame's grey thumbnail (long side :data:`THUMB`), float32 0..255 (uint16 frames scaled)."""
    h, w = hwc.shape[:2]
    scale = THUMB / max(h, w)
    size = (max(4, round(w * scale)), max(4, round(h * scale)))
    small = cv2.resize(hwc, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    if hwc.dtype == np.uint16:
        small /= 257.0
    return small[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails (0..255)."""
    return float(np.abs(a - b).mean())


@dataclass(frozen=True)
class Decisions:
    """Over a range of a video's frames: which pairs are cuts, which frames are repeats
    spread into one motion (dropped as keyframes), which runs of repeats are holds."""

    cuts: frozenset[int]  # pair i: between frames i and i+1
    dropped: frozenset[int]  # frames
    holds: frozenset[int]  # repeated frames kept as they are (a hold, or repeats before a cut or the end)


def decide(d: dict[int, float], n_frames: int, cut: float, lo: int, hi: int, repeat_below: float = REPEAT) -> Decisions:
    """Decisions for frames ``lo..hi`` (and the pairs between them) from the pair
    differences ``d`` (pair index -> difference); ``d`` must hold every pair the windows
    reach inside the video, or KeyError (not enough context). ``repeat_below`` < 0: no
    pair is a repeat (every frame is a keyframe)."""
    pairs = n_frames - 1

    def get(i: int) -> float | None:
        return d[i] if 0 <= i < pairs else None

    def repeat(i: int) -> bool:
        v = get(i)
        if v is None or repeat_below < 0 or v > REPEAT_SOFT:
            return False
        if v <= repeat_below:
            return True
        around = [get(j) for j in range(i - WINDOW, i + WINDOW + 1) if j != i]
        return v <= REPEAT_RATIO * max([a for a in around if a is not None] or [0.0])

    def is_cut(i: int) -> bool:
        v = get(i)
        if v is None or cut <= 0 or v < cut:
            return False
        around = [get(j) for j in range(i - WINDOW, i + WINDOW + 1) if j != i and not repeat(j)]
        level = statistics.median([a for a in around if a is not None] or [0.0])
        return v >= CUT_RATIO * level

    cuts = frozenset(i for i in range(max(0, lo - 1), min(pairs, hi + 1)) if is_cut(i))
    dropped, holds = set(), set()
    for f in range(max(1, lo), min(n_frames, hi + 1)):
        if not repeat(f - 1):
            continue
        start = f - 1  # the run's first pair
        while start > 0 and repeat(start - 1) and f - start <= MAX_REPEATS:
            start -= 1
        end = f - 1
        while repeat(end + 1) and end - start < MAX_REPEATS:
            end += 1
        repeats = end - start + 1
        after = end + 1  # the pair from the run's last frame to the next new frame
        if repeats <= MAX_REPEATS and get(after) is not None and not is_cut(after):
            dropped.add(f)
        else:
            holds.add(f)
    return Decisions(cuts, frozenset(dropped), frozenset(holds))


@dataclass(frozen=True)
class Make:
    """How one output frame is made: ``a`` itself (``t`` 0), or the model's frame at ``t``
    between keyframes ``a`` and ``b`` (global source frame indices)."""

    a: int
    b: int = -1
    t: float = 0.0


def schedule(
    times: dict[int, Fraction],
    n_frames: int,
    decisions: Decisions,
    outputs: Sequence[Fraction],
    snap: Fraction = Fraction(0),
) -> list[Make]:
    """For each output time (seconds from the first frame), how it is made. ``times``:
    the source frames' times by global index, for every frame the outputs can reach.
    An output within ``snap`` (half the source's timestamp tick: a millisecond time base
    rounds every frame's time) of a keyframe is that keyframe."""
    keys = sorted(i for i in times if i not in decisions.dropped)
    made, k = [], 0
    for t in outputs:
        while k + 1 < len(keys) and times[keys[k + 1]] <= t + snap:
            k += 1
        a = keys[k]
        b = keys[k + 1] if k + 1 < len(keys) else None
        if times[a] > t + snap:
            raise ValueError(f"output time {t} is before the first frame read ({a})")
        if abs(t - times[a]) <= snap or b is None:
            if b is None and a != n_frames - 1 and abs(t - times[a]) > snap:
                raise KeyError(f"output time {t} needs a frame after {a}: not enough context")
            made.append(Make(a))
        elif any(p in decisions.cuts for p in range(a, b)):
            made.append(Make(a if t - times[a] <= times[b] - t else b))
        else:
            made.append(Make(a, b, float((t - times[a]) / (times[b] - times[a]))))
    return made
