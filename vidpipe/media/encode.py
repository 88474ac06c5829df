"""Delivery files: encode frames once (H.264/H.265 MP4, ProRes 4444 MOV, VP9 WebM),
re-timed from the source timestamps and turned upright, with the source's audio muxed
in; checked against the source (the sync check) and only then renamed into place.
The ``join`` and ``export_alpha`` steps both deliver through :func:`deliver`."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

from vidpipe.errors import ConfigError, MediaError, OutputError, ProbeError, SyncError
from vidpipe.media.colour import encode_deep, encode_frame, tag_stream
from vidpipe.media.frames import rotate_upright
from vidpipe.media.motion import Clock, source_clock
from vidpipe.media.pipeline import run_frames
from vidpipe.media.probe import MediaInfo, probe
from vidpipe.media.writer import partial_name
from vidpipe.paths import prove_writable

#: per container: audio codecs taken as they are, and what anything else becomes
AUDIO_POLICY = {
    "mp4": ({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}, "aac"),
    "mov": ({"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"}, "aac"),
    "webm": ({"opus", "vorbis"}, "libopus"),
}


#: what ``--codec`` accepts: auto, the CPU encoders, and NVIDIA's (NVENC) where present
CODECS = ("auto", "libx264", "libx265", "h264_nvenc", "hevc_nvenc")
NVENC = {"libx264": "h264_nvenc", "libx265": "hevc_nvenc"}
#: x264/x265 presets -> NVENC's p1 (fastest) .. p7 (best)
NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p2",
    "veryfast": "p3",
    "faster": "p4",
    "fast": "p4",
    "medium": "p5",
    "slow": "p6",
    "slower": "p7",
    "veryslow": "p7",
}


@lru_cache(maxsize=None)
def encoder_works(name: str) -> bool:
    """The encoder opens here: built into PyAV's FFmpeg and, for NVENC, an NVIDIA driver
    and GPU present (opening a small context is how FFmpeg itself finds out)."""
    if name not in av.codecs_available:
        return False
    try:
        ctx = av.CodecContext.create(name, "w")
        ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 256, 256, "yuv420p", Fraction(1, 25)
        ctx.open()
        return True
    except (av.FFmpegError, ValueError, OSError):
        return False


def hdr_encode(codec: str, info: MediaInfo, transfer: int) -> dict:
    """The EncodeConfig fields of a delivery that keeps HDR: 10-bit HEVC. ``auto``: hevc_nvenc
    where it works and the source has no mastering / light-level metadata (FFmpeg's NVENC
    wrapper takes those only as frame side data, which PyAV cannot attach), else libx265,
    which writes them as SEI. H.264 cannot be asked for: one ConfigError line."""
    if codec in ("libx264", "h264_nvenc"):
        raise ConfigError(
            f"--hdr keep delivers 10-bit HEVC: --codec {codec} cannot carry it; use --codec auto, libx265 or hevc_nvenc"
        )
    metadata = bool(info.mastering or info.content_light)
    if codec == "auto":
        codec = "hevc_nvenc" if encoder_works("hevc_nvenc") and not metadata else "libx265"
    codec = resolve_codec(codec)
    return {
        "codec": codec,
        "pix_fmt": "p010le" if codec.endswith("_nvenc") else "yuv420p10le",
        "hdr": transfer,
        "mastering": info.mastering,
        "content_light": info.content_light,
    }


def resolve_codec(codec: str) -> str:
    """``auto``: H.264 on the GPU (h264_nvenc) where it works here, else libx264. An
    NVENC encoder asked for by name where it does not work: one ConfigError line."""
    if codec == "auto":
        return "h264_nvenc" if encoder_works("h264_nvenc") else "libx264"
    if codec not in CODECS:
        raise ConfigError(f"--codec must be one of {', '.join(CODECS)}, got {codec!r}")
    if codec.endswith("_nvenc") and not encoder_works(codec):
        cpu = {v: k for k, v in NVENC.items()}[codec]
        raise ConfigError(
            f"--codec {codec}: NVENC does not work here (it needs an NVIDIA GPU and driver); use --codec {cpu} or auto"
        )
    return codec


@dataclass(frozen=True)
class EncodeConfig:
    """How a delivery file is encoded (seed default: H.264 CRF 18 in MP4)."""

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"
    container: str = "mp4"
    alpha: bool = False  # frames are RGBA (fgr + matte)
    hdr: int = 0  # HDR kept: 16-bit frames in this transfer, delivered 10-bit BT.2020 (libx265 / hevc_nvenc)
    mastering: str = ""  # x265 master-display of the source (HDR kept), "" when it has none
    content_light: str = ""  # x265 max-cll of the source

    def options(self) -> dict[str, str]:
        if self.codec == "libx265":  # x265 prints its settings unless told not to
            params = ["log-level=error"] + ([f"master-display={self.mastering}"] if self.mastering else [])
            params += [f"max-cll={self.content_light}"] if self.content_light else []
            return {"crf": str(self.crf), "preset": self.preset, "x265-params": ":".join(params)}
        if self.codec in ("libx264", "libx265"):
            return {"crf": str(self.crf), "preset": self.preset}
        if self.codec.endswith("_nvenc"):
            # constant quality: NVENC's cq on the same 0-51 scale, one step above the CRF
            # (NVENC spends fewer bits than x264 at equal numbers; docs/performance.md)
            return {
                "rc": "vbr",
                "cq": str(max(0, self.crf + 1)),
                "b": "0",
                "preset": NVENC_PRESETS.get(self.preset, "p5"),
                "tune": "hq",
                "spatial-aq": "1",
                "bf": "3",
            }
        if self.codec == "prores_ks":
            return {"profile": "4", "vendor": "apl0"}  # ProRes 4444 (with alpha)
        if self.codec == "libvpx-vp9":
            return {"crf": str(self.crf), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}
        return {}


@dataclass(frozen=True)
class Delivery:
    """A delivered file, as the sync check read it back (``info``: its probe; None for
    a PNG sequence)."""

    path: str
    frames: int
    duration: float
    audio_streams: int
    size_bytes: int
    info: MediaInfo | None = None


def deliver(
    frames: Iterable[np.ndarray],
    info: MediaInfo,
    timestamps: Sequence[int],
    out: str | Path,
    encode: EncodeConfig = EncodeConfig(),
    *,
    tag: str = "",
    on_frame: Callable[[int], None] | None = None,
    clock: Clock | None = None,
) -> Delivery:
    """Write ``out`` from ``frames`` (HWC uint8 RGB, RGBA with ``encode.alpha``, uint16 RGB
    with ``encode.hdr``, in stored orientation, one per timestamp: the source's, or on
    ``clock`` when a step re-timed them)."""
    out = Path(out)
    clock = clock or source_clock(info.time_base, info.fps, info.start_pts, info.frame_count)
    if len(timestamps) != clock.frames:
        raise MediaError(f"{info.path}: {len(timestamps)} timestamps for {clock.frames} frames")
    check_output_folder(out.parent)
    tmp = partial_name(out)
    try:
        _encode(iter(frames), info, timestamps, tmp, encode, tag, on_frame, clock)
        got = verify(tmp, info, clock)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    info_out = dataclasses.replace(got.info, path=str(out.resolve())) if got.info else None  # it was read as tmp
    return Delivery(str(out), got.frames, got.duration, got.audio_streams, out.stat().st_size, info_out)


def check_output_folder(folder: str | Path) -> None:
    """Create ``folder`` if needed and prove it takes a file (permissions, read-only
    mounts, a file in the way); OutputError with one line otherwise."""
    folder = Path(folder)
    try:
        prove_writable(folder)
    except OSError as e:
        raise OutputError(f"{folder}: output folder is not writable ({e.strerror or e})") from None


def _encode(
    frames, info: MediaInfo, timestamps, tmp: Path, enc: EncodeConfig, tag: str, on_frame, clock: Clock
) -> None:
    tb = Fraction(clock.time_base)
    fmt = "rgba" if enc.alpha else "rgb24"
    options = {"movflags": "+faststart"} if enc.container in ("mp4", "mov") else {}
    first = next(frames, None)
    if first is None:
        raise MediaError(f"{info.path}: nothing to join")
    frames = itertools.chain([first], frames)
    with (
        av.open(info.path, metadata_errors="ignore") as src,
        av.open(str(tmp), "w", format=enc.container, options=options) as dst,
    ):
        if tag:
            dst.metadata["comment"] = f"{tag}{SOURCE_MARK}{source_id(info.path)}"  # which input made it
        height, width = rotate_upright(first, info.rotation).shape[:2]
        video = dst.add_stream(enc.codec, rate=Fraction(clock.fps))
        video.width, video.height, video.pix_fmt = width, height, enc.pix_fmt
        video.codec_context.time_base = tb
        video.options = enc.options()
        # frame threads: the same frames always encode to the same bytes (PyAV's default, slice threads,
        # gave 10 different files in 40 encodes of one clip under load; resume depends on it)
        video.thread_type = "FRAME"
        tag_stream(video, enc.hdr)
        audio = _AudioMux(src, dst, info, enc.container)
        index = itertools.count()

        def sink(hwc: np.ndarray) -> None:
            i = next(index)
            if i >= len(timestamps):
                raise SyncError(f"{info.path}: segments hold more frames than the source ({len(timestamps)})")
            frame = encode_deep(hwc, enc.pix_fmt, enc.hdr) if enc.hdr else encode_frame(hwc, fmt, enc.pix_fmt)
            frame.pts, frame.time_base = timestamps[i], tb
            dst.mux(video.encode(frame))
            audio.pump(until=float(timestamps[i] * tb))

        run_frames(frames, lambda f: rotate_upright(f, info.rotation), sink, on_frame=on_frame)
        dst.mux(video.encode(None))
        audio.pump(until=None)


class _AudioMux:
    """Copies (or transcodes) every source audio stream, interleaved with video."""

    def __init__(self, src, dst, info: MediaInfo, container: str = "mp4"):
        copy_ok, fallback = AUDIO_POLICY[container]
        self._src_streams = [src.streams[a.index] for a in info.audio]
        self._map = {}
        for s in self._src_streams:
            if s.codec_context.name in copy_ok:
                self._map[s.index] = (dst.add_stream_from_template(s), False)
            else:
                rate = s.codec_context.sample_rate or 48000
                if fallback == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                    rate = 48000
                out = dst.add_stream(fallback, rate=rate)
                out.layout = s.codec_context.layout
                self._map[s.index] = (out, True)
        self._dst = dst
        self._packets = src.demux(self._src_streams) if self._src_streams else iter(())
        self._pending = None

    def pump(self, until: float | None) -> None:
        """Mux audio packets up to time ``until`` (seconds; ``None`` = to the end)."""
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                if until is None:
                    self._flush()
                return
            if packet.size == 0:
                continue
            if until is not None and packet.pts is not None and float(packet.pts * packet.time_base) > until:
                self._pending = packet
                return
            out, transcode = self._map[packet.stream.index]
            if transcode:
                for frame in packet.decode():
                    frame.pts = None
                    self._dst.mux(out.encode(frame))
            else:
                packet.stream = out
                self._dst.mux(packet)

    def _flush(self) -> None:
        for out, transcode in self._map.values():
            if transcode:
                self._dst.mux(out.encode(None))


def verify(path: str | Path, source: MediaInfo, clock: Clock | None = None) -> Delivery:
    """The sync check: the frame count ``clock`` (default: the source's) asks for, the
    source's duration within one frame, the same audio streams, each as long as the
    source's within one frame (plus codec padding). Raises :class:`SyncError` instead of
    accepting a bad file."""
    try:
        got = probe(path)
    except ProbeError as e:
        raise SyncError(f"{source.path}: joined output is unreadable ({e})") from None
    problems = []
    expected = clock.frames if clock else source.frame_count
    if got.frame_count != expected:
        problems.append(f"{got.frame_count} frames, expected {expected}")
    tolerance = max(source.frame_duration, float(1 / Fraction(clock.fps)) if clock else 0.0) + 1e-3
    if abs(got.duration - source.duration) > tolerance:
        problems.append(f"duration {got.duration:.3f} s, source {source.duration:.3f} s")
    if bool(got.audio) != bool(source.audio) or len(got.audio) != len(source.audio):
        problems.append(f"{len(got.audio)} audio streams, source has {len(source.audio)}")
    else:
        for i, (a, b) in enumerate(zip(source.audio, got.audio)):
            if a.duration is None or b.duration is None:
                continue  # the container does not say (e.g. WebM); the streams were checked above
            # one video frame, plus one audio frame of encoder padding when re-encoded
            slack = tolerance + 1024 / max(1, b.sample_rate or a.sample_rate or 44100)
            if abs(b.duration - a.duration) > slack:
                problems.append(f"audio stream {i} lasts {b.duration:.3f} s, source {a.duration:.3f} s")
    if problems:
        raise SyncError(f"{source.path}: output out of sync: " + "; ".join(problems))
    return Delivery(str(path), got.frame_count, got.duration, len(got.audio), Path(path).stat().st_size, got)


#: the tag is followed by the source's path: ``vidpipe:<key> src=/path/of/input.mp4``
SOURCE_MARK = " src="


def source_id(path: str | Path) -> str:
    """What an output records of its input: a hash of the resolved path (no local path
    leaks into delivered files, and any file name can be recorded)."""
    raw = os.fsencode(Path(path).resolve())
    return hashlib.sha256(raw).hexdigest()[:16]


def _comment(path: str | Path) -> str | None:
    """A file's ``comment`` tag, read once per file version (a folder sweep, output naming and the
    up-to-date check all ask)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _comment_of(str(Path(path).resolve()), (st.st_ino, st.st_size, st.st_mtime_ns))


@lru_cache(maxsize=1024)
def _comment_of(path: str, _identity: tuple) -> str | None:
    try:
        with av.open(path) as c:  # Matroska/WebM upper-cases tag names: look up either
            return next((v for k, v in c.metadata.items() if k.lower() == "comment"), None)
    except (av.FFmpegError, OSError):
        return None


def read_tag(path: str | Path) -> str | None:
    """The tag a delivered video carries in its metadata (``comment``), or None."""
    comment = _comment(path)
    return comment.split(SOURCE_MARK, 1)[0] if comment else None


def read_source(path: str | Path) -> str | None:
    """The :func:`source_id` of the input a delivered video was made from, or None."""
    comment = _comment(path)
    return comment.split(SOURCE_MARK, 1)[1] if comment and SOURCE_MARK in comment else None
