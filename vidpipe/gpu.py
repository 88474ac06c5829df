"""NVIDIA GPU facts through NVML (``nvidia-ml-py``), and the VRAM budget -> tile size
math. Everything degrades to "no GPU" when there is no driver."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    total_mb: int
    free_mb: int


def nvidia_gpus() -> list[GpuInfo]:
    """NVIDIA GPUs visible to NVML (empty without a driver). Cheap: no torch import."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound etc.: no GPU here
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            name = pynvml.nvmlDeviceGetName(h)
            out.append(GpuInfo(i, name.decode() if isinstance(name, bytes) else name, mem.total >> 20, mem.free >> 20))
        return out
    finally:
        pynvml.nvmlShutdown()


@lru_cache(maxsize=1)
def has_cuda() -> bool:
    """True when torch can use a CUDA GPU (checks NVML first, to avoid importing torch)."""
    if not nvidia_gpus():
        return False
    from vidpipe.models.torch_sr import cuda_available

    return cuda_available()


def budget_mb(free_mb: int) -> int:
    """VRAM one GPU job may use: ``VIDPIPE_VRAM_BUDGET_MB`` (seed: 10 GB of a 12 GB card,
    shared by ``VIDPIPE_GPU_JOBS`` = 2 jobs at once), never more than what is free."""
    total_budget = int(os.environ.get("VIDPIPE_VRAM_BUDGET_MB", "10240"))
    jobs = max(1, int(os.environ.get("VIDPIPE_GPU_JOBS", "2")))
    return max(256, min(free_mb, total_budget // jobs))


#: rough activation bytes per input pixel, fp16 (fp32 doubles it), by spandrel architecture
BYTES_PER_PIXEL = {"RealESRGAN Compact": 3_000, "ESRGAN": 40_000}
DEFAULT_BYTES_PER_PIXEL = 40_000


def tile_for_budget(width: int, height: int, architecture: str, half: bool, budget: int) -> int:
    """0 (whole frame) when it fits ``budget`` MB, else the largest square tile that
    does (a multiple of 32, at least 64)."""
    per_px = BYTES_PER_PIXEL.get(architecture, DEFAULT_BYTES_PER_PIXEL) * (1 if half else 2)
    pixels = budget * (1 << 20) * 0.8 / per_px
    if width * height <= pixels:
        return 0
    return max(64, int(math.sqrt(pixels)) // 32 * 32)
