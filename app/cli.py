"""The ``vidpipe`` command. Errors print one line naming the file and the cause;
``--debug`` shows tracebacks and Prefect's own logs."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text
from typer.exceptions import TyperException

from app.options import Grouped, with_job_options
from vidpipe import interrupt, progress
from vidpipe.errors import VidpipeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: whole names at 80
    help="Enhance AI dance videos: upscale, and more.",
)
err = Console(stderr=True, soft_wrap=True)
state = {"debug": False}


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {shown(message)}", highlight=False)
    raise typer.Exit(code)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks and Prefect logs.")) -> None:
    state["debug"] = debug


class FpsColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:5.2f} fps" if task.speed else "  -.-- fps", style="cyan")


class Bars:
    """A progress reporter: one bar per (video, step), with frames/s and ETA."""

    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            FpsColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def notice(self, text: str) -> None:
        self.progress.console.print(f"[yellow]warning:[/] {shown(text)}", highlight=False)

    def advance(self, video: str, step: str, total: int, n: int) -> None:
        with self._lock:
            key = (video, step)
            if key not in self._ids:
                self._ids[key] = self.progress.add_task(f"{Path(video).name} {step:>13}", total=total)
            self.progress.advance(self._ids[key], n)


@app.command(cls=Grouped)
@with_job_options
def run(
    inputs: list[Path] = typer.Argument(None, help="Video files or folders (default: downloads/)."),
    out: Path = typer.Option(Path("final_output"), "--out", "-o", help="Output folder."),
    sample: bool = typer.Option(True, help="Write a sample clip into an empty downloads/ first."),
    spec_fields: dict | None = None,
    renamed: list | None = None,
) -> None:
    """Enhance every video in INPUTS (default downloads/) into --out."""
    from pydantic import ValidationError

    from vidpipe.config import JobSpec, explain

    for note in renamed or []:
        err.print(f"note: {note} (the old name works until vidpipe 0.3)", highlight=False)
    try:
        spec = JobSpec(**spec_fields)
    except ValidationError as e:
        fail(explain(e))
    from vidpipe import jobs
    from vidpipe.paths import check_home

    paths = [str(p) for p in inputs] if inputs else ["downloads"]
    why = {p: jobs.unusable_name(Path(p)) for p in paths}  # a run's parameters are UTF-8 text
    refused = [SimpleNamespace(status="failed", message=w) for w in why.values() if w]
    paths = [p for p in paths if why[p] is None]
    if refused and not paths:
        print_results(refused)
        raise typer.Exit(1)
    try:
        check_home()  # a full or read-only work folder: one line, before anything starts
        jobs.check(spec)  # a bad background before anything is written
        if not inputs and sample:
            _ensure_sample(Path("downloads"))
        batch = jobs.prepare(spec, paths, out)  # names and plans, before Prefect starts
    except VidpipeError as e:
        fail(str(e))
    if batch.all_current and not spec.upload:  # a no-op rerun needs no Prefect (uploads: the flow checks the bucket)
        print_results(
            refused
            + [
                SimpleNamespace(status="skipped", input=str(v.source), output=str(v.output), message="")
                for v in batch.videos
            ]
        )
        if refused:
            raise typer.Exit(1)
        return
    from app import logs
    from flows.enhance_folder import enhance_folder
    from tasks.environment import start_embedded_server

    log_path = logs.setup(state["debug"])
    interrupt.reset()
    stopping = _stop_on_signals()
    start_embedded_server()
    bars = Bars(err)
    progress.set_reporter(bars)
    try:
        with bars.progress:
            with jobs.using(batch):
                report = _in_a_thread(lambda: enhance_folder(output_dir=str(out), settings=spec, files=paths))
    except Exception as e:
        if state["debug"] and not interrupt.requested():
            raise
        if interrupt.requested():
            _interrupted(batch)
        fail(f"{e} (details in {log_path})")
    finally:
        progress.set_reporter(None)
    if interrupt.requested():  # vidpipe's handlers stay until exit: a second Ctrl-C still quits at once
        _interrupted(batch)
    stopping()
    print_results(refused + report.results)
    print_disk_use(report.results)
    failed = len(refused) + len(report.failed)
    if failed:
        err.print(f"{failed} of {len(refused) + len(report.results)} failed; log: {log_path}")
        raise typer.Exit(1)
    if not report.results:
        fail(f"no videos found in {', '.join(paths)}")


def _in_a_thread(fn):
    """Run the flow off the main thread, which keeps taking signals: Prefect's flow
    engine would otherwise put its own SIGTERM handler in place of vidpipe's (it does
    so only on the main thread) and abort the run mid-frame."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread as it is
            box["error"] = e

    worker = threading.Thread(target=target, name="vidpipe-flow", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _stop_on_signals():
    """Ctrl-C / SIGTERM: the first asks the engine to stop between frames (and says so),
    a second exits at once. Returns the function that puts the old handlers back."""
    import signal

    def handler(signum, _frame):
        if interrupt.requested():
            os._exit(128 + signum)  # the embedded server dies with us (PR_SET_PDEATHSIG)
        interrupt.request(signum)
        logging.getLogger("vidpipe").info("signal %d: stopping after the current frame", signum)
        err.print("stopping after the current frame (press Ctrl-C again to quit at once)", highlight=False)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(sig, h) for sig, h in old.items()]


