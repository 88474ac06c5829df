from __future__ import annotations

from prefect import task

from tasks.cache import RETRIES, StepCache
from tasks.gpu import gpu_slot
from vidpipe import telemetry
from vidpipe import progress
from vidpipe.media.probe import MediaInfo
from vidpipe.media.segments import Segment
from vidpipe.stages import restore_faces as engine
from vidpipe.stages.restore_faces import RestoreFacesConfig


def _plan(inputs):
    return engine.plan(inputs["info"], inputs["segment"], inputs["upstream"], inputs["cfg"])


@task(
    name="restore_faces", task_run_name="restore_faces-{segment.name}", cache_policy=StepCache(plan=_plan), **RETRIES
)
def restore_faces(info: MediaInfo, segment: Segment, upstream: str, cfg: RestoreFacesConfig) -> str:
    """GFPGAN on every face of one upscaled segment; returns the new segment file's path."""
    _, out = engine.plan(info, segment, upstream, cfg)
    if telemetry.finished(out):  # made by a run killed before Prefect stored its result
        return str(out)
    tick = progress.frame_counter(info.path, "faces", info.frame_count)
    with gpu_slot(), telemetry.measure("restore_faces", segment.name, segment.n_frames, cfg.model, out):
        return str(engine.restore_faces(info, segment, upstream, cfg, out, on_frame=tick))
