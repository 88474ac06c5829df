"""restore_faces: find faces (YuNet), align each to the FFHQ template, restore it
with GFPGAN and paste it back feathered; the rest of the frame is untouched.
Segment in (upscaled frames) -> lossless segment out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vidpipe import gpu
from vidpipe.errors import ConfigError
from vidpipe.hashing import digest
from vidpipe.media.colour import kept
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import frame_size, read_frames
from vidpipe.media.writer import segment_path
from vidpipe.models import registry, store
from vidpipe.models.faces import Face, LandmarkSmoother, align, detector, paste
from vidpipe.steps.base import Needs, Plan, SegmentWork, Step
from vidpipe.version import code_version

#: faces are found on a copy whose long side is at most this (cheap on 1080p+)
DETECT_LONG_SIDE = 640


@dataclass(frozen=True)
class RestoreFacesConfig:
    model: str = "GFPGANv1.4"  # a registered name or a .pth path
    fidelity: float = 0.0  # 0 = fully restored ... 1 = the original face
    min_face: int = 32  # faces narrower than this (output pixels) are left alone


def _model_spec(name: str) -> registry.ModelSpec:
    if name.endswith(".pth"):
        return registry.ModelSpec(Path(name).stem, "restore_faces", 1, str(Path(name).resolve()))
    return registry.get(name, "restore_faces")


class FrameFaceRestorer:
    """HWC uint8 RGB frame in -> the same frame with restored faces out. Keeps the
    landmark smoothing state from frame to frame, so use one per segment."""

    def __init__(self, cfg: RestoreFacesConfig, fps: float):
        from vidpipe.models import gfpgan

        self.cfg = cfg
        self.detect = detector()  # the networks are loaded once per process
        self.restore = gfpgan.load(store.locate(_model_spec(cfg.model)))
        self.smooth = LandmarkSmoother(fps)  # per segment: the landmark state restarts
        self.faces_restored = 0

    def faces(self, rgb: np.ndarray):
        h, w = rgb.shape[:2]
        k = min(1.0, DETECT_LONG_SIDE / max(h, w))
        small = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA) if k < 1 else rgb
        found = [Face(tuple(v / k for v in f.box), f.landmarks / k, f.score) for f in self.detect(small)]
        return self.smooth(found)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = rgb
        for face in self.faces(rgb):
            if face.box[2] < self.cfg.min_face:
                continue
            crop, m = align(rgb, face.landmarks)
            restored = self.restore(crop)
            if self.cfg.fidelity > 0:
                restored = cv2.addWeighted(crop, self.cfg.fidelity, restored, 1 - self.cfg.fidelity, 0)
            out = paste(out, restored, m)
            self.faces_restored += 1
        return out


def _models(cfg: RestoreFacesConfig) -> tuple[registry.ModelSpec, ...]:
    return _model_spec(cfg.model), registry.get("yunet")


def plan(work: SegmentWork) -> Plan:
    """The frames input's name carries its own key."""
    cfg = work.config
    models = [store.fingerprint(s) for s in _models(cfg)]
    key = digest("restore_faces", code_version(__name__), Path(work.inputs.frames).name, asdict(cfg), models)
    return Plan(
        key, segment_path(work.info.sha256, "restore_faces", work.segment.name, key), work.size, frames=work.frames
    )


def restore_faces(work: SegmentWork, plan: Plan, on_frame: Callable[[int], None] | None = None) -> Path:
    """Restore the faces in every frame of the segment's frames input into ``plan.out``."""
    upstream = work.inputs.frames
    size = work.size if work.size != (0, 0) else frame_size(upstream)
    restorer = FrameFaceRestorer(work.config, work.fps)
    return write_segment(read_frames(upstream), restorer, plan.out, size, work.fps, work.frames, on_frame=on_frame)


class RestoreFaces(Step):
    """Reads the colour frames; writes them with every face restored."""

    name = "restore_faces"
    scope = "segment"
    needs = Needs(model=True, intermediate=True, frames=True)
    consumes = ("frames",)
    produces = "frames"

    def configure(self, spec, info: MediaInfo) -> RestoreFacesConfig | None:
        if not spec.restore_faces:
            return None
        if kept(spec.hdr, info):
            raise ConfigError(
                f"{info.path}: --restore-faces works on SDR frames and cannot keep HDR yet: "
                "use --hdr sdr (the default) with it, or leave faces as they are"
            )
        return RestoreFacesConfig(model=spec.restore_faces_model, fidelity=spec.restore_faces_fidelity)

    def models(self, config: RestoreFacesConfig, info: MediaInfo) -> tuple:
        return _models(config)

    def plan(self, work: SegmentWork) -> Plan:
        return plan(work)

    def run(self, work: SegmentWork, plan: Plan, on_frame=None) -> str:
        return str(restore_faces(work, plan, on_frame))

    def uses_gpu(self, work: SegmentWork) -> bool:
        return gpu.has_cuda()

    def describe(self, work: SegmentWork) -> str:
        device = "cuda" if gpu.has_cuda() else "cpu"
        return f"{Path(work.config.model).stem} on torch/{device}, fidelity {work.config.fidelity:.2f}"


STEP = RestoreFaces()
