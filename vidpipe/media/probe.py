"""probe: what a video file is, read with PyAV (no ffmpeg binary).

Frame count and timestamps come from decoding every frame (no pixel conversion),
because container headers lie and packet counts can too (a trailing packet that
yields no frame); this also proves the whole stream decodes before any model runs.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vidpipe.errors import ProbeError
from vidpipe.hashing import file_identity, file_sha256
from vidpipe.media.boxes import edit_lists, moov
from vidpipe.media.colour import PQ, Colour, describe, dolby_vision, file_hdr, peak_of
from vidpipe.paths import home
from vidpipe.version import code_version

#: refuse before allocating anything bigger than this (pixels per frame)
MAX_PIXELS = 8192 * 8192
MIN_SIDE = 16
#: a rate from timestamps above this is not believed (ticks made up for frames without one)
MAX_FPS = 240
_IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "gif", "tiff_pipe")
#: image formats that may hold an animation: a video (without audio) when they hold more than one frame
_ANIMATED = ("gif", "apng", "webp_pipe")


@dataclass(frozen=True)
class AudioInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    duration: float | None


@dataclass(frozen=True)
class MediaInfo:
    """Facts about one video file. Sizes are as stored; ``sar`` (the sample aspect
    ratio, "num:den": a stored pixel's width over its height) and ``rotation`` (degrees,
    counter-clockwise, FFmpeg's display-matrix convention) say how to show it."""

    path: str
    sha256: str
    size_bytes: int
    container: str
    video_index: int
    codec: str
    width: int
    height: int
    rotation: int
    pix_fmt: str
    bit_depth: int
    has_alpha: bool
    fps: float
    time_base: str
    vfr: bool
    frame_count: int
    header_frame_count: int
    start_pts: int
    duration: float
    audio: tuple[AudioInfo, ...] = field(default_factory=tuple)
    # colour as it will be decoded (vidpipe.media.colour): names as FFmpeg prints them
    matrix: str = "bt709"
    primaries: str = "unspecified"
    transfer: str = "unspecified"
    color_range: str = "limited"
    colour_tagged: bool = False
    hdr: str = "SDR"  # SDR | HDR10 (PQ) | HLG | Dolby Vision profile N (base: ...)
    # HDR metadata of the first frame, in x265's syntax: master-display "G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)"
    # (chromaticity in 0.00002, luminance in 0.0001 cd/m2) and max-cll "MaxCLL,MaxFALL" (cd/m2); "" when absent
    mastering: str = ""
    content_light: str = ""
    peak: float = 1000.0  # cd/m2 the SDR tone map starts from (colour.peak_of: MaxCLL, mastering peak, 1000)
    dropped: tuple[str, ...] = ()  # streams the output will not carry, in words
    sar: str = "1:1"

    @property
    def colour(self) -> Colour:
        return Colour(self.matrix, self.primaries, self.transfer, self.color_range, self.colour_tagged)

    @property
    def square_size(self) -> tuple[int, int]:
        """(width, height) of the picture in square pixels, as stored otherwise (not
        rotated): an anamorphic frame is widened (SAR above 1) or made taller (below 1),
        never narrowed, so no stored pixel is lost. What the output's size follows."""
        num, den = (int(x) for x in self.sar.split(":"))
        if num == den or num <= 0 or den <= 0:
            return self.width, self.height
        if num > den:
            return max(self.width, round(self.width * num / den)), self.height
        return self.width, max(self.height, round(self.height * den / num))

    @property
    def display_size(self) -> tuple[int, int]:
        """The picture as a player shows it: square pixels, upright."""
        w, h = self.square_size
        return (h, w) if self.rotation % 180 else (w, h)

    @property
    def frame_duration(self) -> float:
        return 1.0 / self.fps if self.fps else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["display_width"], d["display_height"] = self.display_size
        return d


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise ProbeError(f"{path}: file not found")
    if path.is_dir():
        raise ProbeError(f"{path}: is a folder, not a video file")
    if path.stat().st_size == 0:
        raise ProbeError(f"{path}: empty file (0 bytes)")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise ProbeError(f"{path}: not a video FFmpeg can read ({_reason(e)})") from None


def _reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split(";")[0].strip()


def stored_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the container header alone (no decoding)."""
    with _open(Path(path)) as c:
        cc = c.streams.video[0].codec_context
        return cc.width, cc.height


def stream_by_index(container, index: int):
    return next(s for s in container.streams if s.index == index)


def scan_timestamps(path: str | Path, video_index: int) -> list[int]:
    """Presentation timestamps of every decodable video frame, in presentation order."""
    path = Path(path)
    with _open(path) as c:
        return _scan(c, stream_by_index(c, video_index), path)[0]


#: (file identity, stream index) -> (pts, rotation): probe, split and background checks
#: of the same unchanged file share one full decode per process
_SCANS: dict[tuple, tuple[tuple[int, ...], int]] = {}
_SCANS_KEPT = 16


def _scan(container, stream, path: Path) -> tuple[list[int], int]:
    """Every frame's timestamp and the rotation: decoded once per content. A scan is a
    pure function of the bytes, so it is also kept on disk by content hash
    (``$VIDPIPE_HOME/probe/``): a folder sweep over finished videos, or a rerun in a
    new process, does not decode them again."""
    key = (file_identity(path), stream.index)
    if key not in _SCANS:
        record = _scan_record(path, stream.index)
        found = _read_scan(record)
        if found is None:
            found = _decode_all(container, stream, path)
            _write_scan(record, *found)
        if len(_SCANS) >= _SCANS_KEPT:
            _SCANS.pop(next(iter(_SCANS)))
        _SCANS[key] = (tuple(found[0]), found[1])
    pts, rotation = _SCANS[key]
    return list(pts), rotation


def _scan_record(path: Path, index: int) -> Path:
    code = code_version(__name__)
    return home() / "probe" / f"{file_sha256(path)[:32]}-{index}-{code}.json"


def _read_scan(record: Path) -> tuple[list[int], int] | None:
    try:
        data = json.loads(record.read_text())
        return [int(p) for p in data["pts"]], int(data["rotation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_scan(record: Path, pts: list[int], rotation: int) -> None:
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"pts": pts, "rotation": rotation}))
        os.replace(tmp, record)
    except OSError:  # a read-only work folder only costs the next run a decode
        pass


def _decode_all(container, stream, path: Path) -> tuple[list[int], int]:
    """Decode every frame of ``stream``. Returns (pts in order, rotation of the first frame).

    A packet the demuxer flags as corrupt (an MPEG-TS continuity error: bytes lost or
    overwritten) is refused here, naming the time: the decoder would drop or smear the
    pictures around it, differently after a seek than from the start. The last packet is
    let through: a file cut short loses its last frame, as it does in a player."""
    pts: list[int] = []
    rotation = 0
    corrupt: list[float] = []
    pending = None  # a corrupt packet's time, counted once a packet with data follows it
    stream.thread_type = "AUTO"
    try:
        for packet in container.demux(stream):
            if packet.size and pending is not None:
                corrupt.append(pending)
                pending = None
            if packet.is_corrupt and packet.size:
                at = packet.pts if packet.pts is not None else packet.dts
                at = at if at is not None else (pts[-1] if pts else 0)
                pending = float(at * stream.time_base)
            for frame in packet.decode():
                if not pts:
                    rotation = int(round(frame.rotation or 0)) % 360
                if frame.pts is None or (pts and frame.pts <= pts[-1]):
                    pts.append(pts[-1] + 1 if pts else 0)  # missing or repeated timestamp
                else:
                    pts.append(frame.pts)
    except av.FFmpegError as e:
        if not pts:
            raise ProbeError(f"{path}: video stream cannot be decoded ({_reason(e)})") from None
        raise ProbeError(f"{path}: damaged or truncated after frame {len(pts)} ({_reason(e)})") from None
    if not pts:
        raise ProbeError(f"{path}: video stream has no decodable frames")
    if corrupt:
        start = float(pts[0] * stream.time_base)
        raise ProbeError(
            f"{path}: damaged: the video data at {max(0.0, corrupt[0] - start):.1f} s is corrupt "
            f"({len(corrupt)} damaged packet{'s' if len(corrupt) > 1 else ''}); repair or re-export the file"
        )
    return pts, rotation


def _shown_frames(path: Path, fmt: str, header_frames: int, declared: float | None, rate) -> int:
    """The frames a player shows: the header's sample count, unless an MP4/MOV edit list
    (what a stream-copy trim writes) hides some; then the stream's own duration, which
    FFmpeg gives after the edit, says how many."""
    if not (declared and rate and fmt.startswith("mov")) or not edit_lists(moov(path) or b""):
        return header_frames
    return min(header_frames, round(declared * float(rate)))


def _check_complete(path: Path, frames: int, header_frames: int, declared: float | None, span: float) -> None:
    """A file whose index promises far more than decodes is truncated or damaged.
    (One missing frame is normal: a trailing packet may decode to nothing.)"""
    if header_frames and frames < header_frames - max(1, header_frames // 100):
        raise ProbeError(
            f"{path}: truncated or damaged: the header declares {header_frames} frames, only {frames} decode"
        )
    if declared and span < declared - max(0.5, 0.05 * declared):
        raise ProbeError(
            f"{path}: truncated or damaged: the header declares {declared:.2f} s, only {span:.2f} s decode"
        )


def _is_vfr(deltas: list[int]) -> bool:
    if len(deltas) < 2:
        return False
    med = statistics.median(deltas)
    return any(abs(d - med) > max(1, 0.01 * med) for d in deltas)


def _frame_rate(declared, pts: list[int], deltas: list[int], tb: Fraction) -> float:
    """Frames per second: the stream's declared average rate, unless the frames' own
    timestamps say otherwise by more than 10% (MPEG-TS streams, whose rate FFmpeg guesses
    from the first packets, can declare twice the real rate); then the timestamps' mean
    rate, as the nearest fraction with a denominator of at most 1001 (30000/1001 stays
    29.97)."""
    span = float((pts[-1] - pts[0]) * tb) if len(pts) > 1 else 0.0
    mean = (len(pts) - 1) / span if span > 0 else None
    median = 1 / float(statistics.median(deltas) * tb) if deltas else None
    if mean is None or median is None:
        return float(declared) if declared else 25.0
    # steady (the median frame and the mean agree) and plausible: the timestamps are real, not made up
    # for frames that had none (one tick apart) or broken by a jump
    steady = abs(mean - median) <= 0.1 * mean and mean <= MAX_FPS
    if declared and (not steady or abs(float(declared) - mean) <= 0.1 * mean):
        return float(declared)
    return float(Fraction(mean if steady else median).limit_denominator(1001))


def hdr_metadata(path: Path, index: int) -> tuple[str, str, float]:
    """(master-display, max-cll) in x265's syntax from the first frame's side data
    (HEVC SEI, AV1 metadata OBUs), what ``--hdr keep`` writes again ("" where absent), and
    the SDR tone map's peak (:func:`vidpipe.media.colour.peak_of`; 1000 unless PQ)."""
    transfer, mastering, light = file_hdr(path, index)
    peak = peak_of(mastering, light) if transfer == PQ else 1000.0
    cll = f"{light[0]},{light[1]}" if light and any(light) else ""
    return (_master_display(mastering) if mastering else "", cll, peak)


def _master_display(v: tuple[int, ...]) -> str:
    """AVMasteringDisplayMetadata (R, G, B primaries, white point, min, max luminance as
    rationals, has_primaries, has_luminance) -> x265's master-display string."""

    def q(num: int, den: int, unit: float) -> int:
        return round(num / den / unit) if den else 0

    if not v[20] or not v[21]:  # the muxer wants both
        return ""
    xy = [(q(v[i], v[i + 1], 0.00002), q(v[i + 2], v[i + 3], 0.00002)) for i in range(0, 16, 4)]
    (r, g, b, wp) = xy
    lo, hi = q(v[16], v[17], 0.0001), q(v[18], v[19], 0.0001)
    return f"G{g}B{b}R{r}WP{wp}L({hi},{lo})".replace(" ", "")


def probe(path: str | Path) -> MediaInfo:
    """Read a video's facts. Raises :class:`ProbeError` with one clear line for
    anything that is not a decodable video."""
    path = Path(path)
    with _open(path) as c:
        fmt = c.format.name
        video = [s for s in c.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
        if not video:
            kinds = sorted({s.type for s in c.streams}) or ["nothing"]
            raise ProbeError(f"{path}: no video stream (contains {', '.join(kinds)})")
        animated = fmt in _ANIMATED
        if (fmt in _IMAGE_FORMATS or fmt.endswith("_pipe")) and not animated:
            raise ProbeError(f"{path}: is a still image ({fmt}), not a video")
        vs = video[0]
        cc = vs.codec_context
        width, height = cc.width, cc.height
        if width <= 0 or height <= 0:
            raise ProbeError(f"{path}: video stream has no frame size")
        if min(width, height) < MIN_SIDE:
            raise ProbeError(
                f"{path}: frame size {width}x{height} is too small to enhance (minimum {MIN_SIDE} pixels a side)"
            )
        if width * height > MAX_PIXELS:
            raise ProbeError(f"{path}: declared frame size {width}x{height} is too large (limit 8192x8192)")
        pix_fmt = cc.pix_fmt or "unknown"
        fmt_desc = av.VideoFormat(pix_fmt) if cc.pix_fmt else None
        bit_depth = fmt_desc.components[0].bits if fmt_desc else 8
        has_alpha = (
            bool(fmt_desc and any(c.is_alpha for c in fmt_desc.components)) or vs.metadata.get("alpha_mode") == "1"
        )
        header_frames = int(vs.frames or 0)
        tb = vs.time_base or Fraction(1, 1000)
        audio = tuple(
            AudioInfo(
                index=a.index,
                codec=a.codec_context.name,
                sample_rate=int(a.codec_context.sample_rate or 0),
                channels=int(a.codec_context.channels or 0),
                layout=getattr(a.codec_context.layout, "name", ""),
                duration=float(a.duration * a.time_base) if a.duration and a.time_base else None,
            )
            for a in c.streams.audio
        )
        rate = vs.average_rate or vs.guessed_rate
        declared = float(vs.duration * tb) if vs.duration else None
        pts, rotation = _scan(c, vs, path)
        if animated and len(pts) < 2:
            raise ProbeError(f"{path}: is a still image ({fmt}, one frame), not a video")
        expected = (
            _shown_frames(path, fmt, header_frames, declared, rate) if len(pts) < header_frames else header_frames
        )
        _check_complete(path, len(pts), expected, declared, float((pts[-1] - pts[0]) * tb))
        video_index, codec = vs.index, cc.name
        dropped = tuple(
            f"{s.type} stream #{s.index} ({s.codec_context.name if s.codec_context else 'unknown'})"
            for s in c.streams
            if s.index != vs.index
            and s.type != "audio"
            and not (s.type == "video" and s.disposition & av.stream.Disposition.attached_pic)
        )
        colour = describe(pix_fmt, height, cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range)
        sar = _aspect(vs.sample_aspect_ratio or cc.sample_aspect_ratio)
    dovi = dolby_vision(path) if fmt.startswith("mov") else None
    mastering, light, peak = hdr_metadata(path, video_index) if colour.verdict != "SDR" else ("", "", 1000.0)
    deltas = [b - a for a, b in zip(pts, pts[1:]) if b > a]
    fps = _frame_rate(rate, pts, deltas, tb)
    last = statistics.median(deltas) if deltas else (1 / fps) / tb
    duration = float((pts[-1] - pts[0] + last) * tb)
    return MediaInfo(
        path=str(path.resolve()),
        sha256=file_sha256(path),
        size_bytes=path.stat().st_size,
        container=fmt,
        video_index=video_index,
        codec=codec,
        width=width,
        height=height,
        rotation=rotation,
        pix_fmt=pix_fmt,
        bit_depth=bit_depth,
        has_alpha=has_alpha,
        fps=round(fps, 6),
        time_base=f"{tb.numerator}/{tb.denominator}",
        vfr=_is_vfr(deltas),
        frame_count=len(pts),
        header_frame_count=header_frames,
        start_pts=pts[0],
        duration=round(duration, 6),
        audio=audio,
        matrix=colour.matrix,
        primaries=colour.primaries,
        transfer=colour.transfer,
        color_range=colour.range,
        colour_tagged=colour.tagged,
        hdr=dovi or colour.verdict,
        mastering=mastering,
        content_light=light,
        peak=peak,
        dropped=dropped,
        sar=sar,
    )


def _aspect(ratio) -> str:
    """A sample aspect ratio as "num:den"."""
    if not ratio or ratio <= 0 or not (Fraction(1, 8) <= ratio <= 8) or abs(ratio - 1) < Fraction(1, 100):
        return "1:1"  # unset, absurd, or square within 1% (not worth resampling every frame)
    ratio = Fraction(ratio)
    return f"{ratio.numerator}:{ratio.denominator}"
