"""The per-segment part of enhance-video, for any steps the plan holds: submit every
planned unit after the units it waits for, publish progress as segments finish, and
surface the first real failure (not the "upstream failed" of what came after it)."""

from __future__ import annotations

import re
from pathlib import Path

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed, wait

from tasks import run
from tasks.spread import Spread
from vidpipe import telemetry
from vidpipe.errors import MediaError
from vidpipe.media.probe import MediaInfo
from vidpipe.pipeline import Planned, VideoPlan


def submit(plan: VideoPlan, spread: Spread | None = None) -> list[PrefectFuture | None]:
    """One future per planned unit, in plan order (each unit's dependencies are
    submitted before it, so a first-in-first-out pool of any size cannot deadlock);
    ``None`` for a streamed unit, which runs inside join. With ``spread``, each
    segment's spread units are one background task for the machines' task workers
    (the same future for each of them)."""
    futures: list[PrefectFuture | None] = [None] * len(plan.items)
    batches = spread.batches if spread is not None else {}
    for i in plan.tasks:
        if futures[i] is not None:  # sent with its segment's first spread unit
            continue
        if i in batches:
            future = spread.submit([plan.items[j] for j in batches[i]])
            for j in batches[i]:
                futures[j] = future
            continue
        unit = plan.items[i]
        waits = list(dict.fromkeys(futures[r] for d in unit.deps for r in plan.ready(d)))
        futures[i] = run(unit, submit=True, wait_for=waits)
    return futures


def results(futures: list[PrefectFuture | None]) -> list:
    """Every task unit's result, or the error of the first unit (in plan order) that failed."""
    running = [f for f in futures if f is not None]
    wait(running)
    for f in running:
        if not f.state.is_completed():
            f.result()  # raises the unit's own error
            raise MediaError(f"{f.task_run_id}: ended {f.state.name}")
    return [f.result() for f in running]


def reused(started: float):
    """``cached(unit, future)``: a cache hit, or a finished file an interrupted run left
    (its stats sidecar is older than this run)."""

    def cached(unit: Planned, future: PrefectFuture) -> bool:
        if future.state.name == "Cached":
            return True
        try:
            return telemetry.sidecar(unit.plan.out).stat().st_mtime < started
        except (FileNotFoundError, TypeError):
            return False

    return cached


def artifact_key(kind: str, source: str) -> str:
    """Artifact keys are lowercase letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", Path(source).stem.lower()).strip("-") or "video"
    return f"{kind}-{slug}"[:100]


def track_progress(info: MediaInfo, plan: VideoPlan, futures: list[PrefectFuture]):
    """A progress artifact, moved as each segment's last unit finishes."""
    final = [futures[max(plan.ready(i))] for i in plan.final]  # a segment's last task
    artifact = create_progress_artifact(
        0.0, key=artifact_key("progress", info.path), description=f"segments done: {info.path}"
    )
    total = len(final) + 1  # + join
    for done, _ in enumerate(as_completed(final), start=1):
        update_progress_artifact(artifact, 100.0 * done / total, description=f"{done}/{len(final)} segments done")
    return artifact
