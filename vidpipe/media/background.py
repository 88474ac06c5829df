"""Backgrounds for composite: a colour (``#RRGGBB``), an image, a video (looped or
trimmed, conformed to the output's timestamps), ``blur`` (the original frame,
blurred) or ``none``. Checked up front so a bad one fails before any model runs."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidpipe.errors import ConfigError, ProbeError
from vidpipe.hashing import file_sha256
from vidpipe.media.probe import probe, scan_timestamps

KEYWORDS = ("none", "blur")
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def resolve(spec: str, folders: tuple[str, ...] = ("backgrounds",)) -> str:
    """A keyword, a colour, or the absolute path of an existing file (a bare name is
    also looked up in the seed's ``backgrounds/`` folder). Raises ConfigError."""
    if spec in KEYWORDS or _HEX.match(spec):
        return spec
    path = Path(spec).expanduser()
    if not path.exists():
        for folder in folders:
            if (Path(folder) / spec).exists():
                path = Path(folder) / spec
                break
        else:
            raise ConfigError(f"background {spec}: file not found (also looked in {', '.join(folders)}/)")
    if not path.is_file():
        raise ConfigError(f"background {path}: not a file")
    return str(path.resolve())


def check(spec: str) -> str:
    """Resolve and validate a background; returns its identity for cache keys."""
    spec = resolve(spec)
    if spec in KEYWORDS or _HEX.match(spec):
        return spec.lower()
    path = Path(spec)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if cv2.imread(spec, cv2.IMREAD_COLOR) is None:
            raise ConfigError(f"background {path}: not an image OpenCV can read")
    else:
        try:
            info = probe(path)
        except ProbeError as e:
            raise ConfigError(f"background {e}") from None
        if info.frame_count < 1 or info.duration <= 0:
            raise ConfigError(f"background {path}: video has no frames")
    return f"{path.name}:{file_sha256(path)}"


def cover(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover ``width x height`` and centre-crop (aspect kept, no bars)."""
    h, w = rgb.shape[:2]
    k = max(width / w, height / h)
    sw, sh = max(width, round(w * k)), max(height, round(h * k))
    scaled = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    x, y = (sw - width) // 2, (sh - height) // 2
    return np.ascontiguousarray(scaled[y : y + height, x : x + width])


class Background:
    """``at(t, original)``: the HWC uint8 RGB background for output time ``t`` (s)."""

    def __init__(self, spec: str, width: int, height: int):
        self.spec, self.size = resolve(spec), (width, height)
        self._still: np.ndarray | None = None
        self._video = None
        m = _HEX.match(self.spec)
        if m:
            rgb = [int(m.group(1)[i : i + 2], 16) for i in (0, 2, 4)]
            self._still = np.empty((height, width, 3), np.uint8)
            self._still[:] = rgb
        elif self.spec == "blur":
            pass
        elif Path(self.spec).suffix.lower() in IMAGE_SUFFIXES:
            bgr = cv2.imread(self.spec, cv2.IMREAD_COLOR)
            self._still = cover(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), width, height)
        else:
            self._video = _LoopedVideo(self.spec, width, height)

    def at(self, t: float, original: np.ndarray | None = None) -> np.ndarray:
        if self._still is not None:
            return self._still
        if self._video is not None:
            return self._video.at(t)
        if original is None:
            raise ConfigError("background blur needs the original frame")
        sigma = max(original.shape[:2]) / 40
        return cv2.GaussianBlur(original, (0, 0), sigma)


class _LoopedVideo:
    """Frames of a background video by time, looping past its end."""

    def __init__(self, path: str, width: int, height: int):
        info = probe(path)
        self.path, self.index, self.size = path, info.video_index, (width, height)
        tb = Fraction(info.time_base)
        ts = scan_timestamps(path, info.video_index)
        self.times = [float((p - ts[0]) * tb) for p in ts]
        self.length = max(info.duration, self.times[-1] + 1e-6)
        self._frames = None
        self._pos, self._frame, self._cached = -1, None, None

    def _restart(self):
        from vidpipe.media.reader import read_frames

        self._frames, self._pos = read_frames(self.path, self.index), -1

    def at(self, t: float) -> np.ndarray:
        t = t % self.length
        if self._frames is None or (self._pos >= 0 and t < self.times[self._pos]):
            self._restart()
        while self._pos + 1 < len(self.times) and self.times[self._pos + 1] <= t:
            self._frame, self._pos = next(self._frames), self._pos + 1
            self._cached = None
        if self._pos < 0:
            self._frame, self._pos = next(self._frames), 0
            self._cached = None
        if self._cached is None:
            self._cached = cover(self._frame, *self.size)
        return self._cached
