from __future__ import annotations

from prefect import task

from tasks.cache import RETRIES, StepCache
from tasks.gpu import gpu_slot
from vidpipe import telemetry
from vidpipe import progress
from vidpipe.media.probe import MediaInfo
from vidpipe.media.segments import Segment
from vidpipe.stages import matte as engine
from vidpipe.stages.matte import MatteConfig


def _plan(inputs):
    return engine.plan(
        inputs["info"], inputs["segment"], inputs["upstream"], inputs["cfg"], inputs["prev"], inputs["prev_upstream"]
    )


@task(name="matte", task_run_name="matte-{segment.name}", cache_policy=StepCache(plan=_plan), **RETRIES)
def matte(
    info: MediaInfo,
    segment: Segment,
    upstream: str | None,
    cfg: MatteConfig,
    prev: str | None,
    prev_upstream: str | None,
) -> str:
    """RVM over one segment, starting from the previous segment's state; returns the RGBA file."""
    _, out = engine.plan(info, segment, upstream, cfg, prev, prev_upstream)
    if telemetry.finished(out):  # made by a run killed before Prefect stored its result
        return str(out)
    tick = progress.frame_counter(info.path, "matte", info.frame_count)
    device = "input alpha" if cfg.source_alpha else f"{cfg.model} on onnxruntime"
    with gpu_slot(needed=not cfg.source_alpha), telemetry.measure("matte", segment.name, segment.n_frames, device, out):
        return str(engine.matte(info, segment, upstream, cfg, out, prev, prev_upstream, on_frame=tick))
