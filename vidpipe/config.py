"""What a run asks for (pydantic, validated once at the edge: CLI, flow parameters).
The engine takes the frozen dataclasses these produce."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vidpipe.media.join import EncodeConfig
from vidpipe.models.registry import DEFAULT_UPSCALE_MODEL, MODELS, UPSCALE_MODELS
from vidpipe.stages.composite import CompositeConfig
from vidpipe.stages.matte import MatteConfig
from vidpipe.stages.restore_faces import RestoreFacesConfig
from vidpipe.stages.upscale import UpscaleConfig
from vidpipe.storage import S3Target


class JobSpec(BaseModel):
    """Settings shared by every video of a run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Literal["720p", "1080p", "2160p", "none"] = Field(
        "1080p", title="Target size", description="Short side of the output (aspect kept); none = keep the input size"
    )
    scale: float | None = Field(
        None, title="Scale", gt=1.0, le=8.0, description="Scale factor instead of a target size (e.g. 2)"
    )
    upscale_model: str = Field(
        DEFAULT_UPSCALE_MODEL, title="Upscale model", description="Real-ESRGAN model name, or a .pth file path"
    )
    backend: Literal["auto", "torch", "ncnn"] = Field(
        "auto", title="Backend", description="auto: torch on a CUDA GPU, else ncnn, else torch on the CPU"
    )
    face_restore: bool = Field(False, title="Restore faces", description="GFPGAN on every face after upscaling")
    face_model: str = Field("GFPGANv1.4", title="Face model", description="GFPGAN model name or .pth path")
    face_fidelity: float = Field(
        0.0, title="Face fidelity", ge=0.0, le=1.0, description="0 = fully restored faces, 1 = the original faces"
    )
    tile: int = Field(0, title="Tile size", ge=0, le=4096, description="Input tile size in pixels; 0 = automatic")
    background: str = Field(
        "none",
        title="Background",
        description="none (keep the original), blur, a colour #RRGGBB, or an image/video file (or a name in backgrounds/)",
    )
    alpha_output: Literal["none", "prores", "webm", "png"] = Field(
        "none", title="Alpha output", description="Also write the cut-out person with alpha (ProRes 4444, VP9 WebM or PNGs)"
    )
    matte_model: str = Field(
        "rvm_mobilenetv3_fp32", title="Matting model", description="An RVM export; ResNet50 is sharper and slower"
    )
    input_alpha: bool = Field(
        True, title="Use the input's alpha", description="Inputs with their own alpha (VP8/VP9) skip RVM and use it"
    )
    matte_before_upscale: bool = Field(
        False, title="Matte before upscale", description="Matte the original frames and scale the alpha up (cheaper)"
    )
    segment_seconds: float = Field(
        4.0, title="Segment length (s)", gt=0.0, le=600.0, description="Length of the cached, retryable units of work"
    )
    codec: Literal["libx264", "libx265"] = Field("libx264", title="Output codec")
    crf: int = Field(18, title="Quality (CRF)", ge=0, le=51, description="Lower is better quality and larger files")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"] = (
        Field("medium", title="Encoder preset")
    )

    upload: str = Field(
        "", title="Upload to", description="s3://bucket/prefix for the finished video; empty = keep it local only"
    )
    s3_endpoint_url: str = Field(
        "", title="S3 endpoint URL", description="For S3-compatible stores (MinIO, R2); empty = AWS S3"
    )
    aws_credentials_block: str = Field(
        "", title="AWS credentials block",
        description="Name of a Prefect AwsCredentials block; empty = the standard AWS chain (env, profile, role)",
    )

    @field_validator("upload")
    @classmethod
    def _s3_url(cls, v: str) -> str:
        v = v.strip()
        if v and (not v.startswith("s3://") or len(v) <= len("s3://")):
            raise ValueError(f"upload target {v!r} must look like s3://bucket/prefix")
        return v

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

    def upscale_config(self) -> UpscaleConfig:
        return UpscaleConfig(
            model=self.upscale_model, target=self.target, scale=self.scale, tile=self.tile, backend=self.backend
        )

    @property
    def mattes(self) -> bool:
        return self.background != "none" or self.alpha_output != "none"

    def matte_config(self, input_has_alpha: bool = False) -> MatteConfig | None:
        if not self.mattes:
            return None
        return MatteConfig(model=self.matte_model, source_alpha=input_has_alpha and self.input_alpha)

    def composite_config(self) -> CompositeConfig | None:
        return CompositeConfig(self.background) if self.background != "none" else None

    def restore_faces_config(self) -> RestoreFacesConfig | None:
        if not self.face_restore:
            return None
        return RestoreFacesConfig(model=self.face_model, fidelity=self.face_fidelity)

    def upload_target(self) -> S3Target | None:
        return S3Target(self.upload, self.s3_endpoint_url or None) if self.upload else None

    def encode_config(self) -> EncodeConfig:
        return EncodeConfig(codec=self.codec, crf=self.crf, preset=self.preset)


class VideoLocation(BaseModel):
    """Where one video is and where its result goes (first in the UI form)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(..., title="Input video", description="Path of the video file on the worker")
    output_dir: str = Field("final_output", title="Output folder")


class VideoJob(JobSpec, VideoLocation):
    """One video to enhance."""

    def output_path(self) -> Path:
        return Path(self.output_dir) / f"{Path(self.input).stem}_final.mp4"

    def spec(self) -> JobSpec:
        return JobSpec(**self.model_dump(exclude={"input", "output_dir"}))
