"""The lifecycle of the intermediates: the lossless segment files every per-segment step
keeps (``work/<video>/<step>/<segment>-<key>.nut`` with a stats sidecar), which make
resume and partial recomputation possible and take about 8 GB per minute of 1080x1920
video.

- A **cap** bounds them: ``VIDPIPE_CACHE_MAX`` (``20GB``, ``500MB``, ``none``), by default
  the smaller of 20 GB and a quarter of what the disk has free plus what the cache holds.
- **Least recently used first, whole files:** a segment file goes with its sidecars,
  never in part; a run marks the files it plans to read as used when it starts.
- **Never a running job's:** a run holds a shared lock on its video
  (``locks/work-<video>.lock``) while it runs; eviction takes that lock exclusively and
  skips a video it cannot get, so the kernel arbitrates across processes and a killed
  run holds nothing.

Evicting is always safe: a step whose output is gone runs again (the cache policy
treats a record without its file as a miss), and delivered files are never touched."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vidpipe.errors import ConfigError
from vidpipe.media.writer import SEGMENT_SUFFIX, clean_partials
from vidpipe.paths import home, work_dir
from vidpipe.resources import GB

DEFAULT_CAP = 20 * 10**9
CAP_ENV = "VIDPIPE_CACHE_MAX"
SOURCE_FILE = "source.txt"  # in each video's folder: the input it was made from, for listings
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}


@dataclass
class Entry:
    """One segment file with its sidecars."""

    video: str  # the video's content hash (16 hex digits): its folder's name
    step: str
    segment: str
    path: Path  # the segment file
    files: list[Path]  # it and its sidecars
    size: int  # bytes, sidecars included
    used: float  # last use (newest modification time), seconds since the epoch


@dataclass
class Freed:
    """What an eviction or a prune removed, and what it left because a run holds it."""

    bytes: int = 0
    files: int = 0
    busy_bytes: int = 0
    busy_files: int = 0

    def __iadd__(self, other: Freed) -> Freed:
        self.bytes += other.bytes
        self.files += other.files
        self.busy_bytes += other.busy_bytes
        self.busy_files += other.busy_files
        return self


def fmt_bytes(n: float) -> str:
    if n >= GB:
        return f"{n / GB:.1f} GB"
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def parse_size(text: str) -> int | None:
    """``20GB``, ``500 MB``, ``1.5g``, ``0`` -> bytes; ``none``/``off``/``unlimited`` -> None."""
    t = text.strip().lower().replace(" ", "")
    if t in ("none", "off", "unlimited", "no"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]*)", t)
    if not m or m.group(2) not in _UNITS:
        raise ConfigError(f"{CAP_ENV}={text!r}: not a size (write e.g. 20GB, 500MB, or none for no cap)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def cap(held: int | None = None) -> int | None:
    """The cap in bytes, or None for no cap. ``held``: what the work folder holds now, when
    the caller has just counted it (the default cap depends on it)."""
    text = os.environ.get(CAP_ENV, "").strip()
    if text:
        return parse_size(text)
    folder = work_dir()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    return int(min(DEFAULT_CAP, 0.25 * (free + (total() if held is None else held))))


def cap_text(held: int | None = None) -> str:
    c = cap(held)
    source = f"{CAP_ENV}" if os.environ.get(CAP_ENV, "").strip() else "the default"
    return f"no cap ({source})" if c is None else f"a {fmt_bytes(c)} cap ({source})"


def entries() -> list[Entry]:
    """Every segment file in the work folder, each with its sidecars (the files that share
    its name up to the first dot: stats, recurrent state, generation marker); hidden
    partial files are a running or killed writer's, never listed."""
    found = []
    root = work_dir()
    if not root.is_dir():
        return found
    for video in _folders(root):
        for step in _folders(video):
            groups: dict[str, list[tuple[Path, os.stat_result]]] = {}
            for path in _listing(step):
                if path.name.startswith("."):
                    continue
                try:
                    groups.setdefault(path.name.split(".", 1)[0], []).append((path, path.stat()))
                except OSError:  # removed meanwhile
                    continue
            for stem, files in groups.items():
                main = next((p for p, _ in files if p.suffix == SEGMENT_SUFFIX), files[0][0])
                found.append(
                    Entry(
                        video.name,
                        step.name,
                        stem.rsplit("-", 1)[0],
                        main,
                        [p for p, _ in files],
                        sum(st.st_size for _, st in files),
                        max(st.st_mtime for _, st in files),
                    )
                )
    return found


def _listing(folder: Path) -> list[Path]:
    """A folder's entries; none when another process removed it meanwhile."""
    try:
        return list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _folders(folder: Path) -> list[Path]:
    return sorted(p for p in _listing(folder) if p.is_dir())


def sizes() -> dict[str, int]:
    """Bytes kept per video id, from one look at the work folder."""
    kept: dict[str, int] = {}
    for e in entries():
        kept[e.video] = kept.get(e.video, 0) + e.size
    return kept


