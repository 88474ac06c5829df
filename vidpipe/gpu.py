"""NVIDIA GPU facts through NVML (``nvidia-ml-py``): which GPUs, their memory, this
process's peak use. Everything degrades to "no GPU" when there is no driver. (The
batch and tile a job's VRAM share allows: :mod:`vidpipe.models.backend`.)"""

from __future__ import annotations

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
