"""interpolate: a new frame rate, made by RIFE (``--fps 30``, ``--fps 60``, ``--fps x2``).
Colour frames at the source's timing in -> lossless segment at the output rate out.

Each output frame sits on a constant-rate grid over the source's duration and is made
at its true time between its two source neighbours (:mod:`vidpipe.media.motion`): a
frame on a source frame is that frame; across a scene cut the nearer frame is repeated;
a short run of repeated frames is spread into one motion. The decisions read
:data:`~vidpipe.media.motion.CONTEXT` frames of each neighbouring segment's input
(``Needs.context``), so a segmented run equals one continuous pass; they are written
beside the segment (``<file>.motion.json``) for the report.

Placed after upscale and restore_faces (RIFE at the output size, on frames already
upscaled: the measured choice, docs/architecture.md), before matte, so RVM's recurrent
state runs over the final frames."""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidpipe.errors import ConfigError
from vidpipe.hashing import digest
from vidpipe.media import motion
from vidpipe.media.colour import kept
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import read_frames
from vidpipe.media.writer import segment_path
from vidpipe.models import registry, store
from vidpipe.models.registry import DEFAULT_INTERPOLATE_MODEL
from vidpipe.steps.base import Needs, Plan, SegmentWork, Step, input_name
from vidpipe.version import code_version

#: frames of each neighbour an output frame of this segment can be made from (a run of repeats reaches this far)
_REACH = motion.MAX_REPEATS + 1


@dataclass(frozen=True)
class InterpolateConfig:
    fps: str  # the output rate, a Fraction string
    model: str = DEFAULT_INTERPOLATE_MODEL
    cut: float = motion.CUT  # scene-cut threshold (0: never a cut)
    dedup: bool = True  # spread short runs of repeated frames into one motion
    hdr: int = 0  # HDR kept: 16-bit frames in and out


def output_rate(spec, info: MediaInfo) -> Fraction | None:
    """The rate ``spec`` asks of ``info``, or None when its frames keep their timing
    (no ``--fps``, or a constant-rate source already at that rate)."""
    return motion.output_rate(spec.fps, info.fps, info.vfr)  # JobSpec normalised it


def output_clock(work: SegmentWork) -> tuple[motion.Clock, range]:
    """The output clock and the grid frames of this segment: those from its first source
    frame's time up to the next segment's."""
    info, cfg = work.info, work.config
    clock = motion.grid_clock(Fraction(cfg.fps), info.start_pts, info.time_base, info.duration)
    tb = Fraction(info.time_base)
    end = (work.following.first_pts - info.start_pts) * tb if work.following else None
    ks = motion.grid_range(clock, (work.segment.first_pts - info.start_pts) * tb, end)
    if not ks:
        raise ConfigError(
            f"{info.path}: segment {work.segment.index} holds no frame at {float(clock.fps):g} fps; "
            "use a longer --segment-seconds"
        )
    return clock, ks


def plan(work: SegmentWork) -> Plan:
    """The key covers this segment's input and its neighbours' (file names carry their
    keys), the settings, the model file and the output frames."""
    cfg, info, i = work.config, work.info, work.inputs
    clock, ks = output_clock(work)
    for seg in (work.previous, work.following):
        if seg is not None and seg.n_frames < motion.CONTEXT:
            raise ConfigError(
                f"{info.path}: segment {seg.index} has {seg.n_frames} frames; interpolate reads "
                f"{motion.CONTEXT} of each neighbour: use a longer --segment-seconds"
            )
    model = store.fingerprint(registry.get(cfg.model, "interpolate"))
    code = code_version(__name__)
    inputs = [input_name(info, work.segment, i.frames)]
    for name, seg in (("before", work.previous), ("after", work.following)):
        inputs.append(input_name(info, seg, getattr(i, name)) if seg is not None else None)
    from vidpipe.models.rife import device_label

    key = digest("interpolate", code, inputs, work.around, asdict(cfg), model, device_label(), ks.start, ks.stop, clock)
    return Plan(
        key,
        segment_path(info.sha256, "interpolate", work.segment.name, key),
        work.size,
        frames=len(ks),
        deep=bool(cfg.hdr),
        pts=motion.grid_pts(clock, ks),
        clock=clock,
    )


