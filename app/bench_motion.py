"""Motion in ``vidpipe bench`` (and ``--gpu``): RIFE alone and the interpolate step, in
frames made per second, at the product's sizes (540x960 and 1080x1920, portrait x2);
and ``vidpipe bench --motion-quality``: on real clips, every other frame dropped and
made again, PSNR/SSIM against the dropped originals for RIFE, a repeat of the previous
frame and a linear blend; and where in the DAG interpolate is cheaper and better
(before upscale: RIFE at the source size, twice the frames to upscale; after: RIFE at
the output size), against the real frames of a clip brought down to half size."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from app.rounds import measure, per_round, spread, timed

SIZES = ((540, 960), (1080, 1920))
#: real 24-30 fps clips of ../shared/media (name, frames used)
QUALITY_CLIPS = (
    "liveportrait_s13.mp4",
    "liveportrait_d12.mp4",
    "sam2_05_default_juggle.mp4",
    "mdn_friday.mp4",
    "fate_iphone4_rotated_audiofirst.mov",
)


def run(
    quick: bool = False, rounds: int = 1, device: str | None = None, sizes=SIZES, frames: int | None = None
) -> dict:
    """frames/s of the model alone and of the step (decode, thumbnails, model, lossless
    write), per size. ``device``: None = CUDA where there is one."""
    from vidpipe.models import registry, rife

    net = rife.Interpolator(registry.get("rife-v4.2x", "interpolate"), device)
    n = frames or (3 if quick else 9)
    out: dict = {"model": "rife-v4.2x", "device": f"{net.device.type}{' fp16' if net.half else ''}", "sizes": {}}
    work = Path(tempfile.mkdtemp(prefix="vidpipe-bench-motion-"))
    old = os.environ.get("VIDPIPE_HOME")
    os.environ["VIDPIPE_HOME"] = str(work / "home")
    try:
        for w, h in sizes[:1] if quick else sizes:
            out["sizes"][f"{w}x{h}"] = _size(work, net, w, h, n, rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if old is None:
            os.environ.pop("VIDPIPE_HOME", None)
        else:
            os.environ["VIDPIPE_HOME"] = old
    return out


def _size(work: Path, net, w: int, h: int, n: int, rounds: int) -> dict:
    from vidpipe.config import JobSpec
    from vidpipe.media.probe import probe
    from vidpipe.media.reader import read_frames
    from vidpipe.media.synth import make_clip
    from vidpipe.pipeline import plan_video
    from vidpipe.steps import execute
    from vidpipe.steps.interpolate import read_summary
    from vidpipe.steps.split import timeline

    clip = make_clip(work / f"{w}x{h}.mp4", w, h, frames=n + 1, fps=15, audio=False)
    info = probe(clip)
    spec = JobSpec(target="none", fps="x2", segment_seconds=600)
    plan = plan_video(info, timeline(info, 600), spec, work / "out.mp4")
    for unit in plan.of("upscale"):  # a copy at this size (resize only): what interpolate reads
        execute(unit.step, unit.work, unit.plan)
    units = plan.of("interpolate")
    frames = list(read_frames(clip))
    net(frames[0], frames[1], 0.5)  # warm-up

    def model():
        return timed(lambda: [net(a, b, 0.5) for a, b in zip(frames, frames[1:])])

    def stage():
        for unit in units:
            unit.plan.out.unlink(missing_ok=True)
            Path(str(unit.plan.out) + ".stats.json").unlink(missing_ok=True)
        return timed(lambda: [execute(u.step, u.work, u.plan) for u in units])

    measured = measure({"model": model, "stage": stage}, rounds, label=f"bench motion {w}x{h}")
    made = sum(read_summary(u.plan.out)["made"] for u in units)  # frames the model made (the rest are copies)
    model_fps = spread(per_round(measured, lambda r: n / r["model"]))
    stage_fps = spread(per_round(measured, lambda r: made / r["stage"]))
    return {
        "model_only_fps": model_fps["median"],
        "model_ms_per_frame": round(1000 / model_fps["median"], 1),
        "stage_fps": stage_fps["median"],
        "stage_ms_per_made_frame": round(1000 / stage_fps["median"], 1),
        "made": made,
        "efficiency": round(stage_fps["median"] / model_fps["median"], 3),
        "rounds": measured,
    }


def table(r: dict) -> str:
    rows = [
        f"interpolate ({r['model']} on {r['device']}, x2)",
        f"{'size':10} {'model-only fps':>15} {'ms/frame':>9} {'step fps':>9} {'efficiency':>10}",
    ]
    for size, d in r["sizes"].items():
        rows.append(
            f"{size:10} {d['model_only_fps']:15.2f} {d['model_ms_per_frame']:9.0f} {d['stage_fps']:9.2f} "
            f"{d['efficiency']:10.2f}"
        )
    return "\n".join(rows)


# ---------------------------------------------------------------- quality


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the luma (Gaussian window, sigma 1.5; Wang et al. 2004 constants)."""
    ya, yb = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float64) for x in (a, b))
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    ma, mb = blur(ya), blur(yb)
    va, vb, cov = blur(ya * ya) - ma**2, blur(yb * yb) - mb**2, blur(ya * yb) - ma * mb
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float((((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))).mean())