def _interrupted(batch) -> None:
    """The one line after a stop: what is kept of the run's videos, how to go on; exit
    130 (SIGINT) or 143."""
    from vidpipe.jobs import segments_kept

    code = 128 + interrupt.requested()
    try:
        kept, total = segments_kept(batch)
    except Exception:  # noqa: BLE001 - the count is a courtesy; the exit must happen
        kept = total = 0
    logging.getLogger("vidpipe").info("stopped: %d/%d segments kept", kept, total)  # the stop's end, timed
    err.print(f"interrupted; {kept}/{total} segments kept, run the same command to resume", highlight=False)
    raise typer.Exit(code)


def shown(text: object) -> str:
    """User text (file names, messages) as one printable line: control characters such
    as a newline in a file name are written as escapes, rich markup is not interpreted."""
    from rich.markup import escape

    return escape("".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text)))


def print_results(results) -> None:
    for r in results:
        if r.status == "done":
            reused = f", reused {r.reused} cached segments" if r.reused else ""
            err.print(
                f"[green]done[/]    {shown(r.input)} -> {shown(r.output)} ({r.seconds:.1f} s, {shown(r.engine)}{reused})",
                highlight=False,
            )
            if r.message:
                err.print(f"        note: {shown(r.message)}", highlight=False)
            if r.url:
                err.print(f"        download: {shown(r.url)}", highlight=False)
        elif r.status == "skipped":
            why = r.message or f"{r.output} is up to date"
            err.print(f"[blue]skipped[/] {shown(r.input)}: {shown(why)}", highlight=False)
        else:
            err.print(f"[red]failed[/]  {shown(r.message)}", highlight=False)


def print_disk_use(results) -> None:
    """The run summary's last line: what the run left in the work folder, against the cap."""
    from vidpipe import intermediates
    from vidpipe.paths import work_dir

    done = [r for r in results if r.status == "done"]
    if not done:
        return
    evicted = sum(r.evicted_bytes for r in done)
    now = intermediates.sizes()
    kept = sum(now.get(video, 0) for video in {r.video for r in done})  # as they are now
    fmt = intermediates.fmt_bytes
    older = f" ({fmt(evicted)} evicted to stay under the cap)" if evicted else ""
    err.print(
        f"disk: {fmt(kept)} of intermediates kept in {shown(work_dir())}{older}; "
        f"{fmt(sum(now.values()))} in all, under {intermediates.cap_text(sum(now.values()))}; "
        "vidpipe cache lists them, vidpipe cache prune frees them",
        highlight=False,
    )


def _ensure_sample(folder: Path) -> None:
    from vidpipe.jobs import find_videos
    from vidpipe.media.synth import make_clip

    if folder.is_dir() and find_videos([folder]):
        return
    path = make_clip(folder / "sample.mp4", 270, 480, frames=36, fps=24)
    err.print(f"{folder}/ had no videos: wrote a generated sample clip, {path} (270x480, 1.5 s, with audio)")


