"""enhance-folder: every video under a folder (or a list of files) through
enhance-video, skipping outputs that are already complete for the same settings,
and reporting each file's success or failure without stopping at the first. The run
is prepared once (:func:`vidpipe.jobs.prepare`); started by the CLI, it takes the
CLI's preparation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from prefect import flow, get_run_logger

from flows.enhance_video import enhance_video, run_step
from vidpipe import interrupt, steps
from vidpipe.config import JobSpec, VideoJob
from vidpipe.jobs import Batch, Video, prepared, using
from vidpipe.media.writer import clean_partials
from vidpipe.models import cache
from vidpipe.resources import Busy, video_lock
from vidpipe.steps.upload import UploadWork
from vidpipe.storage import UploadError


@dataclass
class FileResult:
    input: str
    status: Literal["done", "skipped", "failed"]
    output: str = ""
    message: str = ""
    seconds: float = 0.0
    engine: str = ""  # model, backend and device used
    url: str = ""  # presigned download link, when uploaded
    reused: str = ""  # "3/8": segments taken from the cache
    video: str = ""  # the id of its intermediates' folder
    evicted_bytes: int = 0  # intermediates removed to stay under the cap


@dataclass
class FolderReport:
    results: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]


def _upload_existing(job: VideoJob) -> str:
    """A complete output still goes to the bucket if it is not there yet (a cheap
    checksum comparison when it is)."""
    target = steps.get("upload").configure(job)
    if target is None:
        return ""
    return run_step("upload", UploadWork(str(job.output_path()), target, job.upload_credentials_block)).url


@flow(name="enhance-folder")
def enhance_folder(
    input_dir: str = "downloads",
    output_dir: str = "final_output",
    settings: JobSpec = JobSpec(),
    files: list[str] | None = None,
) -> FolderReport:
    """Enhance every video in ``input_dir`` (or the given ``files``/folders) into ``output_dir``."""
    log = get_run_logger()
    batch = prepared(settings, files or [input_dir], output_dir)  # the CLI's, when it started this run
    clean_partials(output_dir, batch.listing)
    report = FolderReport()
    if not batch.videos:
        log.warning("no videos found in %s", ", ".join(batch.inputs))
    with cache.hold(), using(batch):  # models stay loaded across the videos, and are let go after the last
        for video in batch.videos:
            if interrupt.requested():  # Ctrl-C: nothing new starts
                break
            report.results.append(_video(batch, video, settings, log))
    done = sum(r.status == "done" for r in report.results)
    log.info(
        "%d done, %d skipped, %d failed", done, len(report.results) - done - len(report.failed), len(report.failed)
    )
    return report


def _video(batch: Batch, video: Video, settings: JobSpec, log) -> FileResult:
    src = video.source
    if video.skip:
        log.warning("%s", video.skip)
        return FileResult(str(src), "skipped", message=video.skip)
    if batch.ready(video).failure is not None:
        return _failed(video, log)
    if video.renamed:
        log.info("%s: %s", src, video.renamed)
    job = VideoJob(
        input=str(src), output_dir=str(video.output.parent), output_name=video.output.name, **settings.model_dump()
    )
    try:
        with video_lock(src, video.output):  # held across the check and the run
            if not video.unchanged() and batch.ready(video, again=True).failure is not None:  # replaced since
                return _failed(video, log)
            result = _one(job, video, log)
    except Busy as e:  # another run has it: not a failure of this one
        log.info("%s", e)
        return FileResult(str(src), "skipped", str(video.output), message=str(e))
    if video.renamed and result.status == "done":
        result.message = "; ".join(m for m in (video.renamed, result.message) if m)
    return result


def _failed(video: Video, log) -> FileResult:
    """A video that cannot be made: said as its own failure; the others go on."""
    log.error("%s", video.error)
    return FileResult(video.shown, "failed", message=video.error)


def _one(job: VideoJob, video: Video, log) -> FileResult:
    """One video, under its lock: skipped when its output carries the key this job's
    join would have (the same plan, so "skipped" and "cached" always agree), else
    enhance-video."""
    src = video.source
    if video.current:
        log.info("%s: output is complete for these settings, skipped", src)
        try:
            url = _upload_existing(job)
        except UploadError as e:  # the video is complete; only its upload failed: this video's line
            log.error("%s", e)
            return FileResult(
                str(src), "failed", str(video.output), message=f"{src}: {video.output} is complete, but {e}"
            )
        return FileResult(str(src), "skipped", str(video.output), url=url)
    started = time.monotonic()
    state = enhance_video(job, return_state=True)
    seconds = time.monotonic() - started
    if not state.is_completed():
        error = state.result(raise_on_failure=False)
        message = str(error) if isinstance(error, BaseException) else (state.message or "failed")
        log.error("%s", message)
        return FileResult(str(src), "failed", message=message, seconds=seconds)
    out = state.result()
    reused = f"{out.reused}/{out.segments}" if out.reused else ""
    return FileResult(
        str(src),
        "done",
        out.path,
        seconds=seconds,
        engine=out.engine,
        url=out.url or "",
        reused=reused,
        message="; ".join(out.notes),
        video=out.video,
        evicted_bytes=out.evicted_bytes,
    )
