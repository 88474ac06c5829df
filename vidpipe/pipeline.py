"""The plan of one video: every unit of work of every step, with its cache key, its
output and what it waits for, computed from the job alone before anything runs.

The flow submits these units as they are (``flows/enhance_video.py``); the folder
skip compares the join's key with the tag of the delivered file
(:attr:`vidpipe.jobs.Video.current`); the disk check and the run report read the same
list. Nothing here runs a model or imports Prefect.

Per-segment steps are wired by role (``vidpipe.steps.base``): each segment starts with
the source's frames as ``"frames"``; a step reads the roles it ``consumes`` and its
output becomes the role it ``produces``. A chained step (matte) also gets its own
previous segment's output. ``join`` takes each segment's final ``"frames"``.

A streamed step (composite) is planned like any other, keyed and listed, but runs
inside join: join gets a :class:`~vidpipe.steps.base.Stream` for it, and waits on
what the streamed step reads instead. :attr:`VideoPlan.tasks` are the units the flow
submits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidpipe import resources, steps, telemetry
from vidpipe.errors import ConfigError
from vidpipe.media import writer
from vidpipe.media.colour import kept
from vidpipe.media.motion import Clock
from vidpipe.media.probe import MediaInfo
from vidpipe.steps.base import Inputs, Plan, SegmentFile, SegmentWork, Step, Stream
from vidpipe.steps.export_alpha import ExportAlphaWork, alpha_path
from vidpipe.steps.join import JoinWork
from vidpipe.steps.report import StepRow, summarize
from vidpipe.steps.split import Timeline


@dataclass(frozen=True)
class Planned:
    """One unit of work: ``step`` on ``work``, keyed and placed by ``plan``, after the
    units at ``deps`` (indices into :attr:`VideoPlan.items`)."""

    step: Step
    work: Any
    plan: Plan | None
    deps: tuple[int, ...] = ()


def planned(step: Step, work) -> Planned:
    """One unit of a video-level step (upload, report), planned on its own."""
    return Planned(step, work, step.plan(work))


@dataclass
class VideoPlan:
    info: MediaInfo
    timeline: Timeline
    #: the per-segment units, step by step, each after everything it depends on (so a
    #: first-in-first-out pool of any size never waits on work queued behind it)
    items: list[Planned] = field(default_factory=list)
    final: list[int] = field(default_factory=list)  # per segment: the unit whose frames join takes
    join: Planned | None = None
    export_alpha: Planned | None = None

    @property
    def segment_steps(self) -> list[Step]:
        """The per-segment steps this job runs, in order."""
        seen: list[Step] = []
        for item in self.items:
            if item.step not in seen:
                seen.append(item.step)
        return seen

    @property
    def tasks(self) -> list[int]:
        """Indices of the units that run as tasks (all but streamed ones)."""
        return [i for i, unit in enumerate(self.items) if not unit.step.needs.streamed]

    def ready(self, index: int) -> tuple[int, ...]:
        """The task units that must finish before unit ``index``'s output can be read:
        itself, or for a streamed unit, what it reads (recursively)."""
        unit = self.items[index]
        if not unit.step.needs.streamed:
            return (index,)
        return tuple(sorted({r for d in unit.deps for r in self.ready(d)}))

    def of(self, step: Step | str) -> list[Planned]:
        name = step if isinstance(step, str) else step.name
        return [i for i in self.items if i.step.name == name]

    def intermediates(self) -> list[tuple[Path, int]]:
        """Each intermediate file this video's job keeps, with its estimated size."""
        return [
            (i.plan.out, int(resources.frame_bytes(i.plan.frames, *i.plan.size, i.plan.channels) * _depth(i.plan)))
            for i in self.items
            if i.step.needs.intermediate and i.plan is not None and i.plan.size and i.plan.out is not None
        ]

    def disk_bytes(self) -> int:
        """Disk the intermediates and the delivered file need."""
        total = sum(size for _path, size in self.intermediates())
        last = self.items[self.final[0]].plan if self.final else None
        if last is not None and last.size:
            total += 0.1 * resources.frame_bytes(len(self.join.work.timestamps), *last.size, 3)  # the delivered file
        return int(total)

    def describe(self) -> str:
        """What runs, for logs and the result line: each step with its device and model."""
        parts = []
        for step in self.segment_steps:
            parts.append(f"{step.name} {step.describe(self.of(step)[0].work)}".strip())
        return ", ".join(parts)

    def rows(self, cached: Callable[[Planned], bool]) -> list[StepRow]:
        """Per per-segment step: segments, cache hits and cost (from each output's stats)."""
        rows = []
        for s in self.segment_steps:
            units = self.of(s)
            if s.needs.streamed:
                rows.append(StepRow(s.name, segments=len(units), device="on the fly, inside join"))
            else:
                rows.append(summarize(s.name, [(telemetry.read(i.plan.out), cached(i)) for i in units]))
                notes = s.notes([i.plan for i in units])
                if notes:
                    rows[-1].device = f"{rows[-1].device}; {notes}" if rows[-1].device else notes
        return rows

    def tags(self) -> dict[str, str]:
        """Each delivered file's path and the tag it must carry to be current."""
        out = {}
        for unit in (self.join, self.export_alpha):
            if unit is not None:
                out[str(unit.plan.out)] = unit.plan.tag
        return out


def _depth(plan: Plan) -> float:
    """How much larger than the default intermediates a plan's file is: 16-bit FFV1 against
    the chosen 8-bit codec (both by their measured size ratios)."""
    return 2 * writer.DEEP.size_ratio / writer.size_ratio() if plan.deep else 1.0


