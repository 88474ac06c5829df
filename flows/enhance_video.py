"""enhance-video: probe -> split -> per-segment steps -> join -> [upload] -> report, for one video."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.steps import submit_steps
from tasks.join import join, join_alpha
from tasks.probe import probe
from tasks.report import artifact_key, report
from tasks.split import split
from tasks.upload import upload
from vidpipe.config import VideoJob
from vidpipe.jobs import job_tag
from vidpipe.media import background
from vidpipe.media.alpha import alpha_path
from vidpipe.media.still import still_path
from vidpipe.home import work_dir
from vidpipe.media.join import check_output_folder
from vidpipe.report import StepRow
from vidpipe.resources import check_free_space, intermediate_bytes, video_lock
from vidpipe.stages.upscale import output_size


def _run_name() -> str:
    job = flow_run.parameters.get("job", {})
    source = job.get("input") if isinstance(job, dict) else getattr(job, "input", "")
    return f"enhance-{Path(str(source)).name}"


def segment_workers() -> int:
    """Segments processed at once; 1 suits a CPU (the model already uses every core)."""
    return max(1, int(os.environ.get("VIDPIPE_SEGMENT_WORKERS", "1")))


@dataclass
class VideoResult:
    """What one enhance-video run produced."""

    path: str
    frames: int
    duration: float
    audio_streams: int
    size_bytes: int
    outputs: list[str] = field(default_factory=list)  # the video, and the alpha output if asked for
    still: str = ""
    uploads: list[str] = field(default_factory=list)  # s3:// URLs
    segments: int = 0
    reused: int = 0  # segments whose first step came from the cache (a resumed or repeated run)
    url: str | None = None  # presigned download link of the video


@flow(name="enhance-video", flow_run_name=_run_name, task_runner=ThreadPoolTaskRunner(max_workers=segment_workers()))
def enhance_video(job: VideoJob) -> VideoResult:
    """Upscale one video with Real-ESRGAN (optionally restore faces with GFPGAN, put the
    person on a new background with RVM, upload to S3); write ``<output_dir>/<name>_final.mp4``
    with the original audio, a before/after still and a run report."""
    started = time.monotonic()
    spec = job.spec()
    if spec.background != "none":
        background.check(spec.background)  # a bad background fails before any model runs
    check_output_folder(job.output_dir)  # not after hours of upscaling
    with video_lock(job.input, job.output_path()):  # one run per video at a time
        return _enhance(job, spec, started)


def _enhance(job: VideoJob, spec, started: float) -> VideoResult:
    log = get_run_logger()
    info = probe(job.input)
    log.info(
        "%s: %dx%d %s, %d frames, %.2f s, %.3f fps%s, rotation %d, audio streams %d",
        info.path, info.width, info.height, info.codec, info.frame_count, info.duration,
        info.fps, " (variable)" if info.vfr else "", info.rotation, len(info.audio),
    )
    if info.bit_depth > 8:
        log.warning("%s: %d-bit input; the output is 8-bit SDR (H.264 yuv420p)", info.path, info.bit_depth)
    size = output_size(info.width, info.height, spec.target, spec.scale)
    stages = 1 + spec.face_restore + 2 * spec.mattes + spec.matte_before_upscale
    check_free_space(work_dir(), intermediate_bytes(info.frame_count, *size, stages), info.path)
    timeline = split(info, spec.segment_seconds)
    steps = submit_steps(info, timeline, spec)
    final = steps.final
    progress_id = _track_progress(info, final)
    segments = [f.result() for f in final]
    tag = job_tag(info.sha256, spec.model_dump())
    t0 = time.monotonic()
    joined = join(info, segments, timeline, str(job.output_path()), spec.encode_config(), tag, return_state=True)
    result = joined.result()
    update_progress_artifact(progress_id, 100.0, description=f"{len(final)} segments done, joined")
    rows = steps.rows() + [_single_row("join", joined, info.frame_count, time.monotonic() - t0)]
    log.info("wrote %s (%d frames, %.2f s)", result.path, result.frames, result.duration)
    outputs = [result.path]
    if spec.alpha_output != "none":
        out = alpha_path(job.output_path(), spec.alpha_output)
        low_res = spec.matte_before_upscale or steps.matte_cfg.source_alpha  # alpha made at the source's size
        colors = [f.result() for f in steps.enhanced] if low_res else None
        mattes = [m.result() for m in steps.mattes]
        extra = join_alpha(info, mattes, timeline, str(out), spec.alpha_output, tag, colors)
        log.info("wrote %s (%s with alpha)", extra.path, spec.alpha_output)
        outputs.append(extra.path)
    uploads = []
    target = spec.upload_target()
    if target is not None:
        t0 = time.monotonic()
        for path in outputs:
            uploads.append(upload(path, target, spec.aws_credentials_block))
            verb = "uploaded" if uploads[-1].uploaded else "already in the bucket"
            log.info("%s: %s %s", path, verb, uploads[-1].s3_url)
        rows.append(StepRow("upload", segments=len(outputs), cached=sum(not u.uploaded for u in uploads),
                            frames=0, seconds=time.monotonic() - t0, device=target.endpoint_url or "aws s3"))
    url = uploads[0].url if uploads else None
    reported = report(info, timeline, result.path, rows, url, time.monotonic() - started, return_state=True)
    if reported.is_completed():
        log.info("run report:\n%s", reported.result())
    else:  # the video is done and sound; a missing report is worth a warning, not a failed run
        log.warning("%s: no run report: %s", result.path, reported.message)
    return VideoResult(
        path=result.path, frames=result.frames, duration=result.duration, audio_streams=result.audio_streams,
        size_bytes=result.size_bytes, outputs=outputs, still=str(still_path(result.path)),
        uploads=[u.s3_url for u in uploads], url=url, segments=rows[0].segments, reused=rows[0].cached,
    )


def _single_row(step: str, state, frames: int, seconds: float) -> StepRow:
    return StepRow(step, segments=1, cached=int(state.name == "Cached"), frames=frames, seconds=seconds)


def _track_progress(info, final: list):
    """A progress artifact, updated as each segment's last step finishes."""
    key = artifact_key("progress", info.path)
    artifact = create_progress_artifact(0.0, key=key, description=f"segments done: {info.path}")
    total = len(final) + 1  # + join
    for done, _ in enumerate(as_completed(final), start=1):
        update_progress_artifact(artifact, 100.0 * done / total, description=f"{done}/{len(final)} segments done")
    return artifact
