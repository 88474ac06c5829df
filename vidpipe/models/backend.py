"""What a loaded model is and needs, declared by the model itself (in the spirit of
spandrel's descriptors): callers ask its :class:`Backend` instead of guessing from the
class or the device string.

Every loaded network (ncnn, torch, ONNX Runtime) has a ``backend`` attribute of this
type. The VRAM estimate is measured, not guessed: activation bytes per input pixel,
taken as the peak-RSS growth of one forward pass on the CPU in float32 (the same
tensors live on a GPU; float16 halves them), times a 1.25 margin for the allocator
and convolution workspaces. ``vidpipe bench --gpu`` records the real peak
(``torch.cuda.max_memory_allocated``) beside this estimate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: measured float32 activation bytes per input pixel, by spandrel architecture
#: (2-core CI machine, batch 1: Compact 1,447-1,649, RRDB 13,680-13,711)
MEASURED_BYTES_PER_PIXEL = {"RealESRGAN Compact": 1_650, "ESRGAN": 13_711}
UNKNOWN_BYTES_PER_PIXEL = 16_000  # an architecture not measured: assume RRDB-like plus margin
MARGIN = 1.25


@dataclass(frozen=True)
class Backend:
    """One loaded model's facts."""

    runtime: str  # "torch", "ncnn", "onnxruntime"
    device: str  # "cpu", "cuda:0", "vulkan:0"
    dtype: str = "float32"  # what the network computes in
    scale: int = 1  # output size / input size
    multiple_of: int = 1  # input sides are padded up to a multiple of this
    minimum: int = 0  # smallest input side
    tiling: bool = False  # frames may be cut into tiles (the network is local)
    weights_bytes: int = 0
    bytes_per_pixel: int = 0  # activation bytes per input pixel at ``dtype``

    @property
    def on_gpu(self) -> bool:
        return not self.device.startswith("cpu")

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def vram_bytes(self, width: int, height: int, batch: int = 1) -> int:
        """Estimated device memory for ``batch`` frames of ``width x height`` input."""
        w, h = (_padded(width, self.multiple_of, self.minimum), _padded(height, self.multiple_of, self.minimum))
        return int(self.weights_bytes + batch * w * h * self.bytes_per_pixel * MARGIN)

    def describe(self) -> str:
        return f"{self.runtime}/{self.device} {self.dtype}"


def _padded(side: int, multiple: int, minimum: int) -> int:
    side = max(side, minimum)
    return -(-side // multiple) * multiple


def activation_bytes_per_pixel(architecture: str, half: bool) -> int:
    per_px = MEASURED_BYTES_PER_PIXEL.get(architecture, UNKNOWN_BYTES_PER_PIXEL)
    return per_px // 2 if half else per_px


def job_budget_bytes(free_bytes: int) -> int:
    """Device memory one job may use: ``VIDPIPE_VRAM_BUDGET_MB`` (seed: 10 GB of a 12 GB
    card) shared by ``VIDPIPE_GPU_JOBS`` (seed: 2) jobs, never more than is free now."""
    total = int(os.environ.get("VIDPIPE_VRAM_BUDGET_MB", "10240")) << 20
    jobs = max(1, int(os.environ.get("VIDPIPE_GPU_JOBS", "2")))
    return max(256 << 20, min(free_bytes, total // jobs))


@dataclass
class Fit:
    """Frames per call and tile size for one segment, lowered after each out-of-memory
    (batch first, then tile) and kept lowered: the next frames never fail the same way."""

    batch: int = 1
    tile: int = 0  # 0: whole frames
    min_tile: int = 64
    lowered: int = 0  # how many times memory ran out

    def lower(self, frame_side: int) -> bool:
        """After an out-of-memory: halve the batch, else halve the tile (down to
        ``min_tile``). False when there is nothing left to lower."""
        if self.batch > 1:
            self.batch = max(1, self.batch // 2)
        else:
            current = self.tile or frame_side
            if current <= self.min_tile:
                return False
            self.tile = max(self.min_tile, current // 2)
        self.lowered += 1
        return True


TILE_PAD = 16  # context pixels around each tile (vidpipe.tiling)


def fit_for(backend: Backend, width: int, height: int, free_bytes: int, max_batch: int = 4) -> Fit:
    """The largest batch (up to ``max_batch``) of whole frames that fits this job's share
    of ``free_bytes``; when one frame does not fit, the largest tile (a multiple of 32)
    that does."""
    budget = job_budget_bytes(free_bytes)
    for batch in range(max_batch, 0, -1):
        if backend.vram_bytes(width, height, batch) <= budget:
            return Fit(batch=batch)
    tile = 32
    while (
        tile + 32 < max(width, height)
        and backend.vram_bytes(tile + 32 + 2 * TILE_PAD, tile + 32 + 2 * TILE_PAD) <= budget
    ):
        tile += 32
    return Fit(batch=1, tile=max(64, tile))
