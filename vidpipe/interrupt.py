"""A stop request from the front end (Ctrl-C, SIGTERM), seen by the engine between
frames: every progress tick checks it (:func:`vidpipe.progress.advance`), so a running
frame loop ends within one frame, its writers remove their partial files, and nothing
new starts. The front end decides what to tell the user and how to exit."""

from __future__ import annotations

from vidpipe.errors import Interrupted

_signal = 0  # the signal that asked to stop, 0 for none (an int: set and read atomically)


def request(signum: int = 2) -> None:
    global _signal
    _signal = signum


def requested() -> int:
    """The signal that asked to stop (2 SIGINT, 15 SIGTERM), or 0."""
    return _signal


def check() -> None:
    if _signal:
        raise Interrupted("interrupted")


def reset() -> None:
    global _signal
    _signal = 0