def models(spec, info: MediaInfo) -> list:
    """Every model file (``ModelSpec``) the steps of ``spec`` load on ``info``: resolved
    (found, else downloaded) before planning, which only reads their hashes."""
    return [
        m
        for step in steps.segment_steps()
        if (config := step.configure(spec, info)) is not None
        for m in step.models(config, info)
    ]


def plan_video(info: MediaInfo, timeline: Timeline, spec, output: str | Path) -> VideoPlan:
    """Plan every step of ``spec`` on the video ``info`` into ``output``."""
    plan = VideoPlan(info, timeline)
    state = [{"frames": Track(None, (info.width, info.height), None, timeline.pts(seg))} for seg in timeline.segments]
    for step in steps.segment_steps():
        config = step.configure(spec, info)
        if config is not None:
            _plan_step(plan, step, config, state)
    for i, seg_state in enumerate(state):
        if seg_state["frames"].producer is None:
            raise ConfigError(f"{info.path}: no step writes the frames of segment {i}")
        plan.final.append(seg_state["frames"].producer)
    join = steps.get("join")
    clock = state[0]["frames"].clock
    work = JoinWork(
        info,
        tuple(s["frames"].source for s in state),
        _joined(state, "frames"),
        str(output),
        join.configure(spec, info),
        clock,
    )
    waits = sorted({r for i in plan.final for r in plan.ready(i)})
    plan.join = Planned(join, work, join.plan(work), tuple(waits))
    fmt = spec.export_alpha
    if fmt != "none":
        plan.export_alpha = _plan_export(plan, state, Path(output), fmt, kept(spec.hdr, info))
    return plan


@dataclass(frozen=True)
class Track:
    """What one role of a segment is so far: the file (None: the source's own frames),
    its frame size, the unit that makes it, its frames' timestamps and their clock (None:
    the source's); ``stream``: a streamed step's frames, made inside join (no file)."""

    path: str | None
    size: tuple[int, int]
    producer: int | None
    pts: tuple[int, ...]
    clock: Clock | None = None
    stream: Stream | None = None

    @property
    def source(self) -> SegmentFile | Stream:
        """What join reads for this segment."""
        return self.stream or SegmentFile(self.path)


def _joined(state: list[dict[str, Track]], role: str) -> tuple[int, ...]:
    return tuple(p for s in state for p in s[role].pts)


def _plan_step(plan: VideoPlan, step: Step, config, state: list[dict[str, Track]]) -> None:
    info, segments = plan.info, plan.timeline.segments
    before: Planned | None = None
    given = [dict(s) for s in state]  # every segment's inputs, before this step replaces them
    for i, segment in enumerate(segments):
        inputs, deps = Inputs(), []
        for role in step.consumes:
            if role not in given[i]:
                raise ConfigError(f"step {step.name} reads {role!r}, but no step before it writes that")
            track = given[i][role]
            if track.stream is not None:
                raise ConfigError(
                    f"step {step.name} reads the {role} of {track.stream.step.name}, which are made on "
                    f"the fly inside join; register {step.name} before {track.stream.step.name}"
                )
            inputs = replace(inputs, **{role: track.path})
            if track.producer is not None:
                deps.append(track.producer)
        if step.needs.chain and before is not None:
            inputs = replace(inputs, prev=str(before.plan.out), prev_frames=before.work.inputs.frames)
            deps.append(len(plan.items) - 1)
        around: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
        if n := step.needs.context:  # the neighbours' own inputs, what makes them, their timestamps
            for name, j in (("before", i - 1), ("after", i + 1)):
                if 0 <= j < len(segments):
                    inputs = replace(inputs, **{name: given[j]["frames"].path})
                    if given[j]["frames"].producer is not None:
                        deps.append(given[j]["frames"].producer)
            around = (
                given[i - 1]["frames"].pts[-n:] if i else (),
                given[i + 1]["frames"].pts[:n] if i + 1 < len(segments) else (),
            )
        frames = given[i]["frames"]
        work = SegmentWork(
            info,
            segment,
            config,
            inputs,
            frames.size,
            frames.pts,
            segments[i - 1] if i else None,
            segments[i + 1] if i + 1 < len(segments) else None,
            frames.clock,
            around,
        )
        unit = Planned(step, work, step.plan(work), tuple(dict.fromkeys(deps)))
        plan.items.append(unit)
        streamed = step.needs.streamed
        retimed = unit.plan.pts is not None
        state[i][step.produces] = Track(
            None if streamed else str(unit.plan.out),
            unit.plan.size,
            len(plan.items) - 1,
            unit.plan.pts if retimed else frames.pts,
            unit.plan.clock if retimed else frames.clock,
            Stream(step, work, unit.plan) if streamed else None,
        )
        before = unit


def _plan_export(plan: VideoPlan, state: list[dict[str, Track]], output: Path, fmt: str, hdr: int) -> Planned:
    if "matte" not in state[0]:
        raise ConfigError("--export-alpha needs the matte step")
    mattes = [s["matte"] for s in state]
    matte_units = [plan.items[m.producer] for m in mattes]
    # a matte smaller than the frames it was made for (matte before upscale, an input's
    # own alpha) takes its colour from those frames, with the alpha scaled up
    low_res = any(u.plan.size != u.work.size for u in matte_units)
    colors = tuple(u.work.inputs.frames for u in matte_units) if low_res else None
    deps = [m.producer for m in mattes] + ([d for u in matte_units for d in u.deps] if low_res else [])
    work = ExportAlphaWork(
        plan.info,
        tuple(m.path for m in mattes),
        _joined(state, "matte"),
        str(alpha_path(output, fmt)),
        fmt,
        colors,
        hdr if colors else 0,
        mattes[0].clock,
    )
    step = steps.get("export_alpha")
    return Planned(step, work, step.plan(work), tuple(sorted(set(deps))))
