"""Per-step facts for the run report: wall time, frames, frames/s, device and the
peak GPU memory while the step ran. Each finished step writes them beside its
output (``<output>.stats.json``), so a cached step still reports what it cost."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from vidpipe import gpu


@dataclass
class StepStats:
    step: str
    segment: str
    frames: int
    seconds: float = 0.0
    device: str = ""
    peak_gpu_mb: int | None = None  # None: no NVIDIA GPU (reported as n/a)
    machine: str = ""  # where it ran (segments of one video may run on several machines)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def machine_name() -> str:
    """This machine's name: ``VIDPIPE_MACHINE``, else the host name."""
    return os.environ.get("VIDPIPE_MACHINE", "").strip() or socket.gethostname()


def sidecar(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".stats.json")


def finished(out: str | Path) -> bool:
    """True when ``out`` is complete: its stats are written only after the step's
    output was renamed into place, so a kill between the two leaves no sidecar."""
    return Path(out).exists() and sidecar(out).exists()


def read(out: str | Path) -> StepStats | None:
    try:
        return StepStats(**json.loads(sidecar(out).read_text()))
    except (OSError, ValueError, TypeError):
        return None


@contextmanager
def measure(step: str, segment: str, frames: int, device: str, out: str | Path) -> Iterator[StepStats]:
    """Time the block and sample GPU memory; on success write the sidecar of ``out``."""
    stats = StepStats(step, segment, frames, device=device, machine=machine_name())
    sampler = gpu.PeakMemory()
    started = time.perf_counter()
    with sampler:
        yield stats
    stats.seconds = round(time.perf_counter() - started, 3)
    stats.peak_gpu_mb = sampler.peak_mb
    path = sidecar(out)
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(asdict(stats)))
    tmp.replace(path)
