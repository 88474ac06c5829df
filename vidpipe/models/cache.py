"""Loaded models, once per process for every step: a network (ncnn, torch, ONNX
Runtime) or a detector is built the first time a step asks for it and handed to every
later segment. ``loads`` counts the builds by kind (the tests read it)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Hashable
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
