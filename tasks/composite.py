from __future__ import annotations

from fractions import Fraction

from prefect import task

from tasks.cache import RETRIES, StepCache
from tasks.split import Timeline
from vidpipe import progress, telemetry
from vidpipe.media.probe import MediaInfo
from vidpipe.media.segments import Segment
from vidpipe.stages import composite as engine
from vidpipe.stages.composite import CompositeConfig


def _plan(inputs):
    return engine.plan(inputs["info"], inputs["segment"], inputs["upstream"], inputs["matte_file"], inputs["cfg"])


@task(name="composite", task_run_name="composite-{segment.name}", cache_policy=StepCache(plan=_plan), **RETRIES)
def composite(
    info: MediaInfo, segment: Segment, upstream: str, matte_file: str, cfg: CompositeConfig, timeline: Timeline
) -> str:
    """The matted person over the new background; returns the lossless segment file."""
    _, out = engine.plan(info, segment, upstream, matte_file, cfg)
    if telemetry.finished(out):  # made by a run killed before Prefect stored its result
        return str(out)
    tb, t0 = Fraction(info.time_base), timeline.timestamps[0]
    times = [float((p - t0) * tb) for p in timeline.timestamps[segment.first_frame : segment.end_frame]]
    tick = progress.frame_counter(info.path, "composite", info.frame_count)
    with telemetry.measure("composite", segment.name, segment.n_frames, f"background {cfg.background}", out):
        return str(engine.composite(info, segment, upstream, matte_file, cfg, times, out, on_frame=tick))
