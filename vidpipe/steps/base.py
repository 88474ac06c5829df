"""The step protocol. A step declares what it is and what it needs; callers (the
pipeline planner, the Prefect task factory, the report) ask it instead of guessing.

Every step has one name, used everywhere: the module ``vidpipe/steps/<name>.py``, the
Prefect task and its runs (``<name>-<unit>``), the CLI options and JobSpec fields that
configure it (``--<name>...``), the progress bar and the report row.

A step is planned, then run:

- ``plan(work) -> Plan | None``: the cache key and the output path, computed from the
  work's inputs alone (content hashes, settings, model files, code), without running
  anything. ``None``: not cached (``probe``, ``upload``, ``report`` run every time).
- ``run(work, plan, on_frame) -> result``: does the work; writes ``plan.out`` when the
  step makes a file.
- or, for a *streamed* step (``Needs.streamed``: composite), ``frames(work, plan)``: no
  task and no file; the step that reads its output (join) gets a :class:`Stream` and
  pulls the frames through its own frame loop. Its key still goes into the reader's.

:func:`execute` is the one body every step runs in (the finished-file check, progress,
telemetry, the GPU slot when the step says it uses the GPU), so a front end (the Prefect
task factory in ``tasks/``, a plain Python call, a test) only adds what it is about.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from vidpipe import interrupt, progress, telemetry
from vidpipe.errors import StepFailed, VidpipeError, one_line
from vidpipe.media.motion import Clock, source_clock
from vidpipe.media.probe import MediaInfo
from vidpipe.media.segments import Segment

if TYPE_CHECKING:
    from vidpipe.config import JobSpec

OnFrame = Callable[[int], None] | None
#: what a segment step reads and writes: colour frames, or an RGBA matte
Role = Literal["frames", "matte"]


@dataclass(frozen=True)
class Needs:
    """What running a step takes."""

    model: bool = False  # runs a network (on the GPU where this machine has one: ask ``uses_gpu``)
    intermediate: bool = False  # writes a lossless segment file with a stats sidecar
    chain: bool = False  # starts from this step's output for the previous segment (in order)
    frames: bool = False  # runs the frame loop (progress per frame)
    cached: bool = True  # keyed by ``plan``; a hit skips ``run``
    streamed: bool = False  # no task and no file: ``frames`` makes the frames inside the step that reads them
    context: int = 0  # frames of the neighbouring segments' input read on each side (``before``/``after``)


@dataclass(frozen=True)
class Plan:
    """The cache key and output of one unit of a step's work. ``size`` is the frame
    size written (per-segment steps); ``channels`` 4 for RGBA."""

    key: str
    out: Path | None = None
    size: tuple[int, int] | None = None
    channels: int = 3
    frames: int = 0
    delivery: bool = False  # a delivered file carrying ``tag``: current only while it carries it
    deep: bool = False  # 16-bit samples (HDR kept): twice the bytes
    #: a step that re-times its segment (interpolate): its output frames' timestamps, on ``clock``
    pts: tuple[int, ...] | None = None
    clock: Clock | None = None

    @property
    def tag(self) -> str:
        """What a delivered file carries in its metadata: the folder skip compares it."""
        return TAG_PREFIX + self.key[:32]


TAG_PREFIX = "vidpipe:"


def input_name(info: MediaInfo, segment: Segment, path: str | None) -> str:
    """What names a segment's frames input in a cache key: the file's name (it carries the
    key of the unit that made it), or for the source's own frames its content and range."""
    return Path(path).name if path else f"{info.sha256}:{segment.first_frame}+{segment.n_frames}"


@dataclass(frozen=True)
class Inputs:
    """A segment unit's upstream files. ``None`` is the source video's own frames."""

    frames: str | None = None  # the colour frames so far (role "frames")
    matte: str | None = None  # the matte (role "matte")
    prev: str | None = None  # a chained step: its own output for the previous segment
    prev_frames: str | None = None  # a chained step: the previous segment's frames input
    before: str | None = None  # a context step: the previous segment's frames input (if ``work.previous``)
    after: str | None = None  # a context step: the next segment's frames input (if ``work.following``)


@dataclass(frozen=True)
class SegmentWork:
    """One segment for a per-segment step: its upstream files (``inputs``), and the
    previous and next segments (``previous``/``following``; None: there is none).
    ``size``: the size of the frames input. ``pts``: its frames' timestamps, in order,
    on ``clock`` (None: the source's own)."""

    info: MediaInfo
    segment: Segment
    config: Any
    inputs: Inputs = Inputs()
    size: tuple[int, int] = (0, 0)
    pts: tuple[int, ...] = ()
    previous: Segment | None = None
    following: Segment | None = None
    clock: Clock | None = None
    #: a context step's neighbours: the timestamps of the previous input's last frames and the next one's first
    around: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())

    @property
    def label(self) -> str:
        return self.segment.name

    @property
    def frames(self) -> int:
        """Frames of the input (the source segment's, or a re-timed segment's)."""
        return len(self.pts) if self.pts else self.segment.n_frames

    @property
    def timing(self) -> Clock:
        """The input frames' clock: the source's, unless a step before re-timed them."""
        i = self.info
        return self.clock or source_clock(i.time_base, i.fps, i.start_pts, i.frame_count)

    @property
    def total(self) -> int:
        """Frames of the whole video on the input's clock (a progress bar's total)."""
        return self.timing.frames

    @property
    def fps(self) -> float:
        """The input's nominal frame rate."""
        from fractions import Fraction

        return float(Fraction(self.timing.fps))

    @property
    def times(self) -> list[float]:
        """Each frame's presentation time in seconds from the video's first frame."""
        clock = self.timing
        return [clock.seconds(p) for p in self.pts]


