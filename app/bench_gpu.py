"""``vidpipe bench --gpu``: the GPU path at the product's size, 540x960 -> 1080x1920, in
interleaved rounds: each upscale model alone and as a stage (animevideov3, and x4plus
when its .pth is here), RVM alone and as a stage, composite as join pulls it (and
the device blend), the final encode (NVENC and libx264), the pipeline end to end
(upscale -> matte -> join with the streamed composite, ``--codec auto``) and one
job's peak VRAM (torch's allocator and the whole process as NVML sees it).

Targets (issue 16): end to end >= 0.7 of animevideov3's own frames/s; peak VRAM of
one job <= 5 GB, so two fit a 12 GB card. Refuses in one line without a CUDA GPU.
The same code runs on the CPU with ``device="cpu"`` (the tests do, on tiny frames)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from app.rounds import measure, per_round, spread, timed
from vidpipe.errors import ConfigError

SOURCE = (540, 960)
MODELS = ("realesr-animevideov3", "RealESRGAN_x4plus")


def run(
    quick: bool = False, rounds: int | None = None, device: str = "cuda", source=SOURCE, frames: int | None = None
) -> dict:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("vidpipe bench --gpu needs a CUDA GPU, and torch sees none here (vidpipe doctor says why)")
    work = Path(tempfile.mkdtemp(prefix="vidpipe-bench-gpu-"))
    os.environ["VIDPIPE_HOME"] = str(work / "home")
    try:
        return _run(work, device, source, frames or (24 if quick else 120), rounds or (1 if quick else 3))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path, device: str, source: tuple[int, int], n: int, rounds: int) -> dict:
    import torch

    from app.bench import cpu_name
    from vidpipe import gpu
    from vidpipe.media.encode import EncodeConfig, deliver, resolve_codec
    from vidpipe.media.probe import probe, scan_timestamps
    from vidpipe.media.reader import read_frames
    from vidpipe.media.segments import split
    from vidpipe.media.synth import make_clip
    from vidpipe.models import registry, store
    from vidpipe.steps.upscale import output_size

    clip = make_clip(work / "portrait.mp4", *source, frames=n, fps=24)
    info = probe(clip)
    ts = scan_timestamps(clip, info.video_index)
    segments = split(ts, info.fps, 2.0)
    size = output_size(*source, "1080p")
    sources = list(read_frames(clip, info.video_index))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    phases, models = {}, []
    for name in MODELS:
        if store.find(registry.upscale_model(name)) is None:
            continue  # its .pth is not here: say so in the JSON, measure the rest
        models.append(name)
        phases.update(_upscale_phases(name, info, segments, sources, size, work, sync))
    if not models:
        raise ConfigError(
            f"vidpipe bench --gpu: no upscale .pth found ({', '.join(MODELS)}); put them in VIDPIPE_MODELS_DIR"
        )
    ups = [work / models[0] / f"{s.name}.nut" for s in segments]
    phases.update(_matte_phases(info, segments, ups, work, size))
    phases["blend_device"] = _device_blend(device, size, n, sync)
    big: list = []  # the upscaled frames, read once the first upscale stage has made them
    codec = resolve_codec("auto")

    def encode(name):
        def phase():
            if not big:
                big.extend(f for p in ups for f in read_frames(p))
            return timed(lambda: deliver(iter(big), info, ts, work / f"{name}.mp4", EncodeConfig(codec=name)))

        return phase

    for name in dict.fromkeys((codec, "libx264")):
        phases[f"encode_{name}"] = encode(name)
    phases["end_to_end"] = lambda: _end_to_end(work, info, ts, segments, models[0], device, codec, sync)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with gpu.PeakMemory() as peak:
        measured = measure(phases, rounds, "bench gpu")
    result = {
        "machine": {
            "gpu": torch.cuda.get_device_name() if device == "cuda" else "none (CPU run)",
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
        },
        "size": f"{source[0]}x{source[1]} -> {size[0]}x{size[1]}",
        "frames": n,
        "codec_auto": codec,
        "models": models,
        "models_missing": [m for m in MODELS if m not in models],
        "method": f"{rounds} interleaved rounds; figures are medians (min-max); ratios within a round",
        "rounds": measured,
        "fps": {},
    }
    for name in measured[0]:
        result["fps"][name] = spread(per_round(measured, lambda r, name=name: n / r[name]), 2)
    ratio = per_round(measured, lambda r: r[f"upscale_model:{models[0]}"] / r["end_to_end"])
    result["end_to_end_vs_model"] = spread(ratio, 3)
    result["end_to_end_target"] = 0.7
    result["peak_vram_mb"] = {
        "torch_allocated": int(torch.cuda.max_memory_allocated() >> 20) if device == "cuda" else None,
        "process_nvml": peak.peak_mb,
        "target": 5 * 1024,
    }
    from app import bench_motion

    if store.find(registry.get("rife-v4.2x")) is not None:  # RIFE alone and the interpolate step, on this device
        result["motion"] = bench_motion.run(n < 120, rounds, device, frames=min(n, 24))
    return result


def _upscale_phases(name, info, segments, sources, size, work, sync):
    from app import units
    from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig

    cfg = UpscaleConfig(model=name, target="1080p", backend="torch")
    up = FrameUpscaler(cfg, (info.width, info.height), size)
    up.many(sources[: up.batch])  # load, autotune, warm up

    def model_only():
        def go():
            for i in range(0, len(sources), up.batch):
                up.many(sources[i : i + up.batch])
            sync()

        return timed(go)

    def stage():
        return timed(lambda: [units.upscale(info, s, cfg, work / name / f"{s.name}.nut") for s in segments])

    return {f"upscale_model:{name}": model_only, f"upscale:{name}": stage}


def _matte_phases(info, segments, ups, work, size) -> dict:
    from app import units
    from vidpipe.media.reader import read_frames
    from vidpipe.models import rvm_onnx
    from vidpipe.steps.composite import CompositeConfig
    from vidpipe.steps.matte import MatteConfig

    net = rvm_onnx.load()
    mattes = [work / "matte" / f"{s.name}.nut" for s in segments]
    cache: list = []

    def model_only():
        if not cache:
            cache.extend(f for p in ups for f in read_frames(p))
        ratio = rvm_onnx.auto_ratio(size[1], size[0])

        def go():
            state = net.zero_state()
            for f in cache:
                _, state = net.step(f, state, ratio)

        return timed(go)

    def stage():
        def go():
            prev = None
            for s, p, m in zip(segments, ups, mattes):
                prev = units.matte(info, s, str(p), MatteConfig(), m, prev=prev)

        return timed(go)

    def composite():
        def go():
            for s, p, m in zip(segments, ups, mattes):
                for _ in units.composite(info, s, str(p), str(m), CompositeConfig("#00b140")):
                    pass

        return timed(go)

    return {"matte_model": model_only, "matte": stage, "composite_in_join": composite}


def _device_blend(device, size, n, sync):
    """The composite blend where the frames are on the GPU (vidpipe.media.tensor.blend)."""
    import torch

    from vidpipe.media import tensor

    def phase():
        g = torch.Generator().manual_seed(0)
        rgba = torch.randint(0, 256, (size[1], size[0], 4), dtype=torch.uint8, generator=g).to(device)
        back = torch.randint(0, 256, (size[1], size[0], 3), dtype=torch.uint8, generator=g).to(device)

        def go():
            for _ in range(n):
                tensor.blend(rgba, back)
            sync()

        return timed(go)

    return phase


def _end_to_end(work, info, ts, segments, model, device, codec, sync) -> float:
    """upscale -> matte -> join (composite streamed in, ``--codec auto``), every segment."""
    from app import units
    from vidpipe.media.encode import EncodeConfig
    from vidpipe.steps.base import Inputs, Plan, SegmentWork, Stream
    from vidpipe.steps.composite import STEP as composite_step
    from vidpipe.steps.composite import CompositeConfig
    from vidpipe.steps.join import JoinWork, join
    from vidpipe.steps.matte import MatteConfig
    from vidpipe.steps.upscale import UpscaleConfig, output_size

    cfg = UpscaleConfig(model=model, target="1080p", backend="torch")
    size = output_size(info.width, info.height, "1080p")
    folder = work / f"e2e-{time.monotonic_ns()}"
    t = time.perf_counter()
    streams, prev = [], None
    for s in segments:
        up = units.upscale(info, s, cfg, folder / f"up-{s.name}.nut")
        prev = units.matte(info, s, up, MatteConfig(), folder / f"matte-{s.name}.nut", prev=prev)
        pts = tuple(ts[s.first_frame : s.end_frame])
        seg_work = SegmentWork(info, s, CompositeConfig("#00b140", "#00b140"), Inputs(up, prev), size, pts)
        streams.append(Stream(composite_step, seg_work, Plan("e2e", None, size)))
    out = folder / "final.mp4"
    join(JoinWork(info, tuple(streams), tuple(ts), str(out), EncodeConfig(codec=codec)), out)
    sync()
    seconds = time.perf_counter() - t
    shutil.rmtree(folder, ignore_errors=True)
    return seconds


def table(r: dict) -> str:
    rows = [
        f"GPU bench: {r['machine']['gpu']} ({r['machine']['cores']} CPU cores), {r['size']}, {r['frames']} frames",
        r["method"],
        f"{'phase':36} {'frames/s':>10} {'min-max':>17}",
    ]
    for name, d in r["fps"].items():
        rows.append(f"{name:36} {d['median']:10.2f} {d['min']:8.2f}-{d['max']:<8.2f}")
    e = r["end_to_end_vs_model"]
    rows.append(f"end to end / {r['models'][0]} alone: {e['median']:.2f} (target >= {r['end_to_end_target']})")
    v = r["peak_vram_mb"]
    rows.append(f"peak VRAM: torch {v['torch_allocated']} MB, process {v['process_nvml']} MB (target <= {v['target']})")
    if r["models_missing"]:
        rows.append(f"not measured (no .pth here): {', '.join(r['models_missing'])}")
    if "motion" in r:
        from app import bench_motion

        rows.append(bench_motion.table(r["motion"]))
    return "\n".join(rows)
