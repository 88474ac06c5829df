"""The plan of one video: every unit of work of every step, with its cache key, its
output and what it waits for, computed from the job alone before anything runs.

The flow submits these units as they are (``flows/enhance_video.py``); the folder
skip compares the join's key with the tag of the delivered file
(:func:`vidpipe.jobs.is_current`); the disk check and the run report read the same
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidpipe import resources, steps, telemetry
from vidpipe.errors import ConfigError
from vidpipe.media import writer
from vidpipe.media.colour import kept
from vidpipe.media.probe import MediaInfo
from vidpipe.steps.base import Plan, SegmentWork, Step, Stream
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
            total += 0.1 * resources.frame_bytes(self.info.frame_count, *last.size, 3)  # the delivered file
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


def plan_video(info: MediaInfo, timeline: Timeline, spec, output: str | Path) -> VideoPlan:
    """Plan every step of ``spec`` on the video ``info`` into ``output``."""
    plan = VideoPlan(info, timeline)
    source = (None, (info.width, info.height), None)  # (path, size, producing unit)
    state: list[dict[str, tuple]] = [{"frames": source} for _ in timeline.segments]
    for step in steps.segment_steps():
        config = step.configure(spec, info)
        if config is not None:
            _plan_step(plan, step, config, state)
    for i, seg_state in enumerate(state):
        path, _size, producer = seg_state["frames"]
        if producer is None:
            raise ConfigError(f"{info.path}: no step writes the frames of segment {i}")
        plan.final.append(producer)
    join = steps.get("join")
    work = JoinWork(info, tuple(s["frames"][0] for s in state), timeline.timestamps, str(output),
                    join.configure(spec, info))
    waits = sorted({r for i in plan.final for r in plan.ready(i)})
    plan.join = Planned(join, work, join.plan(work), tuple(waits))
    fmt = spec.export_alpha
    if fmt != "none":
        plan.export_alpha = _plan_export(plan, state, Path(output), fmt, kept(spec.hdr, info))
    return plan


def _plan_step(plan: VideoPlan, step: Step, config, state: list[dict[str, tuple]]) -> None:
    info, segments = plan.info, plan.timeline.segments
    before: Planned | None = None
    for i, segment in enumerate(segments):
        inputs, deps = {}, []
        for role in step.consumes:
            if role not in state[i]:
                raise ConfigError(f"step {step.name} reads {role!r}, but no step before it writes that")
            path, _size, producer = state[i][role]
            if isinstance(path, Stream):
                raise ConfigError(f"step {step.name} reads the {role} of {path.step.name}, which are made on the fly "
                                  f"inside join; register {step.name} before {path.step.name}")
            inputs[role] = path
            if producer is not None:
                deps.append(producer)
        if step.needs.chain and before is not None:
            inputs["prev"] = str(before.plan.out)
            inputs["prev_frames"] = before.work.inputs.get("frames")
            deps.append(len(plan.items) - 1)
        work = SegmentWork(info, segment, config, inputs, state[i]["frames"][1], plan.timeline.pts(segment),
                           segments[i - 1] if i else None)
        unit = Planned(step, work, step.plan(work), tuple(deps))
        plan.items.append(unit)
        out = Stream(step, work, unit.plan) if step.needs.streamed else str(unit.plan.out)
        state[i][step.produces] = (out, unit.plan.size, len(plan.items) - 1)
        before = unit


def _plan_export(plan: VideoPlan, state: list[dict[str, tuple]], output: Path, fmt: str, hdr: int) -> Planned:
    if "matte" not in state[0]:
        raise ConfigError("--export-alpha needs the matte step")
    mattes = [s["matte"] for s in state]
    matte_units = [plan.items[m[2]] for m in mattes]
    # a matte smaller than the frames it was made for (matte before upscale, an input's
    # own alpha) takes its colour from those frames, with the alpha scaled up
    low_res = any(u.plan.size != u.work.size for u in matte_units)
    colors = tuple(u.work.inputs.get("frames") for u in matte_units) if low_res else None
    deps = [m[2] for m in mattes] + ([d for u in matte_units for d in u.deps] if low_res else [])
    work = ExportAlphaWork(plan.info, tuple(m[0] for m in mattes), plan.timeline.timestamps,
                           str(alpha_path(output, fmt)), fmt, colors, hdr if colors else 0)
    step = steps.get("export_alpha")
    return Planned(step, work, step.plan(work), tuple(sorted(set(deps))))
