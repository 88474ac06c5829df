"""Logging: everything (vidpipe and Prefect run logs) to ``logs/vidpipe.log``; the
console shows progress bars and one line per problem unless ``--debug``."""

from __future__ import annotations

import logging
import os
from pathlib import Path


class _RunFormatter(logging.Formatter):
    """Adds the Prefect flow/task run name when the record carries one."""

    def format(self, record: logging.LogRecord) -> str:
        run = getattr(record, "task_run_name", None) or getattr(record, "flow_run_name", None)
        record.run = f" [{run}]" if run else ""
        return super().format(record)


def logs_dir() -> Path:
    return Path(os.environ.get("VIDPIPE_LOG_DIR", "logs")).resolve()


def setup(debug: bool = False) -> Path:
    """Attach the log file; silence console handlers unless ``debug``."""
    folder = logs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vidpipe.log"
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(_RunFormatter("%(asctime)s %(levelname)-7s %(name)s%(run)s: %(message)s"))
    file_handler.setLevel(logging.DEBUG if debug else logging.INFO)
    root = logging.getLogger()
    root.addHandler(file_handler)
    for name in ("vidpipe", "prefect"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    for logger in (root, logging.getLogger("vidpipe"), logging.getLogger("prefect")):
        for handler in logger.handlers:
            if (
                handler is not file_handler
                and not isinstance(handler, logging.FileHandler)
                and isinstance(handler, logging.StreamHandler)
            ):
                handler.setLevel(logging.DEBUG if debug else logging.CRITICAL + 1)
    return path
