"""enhance-folder: every video under a folder (or a list of files) through
enhance-video, skipping outputs that are already complete for the same settings,
and reporting each file's success or failure without stopping at the first."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger

from flows.enhance_video import enhance_video, run_step
from vidpipe import interrupt, steps
from vidpipe.config import JobSpec, VideoJob
from vidpipe.jobs import find_videos, is_current, not_a_file, output_names, why_named
from vidpipe.media.writer import clean_partials
from vidpipe.media import background
from vidpipe.models import cache
from vidpipe.resources import Busy, video_lock
from vidpipe.steps.upload import UploadWork


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
    if settings.background != "none":
        background.check(settings.background)  # one clear error before any video starts
    clean_partials(output_dir)
    report = FolderReport()
    videos = find_videos(files or [input_dir])
    if not videos:
        log.warning("no videos found in %s", ", ".join(files or [input_dir]))
    names = output_names([v for v in videos if not_a_file(v) is None], output_dir)
    with cache.hold():  # models stay loaded across the videos, and are let go after the last
        for src in videos:
            if interrupt.requested():  # Ctrl-C: nothing new starts
                break
            why = not_a_file(src)
            if why is not None:
                log.warning("%s", why)
                report.results.append(FileResult(str(src), "skipped", message=why))
                continue
            job = VideoJob(input=str(src), output_dir=output_dir, output_name=names[src], **settings.model_dump())
            renamed = why_named(src, names[src], output_dir)
            if renamed:
                log.info("%s: %s", src, renamed)
            try:
                with video_lock(src, job.output_path()):  # held across the check and the run
                    result = _one(job, settings, log)
                    if renamed and result.status == "done":
                        result.message = "; ".join(m for m in (renamed, result.message) if m)
                    report.results.append(result)
            except Busy as e:  # another run has it: not a failure of this one
                log.info("%s", e)
                report.results.append(FileResult(str(src), "skipped", str(job.output_path()), message=str(e)))
    done = sum(r.status == "done" for r in report.results)
    log.info("%d done, %d skipped, %d failed", done, len(report.results) - done - len(report.failed), len(report.failed))
    return report


def _one(job: VideoJob, settings: JobSpec, log) -> FileResult:
    """One video, under its lock: skipped when its output carries the key this job's
    join would have (the same plan, so "skipped" and "cached" always agree), else
    enhance-video."""
    src = Path(job.input)
    if is_current(src, job.output_path(), settings):
        log.info("%s: output is complete for these settings, skipped", src)
        return FileResult(str(src), "skipped", str(job.output_path()), url=_upload_existing(job))
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
    return FileResult(str(src), "done", out.path, seconds=seconds, engine=out.engine, url=out.url or "", reused=reused,
                      message="; ".join(out.notes), video=out.video,
                      evicted_bytes=out.evicted_bytes)
