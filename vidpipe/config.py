"""What a run asks for (pydantic, validated once at the edge). One source of names,
defaults, help and bounds: the Prefect UI form is made from :class:`VideoJob`, the
``vidpipe run`` options from :class:`JobSpec` (``app/options.py``), and each step's
``configure`` reads its fields into the step's frozen ``Config``.

Naming: a setting of one step starts with the step's name (``restore_faces_model``,
``matte_before_upscale``, ``upload_endpoint_url``); a setting named just like a step
turns it on or says what it makes (``restore_faces``, ``export_alpha``, ``upload``).
Settings of the delivered video as a whole (``target``, ``scale``, ``background``,
``codec``, ``hdr``, ``crf``, ``preset``) and of the job (``segment_seconds``) have plain names.
Every field says which step reads it (``json_schema_extra["step"]``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vidpipe.media.motion import CUT, parse_fps
from vidpipe.models.registry import (
    DEFAULT_INTERPOLATE_MODEL,
    DEFAULT_UPSCALE_MODEL,
    INTERPOLATE_MODELS,
    MODELS,
    UPSCALE_MODELS,
)

#: names of 0.1 -> their names now; the old ones are still accepted (with a warning) until 0.3
RENAMED = {
    "face_restore": "restore_faces",
    "face_model": "restore_faces_model",
    "face_fidelity": "restore_faces_fidelity",
    "backend": "upscale_backend",
    "tile": "upscale_tile",
    "alpha_output": "export_alpha",
    "input_alpha": "matte_input_alpha",
    "s3_endpoint_url": "upload_endpoint_url",
    "aws_credentials_block": "upload_credentials_block",
}


def _step(name: str) -> dict[str, Any]:
    return {"step": name}


def _accept_old_names(schema: dict[str, Any]) -> None:
    # the server checks run parameters against this schema before the flow sees them;
    # without additionalProperties=false it lets the 0.1 names through to the validator
    # below, which renames them and still refuses any other unknown name
    schema.pop("additionalProperties", None)


class JobSpec(BaseModel):
    """Settings shared by every video of a run."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_accept_old_names)

    target: Literal["720p", "1080p", "2160p", "none"] | None = Field(
        None,
        title="Target size",
        description="Short side of the output (aspect kept); none = keep the input size; default 1080p unless "
        "a scale is given",
        json_schema_extra=_step("upscale"),
    )
    scale: float | None = Field(
        None,
        title="Scale",
        gt=1.0,
        le=8.0,
        description="Scale factor instead of a target size (e.g. 2)",
        json_schema_extra=_step("upscale"),
    )
    upscale_model: str = Field(
        DEFAULT_UPSCALE_MODEL,
        title="Upscale model",
        description="Real-ESRGAN model name, or a .pth file path",
        json_schema_extra=_step("upscale"),
    )
    upscale_backend: Literal["auto", "torch", "ncnn"] = Field(
        "auto",
        title="Upscale backend",
        description="auto: torch on a CUDA GPU, else ncnn, else torch on the CPU",
        json_schema_extra=_step("upscale"),
    )
    upscale_tile: int = Field(
        0,
        title="Upscale tile size",
        ge=0,
        le=4096,
        description="Input tile size in pixels; 0 = automatic",
        json_schema_extra=_step("upscale"),
    )
    upscale_colour_fix: bool = Field(
        True,
        title="Keep the source's colours",
        description="Put the source's own local colour back where the upscale model moved it (Real-ESRGAN shifts "
        "flat colours by up to 6/255); the model's detail is kept",
        json_schema_extra=_step("upscale"),
    )
    restore_faces: bool = Field(
        False,
        title="Restore faces",
        description="GFPGAN on every face after upscaling",
        json_schema_extra=_step("restore_faces"),
    )
    restore_faces_model: str = Field(
        "GFPGANv1.4",
        title="Face model",
        description="GFPGAN model name or .pth path",
        json_schema_extra=_step("restore_faces"),
    )
    restore_faces_fidelity: float = Field(
        0.0,
        title="Face fidelity",
        ge=0.0,
        le=1.0,
        description="0 = fully restored faces, 1 = the original faces",
        json_schema_extra=_step("restore_faces"),
    )
    fps: str = Field(
        "source",
        title="Frame rate",
        description="Output frames per second, made by RIFE frame interpolation: 30, 60, 29.97, or x2 (twice the "
        "source's); source = keep the source's timing",
        json_schema_extra=_step("interpolate"),
    )
    interpolate_model: str = Field(
        DEFAULT_INTERPOLATE_MODEL,
        title="Interpolation model",
        description="The RIFE model that makes the new frames",
        json_schema_extra=_step("interpolate"),
    )
    interpolate_cut: float = Field(
        CUT,
        title="Scene-cut threshold",
        ge=0.0,
        le=255.0,
        description="Mean frame difference (0-255) from which a jump is a scene cut: the nearer frame is repeated "
        "there, never blended; 0 = no cuts",
        json_schema_extra=_step("interpolate"),
    )
    interpolate_dedup: bool = Field(
        True,
        title="Spread repeated frames",
        description="Runs of up to 3 repeated frames become one smooth motion (longer runs are holds and stay)",
        json_schema_extra=_step("interpolate"),
    )
    matte_model: str = Field(
        "rvm_mobilenetv3_fp32",
        title="Matting model",
        description="An RVM export; ResNet50 is sharper and slower",
        json_schema_extra=_step("matte"),
    )
    matte_input_alpha: bool = Field(
        True,
        title="Use the input's alpha",
        description="Inputs with their own alpha (VP8/VP9) skip RVM and use it",
        json_schema_extra=_step("matte"),
    )
    matte_before_upscale: bool = Field(
        False,
        title="Matte before upscale",
        description="Matte the original frames and scale the alpha up (cheaper)",
        json_schema_extra=_step("matte"),
    )
    background: str = Field(
        "none",
        title="Background",
        description="none (keep the original), blur, a colour #RRGGBB, or an image/video file (or a name in backgrounds/)",
        json_schema_extra=_step("composite"),
    )
    export_alpha: Literal["none", "prores", "webm", "png"] = Field(
        "none",
        title="Export alpha",
        description="Also write the cut-out person with alpha (ProRes 4444, VP9 WebM or PNGs)",
        json_schema_extra=_step("export_alpha"),
    )
    segment_seconds: float = Field(
        4.0,
        title="Segment length (s)",
        gt=0.0,
        le=600.0,
        description="Length of the cached, retryable units of work",
        json_schema_extra=_step("split"),
    )
    codec: Literal["auto", "libx264", "libx265", "h264_nvenc", "hevc_nvenc"] = Field(
        "auto",
        title="Output codec",
        description="auto: H.264 on the NVIDIA GPU (NVENC) where there is one, else libx264. H.264 plays "
        "everywhere; H.265 (libx265, hevc_nvenc) is smaller",
        json_schema_extra=_step("join"),
    )
    hdr: Literal["sdr", "keep"] = Field(
        "sdr",
        title="HDR sources",
        description="sdr: tone-map HDR (PQ, HLG) to SDR BT.709 (plays right everywhere); keep: deliver 10-bit HEVC "
        "with the source's HDR signal and metadata (HDR screens only). SDR sources are SDR either way",
        json_schema_extra=_step("join"),
    )
    crf: int = Field(
        18,
        title="Quality (CRF)",
        ge=0,
        le=51,
        description="Lower is better quality and larger files",
        json_schema_extra=_step("join"),
    )
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"] = (
        Field(
            "medium",
            title="Encoder preset",
            description="Slower presets make smaller files",
            json_schema_extra=_step("join"),
        )
    )
    upload: str = Field(
        "",
        title="Upload to",
        description="s3://bucket/prefix for the finished video; empty = keep it local only",
        json_schema_extra=_step("upload"),
    )
    upload_endpoint_url: str = Field(
        "",
        title="S3 endpoint URL",
        description="For S3-compatible stores (MinIO, R2); empty = AWS S3",
        json_schema_extra=_step("upload"),
    )
    upload_credentials_block: str = Field(
        "",
        title="AWS credentials block",
        description="Name of a Prefect AwsCredentials block; empty = the standard AWS chain (env, profile, role)",
        json_schema_extra=_step("upload"),
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(old in data for old in RENAMED):
            return data
        data = dict(data)
        for old, new in RENAMED.items():
            if old in data:
                if new in data:
                    raise ValueError(f"{old} is the old name of {new}: give only {new}")
                warnings.warn(
                    f"the setting {old} is now {new} (the old name works until vidpipe 0.3)",
                    FutureWarning,
                    stacklevel=2,
                )
                data[new] = data.pop(old)
        return data

    @field_validator("upload")
    @classmethod
    def _s3_url(cls, v: str) -> str:
        v = v.strip()
        if v and (not v.startswith("s3://") or len(v) <= len("s3://")):
            raise ValueError(f"upload target {v!r} must look like s3://bucket/prefix")
        return v

    @field_validator("fps", mode="before")
    @classmethod
    def _fps(cls, v: Any) -> str:
        from vidpipe.errors import ConfigError

        try:
            return parse_fps(str(v))
        except ConfigError as e:
            raise ValueError(str(e)) from None

    @field_validator("interpolate_model")
    @classmethod
    def _known_interpolate_model(cls, v: str) -> str:
        if v not in INTERPOLATE_MODELS:
            raise ValueError(f"unknown interpolation model {v!r}; known: {', '.join(INTERPOLATE_MODELS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        if self.scale is not None and self.target not in (None, "none"):
            raise ValueError(
                f"give --target {self.target} (the short side of the output) or --scale (a factor), not both"
            )
        if self.fps != "source" and self.matte_before_upscale:
            raise ValueError(
                "--matte-before-upscale mattes the source's own frames, at the source's rate: "
                "it cannot be combined with --fps"
            )
        return self

    @field_validator("matte_model")
    @classmethod
    def _known_matte_model(cls, v: str) -> str:
        known = [k for k, m in MODELS.items() if m.task == "matte"]
        if v not in known:
            raise ValueError(f"unknown matte model {v!r}; known: {', '.join(known)}")
        return v

    @field_validator("upscale_model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in UPSCALE_MODELS and not v.endswith((".pth", ".safetensors")):
            raise ValueError(f"unknown upscale model {v!r}; known: {', '.join(UPSCALE_MODELS)}")
        return v

    @property
    def size_target(self) -> str:
        """The target the upscale applies: the one given, else 1080p (a scale, when given, overrides it)."""
        return self.target or "1080p"

    @classmethod
    def step_of(cls, field: str) -> str:
        """The step that reads ``field``."""
        extra = cls.model_fields[field].json_schema_extra
        return extra["step"] if isinstance(extra, dict) else ""


class VideoLocation(BaseModel):
    """Where one video is and where its result goes (first in the UI form)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(..., title="Input video", description="Path of the video file on the worker")
    output_dir: str = Field("final_output", title="Output folder")
    output_name: str = Field(
        "",
        title="Output file name",
        description="Default: <input name>_final.mp4 (see README, output names)",
        pattern=r"^[^/\\]*$",
    )


def flag(name: str) -> str:
    """The command-line option of the setting ``name`` (``restore_faces_model`` -> ``--restore-faces-model``)."""
    return "--" + name.replace("_", "-")


def explain(error: ValidationError) -> str:
    """A settings error as one line, each problem under its option's name (the CLI, the UI and the API
    say the same)."""
    parts = []
    for x in error.errors():
        msg = x["msg"].removeprefix("Value error, ")
        parts.append(f"{flag(str(x['loc'][0]))}: {msg}" if x["loc"] else msg)
    return "; ".join(parts)


def default_name(source: str | Path) -> str:
    """The output name of ``source`` when no other input claims it (vidpipe.jobs.output_names)."""
    return f"{Path(source).stem}_final.mp4"


class VideoJob(JobSpec, VideoLocation):
    """One video to enhance."""

    def output_path(self) -> Path:
        return Path(self.output_dir) / (self.output_name or default_name(self.input))

    def spec(self) -> JobSpec:
        return JobSpec(**self.model_dump(exclude={"input", "output_dir", "output_name"}))
