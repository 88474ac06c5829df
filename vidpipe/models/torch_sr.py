"""Super-resolution through torch + spandrel: any spandrel-supported SR ``.pth``
(Real-ESRGAN RRDBNet and SRVGGNetCompact among them), called through its descriptor
(padding to the model's size requirements, its call adapter, clamping). The same code
runs on the CPU (tested there) and on CUDA, where it adds fp16 where the descriptor
allows, cuDNN autotuning, pinned host buffers and a copy stream."""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np

from vidpipe.errors import ModelNotAvailable, OutOfMemory
from vidpipe.hashing import file_identity
from vidpipe.media import tensor
from vidpipe.models import cache
from vidpipe.models.backend import Backend, activation_bytes_per_pixel
from vidpipe.models.registry import ModelSpec
from vidpipe.models.store import locate
from vidpipe.tiling import tiles


def keep_malloc_arenas() -> None:
    """Stop glibc handing 15-20 MB activation buffers back to the OS after every
    frame (measured: ~2x wall time on CPU). Same effect as MALLOC_MMAP_THRESHOLD_ /
    MALLOC_TRIM_THRESHOLD_ in the environment, applied at run time."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def load_descriptor(path, device: str = "cpu"):
    """Load any spandrel-supported ``.pth`` by path; a clear error for anything else."""
    import torch
    from spandrel import ModelLoader, UnsupportedModelError

    try:
        descriptor = ModelLoader(device=torch.device(device)).load_from_file(str(path))
    except UnsupportedModelError:
        raise ModelNotAvailable(f"{path}: not a model architecture spandrel knows") from None
    except Exception as e:  # noqa: BLE001 - torch.load raises many types for a corrupt file
        raise ModelNotAvailable(f"{path}: cannot load model file ({type(e).__name__}: {e})".split("\n")[0]) from None
    return descriptor.eval()


class TorchUpscaler:
    """One loaded spandrel network on one device. ``upscale`` is the frame path: uint8
    frames in, uint8 frames of the output size out, finished on the device (model,
    clamp, resize, rounding), so only those cross to the host. ``forward`` (HWC uint8
    -> CHW float32 0..1 of the model's own size, on the host) is for tests and tools."""

    def __init__(self, spec: ModelSpec, device: str | None = None, threads: int | None = None):
        import torch

        keep_malloc_arenas()
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.device = torch.device(device)
        if self.device.type == "cuda":
            self.device = torch.device(
                "cuda", torch.cuda.current_device() if self.device.index is None else self.device.index
            )
            torch.backends.cudnn.benchmark = True  # one frame size per segment: pick the fastest kernels once
        else:
            torch.set_num_threads(threads or os.cpu_count() or 1)
        self.path = locate(spec)
        descriptor = load_descriptor(self.path, str(self.device))
        if getattr(descriptor, "purpose", "SR") not in ("SR", "Restoration"):
            raise ModelNotAvailable(f"{self.path}: is a {descriptor.purpose} model, not super-resolution")
        self.spec = spec
        self.scale = int(descriptor.scale)
        half = self.device.type == "cuda" and descriptor.supports_half
        if half:
            descriptor.half()
        descriptor.model.to(memory_format=torch.channels_last)
        self.descriptor = descriptor
        self.dtype = torch.float16 if half else torch.float32
        self.architecture = descriptor.architecture.name
        req = descriptor.size_requirements
        weights = sum(p.numel() * p.element_size() for p in descriptor.model.parameters())
        self.backend = Backend(
            runtime="torch",
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
            scale=self.scale,
            multiple_of=req.multiple_of,
            minimum=req.minimum,
            tiling=True,
            weights_bytes=weights,
            bytes_per_pixel=activation_bytes_per_pixel(self.architecture, half),
        )
        self._torch = torch
        self._host: dict[tuple, object] = {}  # pinned output buffers by shape (CUDA)
        self._copies = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None

    @property
    def half(self) -> bool:
        return self.dtype == self._torch.float16

    def free_bytes(self) -> int:
        """Device memory free now on the device this network uses (the host's for the CPU)."""
        if self.device.type == "cuda":
            return self._torch.cuda.mem_get_info(self.device)[0]
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")

    def upscale(
        self, frames: list[np.ndarray], size: tuple[int, int], tile: int = 0, colour_fix: float = 0.0
    ) -> list[np.ndarray]:
        """Same-size HWC uint8 RGB frames -> HWC uint8 RGB frames of ``size`` (w, h); uint16
        frames (HDR kept) in -> uint16 out, at the network's own precision in between.
        ``colour_fix``: the sigma of :func:`vidpipe.media.tensor.colour_fix` (0: the raw output)."""
        torch = self._torch
        try:
            with torch.inference_mode():
                x = torch.from_numpy(np.stack(frames))
                if self.device.type == "cuda":
                    x = x.pin_memory().to(self.device, non_blocking=True)
                source = tensor.to_network(x, self.dtype)
                y = tensor.resize(self._infer(source, tile), *size)
                if colour_fix:
                    y = tensor.colour_fix(y, source, colour_fix)
                out = tensor.to_frames(y, x.dtype)
                return self._download(out)
        except torch.cuda.OutOfMemoryError as e:
            torch.cuda.empty_cache()
            raise OutOfMemory(f"{self.spec.name} on {self.device}: {e}".split("\n")[0]) from None

    def forward(self, hwc: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = tensor.to_network(torch.from_numpy(hwc[None]).to(self.device), self.dtype)
            return self._infer(x, 0)[0].float().cpu().numpy()

    def _infer(self, x, tile: int):
        """NCHW 0..1 in -> NCHW 0..1 at ``scale`` x, through the descriptor (padding to
        its size requirements, its call adapter, clamping), tile by tile when ``tile``."""
        h, w = x.shape[-2:]
        if tile <= 0 or (h <= tile and w <= tile):
            return self.descriptor(x)
        torch, s = self._torch, self.scale
        out = torch.zeros((x.shape[0], 3, h * s, w * s), dtype=torch.float32, device=self.device)
        weight = torch.zeros((h * s, w * s), dtype=torch.float32, device=self.device)
        for box in tiles(h, w, tile):
            (ya, yb, xa, xb), wt = box.context, torch.from_numpy(box.weights(s)).to(self.device)
            res = self.descriptor(x[..., ya:yb, xa:xb].contiguous(memory_format=torch.channels_last))
            out[..., ya * s : yb * s, xa * s : xb * s] += res.float() * wt
            weight[ya * s : yb * s, xa * s : xb * s] += wt
        return out / weight

    def _download(self, out) -> list[np.ndarray]:
        """NHWC uint8 on the device -> host frames. On CUDA through a pinned buffer on a
        stream of its own, after the compute that made ``out``."""
        if self._copies is None:
            return list(out.numpy())
        torch = self._torch
        key = (*out.shape, out.dtype)
        host = self._host.get(key)
        if host is None:
            host = self._host[key] = torch.empty(tuple(out.shape), dtype=out.dtype, pin_memory=True)
        self._copies.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self._copies):
            host.copy_(out, non_blocking=True)
            out.record_stream(self._copies)
        self._copies.synchronize()
        return [f.copy() for f in host.numpy()]  # the buffer is reused by the next batch


def load(spec: ModelSpec, device: str | None = None) -> TorchUpscaler:
    """The loaded network (once per process; a file replaced in place is a new one)."""
    key = (spec.name, spec.file, device, file_identity(locate(spec)))
    return cache.loaded("torch_sr", key, lambda: TorchUpscaler(spec, device))
