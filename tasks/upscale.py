from __future__ import annotations

from prefect import task

from tasks.cache import RETRIES, StepCache
from tasks.gpu import gpu_slot
from vidpipe import telemetry
from vidpipe import progress
from vidpipe.media.probe import MediaInfo
from vidpipe.media.segments import Segment
from vidpipe.stages import upscale as engine
from vidpipe.stages.upscale import UpscaleConfig


def _plan(inputs):
    return engine.plan(inputs["info"], inputs["segment"], inputs["cfg"])


@task(name="upscale", task_run_name="upscale-{segment.name}", cache_policy=StepCache(plan=_plan), **RETRIES)
def upscale(info: MediaInfo, segment: Segment, cfg: UpscaleConfig) -> str:
    """Real-ESRGAN on one segment; returns the lossless segment file's path."""
    _, out = engine.plan(info, segment, cfg)
    if telemetry.finished(out):  # made by a run killed before Prefect stored its result
        return str(out)
    tick = progress.frame_counter(info.path, "upscale", info.frame_count)
    device = engine.describe(cfg)
    with gpu_slot(), telemetry.measure("upscale", segment.name, segment.n_frames, device, out):
        return str(engine.upscale(info, segment, cfg, out, on_frame=tick))
