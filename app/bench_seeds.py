"""The two seed-style baselines that ``vidpipe bench`` compares against, written here
from the seed descriptions (not their code):

- seed 1: decode every frame to PNG files, upscale file by file with the same
  backend, re-encode the PNG sequence with the audio;
- seed 2: OpenCV reads frames, per-frame torch inference (float NCHW, as the seed's
  RealESRGANer-style loop does), JPEG q95 frames written by a thread pool, then encode
  with the audio.
Both encode with the same x264 settings as vidpipe's join, so only the plumbing differs.

Each runs in a process of its own (``python -m app.bench_seeds``), as the seed
scripts do, and times only its work (not start-up or model loading). In the bench's
process, seed 2's per-frame torch ran about 1.5x faster than on its own: glibc's
malloc had already raised its mmap threshold there after the bench's earlier large
frees, so the seed never paid for the allocator trap it pays as a program of its own."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np

from vidpipe.media.encode import EncodeConfig
from vidpipe.media.frames import chw_float_to_hwc_u8


def encode_images(images: list[Path], fps: float, audio_src: str, out: Path, enc: EncodeConfig) -> None:
    """An image sequence (in order) + the source's first audio stream -> MP4."""
    first = cv2.imread(str(images[0]))
    h, w = first.shape[:2]
    rate = Fraction(fps).limit_denominator(100000)
    with av.open(audio_src) as src, av.open(str(out), "w", format="mp4") as dst:
        v = dst.add_stream(enc.codec, rate=rate)
        v.width, v.height, v.pix_fmt, v.options = w, h, enc.pix_fmt, enc.options()
        a_in = src.streams.audio[0] if src.streams.audio else None
        a_out = dst.add_stream_from_template(a_in) if a_in is not None else None
        for i, path in enumerate(images):
            frame = av.VideoFrame.from_ndarray(cv2.imread(str(path)), format="bgr24")
            frame.pts, frame.time_base = i, 1 / rate
            dst.mux(v.encode(frame))
        dst.mux(v.encode(None))
        if a_in is not None:
            for packet in src.demux(a_in):
                if packet.size:
                    packet.stream = a_out
                    dst.mux(packet)


def seed1(src: str, work: Path, net, size: tuple[int, int], fps: float, enc: EncodeConfig) -> Path:
    """PNG round trip, one file at a time, with ``net`` (an upscaler with ``forward``)."""
    frames_dir, up_dir = work / "seed1_frames", work / "seed1_up"
    frames_dir.mkdir(parents=True, exist_ok=True)
    up_dir.mkdir(parents=True, exist_ok=True)
    with av.open(src) as c:
        for i, frame in enumerate(c.decode(video=0)):
            cv2.imwrite(str(frames_dir / f"{i:06d}.png"), frame.to_ndarray(format="bgr24"))
    outs = []
    for path in sorted(frames_dir.glob("*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        up = chw_float_to_hwc_u8(net.forward(rgb))
        up = cv2.resize(up, size, interpolation=cv2.INTER_AREA) if up.shape[1::-1] != size else up
        outs.append(up_dir / path.name)
        cv2.imwrite(str(outs[-1]), cv2.cvtColor(up, cv2.COLOR_RGB2BGR))
    out = work / "seed1.mp4"
    encode_images(outs, fps, src, out, enc)
    return out


def seed2(src: str, work: Path, model, size: tuple[int, int], fps: float, enc: EncodeConfig) -> Path:
    """OpenCV decode, per-frame torch (NCHW float, plain), JPEG q95 via a thread pool."""
    import torch

    jpg_dir = work / "seed2_frames"
    jpg_dir.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(src)
    paths, pending = [], []
    with ThreadPoolExecutor(6) as pool, torch.no_grad():
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
            x = torch.from_numpy(np.transpose(img, (2, 0, 1))).float().unsqueeze(0)
            y = model(x).squeeze(0).float().clamp_(0, 1).numpy()
            out = (np.transpose(y, (1, 2, 0)) * 255.0).round().astype(np.uint8)
            if out.shape[1::-1] != size:
                out = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
            paths.append(jpg_dir / f"{i:06d}.jpg")
            pending.append(
                pool.submit(
                    cv2.imwrite, str(paths[-1]), cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
                )
            )
            i += 1
        for p in pending:
            p.result()
    cap.release()
    out = work / "seed2.mp4"
    encode_images(paths, fps, src, out, enc)
    return out


def main(argv: list[str]) -> None:
    """``python -m app.bench_seeds seed1|seed2 CLIP WORK MODEL BACKEND IN_W IN_H OUT_W OUT_H FPS``:
    run one baseline and print ``{"seconds": ...}`` (or ``{"skipped": why}``) as JSON."""
    from vidpipe.errors import ModelNotAvailable
    from vidpipe.models.registry import upscale_model

    name, clip, work, model, backend, in_w, in_h, out_w, out_h, fps = argv
    spec, size = upscale_model(model), (int(out_w), int(out_h))
    try:
        if name == "seed1":
            from vidpipe.steps.upscale import load_backend

            net = load_backend(spec, backend)
            net.forward(np.zeros((int(in_h), int(in_w), 3), np.uint8))  # loaded and warm, as the bench's stage is
            run = partial(seed1, clip, Path(work), net, size, float(fps), EncodeConfig())
        else:
            from vidpipe.models import store
            from vidpipe.models.torch_sr import load_descriptor

            net = load_descriptor(store.locate(spec)).model
            run = partial(seed2, clip, Path(work), net, size, float(fps), EncodeConfig())
    except ModelNotAvailable as e:
        print(json.dumps({"skipped": str(e)}))
        return
    start = time.perf_counter()
    run()
    print(json.dumps({"seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main(sys.argv[1:])
