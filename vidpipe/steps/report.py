"""report: the before/after still beside the output and the per-video run report
(Markdown, for the log and a Prefect artifact): input and output facts, per-step
cost, cache hits, devices, peak GPU memory and where the result went. Not cached.
The rows come from the video's plan (:func:`vidpipe.pipeline.rows`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vidpipe.errors import OutputError
from vidpipe.media import still
from vidpipe.media.encode import Delivery
from vidpipe.media.probe import MediaInfo, probe
from vidpipe.steps.base import Needs, Step
from vidpipe.telemetry import StepStats


@dataclass
class StepRow:
    """One step over all segments of a video."""

    step: str
    segments: int = 0
    cached: int = 0
    frames: int = 0
    seconds: float = 0.0  # what the segments cost when they were computed
    device: str = ""
    peak_gpu_mb: int | None = None
    devices: set = field(default_factory=set)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def summarize(step: str, results: Sequence[tuple[StepStats | None, bool]]) -> StepRow:
    """``results``: (stats sidecar or None, was it a cache hit) per segment."""
    row = StepRow(step, segments=len(results))
    machines: dict[str, int] = {}
    for stats, cached in results:
        row.cached += cached
        if stats is None:
            continue
        row.frames += stats.frames
        row.seconds += stats.seconds
        row.devices.add(stats.device)
        machines[stats.machine] = machines.get(stats.machine, 0) + 1
        if stats.peak_gpu_mb is not None:
            row.peak_gpu_mb = max(row.peak_gpu_mb or 0, stats.peak_gpu_mb)
    row.device = ", ".join(sorted(d for d in row.devices if d))
    if len(machines) > 1:  # segments spread over machines: how many each made
        row.device += " on " + ", ".join(f"{m or '?'} ({n})" for m, n in sorted(machines.items()))
    return row


def _facts(info: MediaInfo) -> list[str]:
    audio = ", ".join(f"{a.codec} {a.channels}ch {a.sample_rate} Hz" for a in info.audio) or "none"
    return [
        f"{info.width}x{info.height}"
        + (f" (pixels {info.sar}, shown {'x'.join(map(str, info.display_size))})" if info.sar != "1:1" else "")
        + (f" (rotated {info.rotation}°)" if info.rotation else ""),
        f"{info.fps:.3f}" + (" (variable)" if info.vfr else ""),
        str(info.frame_count),
        f"{info.duration:.2f} s",
        f"{info.codec} {info.pix_fmt}",
        audio,
        f"{info.size_bytes / 1e6:.1f} MB" if info.size_bytes >= 1e6 else f"{info.size_bytes / 1e3:.0f} kB",
    ]


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def markdown(
    source: MediaInfo,
    output: MediaInfo,
    rows: Sequence[StepRow],
    location: str,
    *,
    still: str | None = None,
    upload_url: str | None = None,
    upload_error: str | None = None,
    wall_seconds: float | None = None,
) -> str:
    name = source.path.rsplit("/", 1)[-1]
    out_name = location.rsplit("/", 1)[-1]
    lines = [f"# {name}", ""]
    lines += ["| | input | output |", "|---|---|---|"]
    labels = ["size", "fps", "frames", "duration", "video", "audio", "file size"]
    for label, a, b in zip(labels, _facts(source), _facts(output)):
        lines.append(_row([label, a, b]))
    lines += [
        "",
        "| step | segments | cached | frames | compute s | frames/s | device and model | peak GPU MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        peak = "n/a" if r.peak_gpu_mb is None else r.peak_gpu_mb
        fps = f"{r.fps:.2f}" if r.frames else "-"
        lines.append(_row([r.step, r.segments, r.cached, r.frames or "-", f"{r.seconds:.1f}", fps, r.device, peak]))
    lines += ["", f"**Output:** `{location}`"]
    if still:
        lines.append(f"**Before/after still:** `{still}`")
    if upload_url:
        lines.append(f"**Download (presigned, 7 days):** [{out_name}]({upload_url})")
    if upload_error:
        lines.append(f"**Upload failed:** {upload_error}")
    if wall_seconds is not None:
        lines.append(f"**Wall time:** {wall_seconds:.1f} s")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ReportWork:
    info: MediaInfo
    timestamps: tuple[int, ...]
    delivery: Delivery  # the joined output, with its probe from join's sync check
    rows: tuple[StepRow, ...]
    upload_url: str | None = None
    wall_seconds: float | None = None
    upload_error: str | None = None  # the output is delivered, the upload was not made

    @property
    def label(self) -> str:
        return Path(self.delivery.path).name


class Report(Step):
    name = "report"
    needs = Needs(cached=False)

    def run(self, work: ReportWork, plan=None, on_frame=None) -> str:
        """Writes ``<name>_compare.jpg`` beside the output; returns the Markdown."""
        out = work.delivery.path
        try:
            picture = str(still.compare(work.info, work.timestamps, out, still.still_path(out)))
        except OutputError as e:  # a file of the user's holds the still's name: kept, and said
            picture = None
            logging.getLogger("vidpipe").warning("%s", e)
        output = work.delivery.info or probe(out)  # join's sync check already read it back
        return markdown(
            work.info,
            output,
            work.rows,
            out,
            still=picture,
            upload_url=work.upload_url,
            upload_error=work.upload_error,
            wall_seconds=work.wall_seconds,
        )


STEP = Report()
