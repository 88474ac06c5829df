"""Job-level helpers: which files to process, and whether an output is already
complete for the same input and settings (so a folder sweep can skip it)."""

from __future__ import annotations

import os
from pathlib import Path

import av

from vidpipe.hashing import digest, file_sha256
from vidpipe.version import code_version

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp"}
TAG_PREFIX = "vidpipe:"
#: settings that do not change the output's pixels or sound
NOT_IN_OUTPUT = {"segment_seconds", "upload", "s3_endpoint_url", "aws_credentials_block"}


def find_videos(paths: list[str | Path]) -> list[Path]:
    """Files named directly, plus files with a video suffix inside named folders
    (recursively, sorted, hidden files skipped)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES and not f.name.startswith(".")
            )
        else:
            found.append(p)
    return found


def job_tag(source_sha256: str, settings: dict) -> str:
    """Identifies an output: the source content, the settings that change pixels
    and the code that made it. Written into the output's metadata."""
    relevant = {k: v for k, v in settings.items() if k not in NOT_IN_OUTPUT}
    code = code_version(
        "vidpipe.stages.upscale", "vidpipe.stages.restore_faces", "vidpipe.stages.matte", "vidpipe.stages.composite",
        "vidpipe.media.join", "vidpipe.media.alpha", "vidpipe.models.ncnn_sr",
    )
    return TAG_PREFIX + digest(source_sha256, relevant, code)[:32]


def output_tag(path: str | Path) -> str | None:
    try:
        with av.open(str(path)) as c:
            return c.metadata.get("comment")
    except (av.FFmpegError, OSError):
        return None


def is_current(source: str | Path, output: str | Path, settings: dict) -> bool:
    """True when ``output`` (and its alpha output, if asked for) exists and was made
    from this exact input with these settings."""
    if not Path(output).is_file() or not Path(source).is_file():
        return False
    fmt = settings.get("alpha_output", "none")
    if fmt != "none":
        from vidpipe.media.alpha import alpha_path

        if not alpha_path(Path(output), fmt).exists():
            return False
    return output_tag(output) == job_tag(file_sha256(source), settings)


def clean_partials(folder: str | Path) -> int:
    """Remove partial files a killed run left behind (``.<name>.<pid>.partial.*``)
    whose writer process is gone. Returns how many were removed."""
    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for f in folder.glob(".*.partial.*"):
        parts = f.name.split(".")
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is not None and _alive(pid):
            continue
        f.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
