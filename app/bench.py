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
from functools import partial
from pathlib import Path

from app import bench_plumbing, units
from app.rounds import measure, per_round, spread, timed
from vidpipe.media.encode import EncodeConfig
from vidpipe.media.probe import probe, scan_timestamps
from vidpipe.media.reader import read_frames
from vidpipe.media.segments import split
from vidpipe.media.synth import make_clip
from vidpipe.media.writer import codec
from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig, describe, output_size


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


def _stage(rounds: list[dict], name: str, frames: int, model: str | None = None) -> dict:
    """One stage over the rounds: frames/s (median, min-max) and, against ``model`` (the
    same network alone, measured in the same round), its efficiency per round."""
    fps = per_round(rounds, lambda r: frames / r[name])
    d = {
        "frames": frames,
        "seconds": spread(per_round(rounds, lambda r: r[name]))["median"],
        "fps": spread(fps)["median"],
        "fps_range": spread(fps),
    }
    if model is not None:
        d["model_only_fps"] = spread(per_round(rounds, lambda r: frames / r[model]))["median"]
        eff = per_round(rounds, lambda r: r[model] / r[name])
        d["efficiency"], d["efficiency_range"] = spread(eff)["median"], spread(eff)
    return d


def run(
    clip: Path | None = None,
    quick: bool = False,
    backend: str = "auto",
    seeds: bool = True,
    matting: bool = True,
    rounds: int | None = None,
    plumbing: bool = True,
    motion: bool = True,
) -> dict:
    work = Path(tempfile.mkdtemp(prefix="vidpipe-bench-"))
    os.environ["VIDPIPE_HOME"] = str(work / "home")  # intermediates of this run only
    rounds = rounds or (1 if quick else 3)
    try:
        result = _run(work, clip, quick, backend, seeds, matting, rounds)
        if plumbing and matting:
            result["plumbing"] = bench_plumbing.run(work / "plumbing", quick, rounds)
        if motion:
            from app import bench_motion
            from vidpipe.models import registry, store

            if store.find(registry.get("rife-v4.2x")) is not None:
                result["motion"] = bench_motion.run(quick, rounds)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, clip: Path | None, quick: bool, backend: str, seeds: bool, matting: bool, rounds: int) -> dict:
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
    model_only = _model_only(up, size)
    model_only(frames[0])  # load and warm up
    n = len(frames)
    result: dict = {
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
        "clip": {
            "path": str(clip) if clip else "generated",
            "width": info.width,
            "height": info.height,
            "frames": n,
            "fps": info.fps,
            "output": f"{size[0]}x{size[1]}",
        },
        "upscale": describe(cfg),
        "intermediate": f"{codec()} in NUT (lossless)",
        "method": f"{rounds} interleaved rounds; figures are medians (min-max); ratios are computed within a round",
        "stages": {},
    }
    seg_files = [work / "up" / f"{s.name}.nut" for s in segments]
    phases = {
        "upscale_model": lambda: timed(lambda: [model_only(f) for f in frames]),
        "upscale": lambda: timed(lambda: [units.upscale(info, s, cfg, p) for s, p in zip(segments, seg_files)]),
    }
    if matting:
        phases.update(_matting_phases(work, info, segments, seg_files))
    out = work / "vidpipe.mp4"
    phases["join"] = lambda: timed(lambda: units.join(seg_files, info, timestamps, out, enc))

    def pipeline():  # the whole pipeline, as the seeds do it: upscale + encode with audio
        files = [units.upscale(info, s, cfg, work / "pipe" / f"{s.name}.nut") for s in segments]
        units.join(files, info, timestamps, work / "pipeline.mp4", enc)

    phases["pipeline"] = lambda: timed(pipeline)
    baselines: dict = {}
    if seeds:
        for name in ("seed1", "seed2"):
            phases[name] = partial(_baseline, name, baselines, work, clip, info, cfg.model, up.backend, size)
    measured = measure(phases, rounds)
    result["rounds"] = measured
    result["stages"]["upscale"] = _stage(measured, "upscale", n, "upscale_model")
    if matting:
        result["stages"]["matte"] = _stage(measured, "matte", n, "matte_model")
        result["stages"]["composite"] = _stage(measured, "composite", n)
    result["stages"]["join"] = _stage(measured, "join", n)
    result["pipeline"] = _stage(measured, "pipeline", n)
    if seeds:
        result["baselines"] = {
            name: {**_stage(measured, name, n), **baselines[name]} if name in measured[0] else baselines[name]
            for name in ("seed1", "seed2")
        }
        for name in ("seed1", "seed2"):
            ratios = per_round(measured, lambda r, name=name: r[name] / r["pipeline"])
            if ratios:
                result["pipeline"][f"speedup_vs_{name}"] = spread(ratios)["median"]
                result["pipeline"][f"speedup_vs_{name}_range"] = spread(ratios)
    result["peak_rss_mb"] = round(_rss_mb(), 1)
    return result


