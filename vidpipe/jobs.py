"""Job-level helpers: which files to process, and whether an output is already
complete for the same input and settings (so a folder sweep can skip it: with the
same key the join would have, never a second copy of it)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path

from vidpipe.errors import VidpipeError
from vidpipe.media.encode import read_source
from vidpipe.media.probe import probe
from vidpipe.pipeline import VideoPlan, plan_video
from vidpipe.steps.export_alpha import read_tag
from vidpipe.steps.split import timeline

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp"}


def find_videos(paths: list[str | Path]) -> list[Path]:
    """Files named directly, plus everything with a video suffix inside named folders
    (recursively, sorted, hidden names skipped): a folder or a broken link with such a
    name is listed too, so the run can say why it is not a video (:func:`not_a_file`)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(
                f for f in p.rglob("*")
                if f.suffix.lower() in VIDEO_SUFFIXES and not f.name.startswith(".")
            )
        else:
            found.append(p)
    return found


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be a video file (a folder, a broken link), or None."""
    if path.is_symlink() and not path.exists():
        return f"{path}: broken link (it points to {os.readlink(path)}, which does not exist)"
    if path.is_dir():
        return f"{path}: is a folder, not a video file"
    return None


def default_name(source: str | Path) -> str:
    return f"{Path(source).stem}_final.mp4"


def output_names(sources: list[str | Path], output_dir: str | Path) -> dict[Path, str]:
    """The output file name of each input, never the same for two inputs (README,
    "Output names"): ``<stem>_final.mp4``; when inputs of one run share a stem,
    ``<stem>-<ext>_final.mp4`` where the extension tells them apart, else
    ``<stem>-<8 hex of the input's full path>_final.mp4``. The hashed name is also taken
    when ``<stem>_final.mp4`` already exists, was made from another input (its tag says
    which) and that input still exists: an earlier run's result is not overwritten."""
    paths = [Path(s) for s in sources]
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in paths:
        groups[default_name(p).casefold()].append(p)  # case-insensitive disks collide too
    names: dict[Path, str] = {}
    for group in groups.values():
        if len(group) == 1:
            p = group[0]
            names[p] = _hashed(p) if _made_from_another(Path(output_dir) / default_name(p), p) else default_name(p)
            continue
        exts = Counter(p.suffix.lower() for p in group)
        for p in group:
            ext = p.suffix.lower().lstrip(".")
            names[p] = f"{p.stem}-{ext}_final.mp4" if ext and exts[p.suffix.lower()] == 1 else _hashed(p)
    return names


def _hashed(p: Path) -> str:
    return f"{p.stem}-{hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:8]}_final.mp4"


def _made_from_another(out: Path, source: Path) -> bool:
    made_from = read_source(out) if out.is_file() else None
    return made_from is not None and made_from != str(source.resolve()) and Path(made_from).is_file()


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


_PARTIAL = re.compile(r"^\..+\.(\d+)\.partial(\.[^.]+)?$")


def segments_kept(source: str | Path, output: str | Path, spec) -> tuple[int, int]:
    """(finished, all) segments of the first per-segment step of this job: what a rerun
    takes from the cache."""
    from vidpipe import telemetry

    try:
        plan = plan_for(source, output, spec)
    except VidpipeError:
        return 0, 0
    if not plan.segment_steps:
        return 0, 0
    units = plan.of(plan.segment_steps[0])
    return sum(1 for u in units if u.plan is not None and telemetry.finished(u.plan.out)), len(units)


def clean_partials(folder: str | Path) -> int:
    """Remove partial files and folders a killed run left behind (``.<name>.<pid>.partial.<ext>``,
    a PNG sequence's ``.<name>.<pid>.partial/``) whose writer process is gone. Returns how
    many were removed."""
    removed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for f in folder.glob(".*.partial*"):
        match = _PARTIAL.match(f.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if f.is_dir() and not f.is_symlink():
            shutil.rmtree(f, ignore_errors=True)
        else:
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
