"""A before/after still for a finished video: the middle frame of the input (scaled
to the output's size the plain way) beside the same frame of the output."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidpipe.errors import MediaError
from vidpipe.media.colour import decode, file_peak
from vidpipe.media.frames import rotate_upright
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import read_frames
from vidpipe.media.segments import Segment


def still_path(output: str | Path) -> Path:
    output = Path(output)
    stem = output.stem.removesuffix("_final")
    return output.with_name(f"{stem}_compare.jpg")


def frame_at(path: str | Path, seconds: float) -> np.ndarray:
    """The first frame of ``path``'s first video stream at or after ``seconds`` (RGB, upright)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rotation = 0
        container.seek(max(0, int(seconds / stream.time_base)) if seconds > 0 else 0, stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            last, rotation = frame, frame.rotation
            if frame.time is not None and frame.time >= seconds - 1e-3:
                break
        if last is None:
            raise MediaError(f"{path}: no frame at {seconds:.2f} s")
        return rotate_upright(decode(last, peak=file_peak(path, stream.index)), rotation)


def compare(info: MediaInfo, timestamps: list[int], output: str | Path, dest: str | Path) -> Path:
    """Write ``dest`` (JPEG): input | output at the middle frame, labelled."""
    mid = len(timestamps) // 2
    seg = Segment(0, mid, 1, timestamps[mid], timestamps[mid])
    before = rotate_upright(next(read_frames(info.path, info.video_index, seg)), info.rotation)
    after = frame_at(output, float((timestamps[mid] - timestamps[0]) * Fraction(info.time_base)))
    h, w = after.shape[:2]
    before = cv2.resize(before, (w, h), interpolation=cv2.INTER_CUBIC)
    pair = np.concatenate([before, after], axis=1)
    scale = max(1, h // 540)
    for x, label in ((0, "before"), (w, "after")):
        cv2.putText(pair, label, (x + 12 * scale, 36 * scale), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4 * scale)
        cv2.putText(pair, label, (x + 12 * scale, 36 * scale), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), scale)
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp.jpg")
    if not cv2.imwrite(str(tmp), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise MediaError(f"{dest}: cannot write the before/after still")
    tmp.replace(dest)
    return dest
