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


#: free space VIDPIPE_HOME needs before a run starts (Prefect's database, records, locks, the first segments)
MIN_FREE_MB = 256


def check_home() -> None:
    """The work folder takes a file and has room to start (``VIDPIPE_MIN_FREE_MB``, default
    :data:`MIN_FREE_MB`): checked before anything starts, else one line."""
    import shutil

    from vidpipe.errors import ConfigError

    folder = home()
    try:
        prove_writable(work_dir())
        free = shutil.disk_usage(folder).free
    except OSError as e:
        raise ConfigError(
            f"VIDPIPE_HOME {folder}: cannot write there ({e.strerror or e}); every worker needs its "
            "work folder writable (the shared folder, for shared work)"
        ) from None
    need = int(float(os.environ.get("VIDPIPE_MIN_FREE_MB", MIN_FREE_MB)) * (1 << 20))
    if free < need:
        raise ConfigError(
            f"VIDPIPE_HOME {folder}: only {free / (1 << 20):.0f} MB free, and a run needs at least "
            f"{need / (1 << 20):.0f} MB there to start (Prefect's database, records, the first segments): free "
            "some space or set VIDPIPE_HOME to a bigger disk"
        )
