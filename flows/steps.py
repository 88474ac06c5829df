"""The per-segment part of enhance-video: which tasks run on each segment, in what
order, and the per-step report rows built from their futures afterwards."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prefect import get_run_logger
from prefect.futures import PrefectFuture

from tasks.composite import composite
from tasks.matte import matte
from tasks.restore_faces import restore_faces
from tasks.split import Timeline
from tasks.upscale import upscale
from vidpipe import telemetry
from vidpipe.config import JobSpec
from vidpipe.media.probe import MediaInfo
from vidpipe.report import StepRow, summarize
from vidpipe.stages.matte import MatteConfig
from vidpipe.stages.upscale import UpscaleConfig, describe


@dataclass
class Steps:
    final: list[PrefectFuture]  # each segment's last step: what join takes
    enhanced: list[PrefectFuture]  # upscaled (and face-restored): the colour of any cut-out
    mattes: list[PrefectFuture] = field(default_factory=list)
    matte_cfg: MatteConfig | None = None
    by_step: dict[str, list[PrefectFuture]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def rows(self) -> list[StepRow]:
        """Per step: segments, cache hits, cost (from each output's stats sidecar)."""
        out = []
        for step, futures in self.by_step.items():
            results = []
            for f in futures:
                path = f.result()
                results.append((telemetry.read(path) if path else None, self._reused(f, path)))
            out.append(summarize(step, results))
        return out

    def _reused(self, future: PrefectFuture, path: str | None) -> bool:
        """A cache hit, or a finished file an interrupted run left (made before this run)."""
        if future.state.name == "Cached":
            return True
        try:
            return bool(path) and telemetry.sidecar(path).stat().st_mtime < self.started
        except FileNotFoundError:
            return False


def submit_steps(info: MediaInfo, timeline: Timeline, spec: JobSpec) -> Steps:
    log = get_run_logger()
    segs = timeline.segments
    cfg = spec.upscale_config()
    log.info("upscale: %s", describe(cfg, (info.width, info.height)))
    steps = [upscale.submit(info, seg, cfg) for seg in segs]
    by_step = {"upscale": steps}
    faces = spec.restore_faces_config()
    if faces is not None:
        log.info("restore_faces: %s, fidelity %.2f", faces.model, faces.fidelity)
        steps = [restore_faces.submit(info, seg, up, faces) for seg, up in zip(segs, steps)]
        by_step["restore_faces"] = steps
    result = Steps(final=steps, enhanced=steps, by_step=by_step)
    mcfg = spec.matte_config(info.has_alpha)
    if mcfg is None:
        return result
    sources = steps
    if mcfg.source_alpha:  # the input carries its own alpha: use it
        log.info("matte: using the input's own alpha channel")
        sources = [None] * len(steps)
    elif spec.matte_before_upscale:  # matte the original frames (a lossless copy of each segment)
        same = UpscaleConfig(target="none", backend=cfg.backend)
        copy = upscale.with_options(task_run_name="source-{segment.name}")
        sources = [copy.submit(info, seg, same) for seg in segs]
    mattes, prev, prev_up = [], None, None
    for seg, up in zip(segs, sources):  # in order: each starts from the last one's state
        prev = matte.submit(info, seg, up, mcfg, prev, prev_up)
        mattes.append(prev)
        prev_up = up
    result.mattes, result.matte_cfg, by_step["matte"] = mattes, mcfg, mattes
    if spec.background != "none":
        log.info("composite: background %s", spec.background)
        ccfg = spec.composite_config()
        result.final = [composite.submit(info, seg, up, m, ccfg, timeline) for seg, up, m in zip(segs, steps, mattes)]
        by_step["composite"] = result.final
    return result
