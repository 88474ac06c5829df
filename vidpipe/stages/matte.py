"""matte: Robust Video Matting over a segment, with its recurrent state handed over
from the previous segment so segmented output equals one continuous pass.
Segment in (frames) -> lossless RGBA segment out (RGB = predicted foreground, A = alpha),
plus the final recurrent state beside it (``.state.npz``)."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidpipe.hashing import digest, file_sha256
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import frame_size, read_frames
from vidpipe.media.segments import Segment
from vidpipe.media.writer import segment_path
from vidpipe.models import registry, rvm_onnx, store
from vidpipe.version import code_version


@dataclass(frozen=True)
class MatteConfig:
    model: str = "rvm_mobilenetv3_fp32"
    downsample_ratio: float | None = None  # None: internal long side about 512 px
    handover: bool = True  # start from the previous segment's final state
    warmup_frames: int = 25  # frames before the segment, outputs dropped, when no state is handed over
    source_alpha: bool = False  # the input has its own alpha (e.g. VP8/VP9 with alpha): use it, no RVM


def state_path(matte_file: str | Path) -> Path:
    p = Path(matte_file)
    return p.with_name(p.stem + ".state.npz")


def save_state(path: Path, state: rvm_onnx.State) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        np.savez(f, *state)
    os.replace(tmp, path)


def load_state(path: Path) -> rvm_onnx.State | None:
    try:
        with np.load(path) as z:
            return [z[f"arr_{i}"] for i in range(4)]
    except (OSError, KeyError, ValueError):
        return None


def plan(
    info: MediaInfo, segment: Segment, upstream: str, cfg: MatteConfig, prev: str | None, prev_upstream: str | None
) -> tuple[str, Path]:
    """(cache key, output path). The key follows the chain: the previous segment's
    matte (its file name carries its key) or, for warm-up, its input frames."""
    code = code_version(__name__, "vidpipe.models.rvm_onnx")
    if cfg.source_alpha:
        key = digest("matte", code, info.sha256, segment.first_frame, segment.n_frames, asdict(cfg))
    else:
        model = file_sha256(store.locate(registry.get(cfg.model, "matte")))
        chain = Path(prev).name if (prev and cfg.handover) else (Path(prev_upstream).name if prev_upstream else None)
        key = digest("matte", code, Path(upstream).name, asdict(cfg), model, chain)
    return key, segment_path(info.sha256, "matte", segment.name, key)


def start_state(cfg: MatteConfig, net, ratio: float, prev: str | None, prev_upstream: str | None) -> tuple:
    """(state, how): the handed-over state, else a warm-up on the frames just before
    the segment (outputs dropped), else a cold start."""
    if cfg.handover and prev:
        state = load_state(state_path(prev))
        if state is not None:
            return state, "handover"
    state = rvm_onnx.zero_state()
    if prev_upstream and cfg.warmup_frames > 0:
        tail = collections.deque(read_frames(prev_upstream), maxlen=cfg.warmup_frames)
        for frame in tail:
            _, state = net.step(frame, state, ratio)
        return state, f"warm-up {len(tail)} frames"
    return state, "cold"


def matte(
    info: MediaInfo,
    segment: Segment,
    upstream: str | Path | None,
    cfg: MatteConfig,
    out: Path,
    prev: str | None = None,
    prev_upstream: str | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> Path:
    """Matte every frame of the ``upstream`` segment file into the RGBA file ``out``
    (with ``cfg.source_alpha``: copy the source segment's own RGBA instead)."""
    if cfg.source_alpha:
        frames = read_frames(info.path, info.video_index, segment, fmt="rgba")
        size = (info.width, info.height)
        return write_segment(frames, lambda f: f, out, size, info.fps, segment.n_frames, alpha=True, on_frame=on_frame)
    w, h = frame_size(upstream)
    net = rvm_onnx.load(cfg.model)
    ratio = cfg.downsample_ratio or rvm_onnx.auto_ratio(h, w)
    state, _how = start_state(cfg, net, ratio, prev, prev_upstream)
    box = [state]

    def step(frame: np.ndarray) -> np.ndarray:
        rgba, box[0] = net.step(frame, box[0], ratio)
        return rgba

    return write_segment(
        read_frames(upstream), step, out, (w, h), info.fps, segment.n_frames, alpha=True, on_frame=on_frame,
        before_rename=lambda: save_state(state_path(out), box[0]),  # the state exists before its video does
    )
