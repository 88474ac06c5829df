"""Lossless intermediate files: MagicYUV (planar RGB, RGBA with alpha) in NUT, written
to a temporary name and renamed into place on success, so a crash never leaves a file
that looks finished.

MagicYUV, not FFV1: on a 1280x1280 upscaled frame it costs 15 ms of CPU to encode and
9 ms to decode, against FFV1's 93 ms and 112 ms, for files about 1.25x larger
on upscaled frames, 1.4-4x larger on raw camera-like frames (docs/performance.md).
Every step writes one of these and the next reads it, so on a CPU-bound machine this
is time taken straight from the model. Matroska has no tag for MagicYUV in FFmpeg;
NUT (FFmpeg's own container) carries it.

``VIDPIPE_INTERMEDIATE=ffv1`` trades that CPU back for disk: FFV1 in the same NUT files.
The pixels are identical either way, so cache keys do not depend on the choice.

16-bit frames (``--hdr keep``: HDR kept through the pipeline) always go to FFV1
``gbrp16le``: MagicYUV has no 16-bit encoder in FFmpeg."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import cv2
import numpy as np

from vidpipe.errors import ConfigError
from vidpipe.paths import work_dir

#: the suffix of every lossless segment file
SEGMENT_SUFFIX = ".nut"


class Codec(NamedTuple):
    options: dict[str, str]
    pix_fmt: str
    alpha_pix_fmt: str
    size_ratio: float  # file size / raw RGB size: the upper end of what was measured, for disk estimates


CODECS = {
    # gradient prediction: 20% smaller than the default (left) on upscaled frames, and
    # faster both ways (1080x1920: encode 8.7 vs 11.2 ms, decode 6.8 vs 7.4 ms)
    "magicyuv": Codec({"pred": "gradient"}, "gbrp", "gbrap", 0.55),
    "ffv1": Codec({"level": "3", "slicecrc": "0", "slices": "4", "context": "0"}, "bgr0", "bgra", 0.45),
}


def codec() -> str:
    """The intermediates' codec: ``$VIDPIPE_INTERMEDIATE`` (magicyuv or ffv1)."""
    name = os.environ.get("VIDPIPE_INTERMEDIATE", "magicyuv").strip().lower() or "magicyuv"
    if name not in CODECS:
        raise ConfigError(f"VIDPIPE_INTERMEDIATE must be one of {', '.join(CODECS)}, got {name!r}")
    return name


def size_ratio() -> float:
    """Intermediate file size / raw RGB size, for disk estimates."""
    return CODECS[codec()].size_ratio


def segment_path(sha256: str, step: str, segment_name: str, key: str) -> Path:
    """Where ``step`` keeps one segment of the video with content hash ``sha256``."""
    return work_dir() / sha256[:16] / step / f"{segment_name}-{key[:16]}{SEGMENT_SUFFIX}"


def partial_name(path: Path) -> Path:
    """Where a file is written before it is complete (hidden, same folder)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")


_PARTIAL = re.compile(r"^\..+\.(\d+)\.partial(\.[^.]+)?$")


def clean_partials(folder: str | Path, listing: tuple[Path, ...] | None = None) -> int:
    """Remove partial files and folders a killed run left behind (``.<name>.<pid>.partial.<ext>``,
    a PNG sequence's ``.<name>.<pid>.partial/``) whose writer process is gone. Returns how
    many were removed. ``listing``: the folder's entries, when the caller has listed it."""
    removed = 0
    folder = Path(folder)
    if listing is None:
        listing = tuple(folder.glob(".*.partial*")) if folder.is_dir() else ()
    for f in listing:
        match = _PARTIAL.match(f.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if f.is_dir() and not f.is_symlink():
            shutil.rmtree(f, ignore_errors=True)
        else:
            f.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


#: planar RGB(A) formats: which HWC channel goes to each plane
PLANAR_ORDER = {"gbrp": (1, 2, 0), "gbrap": (1, 2, 0, 3), "gbrp16le": (1, 2, 0)}
#: 16-bit RGB intermediates: FFV1 (MagicYUV has no 16-bit encoder)
DEEP = Codec(CODECS["ffv1"].options, "gbrp16le", "gbrap16le", 0.9)


def planar_frame(hwc: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """HWC uint8 RGB(A) (uint16 for ``gbrp16le``) -> a planar frame, copied plane by
    plane (1.8 ms at 1080x1920 on the CI machine, against 6.9 ms through swscale)."""
    h, w = hwc.shape[:2]
    frame = av.VideoFrame(w, h, pix_fmt)
    channels = cv2.split(hwc)
    size = hwc.dtype.itemsize
    for plane, c in zip(frame.planes, PLANAR_ORDER[pix_fmt]):
        rows = np.frombuffer(plane, hwc.dtype).reshape(plane.height, plane.line_size // size)
        np.copyto(rows[:, :w], channels[c])
    return frame


class LosslessWriter:
    """Write HWC uint8 RGB frames (RGBA with ``alpha=True``; uint16 with ``deep=True``)
    losslessly to ``path`` (MagicYUV ``gbrp``/``gbrap``, or FFV1, in NUT whatever
    ``path``'s suffix).

    Use as a context manager: on a clean exit the file is renamed into place, on an
    exception the partial file is removed.
    """

    def __init__(
        self, path: str | Path, width: int, height: int, fps: float = 25.0, alpha: bool = False, deep: bool = False
    ):
        name = codec()  # a bad setting fails before any file exists
        spec = CODECS[name]
        if deep:
            name, spec = "ffv1", DEEP
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = partial_name(self.path)
        self._container = av.open(str(self._tmp), "w", format="nut")
        try:
            rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
            self._stream = self._container.add_stream(name, rate=rate)
            self._stream.width, self._stream.height = width, height
            self._stream.pix_fmt = spec.alpha_pix_fmt if alpha else spec.pix_fmt
            self._stream.options = dict(spec.options)
            self._stream.thread_count = min(4, os.cpu_count() or 1)  # slice threads
            self._stream.codec_context.time_base = 1 / rate
        except BaseException:  # nothing half-made is left behind
            with contextlib.suppress(av.FFmpegError):
                self.abort()
            raise
        self._fmt = ("rgba64le" if alpha else "rgb48le") if deep else ("rgba" if alpha else "rgb24")
        self._pix_fmt = self._stream.pix_fmt
        self._size = (width, height)
        self.frames = 0

    def write(self, hwc: np.ndarray) -> None:
        if self._pix_fmt in PLANAR_ORDER and hwc.shape[1::-1] == self._size:
            frame = planar_frame(hwc, self._pix_fmt)
        else:
            frame = av.VideoFrame.from_ndarray(hwc, format=self._fmt)
        frame.pts = self.frames
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> Path:
        self._container.mux(self._stream.encode(None))
        self._container.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._container.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "LosslessWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