def motion_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".motion.json")


class _Frames:
    """A segment's input frames by global source index: the tail of the previous
    segment's input, its own, the head of the next one's."""

    def __init__(self, work: SegmentWork):
        self.work = work
        self.fmt = "rgb48" if work.config.hdr else "rgb24"

    def _read(self, name: str, segment) -> Iterator[np.ndarray]:
        path = getattr(self.work.inputs, name)
        info = self.work.info
        if path is None:
            return read_frames(info.path, info.video_index, segment, fmt=self.fmt)
        return read_frames(path, fmt=self.fmt)

    def before(self) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """The previous input's last context frames: (thumbnails, the last :data:`_REACH` frames), by index."""
        if self.work.previous is None:
            return {}, {}
        n, first = len(self.work.around[0]), self.work.segment.first_frame
        thumbs, frames = collections.deque(maxlen=n), collections.deque(maxlen=_REACH)
        for frame in self._read("before", self.work.previous):
            thumbs.append(motion.thumbnail(frame))
            frames.append(frame)
        start = first - len(thumbs)
        return dict(zip(range(start, first), thumbs)), dict(zip(range(first - len(frames), first), frames))

    def own(self) -> Iterator[tuple[int, np.ndarray]]:
        return zip(
            range(self.work.segment.first_frame, self.work.segment.end_frame),
            self._read("frames", self.work.segment),
            strict=True,
        )

    def after(self) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """The next input's first context frames: (thumbnails, the first :data:`_REACH` frames), by index."""
        if self.work.following is None:
            return {}, {}
        n, first = len(self.work.around[1]), self.work.following.first_frame
        thumbs, kept = {}, {}
        frames = self._read("after", self.work.following)
        try:
            for i, frame in zip(range(first, first + n), frames):
                thumbs[i] = motion.thumbnail(frame)
                if i < first + _REACH:
                    kept[i] = frame
        finally:
            frames.close()
        return thumbs, kept


def analyse(work: SegmentWork, frames: _Frames):
    """Pass 1: thumbnails of every frame the decisions need; returns (decisions, times,
    the neighbours' frames kept for pass 2)."""
    info, seg, cfg = work.info, work.segment, work.config
    (before, kept_before), (after, kept_after) = frames.before(), frames.after()
    thumbs = dict(before)
    thumbs.update((i, motion.thumbnail(f)) for i, f in frames.own())
    thumbs.update(after)
    d = {i: motion.difference(thumbs[i], thumbs[i + 1]) for i in thumbs if i + 1 in thumbs}
    lo = max(0, seg.first_frame - _REACH)
    hi = min(info.frame_count - 1, seg.end_frame + motion.MAX_REPEATS)
    decisions = motion.decide(d, info.frame_count, cfg.cut, lo, hi, motion.REPEAT if cfg.dedup else -1.0)
    tb = Fraction(info.time_base)
    pts = (*work.around[0], *work.pts, *work.around[1])  # the frames read, in order, from the previous one's tail
    times = {seg.first_frame - len(work.around[0]) + j: (p - info.start_pts) * tb for j, p in enumerate(pts)}
    return decisions, times, {**kept_before, **kept_after}


def interpolate(work: SegmentWork, plan: Plan, on_frame=None) -> Path:
    """Make ``plan``'s output frames of ``work``'s segment into the lossless file ``plan.out``."""
    from vidpipe.models import rife

    info, cfg = work.info, work.config
    frames = _Frames(work)
    decisions, times, neighbours = analyse(work, frames)
    outputs = [plan.clock.time(p) for p in plan.pts]  # the plan's grid, as times from the first frame
    makes = motion.schedule(times, info.frame_count, decisions, outputs, Fraction(info.time_base) / 2)
    net = rife.load(registry.get(cfg.model, "interpolate"))
    net.forget()

    def jobs() -> Iterator[tuple]:
        held: dict[int, np.ndarray] = {}  # the few frames between the current pair's first and the newest read
        stream = _stream(neighbours, frames, work)
        for make in makes:
            need = max(make.a, make.b)
            while need not in held:
                i, frame = next(stream)
                held[i] = frame
            for i in [i for i in held if i < make.a]:
                del held[i]
            yield (held[make.a], held[make.b], make.t) if make.b >= 0 else (held[make.a], None, 0.0)

    def make(job: tuple) -> np.ndarray:
        a, b, t = job
        return a if b is None else net(a, b, t)

    summary = _summary(decisions, makes, times, work)
    return write_segment(
        jobs(),
        make,
        plan.out,
        work.size,
        float(Fraction(plan.clock.fps)),
        len(plan.pts),
        deep=bool(cfg.hdr),
        on_frame=on_frame,
        before_rename=lambda: _save(motion_path(plan.out), summary),
    )


