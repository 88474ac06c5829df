"""Colour test clips written from known values with the standard formulas (BT.709,
BT.601, BT.2020 matrices; ST 2084 PQ; BT.2100 HLG), and a decoder of delivered
frames by their own tags: written here, independent of the code under test."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

#: (Kr, Kb) of each matrix
KRKB = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114), "bt2020": (0.2627, 0.0593)}
AVCOL = {"bt709": 1, "bt601": 6, "bt2020": 9}  # AVColorSpace / AVColorPrimaries numbers
#: pure red, green, blue, yellow, cyan, magenta, two mid tones (BT.709 R'G'B', 0..255)
PATCHES = np.array(
    [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [0, 255, 255],
        [255, 0, 255],
        [64, 128, 192],
        [200, 120, 80],
    ],
    dtype=np.float64,
)
#: BT.2087: linear BT.709 RGB -> linear BT.2020 RGB
BT709_TO_2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])
PQ_TRC, HLG_TRC = 16, 18


def ycbcr(rgb01: np.ndarray, matrix: str, full: bool, bits: int) -> np.ndarray:
    """R'G'B' 0..1 -> integer Y'CbCr codes."""
    kr, kb = KRKB[matrix]
    r, g, b = rgb01[..., 0], rgb01[..., 1], rgb01[..., 2]
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    top = (1 << bits) - 1
    if full:
        codes = np.stack([y * top, cb * top + (1 << (bits - 1)), cr * top + (1 << (bits - 1))], -1)
    else:
        k = 1 << (bits - 8)
        codes = np.stack([(16 + 219 * y) * k, (128 + 224 * cb) * k, (128 + 224 * cr) * k], -1)
    return np.clip(np.round(codes), 0, top)


def rgb_from_ycbcr(codes: np.ndarray, matrix: str, full: bool, bits: int) -> np.ndarray:
    """Integer Y'CbCr codes -> R'G'B' 0..255 (float), as a player decodes."""
    kr, kb = KRKB[matrix]
    top, half, k = (1 << bits) - 1, 1 << (bits - 1), 1 << (bits - 8)
    if full:
        y, cb, cr = codes[..., 0] / top, (codes[..., 1] - half) / top, (codes[..., 2] - half) / top
    else:
        y, cb, cr = (codes[..., 0] / k - 16) / 219, (codes[..., 1] / k - 128) / 224, (codes[..., 2] / k - 128) / 224
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], -1), 0, 1) * 255


def write_clip(
    path: Path,
    values: np.ndarray,
    *,
    height: int,
    matrix: str,
    full: bool = False,
    bits: int = 8,
    tagged: bool = True,
    primaries: str | None = None,
    transfer: int | None = None,
    frames: int = 3,
    patch_width: int = 64,
    hdr_meta: str = "",
) -> Path:
    """A clip of vertical patches, each filled with one R'G'B' (0..1) of ``values``,
    encoded losslessly (x264 qp 0 at 8 bits, x265 lossless at 10) with the given
    matrix/range/primaries/transfer written as tags (or none, ``tagged=False``);
    ``hdr_meta``: x265 parameters such as master-display / max-cll (10-bit only)."""
    n = len(values)
    width = n * patch_width
    codes = ycbcr(np.asarray(values, dtype=np.float64), matrix, full, bits)
    pix_fmt = "yuv420p" if bits == 8 else "yuv420p10le"
    dtype = np.uint8 if bits == 8 else np.uint16
    with av.open(str(path), "w") as out:
        if bits == 8:
            v = out.add_stream("libx264", rate=24, options={"qp": "0", "preset": "ultrafast"})
        else:
            params = "lossless=1:bframes=0:log-level=error" + (f":{hdr_meta}" if hdr_meta else "")
            v = out.add_stream("libx265", rate=24, options={"x265-params": params})
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        v.codec_context.time_base = Fraction(1, 24)
        tags = {}
        if tagged:
            tags = {
                "colorspace": AVCOL[matrix],
                "color_primaries": AVCOL[primaries or matrix],
                "color_trc": transfer or 1,
            }
        tags["color_range"] = 2 if full else 1
        for name, value in tags.items():
            setattr(v.codec_context, name, value)
        for i in range(frames):
            frame = av.VideoFrame(width, height, pix_fmt)
            for plane, c in zip(frame.planes, range(3)):
                pw, ph = (width, height) if c == 0 else (width // 2, height // 2)
                row = np.repeat(codes[:, c], pw // n).astype(dtype)
                stride = plane.line_size // np.dtype(dtype).itemsize
                buf = np.zeros((ph, stride), dtype)
                buf[:, :pw] = row
                plane.update(buf.tobytes())
            for name, value in tags.items():
                setattr(frame, name, value)
            frame.pts = i
            frame.time_base = Fraction(1, 24)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def decoded_patches(path: Path, n: int) -> tuple[np.ndarray, dict]:
    """The first frame of ``path`` decoded by its own tags with the formulas above:
    the R'G'B' (0..255) at each of ``n`` vertical patches' centres, and the tags."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        cc = stream.codec_context
        tags = {
            "colorspace": cc.colorspace,
            "color_primaries": cc.color_primaries,
            "color_trc": cc.color_trc,
            "color_range": cc.color_range,
            "pix_fmt": cc.pix_fmt,
        }
        frame = next(c.decode(stream))
    matrix = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020"}[frame.colorspace]
    bits = 10 if "10" in frame.format.name else 8
    dtype = np.uint8 if bits == 8 else np.uint16
    planes = []
    for plane in frame.planes[:3]:
        a = np.frombuffer(bytes(plane), dtype).reshape(plane.height, -1)[:, : plane.width]
        planes.append(a)
    w, h = frame.width, frame.height
    centres = [(int((i + 0.5) * w / n), h // 2) for i in range(n)]
    sub = 2 if planes[1].shape[1] < w else 1
    codes = np.array(
        [[planes[0][y, x], planes[1][y // sub, x // sub], planes[2][y // sub, x // sub]] for x, y in centres],
        dtype=np.float64,
    )
    return rgb_from_ycbcr(codes, matrix, frame.color_range == 2, bits), tags


def pq_signal(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 inverse EOTF: cd/m2 -> PQ signal 0..1."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.power(np.asarray(nits, dtype=np.float64) / 10000, m1)
    return np.power((c1 + c2 * y) / (1 + c3 * y), m2)


def hlg_signal(nits: np.ndarray) -> np.ndarray:
    """A grey of ``nits`` on the BT.2100 nominal 1000 cd/m2 HLG display -> HLG signal:
    the inverse OOTF (gamma 1.2) then the OETF."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    e = np.power(np.asarray(nits, dtype=np.float64) / 1000, 1 / 1.2)
    return np.where(e <= 1 / 12, np.sqrt(3 * e), a * np.log(np.maximum(12 * e - b, 1e-12)) + c)


def write_rgb_clip(
    path: Path,
    values: np.ndarray,
    *,
    height: int,
    transfer: int,
    primaries: str = "bt2020",
    frames: int = 2,
    patch_width: int = 64,
) -> Path:
    """The patches of ``values`` (R'G'B' 0..1) coded as RGB, not Y'CbCr: 10-bit planar
    GBR HEVC, lossless, tagged with ``primaries`` and ``transfer`` (matrix "rgb")."""
    n = len(values)
    width = n * patch_width
    codes = np.round(np.repeat(np.asarray(values, dtype=np.float64), patch_width, axis=0) * 1023).astype(np.uint16)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx265", rate=24, options={"x265-params": "lossless=1:log-level=error"})
        v.width, v.height, v.pix_fmt = width, height, "gbrp10le"
        v.codec_context.time_base = Fraction(1, 24)
        tags = {"colorspace": 0, "color_primaries": AVCOL[primaries], "color_trc": transfer}
        for name, value in tags.items():
            setattr(v.codec_context, name, value)
        for i in range(frames):
            frame = av.VideoFrame(width, height, "gbrp10le")
            for plane, c in zip(frame.planes, (1, 2, 0)):  # planes G, B, R
                buf = np.zeros((plane.height, plane.line_size // 2), np.uint16)
                buf[:, :width] = codes[:, c]
                plane.update(buf.tobytes())
            for name, value in tags.items():
                setattr(frame, name, value)
            frame.pts, frame.time_base = i, Fraction(1, 24)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def add_dovi_box(path: Path, profile: int, compatibility: int) -> Path:
    """Put a Dolby Vision configuration box (``dvvC``; ETSI GS CCM 001) with ``profile`` and
    base-layer ``compatibility`` into the HEVC sample entry of an MP4 whose ``moov`` comes
    after its media (no chunk offset moves), growing every box around it."""
    import struct

    data = bytearray(path.read_bytes())
    # version 1.0, profile (7 bits) | level high bit, level | rpu/el/bl flags, compatibility id << 4
    payload = bytes([1, 0, profile << 1, (6 << 3) | 0b101, compatibility << 4]) + bytes(19)
    box = struct.pack(">I4s", 8 + len(payload), b"dvvC") + payload
    chain = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"hvc1"]
    skip = {b"stsd": 8, b"hvc1": 78}  # bytes of fields before a box's children
    starts, at, end = [], 0, len(data)
    for name in chain:
        while at < end:
            size, kind = struct.unpack(">I4s", data[at : at + 8])
            if kind == name or (name == b"hvc1" and kind == b"hev1"):
                break
            at += size
        else:
            raise ValueError(f"{path}: no {name.decode()} box")
        starts.append(at)
        end = at + size
        at += 8 + skip.get(name, 0)
    data[end:end] = box
    for start in starts:
        size = struct.unpack(">I", data[start : start + 4])[0]
        data[start : start + 4] = struct.pack(">I", size + len(box))
    path.write_bytes(bytes(data))
    return path
