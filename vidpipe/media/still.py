"""A before/after still for a finished video: the middle frame of the input (scaled
to the output's size the plain way) beside the same frame of the output."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidpipe.errors import MediaError, OutputError
from vidpipe.media.colour import decode, file_peak
from vidpipe.media.encode import read_source
from vidpipe.media.frames import rotate_upright
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import read_frames
from vidpipe.media.segments import Segment

#: what a still vidpipe writes carries, in a JPEG comment (COM segment) after the JFIF header
MARK = b"made by vidpipe: before/after still"


def made_by_vidpipe(path: str | Path) -> bool:
    """``path`` is a still vidpipe wrote (it carries :data:`MARK`)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return head[:2] == b"\xff\xd8" and MARK in head


def _marked(jpeg: bytes) -> bytes:
    """``jpeg`` with :data:`MARK` in a comment segment, after SOI and the JFIF APP0 segment if there is one."""
    at = 2
    if jpeg[2:4] == b"\xff\xe0":
        at = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:at] + b"\xff\xfe" + (len(MARK) + 2).to_bytes(2, "big") + MARK + jpeg[at:]


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
    if dest.exists() and not made_by_vidpipe(dest) and not read_source(output_of(dest)):
        raise OutputError(
            f"{dest}: is already there and vidpipe did not make it; the before/after still is not written"
        )
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(pair, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    tmp = dest.with_name(f".{dest.name}.tmp.jpg")
    try:
        if not ok:
            raise OSError("JPEG encoding failed")
        tmp.write_bytes(_marked(jpeg.tobytes()))
        tmp.replace(dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise MediaError(f"{dest}: cannot write the before/after still ({e.strerror or e})") from None
    return dest


def output_of(still: Path) -> Path:
    """The delivered video a still belongs to."""
    return still.with_name(still.name.removesuffix("_compare.jpg") + "_final.mp4")
