"""Job-level helpers: which files to process, and whether an output is already
complete for the same input and settings (so a folder sweep can skip it: with the
same key the join would have, never a second copy of it)."""

from __future__ import annotations

import os
from pathlib import Path

from vidpipe.errors import VidpipeError
from vidpipe.media.probe import probe
from vidpipe.pipeline import VideoPlan, plan_video
from vidpipe.steps.export_alpha import read_tag
from vidpipe.steps.split import timeline

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp"}


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


def plan_for(source: str | Path, output: str | Path, spec) -> VideoPlan:
    """The plan of making ``output`` from ``source`` with ``spec`` (probe and split
    are memoized, so the run that follows does not decode the file again)."""
    info = probe(source)
    return plan_video(info, timeline(info, spec.segment_seconds), spec, output)


def is_current(source: str | Path, output: str | Path, spec) -> bool:
    """True when ``output`` (and its alpha output, if asked for) exists and carries the
    tag of exactly the plan this job would run now: the join's key, which covers the
    input's content, every step's settings, model files and code."""
    if not Path(output).is_file() or not Path(source).is_file():
        return False
    try:
        plan = plan_for(source, output, spec)
    except VidpipeError:  # unusable input: the run says why
        return False
    return all(read_tag(Path(path)) == tag for path, tag in plan.tags().items())


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
