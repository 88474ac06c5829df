"""Face geometry for restore_faces: YuNet detection (5 landmarks), a similarity
transform onto the 512x512 FFHQ template, temporal landmark smoothing, and a
feathered paste-back. Frames here are HWC uint8 RGB."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from vidpipe.hashing import file_identity
from vidpipe.models import cache

#: FFHQ 512x512 positions of: eye (viewer's left), eye (viewer's right), nose tip,
#: mouth corner (viewer's left), mouth corner (viewer's right) - YuNet's order too
TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    np.float64,
)
#: the eyes fix the similarity (they land within a fraction of a pixel of the
#: template); nose and mouth only break ties
WEIGHTS = np.array([1000.0, 1000.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in frame pixels
    landmarks: np.ndarray  # (5, 2) float, frame pixels
    score: float


class Detector:
    """YuNet through ``cv2.FaceDetectorYN``. One detector serves every thread (its
    input size is state, so calls take turns)."""

    def __init__(self, model_path: str, score: float = 0.6):
        self._det = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score, 0.3, 50)
        self._size = (320, 320)
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        with self._lock:
            if (w, h) != self._size:
                self._det.setInputSize((w, h))
                self._size = (w, h)
            _, found = self._det.detect(bgr)
        if found is None:
            return []
        return [Face(tuple(map(float, f[:4])), f[4:14].reshape(5, 2).astype(np.float64), float(f[14])) for f in found]


def detector() -> Detector:
    """The YuNet detector (found and loaded once per process)."""
    from vidpipe.models import registry, store

    path = store.locate(registry.get("yunet"))
    return cache.loaded("yunet", file_identity(path), lambda: Detector(str(path)))


def similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray = WEIGHTS) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation) that maps ``src``
    points onto ``dst`` with the least weighted squared error (closed form)."""
    w = weights / weights.sum()
    mu_s, mu_d = w @ src, w @ dst
    s, d = src - mu_s, dst - mu_d
    a = np.sum(w * (s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]))
    b = np.sum(w * (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]))
    var = np.sum(w * (s**2).sum(axis=1))
    c, k = a / var, b / var  # scale*cos, scale*sin
    rot = np.array([[c, -k], [k, c]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


def align(rgb: np.ndarray, landmarks: np.ndarray, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(aligned size x size crop, 2x3 matrix frame -> crop)."""
    m = similarity(landmarks, TEMPLATE_512 * (size / 512))
    crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return crop, m


def _feather_mask(size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.float32)
    margin = size // 16
    mask[margin:-margin, margin:-margin] = 1.0
    blur = size // 16 * 2 + 1
    return cv2.GaussianBlur(mask, (blur, blur), 0)


def paste(frame: np.ndarray, crop: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Warp ``crop`` back into ``frame`` through the inverse of ``m``, blended with a
    feathered mask; pixels outside the face's square are left exactly as they were."""
    h, w = frame.shape[:2]
    size = crop.shape[0]
    inv = cv2.invertAffineTransform(m)
    back = cv2.warpAffine(crop, inv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(_feather_mask(size), inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    out = frame.astype(np.float32) * (1 - alpha) + back.astype(np.float32) * alpha
    result = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    untouched = alpha[..., 0] <= 0
    result[untouched] = frame[untouched]
    return result


class OneEuro:
    """The One Euro filter (Casiez et al., 2012): strong smoothing when a point is
    still, little lag when it moves fast. Works on arrays of any shape."""

    def __init__(self, fps: float, min_cutoff: float = 1.5, beta: float = 2.0, d_cutoff: float = 1.0):
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = fps, min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x
        dx = (x - self.x) * self.rate
        a_d = self._alpha(self.d_cutoff)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff)
        self.x = a * x + (1 - a) * self.x
        return self.x.copy()


@dataclass
class _Track:
    filt: OneEuro
    center: np.ndarray
    width: float
    unit: float  # landmarks are filtered in units of the face's first width: scale-free
    missed: int = 0


@dataclass
class LandmarkSmoother:
    """Follows faces from frame to frame (nearest centre) and smooths each face's
    landmarks with a One Euro filter, so the aligned crop does not jitter."""

    fps: float
    tracks: list[_Track] = field(default_factory=list)

    def __call__(self, faces: list[Face]) -> list[Face]:
        out, used = [], set()
        for face in faces:
            center = face.landmarks.mean(axis=0)
            best = None
            for i, t in enumerate(self.tracks):
                if i not in used and np.linalg.norm(t.center - center) < 0.5 * max(t.width, face.box[2]):
                    if best is None or np.linalg.norm(t.center - center) < np.linalg.norm(
                        self.tracks[best].center - center
                    ):
                        best = i
            if best is None:
                self.tracks.append(_Track(OneEuro(self.fps), center, face.box[2], max(face.box[2], 1.0)))
                best = len(self.tracks) - 1
            used.add(best)
            track = self.tracks[best]
            smooth = track.filt(face.landmarks / track.unit) * track.unit
            track.center, track.width, track.missed = smooth.mean(axis=0), face.box[2], 0
            out.append(Face(face.box, smooth, face.score))
        for i, t in enumerate(self.tracks):
            if i not in used:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= 5]
        return out