def _model_only(up: FrameUpscaler, size: tuple[int, int]):
    """The network alone on one in-memory frame (torch: finished on its device, as it runs)."""
    if hasattr(up.net, "upscale"):
        return lambda f: up.net.upscale([f], size)
    return up.net.forward


def _matting_phases(work, info, segments, seg_files) -> dict:
    from vidpipe.models import rvm_onnx
    from vidpipe.steps.composite import CompositeConfig
    from vidpipe.steps.matte import MatteConfig

    net = rvm_onnx.load()
    mattes = [work / "matte" / f"{s.name}.nut" for s in segments]
    state = {"big": None}

    def model_only():
        if state["big"] is None:  # the upscaled frames, once (the upscale phase made them)
            state["big"] = [f for p in seg_files for f in read_frames(p)]
            model_pass()  # warm-up
        return timed(model_pass)

    def model_pass():
        big, s = state["big"], net.zero_state()
        ratio = rvm_onnx.auto_ratio(*big[0].shape[:2])
        for f in big:
            _, s = net.step(f, s, ratio)

    def stage():
        prev = None
        for s, p, m in zip(segments, seg_files, mattes):
            prev = units.matte(info, s, str(p), MatteConfig(), m, prev=prev)

    def streamed():  # what join pulls through composite: the matte decoded and blended
        for s, p, m in zip(segments, seg_files, mattes):
            for _ in units.composite(info, s, str(p), str(m), CompositeConfig("#202020")):
                pass

    return {"matte_model": model_only, "matte": lambda: timed(stage), "composite": lambda: timed(streamed)}


def _baseline(name, notes: dict, work, clip, info, model, backend, size) -> float | None:
    """One seed in a process of its own (see bench_seeds); its seconds, or None (skipped)."""
    label, desc = {
        "seed1": (backend, "PNG round trip, file by file"),
        "seed2": ("torch (per frame, NCHW float)", "OpenCV + JPEG q95"),
    }[name]
    argv = [str(a) for a in (name, clip, work / name, model, backend, info.width, info.height, *size, info.fps)]
    r = subprocess.run([sys.executable, "-m", "app.bench_seeds", *argv], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"baseline {name} failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    got = json.loads(r.stdout.strip().splitlines()[-1])
    notes[name] = {"backend": label, "what": desc} if "seconds" in got else got
    return got.get("seconds")


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
    files = [units.upscale(info, s, cfg, work / f"{s.name}.nut") for s in split(ts, info.fps, 4.0)]
    units.join(files, info, ts, work / "out.mp4", EncodeConfig(preset="veryfast"))
    print(json.dumps({"frames": info.frame_count, "peak_rss_mb": round(_rss_mb(), 1)}))
    shutil.rmtree(work, ignore_errors=True)


def _range(d: dict, key: str) -> str:
    r = d.get(f"{key}_range")
    return f" ({r['min']:.2f}-{r['max']:.2f})" if r and r["min"] != r["max"] else ""


def table(result: dict) -> str:
    rows = [
        result.get("method", ""),
        f"{'step':10} {'frames/s':>20} {'model-only':>10} {'efficiency':>18} {'seconds':>8}",
    ]
    for name, d in {**result["stages"], "pipeline": result["pipeline"]}.items():
        fps = f"{d['fps']:.2f}{_range(d, 'fps')}"
        eff = f"{d['efficiency']:.2f}{_range(d, 'efficiency')}" if "efficiency" in d else "-"
        model = f"{d['model_only_fps']:.2f}" if "model_only_fps" in d else "-"
        rows.append(f"{name:10} {fps:>20} {model:>10} {eff:>18} {d['seconds']:8.1f}")
    for name, d in result.get("baselines", {}).items():
        rows.append(
            f"{name:10} {d['fps']:>9.2f}  ({d['what']})" if "fps" in d else f"{name:10} skipped: {d['skipped']}"
        )
    p = result["pipeline"]
    for k in ("speedup_vs_seed1", "speedup_vs_seed2"):
        if k in p:
            rows.append(f"{k}: {p[k]:.2f}x{_range(p, k)}")
    if "plumbing" in result:
        rows.append(bench_plumbing.table(result["plumbing"]))
    if "motion" in result:
        from app import bench_motion

        rows.append(bench_motion.table(result["motion"]))
    rows.append(f"peak RSS {result['peak_rss_mb']} MB; {result['machine']['cpu']}, {result['machine']['cores']} cores")
    return "\n".join(rows)
