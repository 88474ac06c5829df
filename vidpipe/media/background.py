"""Backgrounds for composite: a colour (``#RRGGBB``), an image, a video (looped or
trimmed, conformed to the output's timestamps), ``blur`` (the original frame,
blurred) or ``none``. Checked up front so a bad one fails before any model runs."""

from __future__ import annotations

import bisect
import re
import threading
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidpipe.errors import ConfigError, ProbeError
from vidpipe.hashing import file_identity, file_sha256
from vidpipe.media.frames import rotate_upright
from vidpipe.media.probe import probe, scan_timestamps

KEYWORDS = ("none", "blur")
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
#: images that are not backgrounds (an animated GIF is read as a video; a one-frame GIF is not)
OTHER_IMAGES = {".gif", ".svg", ".svgz", ".heic", ".heif", ".avif", ".ico", ".psd"}


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
            if spec.startswith("#"):
                raise ConfigError(f"background {spec}: not a colour (write #RRGGBB with hex digits, e.g. #00b140)")
            raise ConfigError(f"background {spec}: file not found (also looked in {', '.join(folders)}/)")
    if not path.is_file():
        raise ConfigError(f"background {path}: not a file")
    return str(path.resolve())


def check(spec: str) -> str:
    """Resolve and validate a background; returns its identity for cache keys. A file is
    read once per version of it (every video of a run, and every plan, ask)."""
    spec = resolve(spec)
    if spec in KEYWORDS or _HEX.match(spec):
        return spec.lower()
    path = Path(spec)
    try:
        ident = file_identity(path)
    except OSError:
        ident = None  # said by the inspection, in its own words
    with _lock:
        if ident is not None and ident in _checked:
            return _checked[ident]
    identity = _inspect(path)
    if ident is not None:
        with _lock:
            _checked[ident] = identity
    return identity


_checked: dict[tuple, str] = {}
_lock = threading.Lock()


def _inspect(path: Path) -> str:
    """Decode ``path`` enough to know it is a usable image or video; its identity."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if cv2.imread(str(path), cv2.IMREAD_COLOR) is None:
            raise ConfigError(f"background {path}: not an image OpenCV can read")
    else:
        try:
            info = probe(path)
        except ProbeError as e:
            if path.suffix.lower() in OTHER_IMAGES:  # an image, just not one of the kinds read as a still
                raise ConfigError(
                    f"background {path}: {path.suffix[1:].upper()} images are not read as a background: use a PNG, "
                    "JPEG, WebP, BMP or TIFF image (or a video)"
                ) from None
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
    """``at(t, original)``: the HWC uint8 RGB background for output time ``t`` (s).
    ``close()`` when done (a background video holds an open decoder)."""

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

    def close(self) -> None:
        if self._video is not None:
            self._video.close()

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
    """Frames of a background video by time, looping past its end.

    Decoding starts where the first frame asked for is (a seek to the keyframe before
    it, never from frame 0) and goes forward; a jump back (the loop wrapped) or far
    ahead seeks again. A background small enough to keep (all its frames at the output
    size within ``KEEP_BYTES``) keeps each frame it returned, so one composite segment
    decodes each background frame at most once, however often it loops."""

    KEEP_BYTES = 256 << 20
    SKIP_FRAMES = 48  # further ahead than this: seek instead of decoding through

    def __init__(self, path: str, width: int, height: int):
        info = probe(path)
        self.path, self.index, self.size = path, info.video_index, (width, height)
        self.rotation = info.rotation  # frames are decoded as stored; the background is used upright
        tb = Fraction(info.time_base)
        self.pts = scan_timestamps(path, info.video_index)
        self.times = [float((p - self.pts[0]) * tb) for p in self.pts]
        self.length = max(info.duration, self.times[-1] + 1e-6)
        self.decoded = [0]  # frames out of the decoder, pre-roll after a seek included
        self._frames = None
        self._pos, self._raw, self._current = -1, None, None
        fits = len(self.pts) * width * height * 3 <= self.KEEP_BYTES
        self._keep: dict[int, np.ndarray] | None = {} if fits else None

    def _start(self, index: int) -> None:
        from vidpipe.media.reader import read_frames
        from vidpipe.media.segments import Segment

        self.close()
        rest = Segment(0, index, len(self.pts) - index, self.pts[index], self.pts[-1])
        self._frames = read_frames(self.path, self.index, rest, counter=self.decoded)
        self._pos = index - 1

    def at(self, t: float) -> np.ndarray:
        index = max(0, bisect.bisect_right(self.times, t % self.length) - 1)
        if self._keep is not None and index in self._keep:
            return self._keep[index]
        if index != self._pos or self._current is None:
            if self._frames is None or index < self._pos or index > self._pos + self.SKIP_FRAMES:
                self._start(index)
            while self._pos < index:
                self._raw, self._pos = next(self._frames), self._pos + 1
            self._current = cover(rotate_upright(self._raw, self.rotation), *self.size)
            if self._keep is not None:
                self._keep[index] = self._current
        return self._current

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None
