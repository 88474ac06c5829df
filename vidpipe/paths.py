"""Where vidpipe keeps its working files. Plain Python: reads the environment only."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The project work folder: ``$VIDPIPE_HOME`` or ``./.vidpipe``."""
    return Path(os.environ.get("VIDPIPE_HOME", ".vidpipe")).resolve()


def work_dir() -> Path:
    """Per-step intermediate files live below this folder."""
    return home() / "work"


def prove_writable(folder: Path) -> None:
    """Create ``folder`` if needed and write and remove a file in it (permissions, read-only
    mounts, a file in the way); the OSError when that fails."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".vidpipe-write-test.{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def check_home() -> None:
    """The work folder takes a file (for a worker: before it takes any run); else one line."""
    from vidpipe.errors import ConfigError

    folder = home()
    try:
        prove_writable(work_dir())
    except OSError as e:
        raise ConfigError(
            f"VIDPIPE_HOME {folder}: cannot write there ({e.strerror or e}); every worker needs its "
            "work folder writable (the shared folder, for shared work)"
        ) from None