def total() -> int:
    return sum(sizes().values())


def source_of(video: str) -> str:
    """The input a video's folder was made from ('' if unknown)."""
    try:
        return (work_dir() / video / SOURCE_FILE).read_text().strip()
    except OSError:
        return ""


def visible(video: str) -> bool:
    """This machine sees the work folder a run made for ``video`` (its id): with shared
    work, every machine must."""
    return (work_dir() / video / SOURCE_FILE).exists()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _lock_path(video: str) -> Path:
    return home() / "locks" / f"work-{video[:16]}.lock"


def _open_lock(video: str) -> int:
    path = _lock_path(video)
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def in_use(sha256: str, source: str | Path = "") -> Iterator[None]:
    """Hold this video's intermediates for a run: no eviction or prune removes them until
    the block ends (or the process dies)."""
    fd = _open_lock(sha256)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while an eviction is deleting this video's files
        if source:
            folder = work_dir() / sha256[:16]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / SOURCE_FILE).write_text(f"{Path(source).resolve()}\n")
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _unless_in_use(video: str) -> Iterator[bool]:
    """True inside when no run holds ``video`` (and none can start until the block ends)."""
    fd = _open_lock(video)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def remove(chosen: Iterable[Entry]) -> Freed:
    """Delete ``chosen`` entries whose video no run holds; empty folders go too."""
    freed = Freed()
    by_video: dict[str, list[Entry]] = {}
    for e in chosen:
        by_video.setdefault(e.video, []).append(e)
    for video, items in by_video.items():
        with _unless_in_use(video) as free:
            for e in items:
                if not free:
                    freed.busy_bytes += e.size
                    freed.busy_files += 1
                    continue
                gone = _unlink(sorted(e.files, key=lambda f: f != e.path))  # the segment file first
                if gone:
                    freed.bytes += gone
                    freed.files += 1
            if free:
                for step in _folders(work_dir() / video):
                    clean_partials(step)  # what a killed writer left (its process is gone)
                _drop_empty(work_dir() / video)
    return freed


def _unlink(files: list[Path]) -> int:
    """Remove ``files``; the bytes that were there (another eviction may have been first)."""
    gone = 0
    for f in files:
        try:
            size = f.stat().st_size
            f.unlink()
        except FileNotFoundError:
            continue
        gone += size
    return gone


def _drop_empty(folder: Path) -> None:
    for step in [p for p in folder.glob("*") if p.is_dir()]:
        with contextlib.suppress(OSError):
            step.rmdir()
    if not any(p.is_dir() for p in folder.glob("*")):
        (folder / SOURCE_FILE).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()


def evict(target: int, items: list[Entry] | None = None) -> Freed:
    """Remove least-recently-used segment files, whole, until the work folder holds at
    most ``target`` bytes (or only files that running jobs hold are left). ``items``: the
    work folder's entries, when the caller has just listed them."""
    items = sorted(entries() if items is None else items, key=lambda e: e.used)
    have = sum(e.size for e in items)
    freed = Freed()
    for e in items:
        if have <= target:
            break
        done = remove([e])
        if done.busy_files:  # a run holds it: still here
            continue
        have -= e.size  # removed now, or by another process meanwhile: not here either way
        freed += done
    return freed


def evict_to_cap() -> Freed:
    items = entries()
    c = cap(sum(e.size for e in items))
    return Freed() if c is None else evict(c, items)


def prune(older_than: float | None = None, video: str | None = None) -> Freed:
    """Remove the segment files not used for ``older_than`` seconds, of one video
    (its content hash, or a prefix of its id) or all, except those a running job holds."""
    now = time.time()
    return remove(
        e
        for e in entries()
        if (older_than is None or now - e.used >= older_than) and (video is None or e.video.startswith(video[:16]))
    )


def prepare(planned: list[tuple[Path, int]], label: str) -> tuple[Freed, str]:
    """Before a run (which holds its video with :func:`in_use`): mark the files it will
    read as just used, evict older ones to make room under the cap for the ones it will
    write, and say so when this video alone needs more than the cap."""
    now = time.time()
    missing = 0
    for path, size in planned:
        try:
            os.utime(path, (now, now))
        except FileNotFoundError:
            missing += size
    items = entries()
    c = cap(sum(e.size for e in items))
    if c is None:
        return Freed(), ""
    freed = evict(max(0, c - missing), items)
    whole = sum(size for _path, size in planned)
    warning = ""
    if whole > c:
        warning = (
            f"{label}: its intermediates need about {fmt_bytes(whole)}, more than the "
            f"{fmt_bytes(c)} cap ({CAP_ENV}); they are kept while it runs and evicted after, "
            "oldest first"
        )
    return freed, warning


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` or a number of days -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not m:
        raise ConfigError(f"--older-than {text!r}: not an age (write e.g. 7d, 12h, 30m)")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}[m.group(2)]
    return float(m.group(1)) * unit
