"""``vidpipe bench``: frames/s of each stage and of the pipeline, each stage's
efficiency (the model alone, in a tight loop on the same frames, divided by the
stage's wall time), peak memory, and the speed-up over the two seed-style
baselines on the same clip and model. Ratios are what to compare across machines."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vidpipe.media.encode import EncodeConfig
from vidpipe.steps.join import join
from vidpipe.media.probe import probe, scan_timestamps
from vidpipe.media.reader import read_frames
from vidpipe.media.segments import split
from vidpipe.media.synth import make_clip
from vidpipe.media.writer import codec
from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig, describe, output_size, upscale


def _timed(fn):
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def _rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux a child
    inherits its parent's ru_maxrss across fork/exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _stage(frames: int, seconds: float, model_seconds: float | None = None) -> dict:
    d = {"frames": frames, "seconds": round(seconds, 3), "fps": round(frames / seconds, 3)}
    if model_seconds is not None:
        d["model_only_fps"] = round(frames / model_seconds, 3)
        d["efficiency"] = round(model_seconds / seconds, 3)
    return d


def run(
    clip: Path | None = None, quick: bool = False, backend: str = "auto", seeds: bool = True, matting: bool = True
) -> dict:
    work = Path(tempfile.mkdtemp(prefix="vidpipe-bench-"))
    os.environ["VIDPIPE_HOME"] = str(work / "home")  # intermediates of this run only
    try:
        return _run(work, clip, quick, backend, seeds, matting)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, clip: Path | None, quick: bool, backend: str, seeds: bool, matting: bool) -> dict:
    if clip is None:
        w, h, n = (160, 120, 12) if quick else (320, 240, 72)
        clip = make_clip(work / "bench.mp4", w, h, frames=n, fps=24)
    info = probe(clip)
    timestamps = scan_timestamps(clip, info.video_index)
    segments = split(timestamps, info.fps, 4.0)
    cfg = UpscaleConfig(target="none", scale=4, backend=backend)  # x4, as the notes measured
    size = output_size(info.width, info.height, "none", 4)
    enc = EncodeConfig()
    frames = list(read_frames(clip, info.video_index))
    up = FrameUpscaler(cfg, (info.width, info.height), size)
    up(frames[0])  # load and warm up
    n = len(frames)
    result: dict = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
        "clip": {"path": str(clip) if clip else "generated", "width": info.width, "height": info.height,
                 "frames": n, "fps": info.fps, "output": f"{size[0]}x{size[1]}"},
        "upscale": describe(cfg),
        "intermediate": f"{codec()} in NUT (lossless)",
        "stages": {},
    }
    # upscale: the model alone vs the stage (decode + model + lossless encode, overlapped),
    # interleaved rounds, best of each (a shared VM is noisy)
    model_s = stage_s = float("inf")
    for _ in range(1 if quick else 2):
        model_s = min(model_s, _timed(lambda: [up.net.forward(f) for f in frames])[1])
        seg_files, t = _timed(lambda: [upscale(info, s, cfg, work / "up" / f"{s.name}.nut") for s in segments])
        stage_s = min(stage_s, t)
    result["stages"]["upscale"] = _stage(n, stage_s, model_s)
    if matting:
        result["stages"].update(_matting(work, info, segments, seg_files))
    out = work / "vidpipe.mp4"
    _, join_s = _timed(lambda: join(seg_files, info, timestamps, out, enc))
    result["stages"]["join"] = _stage(n, join_s)
    # the whole pipeline, as the seeds do it: upscale + encode with audio
    def pipeline():
        files = [upscale(info, s, cfg, work / "pipe" / f"{s.name}.nut") for s in segments]
        join(files, info, timestamps, work / "pipeline.mp4", enc)

    _, pipe_s = _timed(pipeline)
    result["pipeline"] = _stage(n, pipe_s)
    if seeds:
        result["baselines"] = _baselines(work, clip, info, cfg.model, up.backend, size, n)
        for name in ("seed1", "seed2"):
            if "seconds" in result["baselines"].get(name, {}):
                result["pipeline"][f"speedup_vs_{name}"] = round(result["baselines"][name]["seconds"] / pipe_s, 3)
    result["peak_rss_mb"] = round(_rss_mb(), 1)
    return result


def _matting(work, info, segments, seg_files) -> dict:
    from vidpipe.models import rvm_onnx
    from vidpipe.steps.composite import CompositeConfig, composite
    from vidpipe.steps.matte import MatteConfig, matte

    big = [f for p in seg_files for f in read_frames(p)]
    net = rvm_onnx.load()
    ratio = rvm_onnx.auto_ratio(*big[0].shape[:2])

    def model_only():
        state = rvm_onnx.zero_state()
        for f in big:
            _, state = net.step(f, state, ratio)

    model_only()  # warm-up
    _, model_s = _timed(model_only)
    mattes, prev = [], None

    def stage():
        nonlocal prev
        for s, p in zip(segments, seg_files):
            prev = str(matte(info, s, p, MatteConfig(), work / "matte" / f"{s.name}.nut", prev))
            mattes.append(prev)

    _, matte_s = _timed(stage)
    times = [i / info.fps for i in range(len(big))]
    _, comp_s = _timed(lambda: [
        composite(info, s, p, m, CompositeConfig("#202020"), times[s.first_frame:s.end_frame],
                  work / "comp" / f"{s.name}.nut")
        for s, p, m in zip(segments, seg_files, mattes)
    ])
    return {"matte": _stage(len(big), matte_s, model_s), "composite": _stage(len(big), comp_s)}


def _baselines(work, clip, info, model, backend, size, n) -> dict:
    """Each seed in a process of its own, as the seed scripts run (see bench_seeds),
    with the same model (seed 1: also the same backend) as the pipeline."""
    out: dict = {}
    what = {
        "seed1": (backend, "PNG round trip, file by file"),
        "seed2": ("torch (per frame, NCHW float)", "OpenCV + JPEG q95"),
    }
    for name, (label, desc) in what.items():
        argv = [name, clip, work / name, model, backend, info.width, info.height, *size, info.fps]
        argv = [str(a) for a in argv]
        r = subprocess.run([sys.executable, "-m", "app.bench_seeds", *argv], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"baseline {name} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
        got = json.loads(r.stdout.strip().splitlines()[-1])
        out[name] = {**_stage(n, got["seconds"]), "backend": label, "what": desc} if "seconds" in got else got
    return out


def memory_by_length(lengths: list[float]) -> dict:
    """Peak RSS of the upscale+join pipeline on clips of each length (seconds), each
    in its own process: flat means memory does not grow with video length."""
    out = {}
    work = Path(tempfile.mkdtemp(prefix="vidpipe-bench-rss-"))
    try:
        for seconds in lengths:
            clip = make_clip(work / f"len{seconds:g}.mp4", 128, 72, frames=int(seconds * 24), fps=24)
            code = (
                "import sys,tempfile,os;os.environ['VIDPIPE_HOME']=tempfile.mkdtemp();"
                "from app.bench import _length_run;_length_run(sys.argv[1])"
            )
            r = subprocess.run([sys.executable, "-c", code, str(clip)], capture_output=True, text=True, check=True)
            out[f"{seconds:g}s"] = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _length_run(clip: str) -> None:
    """The upscale+join pipeline on ``clip`` (made by another process, so only the
    pipeline's memory is measured); prints its frame count and peak RSS."""
    work = Path(tempfile.mkdtemp())
    info = probe(clip)
    ts = scan_timestamps(clip, info.video_index)
    cfg = UpscaleConfig(target="none", scale=2)
    files = [upscale(info, s, cfg, work / f"{s.name}.nut") for s in split(ts, info.fps, 4.0)]
    join(files, info, ts, work / "out.mp4", EncodeConfig(preset="veryfast"))
    print(json.dumps({"frames": info.frame_count, "peak_rss_mb": round(_rss_mb(), 1)}))
    shutil.rmtree(work, ignore_errors=True)


def table(result: dict) -> str:
    rows = [f"{'step':10} {'frames/s':>9} {'model-only':>10} {'efficiency':>10} {'seconds':>8}"]
    for name, d in {**result["stages"], "pipeline": result["pipeline"]}.items():
        rows.append(
            f"{name:10} {d['fps']:9.2f} {d.get('model_only_fps', float('nan')):10.2f} "
            f"{d.get('efficiency', float('nan')):10.2f} {d['seconds']:8.1f}"
        )
    for name, d in result.get("baselines", {}).items():
        rows.append(f"{name:10} {d['fps']:9.2f}  ({d['what']})" if "fps" in d else f"{name:10} skipped: {d['skipped']}")
    p = result["pipeline"]
    for k in ("speedup_vs_seed1", "speedup_vs_seed2"):
        if k in p:
            rows.append(f"{k}: {p[k]:.2f}x")
    rows.append(f"peak RSS {result['peak_rss_mb']} MB; {result['machine']['cpu']}, {result['machine']['cores']} cores")
    return "\n".join(rows)
