"""upscale: Real-ESRGAN on every frame of a segment, then a high-quality resize to
the exact output size. The source video's segment in -> lossless segment out."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from vidpipe import gpu
from vidpipe.errors import ConfigError, MediaError, ModelNotAvailable, OutOfMemory
from vidpipe.hashing import digest
from vidpipe.media.colour import kept
from vidpipe.media.frames import chw_float_to_hwc_u8, colour_fix, resize
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import read_frames
from vidpipe.media.writer import segment_path
from vidpipe.models import ncnn_sr
from vidpipe.models.backend import Fit, fit_for
from vidpipe.models.registry import DEFAULT_UPSCALE_MODEL, ModelSpec, model_fingerprint, upscale_model
from vidpipe.steps.base import Needs, Plan, SegmentWork, Step
from vidpipe.tiling import tiled_forward
from vidpipe.version import code_version

Target = Literal["720p", "1080p", "2160p", "none"]
TARGET_SHORT_SIDE = {"720p": 720, "1080p": 1080, "2160p": 2160}
#: frames with more input pixels than this are tiled when ``tile`` is 0 (auto)
AUTO_TILE_PIXELS = 1280 * 720
AUTO_TILE = 512
#: the colour fix's low-pass, in source pixels: flat colours exact, the network's detail kept (docs/performance.md)
COLOUR_FIX_SIGMA = 3.0


@dataclass(frozen=True)
class UpscaleConfig:
    model: str = DEFAULT_UPSCALE_MODEL
    target: Target = "1080p"
    scale: float | None = None  # overrides target when set
    tile: int = 0  # 0 = auto
    backend: Literal["auto", "torch", "ncnn"] = "auto"
    hdr: int = 0  # HDR kept (the transfer, vidpipe.media.colour.kept): 16-bit frames in and out, through torch
    colour_fix: bool = True  # put the source's local colour back where the network moved it


def config_of(spec, hdr: int = 0) -> UpscaleConfig:
    """The upscale settings of a job (``vidpipe run``, ``vidpipe upscale-image``, the UI and the API)."""
    return UpscaleConfig(
        model=spec.upscale_model,
        target=spec.size_target,
        scale=spec.scale,
        tile=spec.upscale_tile,
        backend=spec.upscale_backend,
        hdr=hdr,
        colour_fix=spec.upscale_colour_fix,
    )


def resolve_backend(cfg: UpscaleConfig) -> str:
    """auto: torch on a CUDA GPU, else ncnn when the model has an ncnn version, else
    torch on the CPU. HDR kept: torch (ncnn takes 8-bit pixels only)."""
    spec = upscale_model(cfg.model)
    if cfg.hdr:
        if cfg.backend == "ncnn":
            raise ConfigError(
                "--hdr keep upscales 16-bit frames, and ncnn takes 8-bit input only: "
                "use --upscale-backend auto or torch"
            )
        if "torch" not in spec.backends:
            raise ModelNotAvailable(
                f"{spec.name}: has no torch (.pth) version, which --hdr keep needs (ncnn takes 8-bit input only)"
            )
        return "torch"
    if cfg.backend == "ncnn" and "ncnn" not in spec.backends:
        raise ModelNotAvailable(f"{spec.name}: has no ncnn version; use --backend torch")
    if cfg.backend == "torch" and "torch" not in spec.backends:
        raise ModelNotAvailable(f"{spec.name}: has no torch (.pth) version; use --backend ncnn")
    if cfg.backend != "auto":
        return cfg.backend
    if "torch" in spec.backends and gpu.has_cuda():
        return "torch"
    return "ncnn" if "ncnn" in spec.backends else "torch"


def describe(cfg: UpscaleConfig, in_size: tuple[int, int] | None = None) -> str:
    """Which backend, device and model a run will use, for logs and summaries
    (given the input size: also whether the model runs at all)."""
    if in_size is not None:
        size = output_size(*in_size, cfg.target, cfg.scale)
        if not needs_model(*in_size, size):
            return f"no upscaling needed ({in_size[0]}x{in_size[1]} is already at the target)"
    backend = resolve_backend(cfg)
    if backend == "ncnn":
        device = "vulkan" if ncnn_sr.vulkan_gpu_count() else "cpu"
    else:
        device = "cuda" if gpu.has_cuda() else "cpu"
    return f"{upscale_model(cfg.model).name} on {backend}/{device}"


def load_backend(spec: ModelSpec, backend: str):
    if backend == "ncnn":
        return ncnn_sr.load(spec)
    from vidpipe.models import torch_sr

    return torch_sr.load(spec)


def output_size(width: int, height: int, target: str = "1080p", scale: float | None = None) -> tuple[int, int]:
    """Output frame size: short side = target, or ``scale`` x the input; the long side
    follows from the rounded short side, so the aspect is kept within one pixel.
    Never smaller than the input for a target; both sides even (yuv420p needs it)."""
    if width <= 0 or height <= 0:
        raise ConfigError(f"frame size must be positive, got {width}x{height}")
    if scale is not None:
        if scale <= 0:
            raise ConfigError(f"--scale must be > 0, got {scale}")
        factor = float(scale)
    elif target == "none":
        factor = 1.0
    elif target in TARGET_SHORT_SIDE:
        factor = max(1.0, TARGET_SHORT_SIDE[target] / min(width, height))
    else:
        raise ConfigError(f"unknown target {target!r}; choose 720p, 1080p, 2160p or none")

    def even(x: float) -> int:  # nearest even, halves up (round() would go to even: 213 -> 212)
        return max(2, 2 * math.floor(x / 2 + 0.5))

    # round the short side, then derive the long side from it: aspect within 1 px
    short, long = sorted((width, height))
    short_out = even(short * factor)
    long_out = even(short_out * long / short)
    return (long_out, short_out) if width >= height else (short_out, long_out)


def needs_model(width: int, height: int, size: tuple[int, int]) -> bool:
    """Only a real enlargement runs the network (rounding an odd side to even does not)."""
    return size[0] > width * 1.05 or size[1] > height * 1.05


class FrameUpscaler:
    """HWC uint8 RGB frames in -> HWC uint8 RGB frames of ``size`` out (uint16 in, uint16
    out: HDR kept, through torch).

    Batch and tile come from the network's declared :class:`~vidpipe.models.backend.Backend`:
    on a GPU, the largest batch of whole frames (else the largest tile) whose measured
    VRAM estimate fits this job's share of what is free on that device; on the CPU, one
    frame at a time, tiled above 1280x720. Out of memory lowers the batch, then the tile,
    and they stay lowered for the segment; the frame is retried, never dropped."""

    MAX_BATCH = 4

    def __init__(
        self, cfg: UpscaleConfig, in_size: tuple[int, int], size: tuple[int, int], square: tuple[int, int] | None = None
    ):
        self.size = size
        model = needs_model(*(square or in_size), size)  # an anamorphic frame: against its square-pixel size
        self.backend = resolve_backend(cfg) if model else "none"
        self.net = load_backend(upscale_model(cfg.model), self.backend) if model else None
        self.colour_fix = COLOUR_FIX_SIGMA if cfg.colour_fix else 0.0
        w, h = in_size
        self.side = max(w, h)
        if self.net is not None and self.net.backend.on_cuda and not cfg.tile:
            self.fit = fit_for(self.net.backend, w, h, self.net.free_bytes(), self.MAX_BATCH)
        else:
            self.fit = Fit(tile=cfg.tile or (AUTO_TILE if w * h > AUTO_TILE_PIXELS else 0))

    @property
    def device(self) -> str:
        return self.net.backend.device if self.net else "none"

    @property
    def batch(self) -> int:
        """Frames per call the frame loop hands over (the controller may split them)."""
        return self.fit.batch

    @property
    def tile(self) -> int:
        return self.fit.tile

    def __call__(self, hwc: np.ndarray) -> np.ndarray:
        return self.many([hwc])[0]

    def many(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        if self.net is None:
            return [resize(f, *self.size) for f in frames]
        out: list[np.ndarray] = []
        while len(out) < len(frames):
            chunk = frames[len(out) : len(out) + self.fit.batch]
            try:
                out += self._run(chunk)
            except OutOfMemory:
                if not self.fit.lower(self.side):
                    raise
        return out

    def _run(self, chunk: list[np.ndarray]) -> list[np.ndarray]:
        if hasattr(self.net, "upscale"):  # finished where the model runs (torch: on its device)
            return self.net.upscale(chunk, self.size, self.fit.tile, self.colour_fix)
        out = [
            resize(chw_float_to_hwc_u8(tiled_forward(f, self.net.forward, self.net.scale, self.fit.tile)), *self.size)
            for f in chunk
        ]
        return [colour_fix(o, f, self.colour_fix) for o, f in zip(out, chunk)] if self.colour_fix else out


def video_size(info: MediaInfo, cfg: UpscaleConfig) -> tuple[int, int]:
    """A video's output size: from its picture in square pixels (an anamorphic source
    comes out at its display aspect, with square pixels)."""
    return output_size(*info.square_size, cfg.target, cfg.scale)


def plan(work: SegmentWork) -> Plan:
    """One segment's upscale: the key covers the source content, the frame range, the
    settings, the model files and this code (a resize alone needs no model file)."""
    info, segment, cfg = work.info, work.segment, work.config
    size = video_size(info, cfg)
    if needs_model(*info.square_size, size):
        backend = resolve_backend(cfg)
        model = model_fingerprint(upscale_model(cfg.model), backend)
    else:
        backend = model = "none"
    key = digest(
        "upscale",
        code_version(__name__),
        info.sha256,
        segment.first_frame,
        segment.n_frames,
        asdict(cfg),
        size,
        model,
        backend,
    )
    return Plan(
        key, segment_path(info.sha256, "upscale", segment.name, key), size, frames=segment.n_frames, deep=bool(cfg.hdr)
    )


def upscale(work: SegmentWork, plan: Plan, on_frame: Callable[[int], None] | None = None) -> Path:
    """Upscale the segment of the source video into the lossless file ``plan.out``."""
    info, segment, cfg, out = work.info, work.segment, work.config, plan.out
    size = video_size(info, cfg)
    upscaler = FrameUpscaler(cfg, (info.width, info.height), size, info.square_size)
    batch = upscaler.batch
    process = upscaler.many if batch > 1 else upscaler
    frames = read_frames(info.path, info.video_index, segment, fmt="rgb48" if cfg.hdr else "rgb24")
    return write_segment(
        frames, process, out, size, info.fps, segment.n_frames, deep=bool(cfg.hdr), batch=batch, on_frame=on_frame
    )


def upscale_image(src: str | Path, dst: str | Path, cfg: UpscaleConfig) -> tuple[int, int]:
    """The same frame path as video, on one image file. Returns the output size."""
    bgr = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MediaError(f"{src}: not an image OpenCV can read")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    target = "none" if cfg.scale is None and cfg.target == "none" else cfg.target
    size = output_size(w, h, target, cfg.scale)
    out = FrameUpscaler(cfg, (w, h), size)(rgb)
    if not cv2.imwrite(str(dst), cv2.cvtColor(out, cv2.COLOR_RGB2BGR)):
        raise MediaError(f"{dst}: could not write the image (unknown extension or unwritable folder)")
    return size


def uses_gpu(cfg: UpscaleConfig, in_size: tuple[int, int]) -> bool:
    """The network runs here and on a GPU (torch on CUDA, or ncnn on Vulkan)."""
    if not needs_model(*in_size, output_size(*in_size, cfg.target, cfg.scale)):
        return False
    backend = resolve_backend(cfg)
    return gpu.has_cuda() if backend == "torch" else ncnn_sr.vulkan_gpu_count() > 0


class Upscale(Step):
    """Reads the source video's frames; writes the frames at the output size."""

    name = "upscale"
    scope = "segment"
    needs = Needs(model=True, intermediate=True, frames=True)
    consumes = ()
    produces = "frames"

    def configure(self, spec, info: MediaInfo) -> UpscaleConfig:
        return config_of(spec, kept(spec.hdr, info))

    def models(self, config: UpscaleConfig, info: MediaInfo) -> tuple:
        """The .pth file, where torch runs the network (ncnn's files come with its pip package)."""
        if not needs_model(*info.square_size, video_size(info, config)) or resolve_backend(config) != "torch":
            return ()
        return (upscale_model(config.model),)

    def plan(self, work: SegmentWork) -> Plan:
        return plan(work)

    def run(self, work: SegmentWork, plan: Plan, on_frame=None) -> str:
        return str(upscale(work, plan, on_frame))

    def uses_gpu(self, work: SegmentWork) -> bool:
        return uses_gpu(work.config, work.info.square_size)

    def describe(self, work: SegmentWork) -> str:
        return describe(work.config, work.info.square_size)


STEP = Upscale()
