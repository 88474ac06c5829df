"""Loaded models, once per process for every step: a network (ncnn, torch, ONNX
Runtime) or a detector is built the first time a step asks for it and handed to every
later segment. ``loads`` counts the builds by kind (the tests read it)."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_lock = threading.Lock()
_loaded: dict[tuple[str, Hashable], object] = {}
loads: Counter[str] = Counter()


def loaded(kind: str, key: Hashable, build: Callable[[], T]) -> T:
    """The ``kind`` model for ``key``, built by ``build()`` on first use (one build at a
    time, so two threads never load the same weights twice)."""
    with _lock:
        if (kind, key) not in _loaded:
            _loaded[(kind, key)] = build()
            loads[kind] += 1
        return _loaded[(kind, key)]  # type: ignore[return-value]


def clear() -> None:
    """Drop every loaded model (frees memory; the next use loads again)."""
    with _lock:
        _loaded.clear()


_holders = 0


@contextmanager
def hold() -> Iterator[None]:
    """Mark a job running in this process. When the last one ends, every model is
    dropped and torch hands its cached GPU memory back (``release``): an idle worker
    holds no VRAM another job on the card could use."""
    global _holders
    with _lock:
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            idle = _holders == 0
        if idle:
            release()


def release() -> None:
    clear()
    torch = sys.modules.get("torch")  # never import torch just to free nothing
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
