"""The plumbing between models at the product's size, 540x960 -> 1080x1920: what each
step costs per frame beyond its model (or encoder), in interleaved rounds.

- upscale hand-over: decode the source segment, hand the frames over (the lossless
  intermediate), with a nearest-neighbour 2x standing in for the network (its own
  cost, measured alone, is subtracted);
- matte: the stage minus RVM alone on the same frames in memory;
- composite: what it adds inside join: decoding the matte instead of the frames, and
  the blend (composite is streamed into join; its raw cost is reported too);
- join: the delivery from the intermediate minus the same delivery from frames in memory.

Target (issue 16): upscale hand-over + composite <= 20 ms per frame on the CI machine."""

from __future__ import annotations

from pathlib import Path

import cv2

from app import units
from app.rounds import measure, per_round, spread, timed
from vidpipe.media.encode import EncodeConfig, deliver
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import probe, scan_timestamps
from vidpipe.media.reader import read_frames
from vidpipe.media.segments import split
from vidpipe.media.synth import make_clip

SOURCE = (540, 960)
OUTPUT = (1080, 1920)
TARGET_MS = 20.0


def run(work: Path, quick: bool, rounds: int) -> dict:
    from vidpipe.models import rvm_onnx
    from vidpipe.steps.composite import CompositeConfig
    from vidpipe.steps.matte import MatteConfig

    work.mkdir(parents=True, exist_ok=True)
    n = 8 if quick else 24
    clip = make_clip(work / "portrait.mp4", *SOURCE, frames=n, fps=24)
    info = probe(clip)
    ts = scan_timestamps(clip, info.video_index)
    segment = split(ts, info.fps, 3600.0)[0]
    up_file, matte_file = work / "up.nut", work / "matte.nut"

    def null(frame):  # stands in for the network: the output size, at almost no cost
        return cv2.resize(frame, OUTPUT, interpolation=cv2.INTER_NEAREST)

    sources = list(read_frames(clip, info.video_index))
    big = [null(f) for f in sources]
    net = rvm_onnx.load()
    ratio = rvm_onnx.auto_ratio(OUTPUT[1], OUTPUT[0])

    def rvm_alone():
        state = net.zero_state()
        for f in big:
            _, state = net.step(f, state, ratio)

    rvm_alone()  # warm-up
    enc = EncodeConfig()

    def drain(frames) -> None:
        for _ in frames:
            pass

    phases = {
        "null_model": lambda: timed(lambda: [null(f) for f in sources]),
        "upscale": lambda: timed(
            lambda: write_segment(read_frames(clip, info.video_index, segment), null, up_file, OUTPUT, info.fps, n)
        ),
        "matte_model": lambda: timed(rvm_alone),
        "matte": lambda: timed(lambda: units.matte(info, segment, str(up_file), MatteConfig(), matte_file)),
        "read_frames": lambda: timed(lambda: drain(read_frames(up_file))),
        "composite": lambda: timed(
            lambda: drain(units.composite(info, segment, str(up_file), str(matte_file), CompositeConfig("#00b140")))
        ),
        "encode": lambda: timed(lambda: deliver(iter(big), info, ts, work / "memory.mp4", enc)),
        "join": lambda: timed(lambda: units.join([up_file], info, ts, work / "joined.mp4", enc)),
    }
    measured = measure(phases, rounds, "bench plumbing")
    ms = 1000.0 / n

    def figure(fn) -> dict:
        return spread(per_round(measured, lambda r: fn(r) * ms), 1)

    out = {
        "size": f"{SOURCE[0]}x{SOURCE[1]} -> {OUTPUT[0]}x{OUTPUT[1]}",
        "frames": n,
        "rounds": measured,
        "ms_per_frame": {
            "upscale_handover": figure(lambda r: r["upscale"] - r["null_model"]),
            "composite_in_join": figure(lambda r: r["composite"] - r["read_frames"]),
            "composite_raw": figure(lambda r: r["composite"]),
            "matte_overhead": figure(lambda r: r["matte"] - r["matte_model"]),
            "join_overhead": figure(lambda r: r["join"] - r["encode"]),
            "rvm_alone": figure(lambda r: r["matte_model"]),
            "encode_alone": figure(lambda r: r["encode"]),
        },
    }
    total = per_round(measured, lambda r: (r["upscale"] - r["null_model"] + r["composite"] - r["read_frames"]) * ms)
    out["handover_plus_composite"] = spread(total, 1)
    out["target_ms"] = TARGET_MS
    out["target_met"] = out["handover_plus_composite"]["median"] <= TARGET_MS
    return out


def table(p: dict) -> str:
    rows = [f"plumbing per frame at {p['size']} ({p['frames']} frames), ms: median (min-max)"]
    for name, d in p["ms_per_frame"].items():
        rows.append(f"  {name:20} {d['median']:7.1f} ({d['min']:.1f}-{d['max']:.1f})")
    t = p["handover_plus_composite"]
    verdict = "met" if p["target_met"] else "NOT met"
    rows.append(f"  upscale hand-over + composite: {t['median']:.1f} ms (target <= {p['target_ms']:.0f}: {verdict})")
    return "\n".join(rows)