class Step:
    """A step's declaration. Subclasses set ``name`` and ``needs`` and implement
    ``plan`` and ``run``; per-segment steps also ``configure``, ``consumes`` and
    ``produces``."""

    name: ClassVar[str]
    scope: ClassVar[Literal["video", "segment"]] = "video"
    needs: ClassVar[Needs] = Needs()
    #: per-segment steps: the roles read from upstream, and the role written
    consumes: ClassVar[tuple[Role, ...]] = ()
    produces: ClassVar[Role] = "frames"

    def configure(self, spec: JobSpec, info: MediaInfo) -> Any | None:
        """This step's config for a job on ``info``, or None when the job does not use it."""
        return None

    def models(self, config, info: MediaInfo) -> tuple:
        """The model files (``ModelSpec``) this step's units load, for ``config`` on ``info``:
        found or downloaded before any planning (``plan`` only reads their hashes)."""
        return ()

    def plan(self, work) -> Plan | None:
        return None

    def run(self, work, plan: Plan | None, on_frame: OnFrame = None) -> Any:
        raise NotImplementedError

    @property
    def spreads(self) -> bool:
        """A unit of this step may run on any machine that shares the work folder: a model
        step on one segment that reads and writes files only (not chained to the previous
        segment, not streamed)."""
        n = self.needs
        return (
            self.scope == "segment" and n.model and n.intermediate and not n.chain and not n.streamed and not n.context
        )

    def uses_gpu(self, work) -> bool:
        """True when this unit of work runs a model on a GPU of this machine (it then
        holds a slot of the machine's GPU limit)."""
        return False

    def describe(self, work) -> str:
        """Device and model, for logs and the run report."""
        return ""

    def notes(self, plans: list[Plan]) -> str:
        """What the step decided over a video's units (read from their outputs), for the report."""
        return ""

    def result(self, work, plan: Plan):
        """What ``run`` returns, for a finished file left by an interrupted run."""
        return str(plan.out)

    def frames(self, work, plan: Plan) -> Iterator:
        """A streamed step's frames (HWC uint8), made on the fly for the step reading them."""
        raise NotImplementedError(f"step {self.name} is not streamed")

    def __repr__(self) -> str:
        return f"<step {self.name}>"


@dataclass(frozen=True)
class SegmentFile:
    """A segment's frames in a lossless file, as join reads them. ``name`` carries the key
    of the unit that made it."""

    path: str

    @property
    def name(self) -> str:
        return Path(self.path).name

    def frames(self, fmt: str = "rgb24") -> Iterator:
        from vidpipe.media.reader import read_frames

        return read_frames(self.path, fmt=fmt)


@dataclass(frozen=True)
class Stream:
    """A streamed step's output for one segment: read like a :class:`SegmentFile`, made on
    the fly. ``name`` carries the plan key, as a file name does."""

    step: Step
    work: Any
    plan: Plan

    @property
    def name(self) -> str:
        return f"{self.step.name}-{self.work.label}-{self.plan.key[:16]}"

    def frames(self, fmt: str = "rgb24") -> Iterator:
        return self.step.frames(self.work, self.plan)  # in the step's own format, which join's matches


def run_to(step: Step, work, out: str | Path, on_frame: OnFrame = None):
    """Run ``step`` on ``work`` into the file ``out`` (tools, tests, the bench): the step's
    own plan, with its output placed there."""
    import dataclasses

    return step.run(work, dataclasses.replace(step.plan(work), out=Path(out)), on_frame)


def execute(
    step: Step,
    work,
    plan: Plan | None,
    gpu_slot: Callable[[bool], contextlib.AbstractContextManager] = lambda _needed: contextlib.nullcontext(),
):
    """Run one planned unit of ``step``: a finished file (with its stats sidecar, which
    is written last) left by a run killed before its record was stored is returned as
    it is; otherwise ``run`` under the GPU slot (only if the step uses the GPU here),
    with a progress tick per frame and, for intermediates, the stats sidecar."""
    if step.needs.intermediate and plan is not None and telemetry.finished(plan.out):
        return step.result(work, plan)
    interrupt.check()  # nothing new starts after a stop request
    tick = None
    if step.needs.frames:  # a bar over the frames this step makes: on its output's clock when it re-times them
        total = plan.clock.frames if plan is not None and plan.clock else getattr(work, "total", work.info.frame_count)
        tick = progress.frame_counter(work.info.path, step.name, total)
    try:
        with gpu_slot(step.uses_gpu(work)), _measured(step, work, plan):
            return step.run(work, plan, tick)
    except (VidpipeError, OSError, MemoryError):  # said clearly already, or transient (retried)
        raise
    except Exception as e:  # a library's own error: one line naming the step
        raise StepFailed(f"{_where(work)}: {step.name} failed: {one_line(e)}") from e


def _where(work) -> str:
    info = getattr(work, "info", None)
    label = getattr(work, "label", "")
    path = getattr(info, "path", "") or getattr(work, "path", "")
    return f"{path} ({label})" if path and label and label not in str(path) else str(path or label)


@contextlib.contextmanager
def _measured(step: Step, work, plan: Plan | None) -> Iterator[None]:
    if not step.needs.intermediate or plan is None or plan.out is None:
        yield
        return
    with telemetry.measure(step.name, work.label, plan.frames or work.frames, step.describe(work), plan.out):
        yield
