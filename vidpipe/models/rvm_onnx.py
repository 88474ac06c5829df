"""Robust Video Matting through ONNX Runtime: on the GPU where the GPU build of ONNX
Runtime is installed (``make install`` picks it on a machine with an NVIDIA driver),
else on the CPU.

Frames go in and out through an IO binding, and the recurrent state never leaves the
session's device: each step's ``r1o..r4o`` outputs are bound as the next step's
``r1i..r4i`` inputs. The input dtypes are read from the model, so the fp16 exports
are fed fp16. The state reaches the host only when a segment ends (to hand it to the
next segment, :meth:`RvmMatter.to_host`)."""

from __future__ import annotations

import os

import cv2
import numpy as np

from vidpipe.errors import ModelNotAvailable
from vidpipe.models import cache, registry, store
from vidpipe.models.backend import Backend

#: the recurrent state r1..r4: host arrays (a new or handed-over state) or the
#: session's own device values (while a segment runs)
State = list
STATE_INPUTS = ("r1i", "r2i", "r3i", "r4i")
STATE_OUTPUTS = ("r1o", "r2o", "r3o", "r4o")
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def zero_state(dtype=np.float32) -> State:
    return [np.zeros((1, 1, 1, 1), dtype) for _ in range(4)]


def auto_ratio(height: int, width: int) -> float:
    """downsample_ratio so the network's internal long side is about 512 px."""
    return min(1.0, 512.0 / max(height, width))


def onnxruntime():
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelNotAvailable(
            "onnxruntime is not installed; run make install (or pip install 'vidpipe[cpu]', or '[gpu]' with an "
            "NVIDIA driver)"
        ) from None
    return ort


def cuda_provider() -> bool:
    """The installed ONNX Runtime is the GPU build (it has the CUDA provider)."""
    try:
        return "CUDAExecutionProvider" in onnxruntime().get_available_providers()
    except ModelNotAvailable:
        return False


class RvmMatter:
    """``step(rgb, state, ratio) -> (rgba, state)``: HWC uint8 RGB in; HWC uint8 RGBA
    out, where RGB is RVM's predicted foreground colour and A the alpha matte."""

    def __init__(self, path, threads: int | None = None, providers: list[str] | None = None):
        ort = onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        if providers is None:
            available = ort.get_available_providers()
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        if "CUDAExecutionProvider" in providers and hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # the CUDA/cuDNN libraries torch's wheels brought
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        on_cuda = self.session.get_providers()[0] == "CUDAExecutionProvider"
        self._where = ("cuda", 0) if on_cuda else ("cpu", 0)
        types = {i.name: i.type for i in self.session.get_inputs()}
        self.dtype = _DTYPES.get(types.get("src"), np.float32)
        self.state_dtype = _DTYPES.get(types.get("r1i"), self.dtype)
        self.ratio_dtype = _DTYPES.get(types.get("downsample_ratio"), np.float32)
        self.backend = Backend("onnxruntime", "cuda:0" if on_cuda else "cpu", np.dtype(self.dtype).name)
        self._ort = ort

    @property
    def device(self) -> str:
        return self.backend.device

    def zero_state(self) -> State:
        return zero_state(self.state_dtype)

    def step(self, rgb: np.ndarray, state: State, ratio: float) -> tuple[np.ndarray, State]:
        ort, (kind, index) = self._ort, self._where
        src = cv2.dnn.blobFromImage(rgb, 1 / 255.0)  # HWC uint8 -> 1x3xHxW float32, one pass
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(
            "src", ort.OrtValue.ortvalue_from_numpy(src.astype(self.dtype, copy=False), kind, index)
        )
        binding.bind_cpu_input("downsample_ratio", np.array([ratio], self.ratio_dtype))
        for name, value in zip(STATE_INPUTS, state):
            if not isinstance(value, ort.OrtValue):  # a host state: to the device once
                value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value, self.state_dtype), kind, index)
            binding.bind_ortvalue_input(name, value)
        binding.bind_output("fgr", "cpu")
        binding.bind_output("pha", "cpu")
        for name in STATE_OUTPUTS:
            binding.bind_output(name, kind, index)  # stays on the device
        self.session.run_with_iobinding(binding)
        fgr, pha, *rec = binding.get_outputs()
        return _rgba(fgr.numpy(), pha.numpy()), rec

    def to_host(self, state: State) -> list[np.ndarray]:
        """The state as host float32 arrays (to save it for the next segment)."""
        return [np.asarray(v.numpy() if isinstance(v, self._ort.OrtValue) else v, np.float32) for v in state]


def _rgba(fgr: np.ndarray, pha: np.ndarray) -> np.ndarray:
    """1x3xHxW foreground + 1x1xHxW alpha (0..1) -> HWC uint8 RGBA, rounded to nearest
    and saturated plane by plane (RVM clamps its outputs to 0..1, so no negatives)."""
    planes = (fgr[0, 0], fgr[0, 1], fgr[0, 2], pha[0, 0])
    return cv2.merge([cv2.convertScaleAbs(np.asarray(p, np.float32), alpha=255.0) for p in planes])


def load(name: str = "rvm_mobilenetv3_fp32") -> RvmMatter:
    """The loaded session (once per process)."""
    return cache.loaded("rvm_onnx", name, lambda: RvmMatter(store.locate(registry.get(name, "matte"))))


def uses_cuda() -> bool:
    """Matting will run on a GPU here: the GPU build of ONNX Runtime and an NVIDIA GPU."""
    from vidpipe import gpu

    return cuda_provider() and bool(gpu.nvidia_gpus())
