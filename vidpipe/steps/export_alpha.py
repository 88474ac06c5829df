"""export_alpha: the matted person for editors (RVM's foreground colour + the matte)
as ProRes 4444 (.mov), VP9 with alpha (.webm) or an RGBA PNG sequence. Audio is
muxed where the format allows (not into PNGs). When the matte was made at the
source's size (``matte_before_upscale``, an input's own alpha), the colour comes from
the full-size frames and the alpha is scaled up to them, frame by frame."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidpipe.errors import ConfigError, OutputError
from vidpipe.hashing import digest
from vidpipe.media.encode import Delivery, EncodeConfig, deliver
from vidpipe.media.encode import read_tag as video_tag
from vidpipe.media.frames import cutout, rotate_upright
from vidpipe.media.motion import Clock
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import read_frames, read_sdr
from vidpipe.steps.base import Needs, Plan, Step
from vidpipe.version import code_version

#: ``--export-alpha`` formats with a video container: (encoder settings, suffix)
FORMATS = {
    "prores": (EncodeConfig("prores_ks", pix_fmt="yuva444p10le", container="mov", alpha=True), ".mov"),
    "webm": (EncodeConfig("libvpx-vp9", crf=15, pix_fmt="yuva420p", container="webm", alpha=True), ".webm"),
}
#: where a PNG sequence keeps its tag (a video file keeps it in its metadata)
PNG_TAG = ".vidpipe-tag"


def alpha_path(final: Path, fmt: str) -> Path:
    """Where ``--export-alpha fmt`` writes, beside the composited MP4."""
    stem = Path(final).name.removesuffix(".mp4")
    if fmt == "png":
        return Path(final).with_name(f"{stem}_alpha")
    return Path(final).with_name(f"{stem}_alpha{FORMATS[fmt][1]}")


def read_tag(path: Path) -> str | None:
    """The tag a delivered alpha output carries (None when missing or unreadable)."""
    path = Path(path)
    if path.is_dir():
        try:
            return (path / PNG_TAG).read_text().strip()
        except OSError:
            return None
    return video_tag(path)


@dataclass(frozen=True)
class ExportAlphaWork:
    info: MediaInfo
    mattes: tuple[str, ...]  # RGBA matte segments, in order
    timestamps: tuple[int, ...]
    out: str
    fmt: str
    colors: tuple[str, ...] | None = None  # full-size colour segments, when the mattes are smaller
    hdr: int = 0  # HDR kept: the colour segments are 16-bit in this transfer (the export is SDR: tone-mapped)
    clock: Clock | None = None  # the mattes' timing when re-timed (interpolate); None: the source's

    @property
    def label(self) -> str:
        return self.fmt

    @property
    def frames(self) -> int:
        return len(self.timestamps)

    @property
    def total(self) -> int:
        """A progress bar's total: the frames delivered (the output clock's, when re-timed)."""
        return len(self.timestamps)


def _rgba(
    matte_files: Sequence[str | Path], color_files: Sequence[str | Path] | None, hdr: int = 0, peak: float = 1000.0
) -> Iterator[np.ndarray]:
    """HWC uint8 RGBA frames: the mattes as they are, or cut out of the colour frames
    (HDR kept: those tone-mapped to SDR, as the mattes' own colours are)."""
    for i, matte_file in enumerate(matte_files):
        mattes = read_frames(matte_file, fmt="rgba")
        if color_files is None:
            yield from mattes
            continue
        for rgba, color in zip(mattes, read_sdr(color_files[i], hdr, peak), strict=True):  # same length or an error
            yield cutout(rgba, color)


def export_alpha(
    work: ExportAlphaWork, out: str | Path, *, tag: str = "", on_frame: Callable[[int], None] | None = None
) -> Delivery:
    """Write the RGBA matte segments as ``work.fmt`` at ``out`` (a folder for png). Always
    SDR BT.709 (HDR kept: the colour segments are tone-mapped, from the content's own peak,
    which is in the key by the file's hash; an alpha export is for editors)."""
    info, fmt = work.info, work.fmt
    frames = _rgba(work.mattes, work.colors, work.hdr, info.peak)
    if fmt == "png":
        return _png_sequence(frames, info, Path(out), tag=tag, on_frame=on_frame, expected=len(work.timestamps))
    if fmt not in FORMATS:
        raise ConfigError(f"--export-alpha must be prores, webm, png or none, got {fmt!r}")
    return deliver(frames, info, work.timestamps, out, FORMATS[fmt][0], tag=tag, on_frame=on_frame, clock=work.clock)


def _png_sequence(
    frames: Iterator[np.ndarray], info: MediaInfo, out: Path, *, tag: str, on_frame, expected: int
) -> Delivery:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = 0
    try:
        for n, rgba in zip(itertools.count(1), frames):
            bgra = cv2.cvtColor(rotate_upright(rgba, info.rotation), cv2.COLOR_RGBA2BGRA)
            if not cv2.imwrite(str(tmp / f"frame_{n:06d}.png"), bgra):
                raise OutputError(f"{tmp}: could not write frame {n}")
            if on_frame:
                on_frame(n)
        if n != expected:
            raise OutputError(f"{out}: wrote {n} PNG frames, expected {expected}")
        if tag:
            (tmp / PNG_TAG).write_text(tag)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.iterdir())
    return Delivery(str(out), n, info.duration, 0, size)


def plan(work: ExportAlphaWork) -> Plan:
    code = code_version(__name__)
    out = Path(work.out).resolve()
    names = [Path(p).name for p in work.mattes]
    colors = [Path(p).name for p in work.colors or ()]
    key = digest("export_alpha", code, work.info.sha256, names, colors, work.fmt, work.hdr, str(out))
    return Plan(key, out, frames=work.frames, delivery=True)


class ExportAlpha(Step):
    name = "export_alpha"
    needs = Needs(frames=True)

    def plan(self, work: ExportAlphaWork) -> Plan:
        return plan(work)

    def run(self, work: ExportAlphaWork, plan: Plan, on_frame=None) -> Delivery:
        return export_alpha(work, plan.out, tag=plan.tag, on_frame=on_frame)

    def describe(self, work: ExportAlphaWork) -> str:
        return {"prores": "ProRes 4444", "webm": "VP9 with alpha", "png": "RGBA PNG"}.get(work.fmt, work.fmt)


STEP = ExportAlpha()
