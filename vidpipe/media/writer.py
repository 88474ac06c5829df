"""Lossless intermediate files: FFV1 in Matroska, written to a temporary name and
renamed into place on success, so a crash never leaves a file that looks finished."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def partial_name(path: Path) -> Path:
    """Where a file is written before it is complete (hidden, same folder)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")


class LosslessWriter:
    """Write HWC uint8 RGB frames (RGBA with ``alpha=True``) losslessly to ``path``
    (FFV1, ``bgr0`` or ``bgra``).

    Use as a context manager: on a clean exit the file is renamed into place, on an
    exception the partial file is removed.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 25.0, alpha: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = partial_name(self.path)
        self._container = av.open(str(self._tmp), "w", format="matroska")
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        self._stream = self._container.add_stream("ffv1", rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "bgra" if alpha else "bgr0"
        self._fmt = "rgba" if alpha else "rgb24"
        self._stream.options = {"level": "3", "slicecrc": "0", "slices": "4", "context": "0"}
        self._stream.thread_count = 2
        self._stream.codec_context.time_base = 1 / rate
        self.frames = 0

    def write(self, hwc: np.ndarray) -> None:
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
