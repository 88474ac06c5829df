"""join: concatenate the segments' final frames, re-time them from the source
timestamps, turn them upright, encode the delivery file once, mux the source audio,
check the result against the source and only then rename it into place. The
encoder is :mod:`vidpipe.media.encode`.

The output carries its plan's key as a metadata tag (``comment = vidpipe:<key>``): the
folder skip (:attr:`vidpipe.jobs.Video.current`) plans the same job and compares, so
"skipped" and "cached" can never disagree."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidpipe.hashing import digest
from vidpipe.media.colour import TRANSFER_NAMES, kept
from vidpipe.media.encode import Delivery, EncodeConfig, deliver, hdr_encode, resolve_codec
from vidpipe.media.motion import Clock
from vidpipe.media.probe import MediaInfo
from vidpipe.steps.base import Needs, Plan, SegmentFile, Step, Stream
from vidpipe.version import code_version


@dataclass(frozen=True)
class JoinWork:
    info: MediaInfo
    segments: tuple[SegmentFile | Stream, ...]  # each segment's final frames (a file, or a streamed step's), in order
    timestamps: tuple[int, ...]
    out: str
    encode: EncodeConfig = EncodeConfig()
    clock: Clock | None = None  # the frames' timing when re-timed (interpolate); None: the source's

    @property
    def label(self) -> str:
        return Path(self.out).name

    @property
    def frames(self) -> int:
        return len(self.timestamps)

    @property
    def total(self) -> int:
        """A progress bar's total: the frames delivered (the output clock's, when re-timed)."""
        return len(self.timestamps)


def join(work: JoinWork, out: str | Path, *, tag: str = "", on_frame: Callable[[int], None] | None = None) -> Delivery:
    """Write ``out`` from the processed segments (HWC frames in stored orientation), each
    read as a file or made as it is encoded (a streamed step's), with ``work.timestamps``
    on ``work.clock`` (None: the source's)."""
    encode = work.encode
    fmt = "rgb48" if encode.hdr else "rgba" if encode.alpha else "rgb24"
    frames = itertools.chain.from_iterable(source.frames(fmt) for source in work.segments)
    return deliver(frames, work.info, work.timestamps, out, encode, tag=tag, on_frame=on_frame, clock=work.clock)


def plan(work: JoinWork) -> Plan:
    """The segment names carry the upstream keys: changing any step re-joins."""
    out = Path(work.out).resolve()
    names = [source.name for source in work.segments]
    return Plan(
        digest("join", code_version(__name__), work.info.sha256, names, work.encode, work.clock, str(out)),
        out,
        frames=work.frames,
        delivery=True,
    )


class Join(Step):
    name = "join"
    needs = Needs(frames=True)

    def configure(self, spec, info: MediaInfo) -> EncodeConfig:
        transfer = kept(spec.hdr, info)
        if transfer:
            return EncodeConfig(crf=spec.crf, preset=spec.preset, **hdr_encode(spec.codec, info, transfer))
        return EncodeConfig(codec=resolve_codec(spec.codec), crf=spec.crf, preset=spec.preset)

    def plan(self, work: JoinWork) -> Plan:
        return plan(work)

    def run(self, work: JoinWork, plan: Plan, on_frame=None) -> Delivery:
        return join(work, plan.out, tag=plan.tag, on_frame=on_frame)

    def describe(self, work: JoinWork) -> str:
        e = work.encode
        if not e.hdr:
            return f"{e.codec} crf {e.crf}, {e.preset}"
        metadata = (
            ""
            if not (e.mastering or e.content_light)
            else (
                ", mastering/light metadata kept"
                if e.codec == "libx265"
                else ", the source's mastering/light metadata NOT written (NVENC here; --codec libx265 keeps it)"
            )
        )
        return f"{e.codec} 10-bit {TRANSFER_NAMES[e.hdr]} bt2020 crf {e.crf}, {e.preset}{metadata}"


STEP = Join()
