"""NVIDIA GPU facts through NVML (``nvidia-ml-py``), and the VRAM budget -> tile size
math. Everything degrades to "no GPU" when there is no driver."""

from __future__ import annotations

import math
import os
import threading
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


class PeakMemory:
    """Samples this process's GPU memory (NVML) on a thread while the block runs;
    ``peak_mb`` is the highest value seen, or None without an NVIDIA GPU."""

    INTERVAL = 0.2

    def __init__(self) -> None:
        self.peak_mb: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if nvidia_gpus():
            self.peak_mb = 0
            self._thread = threading.Thread(target=self._sample, name="gpu-peak", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    def _sample(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        try:
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            while True:
                self.peak_mb = max(self.peak_mb or 0, _process_mb(pynvml, handles))
                if self._stop.wait(self.INTERVAL):
                    break
        finally:
            pynvml.nvmlShutdown()


def _process_mb(pynvml, handles) -> int:
    """GPU memory used by this process on every GPU (MB)."""
    used = 0
    for h in handles:
        try:
            procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
        except pynvml.NVMLError:
            continue
        used += sum((p.usedGpuMemory or 0) for p in procs if p.pid == os.getpid())
    return used >> 20
