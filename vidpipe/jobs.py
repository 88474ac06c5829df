"""Job-level helpers: which files to process, and whether an output is already
complete for the same input and settings (so a folder sweep can skip it: with the
same key the join would have, never a second copy of it)."""

from __future__ import annotations

import itertools
import os
from collections import Counter, defaultdict
from pathlib import Path

from vidpipe import steps
from vidpipe.config import default_name
from vidpipe.errors import VidpipeError
from vidpipe.media.encode import read_source, source_id
from vidpipe.media.probe import probe
from vidpipe.pipeline import VideoPlan, plan_video
from vidpipe.steps.base import TAG_PREFIX
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
                if f.suffix.lower() in VIDEO_SUFFIXES and not f.name.startswith(".") and not made_by_vidpipe(f)
            )
        else:
            found.append(p)
    return found


def made_by_vidpipe(path: Path) -> bool:
    """A delivered file vidpipe made (it carries its tag): in a folder sweep it is an output,
    never an input (an output folder that is also the input folder is not swept twice)."""
    if not path.is_file():
        return False
    tag = read_tag(path)
    return bool(tag) and tag.startswith(TAG_PREFIX)


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be a video file (a folder, a broken link), or None."""
    if path.is_symlink() and not path.exists():
        return f"{path}: broken link (it points to {os.readlink(path)}, which does not exist)"
    if path.is_dir():
        return f"{path}: is a folder, not a video file"
    return None


def output_names(sources: list[str | Path], output_dir: str | Path) -> dict[Path, str]:
    """The output file name of each input (README, "Output names"). Every output records
    the input that made it (a hash of its path, :func:`~vidpipe.media.encode.source_id`):

    1. an input that already has an output in ``output_dir`` keeps that name (a rerun never
       renames, whatever else is in the run);
    2. a name taken by another input's output is never used (nothing is overwritten);
    3. otherwise ``<stem>_final.mp4``; inputs of one run sharing a stem get
       ``<stem>-<ext>_final.mp4`` where the extension tells them apart, else (or when that
       is taken too) ``<stem>-<8 hex of the input's full path>_final.mp4``.

    Names are compared case-insensitively (macOS and Windows disks)."""
    paths = [Path(s) for s in sources]
    folder = Path(output_dir)
    made = _outputs_by_source(folder)
    try:  # anything already there that is not an output of this run's inputs is never written over
        present = {f.name.casefold() for f in folder.iterdir()} if folder.is_dir() else set()
    except OSError:
        present = set()
    names: dict[Path, str] = {}
    mine = {source_id(p): p for p in paths}
    taken = {name.casefold() for name, sid in made.items() if sid not in mine}
    for name, sid in sorted(made.items()):
        p = mine.get(sid)
        if p is not None and (p not in names or name == default_name(p)):
            names[p] = name
    taken |= {n.casefold() for n in names.values()}
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in paths:
        groups[default_name(p).casefold()].append(p)
    for p in sorted(p for p in paths if p not in names):
        group = groups[default_name(p).casefold()]
        exts = Counter(q.suffix.lower() for q in group)
        ext = p.suffix.lower().lstrip(".")
        candidates = [default_name(p)] if len(group) == 1 else []
        if ext and exts[p.suffix.lower()] == 1:
            candidates.append(f"{p.stem}-{ext}_final.mp4")
        candidates += [_hashed(p, 8), _hashed(p, 16)]
        more = (f"{p.stem}-{source_id(p)[:16]}-{n}_final.mp4" for n in itertools.count(2))
        names[p] = next(c for c in itertools.chain(candidates, more)
                        if c.casefold() not in taken and not _family(c) & present)
        taken.add(names[p].casefold())
    return names


def _names(name: str) -> list[str]:
    """The delivered files an output called ``name`` makes: itself and the alpha exports. (The still beside it,
    ``<stem>_compare.jpg``, carries no record of who made it, so it cannot be told from a user's own.)"""
    stem = name.removesuffix(".mp4")
    return [name, f"{stem}_alpha.mov", f"{stem}_alpha.webm", f"{stem}_alpha"]


def _family(name: str) -> set[str]:
    return {n.casefold() for n in _names(name)}


def why_named(source: Path, name: str, output_dir: str | Path) -> str:
    """Why ``source``'s output is not called ``<stem>_final.mp4`` ("" when it is)."""
    default = default_name(source)
    if name == default:
        return ""
    folder = Path(output_dir)
    there = [n for n in _names(default) if (folder / n).exists()]
    if there and not read_source(folder / default):  # no output of vidpipe's holds the name
        return f"named {name}: {there[0]} is already in {output_dir}, and vidpipe did not make it"
    return f"named {name}: another input also makes {default}"


def _hashed(p: Path, digits: int) -> str:
    return f"{p.stem}-{source_id(p)[:digits]}_final.mp4"  # the same hash the output records


def _outputs_by_source(folder: Path) -> dict[str, str]:
    """Delivered videos in ``folder`` that record their input: name -> source id."""
    found = {}
    if folder.is_dir():
        for f in folder.glob("*_final.mp4"):
            sid = read_source(f) if f.is_file() else None
            if sid:
                found[f.name] = sid
    return found


def plan_for(source: str | Path, output: str | Path, spec) -> VideoPlan:
    """The plan of making ``output`` from ``source`` with ``spec`` (probe and split
    are memoized, so the run that follows does not decode the file again)."""
    info = probe(source)
    return plan_video(info, timeline(info, steps.get("split").configure(spec, info)), spec, output)


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
