"""Colour: what an RGB frame means in vidpipe, and the one place YUV <-> RGB happens.

Every RGB frame inside the pipeline (models, intermediates, composite, stills) is
8-bit R'G'B', BT.709 primaries, SDR (BT.1886 display gamma 2.4): what a player shows
for an HD file. :func:`decode` makes any source frame mean that:

- the matrix and range are the frame's own tags; untagged frames get what players
  assume: BT.601 below 720 lines, BT.709 from 720 up, limited range unless the pixel
  format is a full-range (``yuvj``) one;
- BT.2020 SDR is re-mapped to BT.709 primaries in linear light, and HDR (PQ, HLG) is
  tone-mapped to SDR (:mod:`vidpipe.media.tonemap`).

Every delivery is encoded by :func:`encode_frame` as BT.709 limited range, with the
matrix, primaries, transfer and range written on the frames and the stream
(:func:`tag_stream`).

``--hdr keep`` on an HDR source (:func:`kept`) is the one exception: its frames are
HWC uint16 R'G'B' (``fmt="rgb48"``), BT.2020 primaries, in the source's own transfer
(PQ or HLG), never tone-mapped; they are delivered by :func:`encode_deep` as 10-bit
BT.2020 (non-constant luminance) limited range, tagged with that transfer."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from functools import lru_cache

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from vidpipe.media import tonemap
from vidpipe.media.boxes import moov

#: AVColorSpace (the matrix) -> what swscale can convert with
_MATRIX = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,
    6: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
    10: Colorspace.BT2020,
}
MATRIX_NAMES = {
    0: "rgb",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    9: "bt2020nc",
    10: "bt2020c",
}
PRIMARIES_NAMES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    11: "smpte431",
    12: "smpte432",
}
TRANSFER_NAMES = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    18: "arib-std-b67",
}
BT709, UNSPECIFIED, BT2020 = 1, 2, 9
PQ, HLG = 16, 18
#: the delivery tags: BT.709 matrix, primaries and transfer, limited ("MPEG") range
DELIVERY = {"colorspace": BT709, "color_primaries": BT709, "color_trc": BT709, "color_range": int(ColorRange.MPEG)}
_RGB_FORMATS = ("rgb", "bgr", "gbr", "argb", "abgr", "gray", "pal8")


@lru_cache(maxsize=64)
def is_rgb(pix_fmt: str) -> bool:
    """An RGB (or grey, palette) pixel format: no matrix, no range (asked once a frame)."""
    return pix_fmt.startswith(_RGB_FORMATS)


def default_matrix(height: int) -> int:
    """What players assume for an untagged file: BT.601 below 720 lines, BT.709 from 720 up."""
    return BT709 if height >= 720 else 6


def is_full_range(pix_fmt: str, color_range: int) -> bool:
    return color_range == int(ColorRange.JPEG) or pix_fmt.startswith("yuvj")


@dataclass(frozen=True)
class Colour:
    """A stream's colour as it will be decoded. ``tagged``: the matrix came from the file
    (else it is the players' default for its height)."""

    matrix: str
    primaries: str
    transfer: str
    range: str  # "limited" | "full"
    tagged: bool

    @property
    def verdict(self) -> str:
        if self.transfer == TRANSFER_NAMES[PQ]:
            return "HDR10 (PQ)"
        if self.transfer == TRANSFER_NAMES[HLG]:
            return "HLG"
        return "SDR"

    def conversion(self, keep: int = 0) -> str:
        """The conversion :func:`decode` applies and the delivery, in words (for the run
        log); ``keep``: the transfer kept (``--hdr keep`` on this source, :func:`kept`)."""
        source = f"{self.matrix} {self.range}{'' if self.tagged else ' (untagged: players assume this)'}"
        if keep:
            return (
                f"HDR kept: {self.transfer} {self.primaries} R'G'B' 16-bit through the pipeline (from {source}), "
                f"delivered as 10-bit HEVC bt2020nc limited range, tagged {TRANSFER_NAMES[keep]}"
            )
        return f"decoded as {self._decoded(source)}; delivered as bt709 limited range, tagged"

    def _decoded(self, source: str) -> str:
        if self.verdict != "SDR":
            return f"{self.verdict} {self.primaries} -> SDR bt709 ({tonemap.OPERATOR}), from {source}"
        if self.primaries == PRIMARIES_NAMES[BT2020]:
            return f"bt2020 primaries -> bt709 (linear light), from {source}"
        return f"{source} -> RGB"


def describe(pix_fmt: str, height: int, colorspace: int, primaries: int, transfer: int, color_range: int) -> Colour:
    if is_rgb(pix_fmt):
        matrix, tagged = 0, True
    else:
        tagged = colorspace in _MATRIX
        matrix = colorspace if tagged else default_matrix(height)
    return Colour(
        matrix=MATRIX_NAMES.get(matrix, str(matrix)),
        primaries=PRIMARIES_NAMES.get(primaries, "unspecified"),
        transfer=TRANSFER_NAMES.get(transfer, "unspecified"),
        range="full" if matrix == 0 or is_full_range(pix_fmt, color_range) else "limited",
        tagged=tagged,
    )


#: the 16-bit formats :func:`decode` gives (frames kept HDR), as FFmpeg names them
_DEEP_NAMES = {"rgb48": "rgb48le", "rgba64": "rgba64le"}


def kept(hdr: str, info) -> int:
    """The transfer (PQ or HLG, as AVColorTransferCharacteristic) whose signal the frames
    keep, 16-bit, with ``--hdr keep`` on the source ``info`` (a MediaInfo); 0: SDR frames
    (the default; any SDR source whatever ``--hdr`` says; HDR on other primaries than
    BT.2020, which the delivery's BT.2020 tags would misstate)."""
    if hdr != "keep" or info.primaries != PRIMARIES_NAMES[BT2020]:
        return 0
    code = next((k for k, v in TRANSFER_NAMES.items() if v == info.transfer), 0)
    return code if code in (PQ, HLG) else 0


def decode(frame: av.VideoFrame, fmt: str = "rgb24", peak: float = tonemap.SOURCE_PEAK) -> np.ndarray:
    """HWC uint8 RGB (``fmt="rgba"``: RGBA) of a decoded frame, meaning BT.709 SDR
    whatever the source was (see the module's docstring). ``fmt="rgb48"``/``"rgba64"``:
    HWC uint16 of the frame's own signal, not tone-mapped (``--hdr keep``): an HDR YUV
    source's R'G'B' in its own primaries and transfer, a 16-bit intermediate as stored.
    ``peak``: a PQ source's :func:`file_peak`, where the tone map starts from."""
    name = frame.format.name
    if fmt in _DEEP_NAMES:
        if is_rgb(name):
            return frame.to_ndarray(format=_DEEP_NAMES[fmt])
        matrix = _MATRIX.get(frame.colorspace) or _MATRIX[default_matrix(frame.height)]
        return wide_rgb(frame, matrix, is_full_range(name, frame.color_range), alpha=fmt == "rgba64")
    if is_rgb(name):
        if frame.color_trc in (PQ, HLG) or frame.color_primaries == BT2020:  # RGB-coded HDR / wide gamut
            deep = frame.to_ndarray(format=_DEEP_NAMES["rgba64" if fmt == "rgba" else "rgb48"])
            return tonemap.to_sdr(deep, frame.color_trc, frame.color_primaries, peak)
        return frame.to_ndarray(format=fmt)
    matrix = _MATRIX.get(frame.colorspace) or _MATRIX[default_matrix(frame.height)]
    rng = ColorRange.JPEG if is_full_range(name, frame.color_range) else ColorRange.MPEG
    transfer, primaries = frame.color_trc, frame.color_primaries
    if transfer not in (PQ, HLG) and primaries != BT2020:
        return frame.reformat(format=fmt, src_colorspace=matrix, src_color_range=rng).to_ndarray()
    rgb16 = wide_rgb(frame, matrix, rng == ColorRange.JPEG, alpha=fmt == "rgba")
    return tonemap.to_sdr(rgb16, transfer, primaries, peak)


def hdr_side_data(frame: av.VideoFrame) -> tuple[tuple[int, ...] | None, tuple[int, int] | None]:
    """A frame's HDR metadata as FFmpeg attaches it (HEVC/AV1 SEI, every frame once seen):
    AVMasteringDisplayMetadata as 22 ints (R, G, B primaries, white point, min and max
    luminance as rationals, has_primaries, has_luminance), and (MaxCLL, MaxFALL); None
    where absent."""
    mastering = light = None
    for sd in frame.side_data:
        name = sd.type.name
        if name == "MASTERING_DISPLAY_METADATA" or name == "CONTENT_LIGHT_LEVEL":
            data = bytes(sd)
            if name == "CONTENT_LIGHT_LEVEL" and len(data) >= 8:
                light = struct.unpack("<2I", data[:8])
            elif name == "MASTERING_DISPLAY_METADATA" and len(data) >= 88:
                mastering = struct.unpack("<22i", data[:88])
    return mastering, light


def peak_of(mastering: tuple[int, ...] | None, light: tuple[int, int] | None) -> float:
    """The light a PQ picture's tone map starts compressing from, in cd/m2, from its HDR
    metadata (:func:`hdr_side_data`): the content's MaxCLL, else the mastering display's
    peak, else 1000 (what a file that says nothing gets)."""
    if light and light[0] > 0:
        peak = float(light[0])
    elif mastering and mastering[21] and mastering[19]:
        peak = mastering[18] / mastering[19]
    else:
        return tonemap.SOURCE_PEAK
    return float(min(max(round(peak), 100), 10000))


@lru_cache(maxsize=64)
def _first_frame(path: str, index: int, identity: tuple) -> tuple[int, tuple | None, tuple | None]:
    try:
        with av.open(path, metadata_errors="ignore") as c:
            stream = next(s for s in c.streams if s.index == index)
            frame = next(c.decode(stream), None)
    except (av.FFmpegError, OSError, StopIteration):
        return 0, None, None
    return (0, None, None) if frame is None else (frame.color_trc, *hdr_side_data(frame))


def file_hdr(path, index: int = 0) -> tuple[int, tuple | None, tuple | None]:
    """(transfer, mastering, light) of a file's first frame (:func:`hdr_side_data`), read
    once per file and process: FFmpeg attaches the metadata only where the SEI was seen,
    so a segment decoded after a seek may lack it, and every segment must be mapped alike."""
    st = os.stat(path)
    return _first_frame(str(path), index, (st.st_ino, st.st_size, st.st_mtime_ns))


def file_peak(path, index: int = 0) -> float:
    """:func:`peak_of` a PQ file's first frame; 1000 for anything else (HLG: its nominal display)."""
    transfer, mastering, light = file_hdr(path, index)
    return peak_of(mastering, light) if transfer == PQ else tonemap.SOURCE_PEAK


#: (Kr, Kb) of each matrix swscale was asked for
_KRKB = {
    Colorspace.ITU709: (0.2126, 0.0722),
    Colorspace.ITU601: (0.299, 0.114),
    Colorspace.FCC: (0.30, 0.11),
    Colorspace.SMPTE240M: (0.212, 0.087),
    Colorspace.BT2020: (0.2627, 0.0593),
}


def wide_rgb(frame: av.VideoFrame, matrix, full: bool, alpha: bool = False) -> np.ndarray:
    """HWC uint16 R'G'B' (R'G'B'A with ``alpha``) of a YUV frame, computed here from its
    planes with the standard matrix formula (swscale's 16-bit output was measured up to
    0.4% short of full scale, and more on BT.2020): the input of the HDR / BT.2020 path.
    Chroma is brought to full size bilinearly."""
    planar = frame.format.name.startswith(("yuv", "yuvj")) and len(frame.planes) >= 3
    if not planar:
        frame = frame.reformat(format="yuva444p16le" if alpha else "yuv444p16le")
    bits = frame.format.components[0].bits
    dtype = np.uint8 if bits <= 8 else np.uint16
    w, h = frame.width, frame.height

    def plane(i: int) -> np.ndarray:
        p = frame.planes[i]
        a = np.frombuffer(p, dtype).reshape(p.height, p.line_size // dtype().itemsize)[:, : p.width]
        a = a.astype(np.float32)
        return a if a.shape == (h, w) else cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)

    top = float((1 << bits) - 1)
    k = float(1 << (bits - 8))
    y, cb, cr = plane(0), plane(1), plane(2)
    if full:
        y, cb, cr = y / top, (cb - (top + 1) / 2) / top, (cr - (top + 1) / 2) / top
    else:
        y, cb, cr = (y / k - 16) / 219, (cb / k - 128) / 224, (cr / k - 128) / 224
    kr, kb = _KRKB[matrix]
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    channels = [r, g, b]
    if alpha:
        channels.append(plane(3) / top if len(frame.planes) > 3 else np.ones_like(y))
    return (np.clip(np.dstack(channels), 0, 1) * 65535 + 0.5).astype(np.uint16)


def encode_frame(hwc: np.ndarray, fmt: str, pix_fmt: str) -> av.VideoFrame:
    """An HWC uint8 RGB/RGBA frame as a ``pix_fmt`` frame for an encoder: BT.709 matrix,
    limited range, BT.709 tags (RGB ``pix_fmt``s are passed through, tagged sRGB-like)."""
    frame = av.VideoFrame.from_ndarray(hwc, format=fmt)
    if is_rgb(pix_fmt):
        out = frame.reformat(format=pix_fmt) if pix_fmt != fmt else frame
    else:
        out = frame.reformat(format=pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG)
        out.colorspace, out.color_range = BT709, int(ColorRange.MPEG)
    out.color_primaries, out.color_trc = BT709, BT709
    return out


def tag_stream(stream, transfer: int = 0) -> None:
    """Write the delivery tags on an output video stream (the codec context carries
    them into the bitstream's VUI / the container's colour boxes); with ``transfer``
    (HDR kept), BT.2020 and that transfer."""
    for name, value in deep_tags(transfer).items() if transfer else DELIVERY.items():
        setattr(stream.codec_context, name, value)


def deep_tags(transfer: int) -> dict[str, int]:
    """The tags of an HDR-keeping delivery: BT.2020 NCL matrix and primaries, ``transfer``, limited range."""
    return {"colorspace": BT2020, "color_primaries": BT2020, "color_trc": transfer, "color_range": int(ColorRange.MPEG)}


def encode_deep(hwc: np.ndarray, pix_fmt: str, transfer: int) -> av.VideoFrame:
    """An HWC uint16 R'G'B' frame (BT.2020, ``transfer``) as a 10-bit 4:2:0 frame
    (``yuv420p10le``, or ``p010le`` for NVENC): the BT.2020 non-constant-luminance
    matrix, limited range (Y' 64..940, Cb/Cr 64..960), computed here (swscale's 16-bit
    path was measured short of full scale), chroma averaged over each 2x2 block."""
    h, w = hwc.shape[:2]
    rgb = hwc[..., :3].astype(np.float32) * np.float32(1 / 65535)
    kr, kb = _KRKB[Colorspace.BT2020]
    y = kr * rgb[..., 0] + (1 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    half = (w // 2, h // 2)
    cb = cv2.resize((rgb[..., 2] - y) / (2 * (1 - kb)), half, interpolation=cv2.INTER_AREA)
    cr = cv2.resize((rgb[..., 0] - y) / (2 * (1 - kr)), half, interpolation=cv2.INTER_AREA)
    planes = [64 + 876 * y, 512 + 896 * cb, 512 + 896 * cr]
    frame = av.VideoFrame(w, h, "yuv420p10le")
    for plane, values in zip(frame.planes, planes):
        rows = np.frombuffer(plane, np.uint16).reshape(plane.height, plane.line_size // 2)
        np.copyto(rows[:, : plane.width], np.clip(values + 0.5, 0, 1023).astype(np.uint16))
    if pix_fmt != "yuv420p10le":
        frame = frame.reformat(format=pix_fmt)
    for name, value in deep_tags(transfer).items():
        setattr(frame, name, value)
    return frame


#: Dolby Vision base-layer signal compatibility id -> what the base layer is
_DV_BASE = {0: "none", 1: "HDR10 (PQ)", 2: "SDR", 4: "HLG", 6: "HDR10 (PQ)"}


def dolby_vision(path) -> str | None:
    """``Dolby Vision profile N (base: ...)`` when an MP4/MOV's sample entry carries a
    Dolby Vision configuration box (``dvcC``/``dvvC``/``dvwC``), else None."""
    data = moov(path)
    return parse_dovi_config(data) if data else None


def parse_dovi_config(data: bytes) -> str | None:
    for tag in (b"dvcC", b"dvvC", b"dvwC"):
        at = data.find(tag)
        if at >= 4 and len(data) >= at + 4 + 5:
            p = data[at + 4 : at + 9]
            profile = p[2] >> 1
            base = p[4] >> 4
            return f"Dolby Vision profile {profile} (base: {_DV_BASE.get(base, f'compatibility {base}')})"
    return None
