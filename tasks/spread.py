"""One video over several machines. The per-segment model steps that read and write
files only (``Step.spreads``: upscale, restore_faces) run as Prefect background tasks:
``vidpipe worker --spread`` starts a task worker beside the flow worker on each machine,
and each takes units as it has free GPU slots (its limit is the machine's slots), so
every free card works on the video and a busy one takes nothing. The rest of the video
(matte, chained segment after segment, then join, upload, report) stays in its flow run.
All machines must share one ``VIDPIPE_HOME`` at the same path: the units' files, the
task records and the background tasks' parameters live there.

A flow run spreads when a real server is in use, ``VIDPIPE_SPREAD`` is not ``off`` and
a task worker takes these steps; otherwise every unit runs in the flow run, as before.

A machine that dies while it makes a segment leaves its task run RUNNING forever: each
unit writes a claim (which task worker runs it) in the shared home, and the flow's
:class:`Watchdog` puts a unit whose task worker the server no longer sees back in the
queue, for another machine. With no task worker left at all, the waiting units fail
with one line instead of waiting forever."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

from prefect import get_client, task
from prefect.cache_policies import CachePolicy

from tasks import prefect_compat
from vidpipe import intermediates
from vidpipe.errors import ConfigError, one_line
from vidpipe.paths import home, work_dir
from vidpipe.telemetry import machine_name

ENV = "VIDPIPE_SPREAD"  # "off": never spread a video
WORKER_ENV = "VIDPIPE_TASK_WORKER"  # set in a task worker's process
#: checks before a unit's task worker counts as gone (one check every ``Watchdog.every`` s)
STRIKES = 3


class _ThisRun(CachePolicy):
    """Keyed by the task run: a segment is never a hit for another run (each of its steps
    is cached on its own), and its result is stored where the flow run reads it. Not
    NO_CACHE (a task worker replaces that with Prefect's default policy) and not None
    (no key means no stored result)."""

    def compute_key(self, task_ctx, inputs, flow_parameters, **kwargs) -> str:
        return f"segment-{task_ctx.task_run.id}"


@task(name="segment", task_run_name="segment-{units[0][1].label}", cache_policy=_ThisRun())
def segment(units: list[tuple[str, object, object]]) -> list:
    """One segment's spread units, in order (each its own cached task run, as in a flow run)."""
    from tasks.factory import run
    from vidpipe import steps
    from vidpipe.pipeline import Planned

    with claimed(units[0][1]):
        return [run(Planned(steps.get(name), work, plan)) for name, work, plan in units]


def live_workers() -> set[str]:
    """The task workers the server sees taking segments."""
    return prefect_compat.task_workers(segment.task_key)


def takers(log: logging.Logger | None = None) -> set[str]:
    """The task workers to spread this flow run's segments over: none without a server,
    with ``VIDPIPE_SPREAD=off``, or when no machine runs ``vidpipe worker --spread``."""
    if os.environ.get(ENV, "").strip().lower() in ("0", "off", "no", "false"):
        return set()
    if not os.environ.get("PREFECT_API_URL"):
        return set()  # the embedded default: one process, nothing to spread to
    try:
        return live_workers()
    except Exception as e:  # noqa: BLE001 - an old server or a hiccup: run here, as without workers
        if log:
            log.warning("could not ask the server for task workers (%s); every segment runs here", e)
        return set()


def serve(limit: int) -> None:
    """This machine's task worker: take segments, ``limit`` at a time (its GPU slots),
    until SIGTERM or Ctrl-C."""
    import asyncio

    from prefect.task_worker import StopTaskWorker

    os.environ[WORKER_ENV] = "1"
    stops = (StopTaskWorker, asyncio.CancelledError, KeyboardInterrupt)

    async def main() -> None:
        try:
            await prefect_compat.segment_worker_class(_unreadable)(segment, limit=limit).astart()
        except stops:
            pass
        except BaseExceptionGroup as group:
            _, rest = group.split(stops)
            if rest is not None:
                raise rest from None

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


async def _unreadable(task_run) -> str | None:
    """Why this machine cannot make a segment the server handed it, or None: then it is
    claimed at once, before the task engine starts it, so the watchdog knows whose it is
    from the moment it left the queue (a machine that died between taking a segment and
    starting it held it unclaimed, and the run waited for it forever)."""
    try:
        await prefect_compat.read_task_parameters(task_run)
    except Exception as e:  # noqa: BLE001 - any reason is the one line
        return (
            f"{task_run.name}: machine {machine_name()} cannot read its parameters ({one_line(e, 200)}); "
            "--spread needs every machine's VIDPIPE_HOME to be one shared folder, at the same path"
        )
    _claim(task_run.id)
    return None


# -- in the task worker: the claim, and the shared-home check ------------------------------------


def client_id() -> str:
    """The id Prefect's task worker gives itself (and the server lists)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def claim_path(task_run_id: UUID | str) -> Path:
    return home() / "spread" / f"{task_run_id}.json"


@contextlib.contextmanager
def claimed(work) -> Iterator[None]:
    """In a task worker: check this machine sees the run's work folder, and say which
    task worker makes this unit while it does. Anywhere else: nothing."""
    if not os.environ.get(WORKER_ENV):
        yield
        return
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    path = claim_path(ctx.task_run.id) if ctx else None  # claimed when taken (_unreadable); said again, as it runs
    try:
        video = work.info.sha256[:16]
        if not intermediates.visible(video):
            raise ConfigError(
                f"{work.info.path} ({work.label}): machine {machine_name()} does not see the work folder of the run "
                f"that planned it ({work_dir() / video} is missing here): --spread needs every machine's "
                "VIDPIPE_HOME to be one shared folder, at the same path"
            )
        if path is not None:
            _claim(ctx.task_run.id)
        yield
    finally:
        if path is not None:
            path.unlink(missing_ok=True)


def _claim(task_run_id: UUID | str) -> Path:
    """Say that this task worker makes the unit ``task_run_id``."""
    path = claim_path(task_run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"worker": client_id(), "machine": machine_name(), "pid": os.getpid()}))
    return path


def read_claim(task_run_id: UUID | str) -> dict | None:
    try:
        return json.loads(claim_path(task_run_id).read_text())
    except (OSError, ValueError):
        return None


# -- in the flow run: dispatch and watch -------------------------------------------------------


def groups(plan) -> dict[int, list[int]]:
    """The units to spread, by segment: first unit's index -> every spread unit of that
    segment, in order. A spread unit that waits on a unit made here stays here."""
    group_of: dict[int, int] = {}
    found: dict[int, list[int]] = {}
    for i in plan.tasks:
        unit = plan.items[i]
        if not unit.step.spreads:
            continue
        leaders = {group_of.get(d) for d in unit.deps}
        if not unit.deps:
            group_of[i] = i
            found[i] = [i]
        elif len(leaders) == 1 and None not in leaders:
            leader = leaders.pop()
            group_of[i] = leader
            found[leader].append(i)
    return found


class Spread:
    """Dispatches one flow run's segments to the task workers, and watches them."""

    def __init__(self, log: logging.Logger, batches: dict[int, list[int]]):
        self.log = log
        self.batches = batches  # groups(plan): what goes to the task workers
        self.units: dict[UUID, str] = {}  # task run -> what it makes, for messages

    def submit(self, units: list) -> object:
        """One segment's spread ``units`` as one background task."""
        future = segment.apply_async(([(u.step.name, u.work, u.plan) for u in units],))
        self.units[future.task_run_id] = f"{'+'.join(u.step.name for u in units)} {units[0].work.label}"
        return future

    @contextlib.contextmanager
    def watching(self) -> Iterator[Watchdog]:
        dog = Watchdog(self)
        if self.units:
            dog.start()
        try:
            yield dog
        finally:
            dog.stop.set()
            for run in self.units:  # a claim a killed task worker left behind
                claim_path(run).unlink(missing_ok=True)


class Watchdog(threading.Thread):
    """Re-queues a segment whose task worker is gone (a dead machine); fails the waiting
    segments when no task worker has been online for ``gone_after`` seconds."""

    every = 5.0
    gone_after = 60.0
    resend_after = 30.0

    def __init__(self, spread: Spread):
        super().__init__(daemon=True, name="vidpipe-spread-watchdog")
        self.spread = spread
        self.stop = threading.Event()
        self.strikes: dict[UUID, int] = {}
        self.alone_since: float | None = None
        self.requeued = 0
        self.resent: dict[UUID, float] = {}  # queued again by the watchdog: when
        self.resends: dict[UUID, int] = {}  # sent once more, unclaimed: how often

    def run(self) -> None:
        with get_client(sync_client=True) as client:
            while not self.stop.wait(self.every):
                try:
                    if not self._check(client):
                        return
                except Exception as e:  # noqa: BLE001 - a server hiccup: look again next time
                    self.spread.log.debug("spread watchdog: %s", e)

    def _check(self, client) -> bool:
        """One look; False when there is nothing left to watch."""
        from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId

        ids, runs = list(self.spread.units), []
        for at in range(0, len(ids), 200):  # the server answers at most 200 runs at a time
            part = TaskRunFilter(id=TaskRunFilterId(any_=ids[at : at + 200]))
            runs += client.read_task_runs(task_run_filter=part, limit=200)
        waiting = [r for r in runs if r.state is not None and not r.state.is_final()]
        if not waiting:
            return False
        live = live_workers()
        if live:
            self.alone_since = None
        else:
            self.alone_since = self.alone_since or time.monotonic()
            if time.monotonic() - self.alone_since >= self.gone_after:
                self._fail(client, waiting)
                return False
        for run in waiting:
            self._look(client, run, live)
        return True

    def _look(self, client, run, live: set[str]) -> None:
        claim = read_claim(run.id) or {}
        owner = claim.get("worker")
        sent = self.resent.get(run.id)
        if owner is None and sent is not None and run.state.is_scheduled() and live:
            # queued again, and no task worker took it (at most 3 times: a busy farm only delays it)
            if time.monotonic() - sent >= self.resend_after and self.resends.get(run.id, 0) < 3:
                self.resends[run.id] = self.resends.get(run.id, 0) + 1
                self._queue_again(client, run)
                self.spread.log.warning(
                    "%s: no machine took it again in %.0f s; queued once more",
                    self.spread.units[run.id],
                    self.resend_after,
                )
            return
        if owner is None or owner in live:
            self.strikes.pop(run.id, None)
            return
        self.strikes[run.id] = self.strikes.get(run.id, 0) + 1
        if self.strikes[run.id] < STRIKES:
            return
        self._queue_again(client, run)
        self.requeued += 1
        self.spread.log.warning(
            "%s: machine %s stopped answering while it made this segment; queued again for another machine",
            self.spread.units[run.id],
            claim.get("machine", owner),
        )

    def _queue_again(self, client, run) -> None:
        """Back in the server's queue for any task worker. A run the server handed to a task
        worker that died before it said so can be lost there: one that stays unclaimed is sent
        again after :attr:`resend_after` seconds (``_look``)."""
        from prefect.states import Scheduled

        again = Scheduled()
        again.state_details.deferred = True
        again.state_details.task_parameters_id = next(  # where its parameters are, as when it was first queued
            st.state_details.task_parameters_id
            for st in client.read_task_run_states(run.id)
            if st.state_details.task_parameters_id
        )
        claim_path(run.id).unlink(missing_ok=True)
        client.set_task_run_state(run.id, again, force=True)
        self.strikes.pop(run.id, None)
        self.resent[run.id] = time.monotonic()

    def _fail(self, client, waiting) -> None:
        from prefect.states import Failed

        for run in waiting:
            label = self.spread.units[run.id]
            message = (
                f"{label}: no machine takes segments any more (no vidpipe worker --spread has been online "
                f"for {self.gone_after:.0f} s); start one and retry this run"
            )
            client.set_task_run_state(run.id, Failed(message=message), force=True)
        self.spread.log.error("no vidpipe worker --spread is online: %d segments failed", len(waiting))
