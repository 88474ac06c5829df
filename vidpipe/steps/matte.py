"""matte: Robust Video Matting over a segment, with its recurrent state handed over
from the previous segment so segmented output equals one continuous pass.
Frames in (the colour frames so far, or the source's own frames with
``before_upscale``) -> lossless RGBA segment out (RGB = predicted foreground, A =
alpha), plus the final recurrent state beside it (``.state.npz``). An input with its
own alpha (``input_alpha``) is copied instead of matted."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vidpipe import gpu
from vidpipe.hashing import digest
from vidpipe.media import motion
from vidpipe.media.colour import kept
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import frame_size, read_frames, read_sdr
from vidpipe.media.writer import segment_path
from vidpipe.models import registry, rvm_onnx, store
from vidpipe.steps.base import Needs, Plan, SegmentWork, Step, input_name
from vidpipe.version import code_version


@dataclass(frozen=True)
class MatteConfig:
    model: str = "rvm_mobilenetv3_fp32"
    downsample_ratio: float | None = None  # None: internal long side about 512 px
    handover: bool = True  # start from the previous segment's final state
    warmup_frames: int = 25  # frames before the segment, outputs dropped, when no state is handed over
    input_alpha: bool = False  # the input has its own alpha (e.g. VP8/VP9 with alpha): use it, no RVM
    before_upscale: bool = False  # matte the source's own frames (the alpha is scaled up later)
    hdr: int = 0  # HDR kept: the frames are 16-bit in this transfer; RVM sees them tone-mapped to SDR


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


def plan(work: SegmentWork) -> Plan:
    """The key follows the chain: the previous segment's matte (its file name carries
    its key) or, for the warm-up, the previous segment's input frames."""
    cfg, info, segment, i = work.config, work.info, work.segment, work.inputs
    code = code_version(__name__)
    source = (info.width, info.height)
    if cfg.input_alpha:
        key = digest("matte", code, info.sha256, segment.first_frame, segment.n_frames, asdict(cfg))
        size = source
    else:
        model = store.fingerprint(registry.get(cfg.model, "matte"))
        if cfg.before_upscale:
            frames, size = input_name(info, segment, None), source
            before = input_name(info, work.previous, None) if work.previous is not None else None
        else:
            frames, size = input_name(info, segment, i.frames), work.size
            before = Path(i.prev_frames).name if i.prev_frames else None
        chain = Path(i.prev).name if (i.prev and cfg.handover) else before
        key = digest("matte", code, frames, asdict(cfg), model, chain)
    return Plan(key, segment_path(info.sha256, "matte", segment.name, key), size, channels=4, frames=work.frames)


def start_state(cfg: MatteConfig, net, ratio: float, *, prev: str | None, warmup: Iterable[np.ndarray] | None) -> tuple:
    """(state, how): the handed-over state, else a warm-up on the frames just before
    the segment (outputs dropped), else a cold start."""
    if cfg.handover and prev:
        state = load_state(state_path(prev))
        if state is not None:
            return state, "handover"
    state = net.zero_state()
    if warmup is not None and cfg.warmup_frames > 0:
        tail = collections.deque(warmup, maxlen=cfg.warmup_frames)
        for frame in tail:
            _, state = net.step(frame, state, ratio)
        return state, f"warm-up {len(tail)} frames"
    return state, "cold"


def matte(work: SegmentWork, plan: Plan, on_frame: Callable[[int], None] | None = None) -> Path:
    """Matte every frame of the segment's frames input (with ``before_upscale``, of the
    source's segment) into the RGBA file ``plan.out``; with ``input_alpha``, copy the
    source segment's own RGBA instead."""
    cfg, info, segment, i = work.config, work.info, work.segment, work.inputs
    n, fps, out = work.frames, work.fps, plan.out
    if cfg.input_alpha:
        frames = read_frames(info.path, info.video_index, segment, fmt="rgba")
        size = (info.width, info.height)
        return write_segment(frames, lambda f: f, out, size, fps, n, alpha=True, on_frame=on_frame)
    if cfg.before_upscale:
        frames, size = read_frames(info.path, info.video_index, segment), (info.width, info.height)
        warmup = read_frames(info.path, info.video_index, work.previous) if work.previous is not None else None
    else:
        frames, size = read_sdr(i.frames, cfg.hdr, info.peak), frame_size(i.frames)  # the peak follows the content
        warmup = read_sdr(i.prev_frames, cfg.hdr, info.peak) if i.prev_frames else None
    net = rvm_onnx.load(cfg.model)
    ratio = cfg.downsample_ratio or rvm_onnx.auto_ratio(size[1], size[0])
    state, _how = start_state(cfg, net, ratio, prev=i.prev, warmup=warmup)
    box = [state]

    def step(frame: np.ndarray) -> np.ndarray:
        rgba, box[0] = net.step(frame, box[0], ratio)
        return rgba

    return write_segment(
        frames,
        step,
        out,
        size,
        fps,
        n,
        alpha=True,
        on_frame=on_frame,
        before_rename=lambda: save_state(
            state_path(out), net.to_host(box[0])
        ),  # the state exists before its video does
    )


class Matte(Step):
    """Reads the colour frames (or the source's); writes the RGBA matte. In segment
    order: each segment starts from the previous one's recurrent state."""

    name = "matte"
    scope = "segment"
    needs = Needs(model=True, intermediate=True, chain=True, frames=True)
    consumes = ("frames",)
    produces = "matte"

    def configure(self, spec, info: MediaInfo) -> MatteConfig | None:
        if spec.background == "none" and spec.export_alpha == "none":
            return None
        retimed = motion.output_rate(spec.fps, info.fps, info.vfr) is not None  # its own alpha: at the source's rate
        return MatteConfig(
            model=spec.matte_model,
            input_alpha=info.has_alpha and spec.matte_input_alpha and not retimed,
            before_upscale=spec.matte_before_upscale,
            hdr=kept(spec.hdr, info),
        )

    def models(self, config: MatteConfig, info: MediaInfo) -> tuple:
        return () if config.input_alpha else (registry.get(config.model, "matte"),)

    def plan(self, work: SegmentWork) -> Plan:
        return plan(work)

    def run(self, work: SegmentWork, plan: Plan, on_frame=None) -> str:
        return str(matte(work, plan, on_frame))

    def uses_gpu(self, work: SegmentWork) -> bool:
        """Only when ONNX Runtime here can put RVM on an NVIDIA GPU: a CPU session holds no slot."""
        return not work.config.input_alpha and rvm_onnx.uses_cuda()

    def describe(self, work: SegmentWork) -> str:
        if work.config.input_alpha:
            return "the input's own alpha"
        where = ", before upscale" if work.config.before_upscale else ""
        if rvm_onnx.uses_cuda():
            return f"{work.config.model} on onnxruntime/cuda{where}"
        if gpu.nvidia_gpus():  # said once per video, in the log and the report
            return (
                f"{work.config.model} on onnxruntime/cpu{where} (this ONNX Runtime has no CUDA provider: "
                "make install puts in the GPU build)"
            )
        return f"{work.config.model} on onnxruntime/cpu{where}"


STEP = Matte()
