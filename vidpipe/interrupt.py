"""A stop request from the front end (Ctrl-C, SIGTERM), seen by the engine between
frames: every progress tick checks it (:func:`vidpipe.progress.advance`), so a running
frame loop ends within one frame, its writers remove their partial files, and nothing
new starts. The front end decides what to tell the user and how to exit."""

from __future__ import annotations

import threading

from vidpipe.errors import Interrupted

_event = threading.Event()
_signal = [0]


def request(signum: int = 2) -> None:
    _signal[0] = signum
    _event.set()


def requested() -> int:
    """The signal that asked to stop (2 SIGINT, 15 SIGTERM), or 0."""
    return _signal[0] if _event.is_set() else 0


def check() -> None:
    if _event.is_set():
        raise Interrupted("interrupted")


def reset() -> None:
    _event.clear()
    _signal[0] = 0
