"""Robust Video Matting through ONNX Runtime (CPU, or CUDA where onnxruntime-gpu
has it). The recurrent state is carried frame to frame by the caller."""

from __future__ import annotations

import os

import numpy as np

from vidpipe.models import cache, registry, store

State = list[np.ndarray]  # r1..r4, float32 NCHW


def zero_state() -> State:
    return [np.zeros((1, 1, 1, 1), np.float32) for _ in range(4)]


def auto_ratio(height: int, width: int) -> float:
    """downsample_ratio so the network's internal long side is about 512 px."""
    return min(1.0, 512.0 / max(height, width))


class RvmMatter:
    """``step(rgb, state, ratio) -> (rgba, state)``: HWC uint8 RGB in; HWC uint8 RGBA
    out, where RGB is RVM's predicted foreground colour and A the alpha matte."""

    def __init__(self, spec: registry.ModelSpec, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.session = ort.InferenceSession(str(store.locate(spec)), options, providers=providers)
        self.device = "cuda" if self.session.get_providers()[0].startswith("CUDA") else "cpu"
        self.spec = spec

    def step(self, rgb: np.ndarray, state: State, ratio: float) -> tuple[np.ndarray, State]:
        src = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32)
        src *= 1 / 255.0
        feed = {"src": src, "downsample_ratio": np.array([ratio], np.float32)}
        feed.update({f"r{i + 1}i": s for i, s in enumerate(state)})
        fgr, pha, *rec = self.session.run(None, feed)
        rgba = np.concatenate([fgr[0], pha[0]], axis=0).transpose(1, 2, 0)
        return np.clip(rgba * 255 + 0.5, 0, 255).astype(np.uint8), rec


def load(name: str = "rvm_mobilenetv3_fp32") -> RvmMatter:
    """The loaded session (once per process)."""
    return cache.loaded("rvm_onnx", name, lambda: RvmMatter(registry.get(name, "matte")))


def uses_cuda() -> bool:
    """ONNX Runtime here has its CUDA provider (the GPU build)."""
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()
