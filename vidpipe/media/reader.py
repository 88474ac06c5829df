"""Decoding: frames of a video (or of one segment of it) as HWC uint8 RGB arrays, each
converted by :func:`vidpipe.media.colour.decode` (the source's matrix and range; BT.2020
and HDR brought to SDR BT.709), so every frame in the pipeline means the same colours."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from vidpipe.errors import MediaError
from vidpipe.media import tonemap
from vidpipe.media.colour import PQ, decode, file_peak
from vidpipe.media.probe import stream_by_index
from vidpipe.media.segments import Segment


def read_frames(
    path: str | Path,
    video_index: int = 0,
    segment: Segment | None = None,
    fmt: str = "rgb24",
    counter: list[int] | None = None,
) -> Iterator[np.ndarray]:
    """Yield the frames of ``path`` (all of them, or exactly ``segment``'s) in
    presentation order, as HWC uint8 RGB (``fmt="rgba"``: RGBA) in stored orientation
    (rotation not applied); ``fmt="rgb48"``/``"rgba64"``: HWC uint16, the HDR signal
    kept (:func:`vidpipe.media.colour.decode`).

    A segment is found by its timestamps after a seek to the keyframe before it. If the
    decoder does not give the segment's first frame first - the seek landed late, or
    where the decoder cannot start (MPEG-TS seeks by byte position: the decoder then
    yields nothing until the next keyframe, which may be past the segment or absent) -
    it seeks again :data:`SEEK_BACK` seconds earlier, then decodes from the beginning. Raises
    :class:`MediaError` if the segment does not yield exactly ``n_frames`` frames.
    ``counter[0]`` counts every frame the decoder produced (pre-roll after a seek too).
    """
    if segment is None:
        yield from _decode(path, video_index, None, None, None, fmt, counter)
        return
    n = 0
    for back in (0.0, SEEK_BACK, None) if segment.first_frame > 0 else (None,):
        try:
            for hwc in _decode(path, video_index, back, segment.first_pts, segment.last_pts, fmt, counter):
                yield hwc
                n += 1
            break
        except _LateSeek:
            continue
    if n != segment.n_frames:
        raise MediaError(
            f"{path}: segment {segment.index} decoded {n} frames, expected {segment.n_frames} "
            f"(frames {segment.first_frame}..{segment.end_frame - 1}); the file may be damaged"
        )


def read_sdr(path: str | Path, hdr: int = 0, peak: float = tonemap.SOURCE_PEAK) -> Iterator[np.ndarray]:
    """A segment file's frames as 8-bit SDR: as stored, or (``hdr``: the transfer of its
    16-bit frames, HDR kept) tone-mapped from ``peak`` as ``--hdr sdr`` decodes the source:
    what RVM and an alpha export take."""
    if not hdr:
        return read_frames(path)
    return (tonemap.to_sdr(f, hdr, tonemap.BT2020, peak) for f in read_frames(path, fmt="rgb48"))


def frame_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a segment file's first frame; MediaError if it has none."""
    first = next(read_frames(path), None)
    if first is None:
        raise MediaError(f"{path}: empty segment file")
    return first.shape[1], first.shape[0]


class _LateSeek(Exception):
    pass


#: the second seek for a segment lands this many seconds before it (a keyframe the first one missed)
SEEK_BACK = 5.0


#: FFmpeg's native VP8/VP9 decoders silently drop alpha; libvpx keeps it
_ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}


def _frames_of(container, stream, fmt):
    decoder = _ALPHA_DECODERS.get(stream.codec_context.name) if fmt in ("rgba", "rgba64") else None
    if decoder is None:
        yield from container.decode(stream)
        return
    ctx = av.codec.CodecContext.create(decoder, "r")
    for packet in container.demux(stream):
        if packet.size:
            yield from ctx.decode(packet)
    try:
        yield from ctx.decode(None)
    except av.error.EOFError:
        pass


def _decode(path, video_index, back, first_pts, last_pts, fmt, counter=None) -> Iterator[np.ndarray]:
    """Frames from ``first_pts`` to ``last_pts``, after a seek ``back`` seconds before
    ``first_pts`` (None: from the start). After a seek, _LateSeek unless the first frame
    kept is the one at ``first_pts``."""
    yielded = 0
    seek_pts = None
    try:
        with av.open(str(path)) as container:
            stream = stream_by_index(container, video_index)
            stream.thread_type = "AUTO"
            if fmt in ("rgba", "rgba64") and stream.codec_context.name in _ALPHA_DECODERS:
                back = None  # a fresh libvpx context refuses to start after a seek: decode from the start
            if back is not None:
                seek_pts = first_pts - int(back / stream.time_base)
                container.seek(seek_pts, stream=stream, backward=True)
            peak = None  # a PQ file's tone-map peak: the file's, the same for every segment
            for frame in _frames_of(container, stream, fmt):
                if counter is not None:
                    counter[0] += 1
                pts = frame.pts
                if first_pts is not None and pts is not None and pts < first_pts:
                    continue
                if seek_pts is not None and not yielded and pts != first_pts:
                    raise _LateSeek()  # the segment's first frame did not come (a frame the seek skipped)
                if last_pts is not None and pts is not None and pts > last_pts:
                    return
                yielded += 1
                if peak is None:
                    peak = file_peak(path, video_index) if frame.color_trc == PQ else tonemap.SOURCE_PEAK
                yield decode(frame, fmt, peak)
            if seek_pts is not None and not yielded:  # the decoder found nothing it could start from
                raise _LateSeek()
    except av.FFmpegError as e:
        if seek_pts is not None and not yielded:  # the decoder could not start where the seek landed
            raise _LateSeek() from None
        raise MediaError(f"{path}: decoding failed ({e})") from None
