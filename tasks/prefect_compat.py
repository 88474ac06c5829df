"""Every use of Prefect's private names, in one place. Each is a workaround for something
Prefect's public API does not offer; ``tests/test_prefect_compat.py`` holds each to its
contract, so a Prefect upgrade that moves one fails there, loudly, by name, instead of
breaking ``--spread`` or the embedded server silently.

- :func:`task_workers`: the server's ``/task_workers/filter`` route (no client method).
- :func:`segment_worker_class`: Prefect's ``TaskWorker`` that reads the next background
  task only when it has a free slot (``_subscribe_to_task_scheduling``, ``_limiter``,
  ``_acquire_token``, ``_runs_task_group``, ``_safe_submit_scheduled_task_run``), and
  fails, with one line, a task whose parameters it cannot read
  (``_submit_scheduled_task_run``, ``_client``).
- :func:`start_ephemeral_server`: the ephemeral API's ``SubprocessASGIServer``, started
  early so vidpipe decides how it is spawned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

#: the private TaskWorker members the segment worker uses, for the contract test
TASK_WORKER_MEMBERS = (
    "_subscribe_to_task_scheduling",
    "_acquire_token",
    "_safe_submit_scheduled_task_run",
    "_submit_scheduled_task_run",
)
TASK_WORKER_ATTRIBUTES = ("_limiter", "_runs_task_group", "_client", "task_keys", "client_id")
TASK_WORKERS_ROUTE = "/task_workers/filter"


def task_workers(task_key: str) -> set[str]:
    """The identifiers of the task workers the server sees serving ``task_key``."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        answer = client._client.post(TASK_WORKERS_ROUTE, json={"task_worker_filter": {"task_keys": [task_key]}})
        answer.raise_for_status()
        return {w["identifier"] for w in answer.json()}


def segment_worker_class(unreadable: Callable[[object], Awaitable[str | None]]):
    """Prefect's task worker, with two changes:

    - it reads the next task only when it has a free slot. Prefect's acknowledges one more
      while it is full, and that one is lost if the machine dies;
    - a task for which ``unreadable(task_run)`` gives a reason (its parameters cannot be
      read here) fails with that line, where Prefect's deletes it while its flow run
      waits for it."""
    from prefect.task_worker import TaskWorker

    class SegmentWorker(TaskWorker):
        async def _subscribe_to_task_scheduling(self) -> None:
            from prefect.client.schemas.objects import TaskRun
            from prefect.client.subscriptions import Subscription
            from prefect.settings import get_current_settings

            scheduled = Subscription(
                model=TaskRun,
                path="/task_runs/subscriptions/scheduled",
                keys=self.task_keys,
                client_id=self.client_id,
                base_url=get_current_settings().api.url,
            )
            while True:
                room = object()
                await self._limiter.acquire_on_behalf_of(room)  # a slot first, then the next task
                task_run = await scheduled.__anext__()
                self._limiter.release_on_behalf_of(room)
                if await self._acquire_token(task_run.id):
                    self._runs_task_group.start_soon(self._safe_submit_scheduled_task_run, task_run)

        def handle_sigterm(self, signum, frame) -> None:
            raise KeyboardInterrupt  # stop as Ctrl-C does: no traceback (Prefect's own prints one)

        async def _submit_scheduled_task_run(self, task_run) -> None:
            why = await unreadable(task_run)
            if why:
                from prefect.states import Failed

                logging.getLogger("vidpipe").error("%s", why)
                await self._client.set_task_run_state(task_run.id, Failed(message=why), force=True)
                return
            await super()._submit_scheduled_task_run(task_run)

    return SegmentWorker


async def read_task_parameters(task_run) -> None:
    """Read a background task's parameters as its task worker will (raises when it cannot)."""
    from prefect.results import ResultStore, get_or_create_default_task_scheduling_storage
    from prefect.task_worker import read_parameters

    params = task_run.state.state_details.task_parameters_id if task_run.state else None
    store = ResultStore(result_storage=await get_or_create_default_task_scheduling_storage())
    await read_parameters(store, params)


def start_ephemeral_server() -> None:
    """Start the ephemeral API server this process's Prefect calls will find (one per process)."""
    from prefect.server.api import server as api

    api.SubprocessASGIServer().start()
