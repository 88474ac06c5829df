from __future__ import annotations

from pathlib import Path

from prefect import task

from tasks.cache import RETRIES, StepCache
from tasks.split import Timeline
from vidpipe import progress
from vidpipe.hashing import digest
from vidpipe.media import alpha
from vidpipe.media import join as engine
from vidpipe.media.join import EncodeConfig, JoinReport
from vidpipe.media.probe import MediaInfo
from vidpipe.version import code_version


def _plan(inputs):
    code = code_version("vidpipe.media.join", "vidpipe.media.frames")
    segments = [Path(p).name for p in inputs["segments"]]  # names carry the upstream keys
    out = Path(inputs["out"]).resolve()
    return digest("join", code, inputs["info"].sha256, segments, inputs["encode"], inputs["tag"], str(out)), out


@task(name="join", task_run_name="join-{out}", cache_policy=StepCache(plan=_plan), **RETRIES)
def join(info: MediaInfo, segments: list[str], timeline: Timeline, out: str, encode: EncodeConfig, tag: str) -> JoinReport:
    """Concatenate, re-time, rotate upright, encode, mux audio, check sync, rename into place."""
    tick = progress.frame_counter(info.path, "join", info.frame_count)
    return engine.join(segments, info, timeline.timestamps, out, encode, tag=tag, on_frame=tick)


def _alpha_plan(inputs):
    code = code_version("vidpipe.media.join", "vidpipe.media.alpha")
    segments = [Path(p).name for p in inputs["mattes"]]
    out = Path(inputs["out"]).resolve()
    colors = [Path(p).name for p in inputs["colors"] or []]
    return digest("join_alpha", code, inputs["info"].sha256, segments, colors, inputs["fmt"], str(out)), out


@task(name="join_alpha", task_run_name="join_alpha-{fmt}", cache_policy=StepCache(plan=_alpha_plan), **RETRIES)
def join_alpha(
    info: MediaInfo, mattes: list[str], timeline: Timeline, out: str, fmt: str, tag: str, colors: list[str] | None = None
) -> JoinReport:
    """The cut-out person with alpha (ProRes 4444, VP9 WebM or PNGs), audio where allowed."""
    return alpha.export_alpha(mattes, info, timeline.timestamps, Path(out), fmt, tag, colors)
