"""The GPU limit: a step that says it runs a model on this machine's GPU
(``Step.uses_gpu``: upscale, restore_faces and matte, when they do) holds one slot of
a Prefect global concurrency limit while it runs (inside the task body, so a cache
hit never waits for a slot, and a step on the CPU takes none). The limit's name is ``VIDPIPE_GPU_LIMIT`` (one limit per
GPU machine: ``vidpipe worker`` sets it); in a deployment run without it,
``gpu-rtx3060``; in a local run without it, none (one process, one run); ``none``
turns it off. ``VIDPIPE_LIMIT_CPU_MODELS=1``: model steps hold a slot on the CPU too (a
CPU machine in a pool: two flow runs never run two networks on the same cores)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.concurrency.sync import concurrency

DEFAULT_LIMIT = "gpu-rtx3060"
DEFAULT_SLOTS = 2


def limit_name() -> str | None:
    name = os.environ.get("VIDPIPE_GPU_LIMIT", "").strip()
    if not name:
        from prefect.runtime import deployment

        return DEFAULT_LIMIT if deployment.id else None
    return None if name.lower() in ("none", "off") else name


@contextmanager
def gpu_slot(needed: bool = True) -> Iterator[None]:
    """Hold one slot of the GPU limit (strict: a missing limit is an error, not a
    silent free-for-all). Slots are leased; a killed holder's slot comes back when
    the lease expires on the server."""
    name = limit_name()
    if name is None or not needed:
        yield
        return
    with concurrency(name, occupy=1, strict=True, lease_duration=120):
        yield


def cpu_models_limited() -> bool:
    return os.environ.get("VIDPIPE_LIMIT_CPU_MODELS", "").strip().lower() in ("1", "true", "yes")


def slot_for(step):
    """The slot ``execute`` takes for ``step``: the GPU limit's when it runs on this machine's
    GPU (or, with ``VIDPIPE_LIMIT_CPU_MODELS``, whenever it runs a model)."""
    if step.needs.model and cpu_models_limited():
        return lambda _on_gpu: gpu_slot(True)
    return gpu_slot
