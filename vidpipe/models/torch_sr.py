"""Super-resolution through torch + spandrel: any spandrel-supported SR ``.pth``
(Real-ESRGAN RRDBNet and SRVGGNetCompact among them). On CUDA: fp16 where the
descriptor allows, channels_last, frames converted on the GPU."""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np

from vidpipe.errors import ModelNotAvailable, OutOfMemory
from vidpipe.hashing import file_identity
from vidpipe.models import cache
from vidpipe.models.registry import ModelSpec
from vidpipe.models.store import locate



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
    """``forward`` maps HWC uint8 RGB (h, w) to CHW float32 RGB 0..1 of (h*scale, w*scale)."""

    backend = "torch"

    def __init__(self, spec: ModelSpec, device: str | None = None, threads: int | None = None):
        import torch

        keep_malloc_arenas()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":
            torch.set_num_threads(threads or os.cpu_count() or 1)
        self.path = locate(spec)
        descriptor = load_descriptor(self.path, self.device)
        if getattr(descriptor, "purpose", "SR") not in ("SR", "Restoration"):
            raise ModelNotAvailable(f"{self.path}: is a {descriptor.purpose} model, not super-resolution")
        self.spec = spec
        self.scale = int(descriptor.scale)
        self.half = self.device.startswith("cuda") and descriptor.supports_half
        if self.half:
            descriptor.half()
        self.model = descriptor.model.to(memory_format=torch.channels_last)
        self.descriptor = descriptor
        self.architecture = descriptor.architecture.name
        self._torch = torch

    def forward(self, hwc: np.ndarray) -> np.ndarray:
        return self.forward_batch([hwc])[0]

    def forward_batch(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Several same-size frames in one call (batched on the GPU)."""
        torch = self._torch
        try:
            return self._forward_batch(frames)
        except torch.cuda.OutOfMemoryError as e:
            torch.cuda.empty_cache()
            raise OutOfMemory(f"{self.spec.name} on {self.device}: {e}".split("\n")[0]) from None

    def _forward_batch(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.stack(frames)).to(self.device, non_blocking=True)  # NHWC uint8
            x = x.permute(0, 3, 1, 2)  # NCHW view with channels_last strides
            x = x.half() if self.half else x.float()
            x = x.div_(255.0).contiguous(memory_format=torch.channels_last)
            y = self.model(x)
            return [t.float().cpu().numpy() for t in y]


def load(spec: ModelSpec, device: str | None = None) -> TorchUpscaler:
    """The loaded network (once per process; a file replaced in place is a new one)."""
    key = (spec.name, spec.file, device, file_identity(locate(spec)))
    return cache.loaded("torch_sr", key, lambda: TorchUpscaler(spec, device))
