"""Real-ESRGAN through ncnn: CPU by default, a GPU through Vulkan where one exists.

Input must go through ``Mat.from_pixels`` (uint8) then be normalised in ncnn: a Mat
built straight from a float numpy array gives garbage (see docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache

import numpy as np

from vidpipe.errors import OutOfMemory
from vidpipe.models import cache
from vidpipe.models.backend import Backend, activation_bytes_per_pixel
from vidpipe.models.registry import ModelSpec, ncnn_files

#: what ncnn's layers return when an allocation fails (host memory, or Vulkan device memory:
#: vkAllocateMemory failing, which on a GPU shared by several jobs is the usual failure)
NCNN_OUT_OF_MEMORY = -100


@contextlib.contextmanager
def _quiet_stderr():
    """ncnn prints loader noise (no libvulkan) straight to fd 2; hide it."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


#: ncnn's ``GpuInfo.type()``; "cpu" is a software rasteriser (Mesa's llvmpipe): a GPU in name only
VULKAN_TYPES = {0: "discrete", 1: "integrated", 2: "virtual", 3: "cpu"}


@lru_cache(maxsize=1)
def vulkan_devices() -> tuple[tuple[int, str, str], ...]:
    """(index, name, type) of every Vulkan device ncnn sees; () without a Vulkan loader."""
    import ncnn

    with _quiet_stderr():
        try:
            count = int(ncnn.get_gpu_count())
            out = []
            for i in range(count):
                info = ncnn.get_gpu_info(i)
                out.append((i, str(info.device_name()), VULKAN_TYPES.get(int(info.type()), "unknown")))
            return tuple(out)
        except Exception:  # noqa: BLE001 - no Vulkan loader is a normal CPU machine
            return ()


@lru_cache(maxsize=1)
def vulkan_device() -> int | None:
    """The Vulkan device ncnn runs on, or None (the CPU). ``VIDPIPE_NCNN_VULKAN``: unset or
    ``auto`` takes the first real GPU and never a CPU-type device (llvmpipe is about 8x slower
    than ncnn on the CPU itself); ``0``/``off``: none; ``device:N``: device N, whatever its type
    (tests run ncnn's Vulkan path on llvmpipe this way)."""
    mode = os.environ.get("VIDPIPE_NCNN_VULKAN", "auto").strip().lower()
    if mode in ("0", "off", "no", "false"):
        return None
    devices = vulkan_devices()
    if mode.startswith("device:"):
        try:
            index = int(mode.split(":", 1)[1])
        except ValueError:
            index = -1
        if not any(i == index for i, _, _ in devices):
            from vidpipe.errors import ConfigError

            raise ConfigError(
                f"VIDPIPE_NCNN_VULKAN={mode}: no such Vulkan device; ncnn sees "
                f"{', '.join(f'{i}: {n} ({t})' for i, n, t in devices) or 'none'}"
            )
        return index
    return next((i for i, _, kind in devices if kind != "cpu"), None)


def skipped_devices() -> list[str]:
    """The Vulkan devices ``auto`` leaves alone (CPU-type ones), for doctor and the run log."""
    chosen = vulkan_device()
    return [f"{name} ({kind} type)" for i, name, kind in vulkan_devices() if kind == "cpu" and i != chosen]


def vulkan_gpu_count() -> int:
    """1 when ncnn runs on a Vulkan device here (see :func:`vulkan_device`), else 0."""
    return int(vulkan_device() is not None)


class NcnnUpscaler:
    """One loaded network. ``forward`` maps HWC uint8 RGB (h, w) to CHW float32 RGB
    0..1 (unclipped) of (h*scale, w*scale). Safe to call from several threads."""

    backend = "ncnn"

    def __init__(self, spec: ModelSpec, threads: int | None = None, gpu: bool | None = None):
        import ncnn

        self.spec = spec
        self.scale = spec.scale
        index = vulkan_device()
        self.gpu = index is not None if gpu is None else gpu
        self.device = f"vulkan:{index or 0}" if self.gpu else "cpu"
        net = ncnn.Net()
        net.opt.use_vulkan_compute = self.gpu
        if self.gpu:
            net.set_vulkan_device(index or 0)
        net.opt.num_threads = threads or os.cpu_count() or 1
        param, weights = ncnn_files(spec)
        with _quiet_stderr():
            if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
                raise RuntimeError(f"ncnn could not load {param}")
        self._net = net
        self._ncnn = ncnn
        # ncnn keeps fp16 storage on Vulkan; Real-ESRGAN's ncnn models are Compact or RRDB
        arch = "RealESRGAN Compact" if "animevideo" in spec.name or "general" in spec.name else "ESRGAN"
        self.backend = Backend(
            runtime="ncnn",
            device=self.device,
            dtype="float16" if self.gpu else "float32",
            scale=self.scale,
            tiling=True,
            bytes_per_pixel=activation_bytes_per_pixel(arch, self.gpu),
        )

    def forward(self, hwc: np.ndarray) -> np.ndarray:
        h, w = hwc.shape[:2]
        mat = self._ncnn.Mat.from_pixels(np.ascontiguousarray(hwc), self._ncnn.Mat.PixelType.PIXEL_RGB, w, h)
        mat.substract_mean_normalize([], [1 / 255.0] * 3)
        ex = self._net.create_extractor()
        ex.input("data", mat)
        ret, out = ex.extract("output")
        if ret == NCNN_OUT_OF_MEMORY or (ret == 0 and out.empty()):  # a failed allocation: a smaller tile may fit
            raise OutOfMemory(f"{self.spec.name} on {self.device}: out of memory for a {w}x{h} input (ncnn code {ret})")
        if ret != 0:
            raise RuntimeError(f"ncnn inference failed with code {ret}")
        return np.array(out)  # (never on an empty Mat: numpy would crash on it)


def load(spec: ModelSpec, threads: int | None = None) -> NcnnUpscaler:
    """The loaded network (once per process)."""
    return cache.loaded("ncnn_sr", (spec.name, threads), lambda: NcnnUpscaler(spec, threads))
