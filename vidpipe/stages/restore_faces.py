"""restore_faces: find faces (YuNet), align each to the FFHQ template, restore it
with GFPGAN and paste it back feathered; the rest of the frame is untouched.
Segment in (upscaled frames) -> lossless segment out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vidpipe.hashing import digest, file_sha256
from vidpipe.media.pipeline import write_segment
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import frame_size, read_frames
from vidpipe.media.segments import Segment
from vidpipe.media.writer import segment_path
from vidpipe.models import registry, store
from vidpipe.models.faces import Detector, Face, LandmarkSmoother, align, paste
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
        from vidpipe.models.gfpgan import Gfpgan

        self.cfg = cfg
        self.detect = Detector(str(store.locate(registry.get("yunet"))))
        self.restore = Gfpgan(store.locate(_model_spec(cfg.model)))
        self.smooth = LandmarkSmoother(fps)
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


def plan(info: MediaInfo, segment: Segment, upstream: str, cfg: RestoreFacesConfig) -> tuple[str, Path]:
    """(cache key, output path): the upstream file's name carries its own key."""
    models = [file_sha256(store.locate(_model_spec(cfg.model))), file_sha256(store.locate(registry.get("yunet")))]
    code = code_version(__name__, "vidpipe.models.faces", "vidpipe.models.gfpgan")
    key = digest("restore_faces", code, Path(upstream).name, asdict(cfg), models)
    return key, segment_path(info.sha256, "restore_faces", segment.name, key)


def restore_faces(
    info: MediaInfo,
    segment: Segment,
    upstream: str | Path,
    cfg: RestoreFacesConfig,
    out: Path,
    on_frame: Callable[[int], None] | None = None,
) -> Path:
    """Restore the faces in every frame of the ``upstream`` segment file into ``out``."""
    size = frame_size(upstream)
    restorer = FrameFaceRestorer(cfg, info.fps)
    return write_segment(read_frames(upstream), restorer, out, size, info.fps, segment.n_frames, on_frame=on_frame)
