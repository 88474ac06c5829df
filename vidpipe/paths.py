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