@app.command("probe")
def probe_cmd(file: Path, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show what a video file is: streams, size, rotation, frame rate, frames, audio."""
    from vidpipe.media.colour import kept
    from vidpipe.media.probe import probe

    info = probe(file)
    if as_json:
        print(json.dumps(info.to_dict(), indent=2))
        return
    d = info.to_dict()
    dw, dh = info.display_size
    print(f"{info.path}")
    print(f"  container  {info.container}, {info.size_bytes} bytes")
    print(
        f"  video      #{info.video_index} {info.codec} {info.width}x{info.height} (shown {dw}x{dh}, pixels {info.sar}, rotation {info.rotation})"
    )
    print(f"  pixels     {info.pix_fmt}, {info.bit_depth}-bit{', alpha' if info.has_alpha else ''}")
    untagged = "" if info.colour_tagged else " (matrix untagged: players assume it from the height)"
    print(
        f"  colour     {info.hdr}: matrix {info.matrix}, primaries {info.primaries}, transfer {info.transfer}, "
        f"{info.color_range} range{untagged}"
    )
    print(f"  default    {info.colour.conversion()}")
    keep = kept("keep", info)
    if keep:
        print(f"  --hdr keep {info.colour.conversion(keep)}")
        print(f"  hdr meta   master-display {info.mastering or 'none'}, max-cll {info.content_light or 'none'}")
    print(
        f"  timing     {info.fps:.3f} fps{' variable' if info.vfr else ''}, {info.frame_count} frames "
        f"(header says {d['header_frame_count']}), {info.duration:.3f} s"
    )
    for a in info.audio:
        print(f"  audio      #{a.index} {a.codec} {a.sample_rate} Hz {a.channels} ch {a.layout}")
    if not info.audio:
        print("  audio      none")


@app.command("upscale-image", cls=Grouped)
@with_job_options(step="upscale")
def upscale_image_cmd(
    src: Path = typer.Argument(..., help="Input image."),
    dst: Path = typer.Argument(..., help="Output image (.png, .jpg, ...)."),
    model: Optional[str] = typer.Option(None, "--model", hidden=True),
    spec_fields: dict | None = None,
    renamed: list | None = None,
) -> None:
    """Upscale one image with the same code path as video, and the upscale options of run."""
    from pydantic import ValidationError

    from vidpipe.config import JobSpec, explain
    from vidpipe.steps.upscale import config_of, describe, upscale_image

    if model is not None:
        spec_fields["upscale_model"] = model
        renamed = [*(renamed or []), "--model is now --upscale-model"]
    for note in renamed or []:
        err.print(f"note: {note} (the old name works until vidpipe 0.3)", highlight=False)
    try:
        cfg = config_of(JobSpec(**spec_fields))
    except ValidationError as e:
        fail(explain(e))
    w, h = upscale_image(src, dst, cfg)
    err.print(f"wrote {dst} ({w}x{h}) with {describe(cfg)}")


models_app = typer.Typer(help="List, download and verify model files.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """Every known model: task, backends, size, installed or not, and where."""
    from app.doctor import model_rows

    for r in model_rows():
        size = f"{r['size_mb']:.1f} MB" if r["size_mb"] else "-"
        state = "installed" if r["installed"] else "missing"
        print(f"{r['name']:28} {r['task']:14} {r['backends']:11} {size:>9}  {state:9} {r['where']}")


@models_app.command("download")
def models_download(names: list[str] = typer.Argument(..., help="Model names (see: vidpipe models list).")) -> None:
    """Fetch model files into ~/.cache/vidpipe/models (resumes, checks sha256)."""
    from app.doctor import download

    for path in download(names):
        err.print(f"ok {path}")


@models_app.command("verify")
def models_verify() -> None:
    """Check the sha256 of every model file that is present."""
    from app.doctor import verify_all

    bad = 0
    for name, result in verify_all():
        print(f"{name:28} {result}")
        bad += not (result.startswith("ok") or result == "missing")
    if bad:
        raise typer.Exit(1)


@app.command()
def doctor() -> None:
    """What this machine can do: GPU, backends, models, encoders, Prefect API."""
    from app.doctor import report

    for label, finding in report():
        print(f"{label:34} {finding}")


@app.command()
def bench(
    json_file: Optional[Path] = typer.Option(None, "--json", help="Write the results as JSON here."),
    quick: bool = typer.Option(False, help="A tiny clip: checks that everything runs (CI)."),
    input: Optional[Path] = typer.Option(None, "--input", help="Benchmark on this clip instead of a generated one."),
    backend: str = typer.Option("auto", help="Upscale backend: auto, torch or ncnn."),
    seeds: bool = typer.Option(True, help="Also run the seed-style baselines."),
    lengths: str = typer.Option("", help="Also measure peak RSS on clips of these lengths (s), e.g. 10,60."),
    rounds: int = typer.Option(0, help="Interleaved rounds (0: 3, or 1 with --quick).", min=0),
    gpu: bool = typer.Option(
        False,
        "--gpu",
        help="The GPU benchmark (needs a CUDA GPU): models, stages, end to end, VRAM at 540x960 -> 1080x1920.",
    ),
    motion_quality: Optional[Path] = typer.Option(
        None,
        "--motion-quality",
        help="Only the interpolation quality table, on the real clips in this folder "
        "(every other frame dropped and made again: RIFE, repeat, blend; and before "
        "or after upscale).",
    ),
) -> None:
    """Measure each stage and the pipeline against the model alone and the seed baselines,
    in interleaved rounds (medians, min-max, ratios within a round)."""
    if motion_quality is not None:
        from app import bench_motion

        result = {"quality": bench_motion.quality(motion_quality), "placement": bench_motion.placement(motion_quality)}
        print(bench_motion.quality_table(result["quality"], result["placement"]))
        if json_file:
            json_file.write_text(json.dumps(result, indent=2))
            err.print(f"wrote {json_file}")
        return
    if gpu:
        from app import bench_gpu

        result = bench_gpu.run(quick=quick, rounds=rounds or None)
        print(bench_gpu.table(result))
        if json_file:
            json_file.write_text(json.dumps(result, indent=2))
            err.print(f"wrote {json_file}")
        return
    from app import bench as b

    result = b.run(input, quick=quick, backend=backend, seeds=seeds, rounds=rounds or None)
    if lengths:
        result["memory_by_length"] = b.memory_by_length([float(x) for x in lengths.split(",")])
        if "motion" in result:
            from app import bench_motion

            result["motion_memory_by_length"] = bench_motion.memory_by_length([float(x) for x in lengths.split(",")])
    print(b.table(result))
    if "memory_by_length" in result:
        print("peak RSS by clip length:", json.dumps(result["memory_by_length"]))
    if "motion_memory_by_length" in result:
        print("peak RSS by clip length, interpolate x2:", json.dumps(result["motion_memory_by_length"]))
    if json_file:
        json_file.write_text(json.dumps(result, indent=2))
        err.print(f"wrote {json_file}")


from app import cache, ops  # noqa: E402 - the commands need app, err and fail

ops.register(app, err, fail)
cache.register(app, err, fail)


def entry() -> None:
    """Console entry point: VidpipeError -> one line, exit 1 (``--debug``: traceback)."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except (VidpipeError, OSError) as e:
        if state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {shown(e)}", highlight=False)
        sys.exit(1)
    except TyperException as e:  # typer's own click: a command-line mistake
        if state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {shown(usage_line(e))}", highlight=False)
        sys.exit(getattr(e, "exit_code", 2))


def usage_line(e: TyperException) -> str:
    """One line for a command-line mistake: what is wrong, and where the help is."""
    message = " ".join(e.format_message().split())
    ctx = getattr(e, "ctx", None)
    command = ctx.command_path if ctx is not None else "vidpipe"
    files = [a for a in sys.argv[1:] if a.startswith("-") and len(a) > 1 and Path(a).exists()]
    if files:
        return f"{message} ({files[0]!r} is a file: write ./{files[0]} or put -- before it)"
    return f"{message} (see: {command} --help)"
