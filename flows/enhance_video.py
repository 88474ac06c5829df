"""enhance-video, for one video: every per-segment step of the job's plan -> join ->
[export_alpha] -> [upload] -> report. The video is prepared before (probe, split, model
files, plan: :func:`vidpipe.jobs.prepare_video`, by enhance-folder or here when started
on its own); the plan says which steps run on each segment, with what key and after
what; this flow only runs it."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, update_progress_artifact
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows import segments
from tasks import run
from tasks.spread import Spread, groups
from tasks.spread import takers as spread_takers
from vidpipe import intermediates, progress, steps
from vidpipe.config import VideoJob
from vidpipe.jobs import output_names, prepared_video
from vidpipe.media import colour
from vidpipe.media.encode import check_output_folder
from vidpipe.media.still import still_path
from vidpipe.models import ncnn_sr
from vidpipe.paths import work_dir
from vidpipe.pipeline import VideoPlan, planned
from vidpipe.resources import check_free_space, video_lock
from vidpipe.steps.report import ReportWork, StepRow
from vidpipe.steps.upload import UploadWork
from vidpipe.storage import UploadError


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
    engine: str = ""  # each step that ran, with its device and model
    notes: list[str] = field(default_factory=list)  # what the user should know (streams dropped...)
    video: str = ""  # the id of its intermediates' folder (its content hash, 16 digits)
    evicted_bytes: int = 0  # intermediates removed to stay under the cap


def run_step(name: str, work, *, return_state: bool = False):
    """A video-level step on ``work``, planned now and run here (in the flow's thread)."""
    return run(planned(steps.get(name), work), return_state=return_state)


@flow(name="enhance-video", flow_run_name=_run_name, task_runner=ThreadPoolTaskRunner(max_workers=segment_workers()))
def enhance_video(job: VideoJob) -> VideoResult:
    """Upscale one video with Real-ESRGAN (optionally restore faces with GFPGAN, put the
    person on a new background with RVM, upload to S3); write ``<output_dir>/<name>_final.mp4``
    with the original audio, a before/after still and a run report."""
    started = time.monotonic()
    spec = job.spec()
    check_output_folder(job.output_dir)  # not after hours of upscaling
    if not job.output_name:  # started on its own (API, UI): never over another input's result
        name = output_names([job.input], job.output_dir)[Path(job.input)]
        job = job.model_copy(update={"output_name": name})
    with video_lock(job.input, job.output_path()):  # one run per video at a time
        video = prepared_video(job.input, job.output_path(), spec)  # enhance-folder's, or made now
        if video.failure is not None:  # a bad input, background or model fails before any model runs
            raise video.failure
        return _enhance(job, spec, video.plan, started)


def _enhance(job: VideoJob, spec, plan: VideoPlan, started: float) -> VideoResult:
    log = get_run_logger()
    info, timeline = plan.info, plan.timeline
    log.info(
        "%s: %dx%d %s, %d frames, %.2f s, %.3f fps%s, rotation %d, audio streams %d",
        info.path,
        info.width,
        info.height,
        info.codec,
        info.frame_count,
        info.duration,
        info.fps,
        " (variable)" if info.vfr else "",
        info.rotation,
        len(info.audio),
    )
    hdr = colour.kept(spec.hdr, info)
    log.info("%s: colour %s; %s", info.path, info.hdr, info.colour.conversion(hdr))
    if spec.hdr == "keep" and not hdr:
        why = (
            "an SDR source: --hdr keep has no HDR to keep"
            if info.colour.verdict == "SDR"
            else (f"HDR on {info.primaries} primaries: --hdr keep keeps BT.2020 HDR only; tone-mapped to SDR instead")
        )
        log.info("%s: %s", info.path, why)
    if info.hdr.startswith("Dolby Vision"):
        log.info(
            "%s: Dolby Vision metadata (RPU) is dropped; its base layer is what is %s",
            info.path,
            "kept" if hdr else "converted",
        )
    if info.dropped:
        log.warning("%s: not carried into the output: %s", info.path, ", ".join(info.dropped))
    if info.bit_depth > 8 and not hdr:
        log.info("%s: %d-bit input; the output is 8-bit SDR BT.709", info.path, info.bit_depth)
    for step in plan.segment_steps:
        log.info("%s: %s", step.name, step.describe(plan.of(step)[0].work))
    log.info("join: %s", plan.join.step.describe(plan.join.work))
    skipped = ncnn_sr.skipped_devices() if plan.of("upscale") else []
    if skipped:
        log.info(
            "ncnn: Vulkan %s skipped: a software device, slower than the CPU (VIDPIPE_NCNN_VULKAN=device:N forces it)",
            ", ".join(skipped),
        )
    with intermediates.in_use(info.sha256, info.path):  # no eviction touches this video's files meanwhile
        evicted = _housekeeping(log, info.path, lambda: _make_room(plan, info, log))
        check_free_space(work_dir(), plan.disk_bytes(), info.path)
        result = _deliver(job, spec, info, timeline, plan, started, log)
    after = _housekeeping(log, info.path, intermediates.evict_to_cap)  # the cap holds again once the run lets go
    result.video = info.sha256[:16]
    result.evicted_bytes = evicted.bytes + after.bytes
    kept = intermediates.sizes()
    log.info(
        "%s: %s of intermediates kept in %s (%s)",
        info.path,
        intermediates.fmt_bytes(kept.get(result.video, 0)),
        work_dir(),
        intermediates.cap_text(sum(kept.values())),
    )
    return result


def _make_room(plan, info, log) -> intermediates.Freed:
    evicted, warning = intermediates.prepare(plan.intermediates(), info.path)
    if warning:
        log.warning("%s", warning)
        progress.notice(warning)
    if evicted.files:
        log.info(
            "evicted %s of older intermediates (%d segment files) to stay under %s",
            intermediates.fmt_bytes(evicted.bytes),
            evicted.files,
            intermediates.cap_text(),
        )
    return evicted


def _housekeeping(log, path: str, fn) -> intermediates.Freed:
    """The cap's upkeep never fails a video: a file system error is a warning."""
    try:
        return fn()
    except OSError as e:
        log.warning("%s: could not evict intermediates (%s); the work folder may stay over its cap", path, e)
        return intermediates.Freed()


def _deliver(job: VideoJob, spec, info, timeline, plan, started: float, log) -> VideoResult:
    wall_started = time.time()
    spread = _spread(plan, log)
    futures = segments.submit(plan, spread)
    with spread.watching() if spread else contextlib.nullcontext():
        progress_id = segments.track_progress(info, plan, futures)
        segments.results(futures)
    t0 = time.monotonic()
    joined = run(plan.join, return_state=True)
    result = joined.result()
    update_progress_artifact(progress_id, 100.0, description=f"{len(plan.final)} segments done, joined")
    cached = segments.reused(wall_started)
    by_unit = dict(zip(map(id, plan.items), futures))
    rows = plan.rows(lambda unit: cached(unit, by_unit[id(unit)]))
    rows.append(_single_row("join", joined, plan.join.work.frames, time.monotonic() - t0))
    log.info("wrote %s (%d frames, %.2f s)", result.path, result.frames, result.duration)
    outputs = [result.path]
    if plan.export_alpha is not None:
        t0 = time.monotonic()
        exported = run(plan.export_alpha, return_state=True)
        extra = exported.result()
        rows.append(_single_row("export_alpha", exported, extra.frames, time.monotonic() - t0))
        log.info("wrote %s (%s with alpha)", extra.path, spec.export_alpha)
        outputs.append(extra.path)
    uploads, not_uploaded = _upload(outputs, spec, rows, log)  # a failed upload: still and report all the same
    url = uploads[0].url if uploads else None
    report = ReportWork(
        info,
        timeline.timestamps,
        result,
        tuple(rows),
        url,
        wall_seconds=time.monotonic() - started,
        upload_error=str(not_uploaded) if not_uploaded else None,
    )
    reported = run_step("report", report, return_state=True)
    if reported.is_completed():
        text = reported.result()
        create_markdown_artifact(
            text, key=segments.artifact_key("enhance", info.path), description=f"vidpipe: {info.path}"
        )
        log.info("run report:\n%s", text)
    else:  # the video is done and sound; a missing report is worth a warning, not a failed run
        log.warning("%s: no run report: %s", result.path, reported.message)
    if not_uploaded is not None:
        raise UploadError(
            f"{info.path}: made {result.path}, but {not_uploaded}; vidpipe run again uploads it without making it again"
        ) from None
    return VideoResult(
        path=result.path,
        frames=result.frames,
        duration=result.duration,
        audio_streams=result.audio_streams,
        size_bytes=result.size_bytes,
        outputs=outputs,
        still=str(still_path(result.path)),
        uploads=[u.s3_url for u in uploads],
        url=url,
        segments=rows[0].segments,
        reused=rows[0].cached,
        engine=plan.describe(),
        notes=[f"not carried into the output: {', '.join(info.dropped)}"] if info.dropped else [],
    )


def _upload(outputs: list[str], spec, rows: list[StepRow], log) -> tuple[list, UploadError | None]:
    """Each delivered file to the bucket, in order: (what was uploaded, the error that stopped the rest)."""
    target = steps.get("upload").configure(spec)
    if target is None:
        return [], None
    t0, uploads, error = time.monotonic(), [], None
    for path in outputs:
        try:
            uploads.append(run_step("upload", UploadWork(path, target, spec.upload_credentials_block)))
        except UploadError as e:  # the ones before it stay uploaded, and their links in the report
            error = e
            break
        verb = "uploaded" if uploads[-1].uploaded else "already in the bucket"
        log.info("%s: %s %s", path, verb, uploads[-1].s3_url)
    rows.append(
        StepRow(
            "upload",
            segments=len(uploads),
            cached=sum(not u.uploaded for u in uploads),
            frames=0,
            seconds=time.monotonic() - t0,
            device=target.endpoint_url or "aws s3",
        )
    )
    return uploads, error


def _spread(plan, log) -> Spread | None:
    """Segments go to every machine's task worker when some take them (``vidpipe worker --spread``)."""
    batches = groups(plan)
    if not batches:
        return None
    takers = spread_takers(log)
    if not takers:
        return None
    names = sorted({s.name for s in plan.segment_steps if s.spreads})
    log.info(
        "%s: %s of %d segments spread over %d task workers (%s); the rest runs here",
        plan.info.path,
        "+".join(names),
        len(plan.final),
        len(takers),
        ", ".join(sorted(takers)),
    )
    return Spread(log, batches)


def _single_row(step: str, state, frames: int, seconds: float) -> StepRow:
    return StepRow(step, segments=1, cached=int(state.name == "Cached"), frames=frames, seconds=seconds)
