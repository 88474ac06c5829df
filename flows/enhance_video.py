"""enhance-video: probe -> split -> upscale per segment -> join, for one video."""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.composite import composite
from tasks.join import join, join_alpha
from tasks.matte import matte
from tasks.probe import probe
from tasks.restore_faces import restore_faces
from tasks.split import split
from tasks.upscale import upscale
from vidpipe.config import VideoJob
from vidpipe.jobs import job_tag
from vidpipe.media import background
from vidpipe.media.alpha import alpha_path
from vidpipe.media.join import JoinReport
from vidpipe.stages.upscale import UpscaleConfig, describe


def _run_name() -> str:
    job = flow_run.parameters.get("job", {})
    source = job.get("input") if isinstance(job, dict) else getattr(job, "input", "")
    return f"enhance-{Path(str(source)).name}"


def segment_workers() -> int:
    """Segments processed at once; 1 suits a CPU (the model already uses every core)."""
    return max(1, int(os.environ.get("VIDPIPE_SEGMENT_WORKERS", "1")))


@flow(name="enhance-video", flow_run_name=_run_name, task_runner=ThreadPoolTaskRunner(max_workers=segment_workers()))
def enhance_video(job: VideoJob) -> JoinReport:
    """Upscale one video with Real-ESRGAN (and optionally restore faces with GFPGAN);
    write ``<output_dir>/<name>_final.mp4`` with the original audio."""
    log = get_run_logger()
    spec = job.spec()
    if spec.background != "none":
        background.check(spec.background)  # a bad background fails before any model runs
    info = probe(job.input)
    log.info(
        "%s: %dx%d %s, %d frames, %.2f s, %.3f fps%s, rotation %d, audio streams %d",
        info.path, info.width, info.height, info.codec, info.frame_count, info.duration,
        info.fps, " (variable)" if info.vfr else "", info.rotation, len(info.audio),
    )
    timeline = split(info, spec.segment_seconds)
    cfg = spec.upscale_config()
    log.info("upscale: %s", describe(cfg, (info.width, info.height)))
    steps = [upscale.submit(info, seg, cfg) for seg in timeline.segments]
    faces = spec.restore_faces_config()
    if faces is not None:
        log.info("restore_faces: %s, fidelity %.2f", faces.model, faces.fidelity)
        steps = [restore_faces.submit(info, seg, up, faces) for seg, up in zip(timeline.segments, steps)]
    enhanced = steps  # upscaled (and face-restored) frames: the colour of any cut-out
    mcfg = spec.matte_config(info.has_alpha)
    if mcfg is not None:
        sources = steps
        if mcfg.source_alpha:  # the input carries its own alpha: use it
            log.info("matte: using the input's own alpha channel")
            sources = [None] * len(steps)
        elif spec.matte_before_upscale:  # matte the original frames (a lossless copy of each segment)
            same = UpscaleConfig(target="none", backend=cfg.backend)
            copy = upscale.with_options(task_run_name="source-{segment.name}")
            sources = [copy.submit(info, seg, same) for seg in timeline.segments]
        mattes, prev, prev_up = [], None, None
        for seg, up in zip(timeline.segments, sources):  # in order: each starts from the last one's state
            prev = matte.submit(info, seg, up, mcfg, prev, prev_up)
            mattes.append(prev)
            prev_up = up
        if spec.background != "none":
            log.info("composite: background %s", spec.background)
            steps = [
                composite.submit(info, seg, up, m, spec.composite_config(), timeline)
                for seg, up, m in zip(timeline.segments, steps, mattes)
            ]
    segments = [f.result() for f in steps]
    tag = job_tag(info.sha256, spec.model_dump())
    report = join(info, segments, timeline, str(job.output_path()), spec.encode_config(), tag)
    log.info("wrote %s (%d frames, %.2f s)", report.path, report.frames, report.duration)
    if spec.alpha_output != "none":
        out = alpha_path(job.output_path(), spec.alpha_output)
        low_res = spec.matte_before_upscale or mcfg.source_alpha  # alpha made at the source's size
        colors = [f.result() for f in enhanced] if low_res else None
        extra = join_alpha(info, [m.result() for m in mattes], timeline, str(out), spec.alpha_output, tag, colors)
        log.info("wrote %s (%s with alpha)", extra.path, spec.alpha_output)
    return report
