"""The steps, in pipeline order. Each is one module here with its ``Config``, ``plan``
and ``run`` (see :mod:`vidpipe.steps.base`); this list is the only registration.

A new per-segment step is one module and one line below. Tests (and plugins) may
:func:`register` a step at run time; the planner, the task factory and the flow pick it
up with no change to ``tasks/`` or ``flows/``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from vidpipe.errors import ConfigError
from vidpipe.steps import (
    composite,
    export_alpha,
    interpolate,
    join,
    matte,
    probe,
    report,
    restore_faces,
    split,
    upload,
    upscale,
)
from vidpipe.steps.base import Needs, Plan, SegmentWork, Step, execute

__all__ = [
    "Needs",
    "Plan",
    "SegmentWork",
    "Step",
    "execute",
    "get",
    "all_steps",
    "segment_steps",
    "register",
    "unregister",
    "registered",
]

_lock = threading.Lock()
_STEPS: list[Step] = [
    probe.STEP,
    split.STEP,
    upscale.STEP,
    restore_faces.STEP,
    interpolate.STEP,
    matte.STEP,
    composite.STEP,
    join.STEP,
    export_alpha.STEP,
    upload.STEP,
    report.STEP,
]


def all_steps() -> tuple[Step, ...]:
    with _lock:
        return tuple(_STEPS)


def segment_steps() -> list[Step]:
    """The per-segment steps, in the order they run on a segment."""
    return [s for s in all_steps() if s.scope == "segment"]


def get(name: str) -> Step:
    for s in all_steps():
        if s.name == name:
            return s
    raise ConfigError(f"unknown step {name!r}; known: {', '.join(s.name for s in all_steps())}")


def register(step: Step, after: str | None = None) -> Step:
    """Add ``step`` (after the step named ``after``, else before ``join``)."""
    with _lock:
        if any(s.name == step.name for s in _STEPS):
            raise ConfigError(f"a step named {step.name!r} is already registered")
        names = [s.name for s in _STEPS]
        at = names.index(after) + 1 if after else names.index("join")
        _STEPS.insert(at, step)
    return step


def unregister(name: str) -> None:
    with _lock:
        _STEPS[:] = [s for s in _STEPS if s.name != name]


@contextmanager
def registered(step: Step, after: str | None = None) -> Iterator[Step]:
    register(step, after)
    try:
        yield step
    finally:
        unregister(step.name)