def _clip_frames(path: Path, n: int, long_side: int) -> list[np.ndarray]:
    from vidpipe.media.probe import probe
    from vidpipe.media.reader import read_frames

    out = []
    for f in read_frames(path, probe(path).video_index):
        h, w = f.shape[:2]
        k = min(1.0, long_side / max(h, w))
        out.append(
            cv2.resize(f, (round(w * k) // 2 * 2, round(h * k) // 2 * 2), interpolation=cv2.INTER_AREA) if k < 1 else f
        )
        if len(out) == n:
            break
    return out


def quality(media: Path, frames: int = 61, long_side: int = 960, device: str | None = None) -> dict:
    """Drop every other frame of each real clip and make it again: PSNR/SSIM (means over
    the made frames) for RIFE, repeat (the previous frame) and a linear blend. A dropped
    frame that the clip itself repeats (it, or the frame after it, is a repeat by
    :func:`vidpipe.media.motion.decide`: LivePortrait's output repeats frames at random)
    is left out: there the truth is no motion, and no method should be scored on it."""
    from vidpipe.media import motion
    from vidpipe.media.probe import probe
    from vidpipe.models import registry, rife

    net = rife.Interpolator(registry.get("rife-v4.2x", "interpolate"), device)
    out = {}
    for name in QUALITY_CLIPS:
        path = media / name
        if not path.exists():
            continue
        fr = _clip_frames(path, frames, long_side)
        thumbs = [motion.thumbnail(f) for f in fr]
        d = {i: motion.difference(a, b) for i, (a, b) in enumerate(zip(thumbs, thumbs[1:]))}
        found = motion.decide(d, len(fr), motion.CUT, 0, len(fr) - 1)
        repeats = found.dropped | found.holds
        scores: dict[str, list[tuple[float, float]]] = {"rife": [], "repeat": [], "blend": []}
        left_out = 0
        for i in range(1, len(fr) - 1, 2):
            if i in repeats or i + 1 in repeats:
                left_out += 1
                continue
            a, truth, b = fr[i - 1], fr[i], fr[i + 1]
            blend = ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)
            for method, made in (("rife", net(a, b, 0.5)), ("repeat", a), ("blend", blend)):
                scores[method].append((psnr(made, truth), ssim(made, truth)))
        info = probe(path)
        out[name] = {
            "fps": round(info.fps, 3),
            "size": f"{fr[0].shape[1]}x{fr[0].shape[0]}",
            "made": len(scores["rife"]),
            "left_out": left_out,
            **{
                m: {
                    "psnr": round(float(np.mean([s[0] for s in v])), 2),
                    "ssim": round(float(np.mean([s[1] for s in v])), 4),
                }
                for m, v in scores.items()
            },
        }
    return out


def placement(
    media: Path, clip: str = "sam2_05_default_juggle.mp4", frames: int = 25, device: str | None = None
) -> dict:
    """Interpolate before or after upscale, on a clip brought down to half size (the
    source) and made x2 again: cost per output frame pair and PSNR/SSIM of the made
    frames against the clip's real frames at full size."""
    import time

    from vidpipe.models import registry, rife
    from vidpipe.steps.upscale import FrameUpscaler, UpscaleConfig

    net = rife.Interpolator(registry.get("rife-v4.2x", "interpolate"), device)
    full = _clip_frames(media / clip, frames, 10_000)
    h, w = full[0].shape[:2]
    small = [cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA) for f in full]
    up = FrameUpscaler(UpscaleConfig(target="none", scale=2), (w // 2, h // 2), (w, h))
    up(small[0])
    net(small[0], small[1], 0.5)
    t_up = t_rife_small = t_rife_big = 0.0
    res: dict[str, list[tuple[float, float]]] = {"after": [], "before": []}
    for i in range(1, len(full) - 1, 2):
        t = time.perf_counter()
        ua, ub = up(small[i - 1]), up(small[i + 1])
        t_up += (time.perf_counter() - t) / 2
        t = time.perf_counter()
        after = net(ua, ub, 0.5)
        t_rife_big += time.perf_counter() - t
        t = time.perf_counter()
        mid_small = net(small[i - 1], small[i + 1], 0.5)
        t_rife_small += time.perf_counter() - t
        before = up(mid_small)
        for k, made in (("after", after), ("before", before)):
            res[k].append((psnr(made, full[i]), ssim(made, full[i])))
    n = len(res["after"])
    sr, small_ms, big_ms = 1000 * t_up / n, 1000 * t_rife_small / n, 1000 * t_rife_big / n
    return {
        "clip": clip,
        "source": f"{w // 2}x{h // 2}",
        "output": f"{w}x{h}",
        "pairs": n,
        "upscale_ms": round(sr, 1),
        "rife_source_ms": round(small_ms, 1),
        "rife_output_ms": round(big_ms, 1),
        # per source frame at x2: before = 1 RIFE at the source size + 2 upscales; after = 1 upscale + 1 RIFE at the output size
        "before_ms_per_source_frame": round(small_ms + 2 * sr, 1),
        "after_ms_per_source_frame": round(sr + big_ms, 1),
        **{
            k: {
                "psnr": round(float(np.mean([s[0] for s in v])), 2),
                "ssim": round(float(np.mean([s[1] for s in v])), 4),
            }
            for k, v in res.items()
        },
    }


def quality_table(q: dict, p: dict | None) -> str:
    rows = [
        "| clip | fps | size | frames made (left out) | RIFE PSNR / SSIM | repeat PSNR / SSIM | blend PSNR / SSIM |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, d in q.items():
        cells = " | ".join(f"{d[m]['psnr']:.2f} / {d[m]['ssim']:.4f}" for m in ("rife", "repeat", "blend"))
        rows.append(f"| {name} | {d['fps']:g} | {d['size']} | {d['made']} ({d['left_out']}) | {cells} |")
    if p:
        rows += [
            "",
            f"placement on {p['clip']} ({p['source']} -> {p['output']}, {p['pairs']} made frames):",
            f"- after upscale: {p['after_ms_per_source_frame']:.0f} ms per source frame, "
            f"PSNR {p['after']['psnr']:.2f} / SSIM {p['after']['ssim']:.4f}",
            f"- before upscale: {p['before_ms_per_source_frame']:.0f} ms per source frame, "
            f"PSNR {p['before']['psnr']:.2f} / SSIM {p['before']['ssim']:.4f}",
            f"- (upscale {p['upscale_ms']:.0f} ms, RIFE {p['rife_source_ms']:.0f} ms at the source size, "
            f"{p['rife_output_ms']:.0f} ms at the output size)",
        ]
    return "\n".join(rows)


def memory_by_length(lengths: list[float]) -> dict:
    """Peak RSS of interpolating x2 clips of each length (seconds, 15 fps), each in its own
    process: flat means memory does not grow with video length."""
    import json
    import subprocess
    import sys

    out = {}
    work = Path(tempfile.mkdtemp(prefix="vidpipe-bench-motion-rss-"))
    try:
        for seconds in lengths:
            code = "import sys;from app.bench_motion import _length_run;_length_run(sys.argv[1], float(sys.argv[2]))"
            r = subprocess.run(
                [sys.executable, "-c", code, str(work / f"{seconds:g}"), str(seconds)],
                capture_output=True,
                text=True,
                check=True,
            )
            out[f"{seconds:g}s"] = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _length_run(folder: str, seconds: float) -> None:
    import json

    from app.bench import _rss_mb
    from vidpipe.config import JobSpec
    from vidpipe.media.probe import probe
    from vidpipe.media.synth import make_clip
    from vidpipe.pipeline import plan_video
    from vidpipe.steps import execute
    from vidpipe.steps.split import timeline

    work = Path(folder)
    os.environ["VIDPIPE_HOME"] = str(work / "home")
    clip = make_clip(work / "clip.mp4", 128, 72, frames=int(seconds * 15), fps=15)
    info = probe(clip)
    spec = JobSpec(target="none", fps="x2")
    secs = 4.0
    plan = plan_video(info, timeline(info, secs), spec, work / "out.mp4")
    for unit in plan.items:
        execute(unit.step, unit.work, unit.plan)
    print(
        json.dumps(
            {"frames_made": sum(u.plan.frames for u in plan.of("interpolate")), "peak_rss_mb": round(_rss_mb(), 1)}
        )
    )
