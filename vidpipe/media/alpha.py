"""Alpha outputs for editors: the matted person (RVM's foreground colour + matte)
as ProRes 4444 (.mov), VP9 with alpha (.webm) or an RGBA PNG sequence. Audio is
muxed where the format allows (not into PNGs)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2

from vidpipe.errors import ConfigError, OutputError
from vidpipe.media.frames import rotate_upright
from vidpipe.media.join import ALPHA_FORMATS, JoinReport, join
from vidpipe.media.probe import MediaInfo
from vidpipe.media.reader import read_frames


def alpha_path(final: Path, fmt: str) -> Path:
    """Where ``--alpha-output fmt`` writes, beside the composited MP4."""
    stem = final.name.removesuffix(".mp4")
    if fmt == "png":
        return final.with_name(f"{stem}_alpha")
    return final.with_name(f"{stem}_alpha{ALPHA_FORMATS[fmt][1]}")


def export_alpha(
    matte_files: Sequence[str | Path],
    info: MediaInfo,
    timestamps: Sequence[int],
    out: Path,
    fmt: str,
    tag: str = "",
    color_files: Sequence[str | Path] | None = None,
) -> JoinReport:
    """Write the RGBA matte segments as ``fmt`` at ``out`` (a folder for png). With
    ``color_files`` (matte made before upscale), colour comes from those frames and
    the alpha is scaled up to them."""
    if color_files is not None:
        matte_files = [_cutout_file(m, c) for m, c in zip(matte_files, color_files)]
    if fmt == "png":
        return _png_sequence(matte_files, info, out)
    if fmt not in ALPHA_FORMATS:
        raise ConfigError(f"--alpha-output must be prores, webm, png or none, got {fmt!r}")
    return join(matte_files, info, timestamps, out, ALPHA_FORMATS[fmt][0], tag=tag)


def _cutout_file(matte_file, color_file) -> Path:
    """A lossless RGBA file at the colour frames' size, next to the matte (reused)."""
    from vidpipe.media.pipeline import write_segment
    from vidpipe.media.reader import frame_size
    from vidpipe.stages.composite import cutout

    matte_file, color_file = Path(matte_file), Path(color_file)
    out = matte_file.with_name(f"{matte_file.stem}.cutout-{color_file.stem}{matte_file.suffix}")
    if out.exists():
        return out
    frames = zip(read_frames(matte_file, fmt="rgba"), read_frames(color_file), strict=True)  # same length or error
    return write_segment(frames, lambda pair: cutout(*pair), out, frame_size(color_file), 25.0, None, alpha=True)


def _png_sequence(files, info: MediaInfo, out: Path) -> JoinReport:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n = 0
    try:
        for f in files:
            for rgba in read_frames(f, fmt="rgba"):
                n += 1
                bgra = cv2.cvtColor(rotate_upright(rgba, info.rotation), cv2.COLOR_RGBA2BGRA)
                if not cv2.imwrite(str(tmp / f"frame_{n:06d}.png"), bgra):
                    raise OutputError(f"{tmp}: could not write frame {n}")
        if n != info.frame_count:
            raise OutputError(f"{out}: wrote {n} PNG frames, the source has {info.frame_count}")
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.iterdir())
    return JoinReport(str(out), n, info.duration, 0, size)