def _stream(neighbours: dict[int, np.ndarray], frames: _Frames, work: SegmentWork) -> Iterator[tuple[int, np.ndarray]]:
    first, end = work.segment.first_frame, work.segment.end_frame
    yield from sorted((i, f) for i, f in neighbours.items() if i < first)
    yield from frames.own()
    yield from sorted((i, f) for i, f in neighbours.items() if i >= end)


def _summary(decisions: motion.Decisions, makes, times, work: SegmentWork) -> dict:
    own = range(work.segment.first_frame, work.segment.end_frame)
    return {
        "cuts": [round(float(times[i + 1]), 3) for i in sorted(decisions.cuts) if i + 1 in own],
        "merged": sum(1 for i in decisions.dropped if i in own),
        "held": sum(1 for i in decisions.holds if i in own),
        "made": sum(1 for m in makes if m.b >= 0),
        "copied": sum(1 for m in makes if m.b < 0),
    }


def _save(path: Path, summary: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary))
    os.replace(tmp, path)


def read_summary(out: str | Path) -> dict | None:
    try:
        return json.loads(motion_path(out).read_text())
    except (OSError, ValueError):
        return None


class Interpolate(Step):
    """Reads the colour frames (and its neighbours' first and last); writes them at the output rate."""

    name = "interpolate"
    scope = "segment"
    needs = Needs(model=True, intermediate=True, frames=True, context=motion.CONTEXT)
    consumes = ("frames",)
    produces = "frames"

    def configure(self, spec, info: MediaInfo) -> InterpolateConfig | None:
        rate = output_rate(spec, info)
        if rate is None:
            return None
        return InterpolateConfig(
            str(rate), spec.interpolate_model, spec.interpolate_cut, spec.interpolate_dedup, kept(spec.hdr, info)
        )

    def models(self, config: InterpolateConfig, info: MediaInfo) -> tuple:
        return (registry.get(config.model, "interpolate"),)

    def plan(self, work: SegmentWork) -> Plan:
        return plan(work)

    def run(self, work: SegmentWork, plan: Plan, on_frame=None) -> str:
        return str(interpolate(work, plan, on_frame))

    def uses_gpu(self, work: SegmentWork) -> bool:
        from vidpipe import gpu

        return gpu.has_cuda()

    def describe(self, work: SegmentWork) -> str:
        from vidpipe.models.rife import device_label

        return f"{work.config.model} on {device_label()}, to {float(Fraction(work.config.fps)):g} fps"

    def notes(self, plans: list[Plan]) -> str:
        found = [read_summary(p.out) for p in plans]
        found = [s for s in found if s]
        if not found:
            return ""
        cuts = [t for s in found for t in s["cuts"]]
        merged, held = sum(s["merged"] for s in found), sum(s["held"] for s in found)
        made = sum(s["made"] for s in found)
        parts = [f"{made} frames made"]
        parts.append(
            f"{len(cuts)} scene cut{'s' * (len(cuts) != 1)}"
            + (f" (at {', '.join(f'{t:g} s' for t in cuts[:5])}{', ...' if len(cuts) > 5 else ''})" if cuts else "")
        )
        parts.append(f"{merged} repeated frame{'s' * (merged != 1)} spread into motion")
        if held:
            parts.append(f"{held} repeated frame{'s' * (held != 1)} kept (holds)")
        return ", ".join(parts)


STEP = Interpolate()
