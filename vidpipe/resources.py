"""Checks before a video starts: enough free disk for its intermediates, and one
run at a time per video (a lock file held for the run, released by the kernel
when the process dies, so a killed run never blocks the next one)."""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from pathlib import Path

from vidpipe.errors import OutputError, VidpipeError
from vidpipe.hashing import digest
from vidpipe.media.writer import size_ratio
from vidpipe.paths import home

GB = 1e9


class Busy(VidpipeError):
    """Another run holds this video."""


def frame_bytes(frames: int, width: int, height: int, channels: int = 3) -> float:
    """Disk that one lossless intermediate of ``frames`` frames takes (an upper estimate)."""
    return frames * width * height * channels * size_ratio()


def intermediate_bytes(frames: int, width: int, height: int, stages: int) -> int:
    """Disk that ``stages`` lossless per-segment steps at ``width``x``height`` need
    (plus the delivered file, about a tenth of one stage)."""
    return int(frame_bytes(frames, width, height) * (stages + 0.1))


def check_free_space(folder: str | Path, need: int, what: str) -> None:
    """OutputError when ``folder``'s file system has less than ``need`` bytes free."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise OutputError(
            f"{what}: needs about {need / GB:.1f} GB free in {folder} for intermediates, "
            f"only {free / GB:.1f} GB free (free some space or set VIDPIPE_HOME to a bigger disk)"
        )


#: locks this process holds: path -> [fd, depth] (re-entrant, so enhance-folder can hold a
#: video's lock across its up-to-date check and the enhance-video run inside it)
_HELD: dict[Path, list[int]] = {}
_HELD_LOCK = threading.Lock()


class VideoLock:
    """An exclusive, non-blocking lock per video (``<locks>/<sha16>.lock``) across
    processes; re-entrant within one process."""

    def __init__(self, folder: str | Path, key: str, label: str):
        self.path = Path(folder) / f"{key[:16]}.lock"
        self.label = label

    def __enter__(self) -> VideoLock:
        with _HELD_LOCK:
            if self.path in _HELD:
                _HELD[self.path][1] += 1
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise Busy(f"{self.label}: already being processed by another run (pid {holder})") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            _HELD[self.path] = [fd, 1]
        return self

    def __exit__(self, *exc) -> None:
        with _HELD_LOCK:
            held = _HELD.get(self.path)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del _HELD[self.path]
                os.close(held[0])  # closing releases the lock; the file stays (harmless, reused)


def video_lock(source: str | Path, output: str | Path) -> VideoLock:
    """The lock for making ``output`` from ``source``."""
    key = digest(str(Path(source).resolve()), str(Path(output).resolve()))
    return VideoLock(home() / "locks", key, str(source))
