"""Progress reporting from the engine to whoever is watching (the CLI's bars, or
nobody). The engine calls :func:`advance`; a front end installs a reporter."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from vidpipe import interrupt


class Reporter(Protocol):
    def advance(self, video: str, step: str, total: int, n: int) -> None: ...

    def notice(self, text: str) -> None: ...


_reporter: Reporter | None = None
_lock = threading.Lock()


def set_reporter(reporter: Reporter | None) -> None:
    global _reporter
    with _lock:
        _reporter = reporter


def advance(video: str, step: str, total: int, n: int = 1) -> None:
    interrupt.check()  # a stop request ends the frame loop here, between frames
    r = _reporter
    if r is not None:
        r.advance(video, step, total, n)


def notice(text: str) -> None:
    """Something the user should read now, before the run goes on (a warning)."""
    r = _reporter
    if r is not None:
        r.notice(text)


def frame_counter(video: str, step: str, total: int) -> Callable[[int], None]:
    """An ``on_frame`` callback for the frame loop: one tick per frame."""
    return lambda _count: advance(video, step, total, 1)
