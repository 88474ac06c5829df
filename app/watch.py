"""Which files in a watched folder are new and finished writing: a file is ready
once its size and modification time have not changed for ``settle`` seconds (a
copy or download still in progress keeps changing them). Pure bookkeeping; the
caller decides what to start."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from vidpipe.jobs import find_videos


@dataclass
class Settler:
    folder: Path
    settle: float = 5.0
    seen: dict[Path, tuple[int, int, float]] = field(default_factory=dict)  # size, mtime_ns, first seen unchanged
    started: set[tuple[Path, int, int]] = field(default_factory=set)

    def poll(self, now: float | None = None) -> list[Path]:
        """Files that became ready since the last poll (each version of a file once)."""
        now = time.monotonic() if now is None else now
        ready = []
        current = {}
        for f in find_videos([self.folder]):
            try:
                st = f.stat()
            except OSError:  # deleted between listing and stat
                continue
            size, mtime = st.st_size, st.st_mtime_ns
            prev = self.seen.get(f)
            since = prev[2] if prev and prev[:2] == (size, mtime) else now
            current[f] = (size, mtime, since)
            version = (f, size, mtime)
            if size > 0 and now - since >= self.settle and version not in self.started:
                self.started.add(version)
                ready.append(f)
        self.seen = current
        return ready
