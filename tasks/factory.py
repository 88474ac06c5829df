"""One factory turns any engine step into a Prefect task: named after the step, its
runs ``<step>-<unit>``, cached by the key the engine planned (or not at all, when the
step says so), retried on transient errors only, holding a GPU slot only while a step
that says it uses the GPU here runs. The body is the engine's
:func:`vidpipe.steps.execute` (finished-file check, progress, telemetry).

A registered step gets its task here with no line of its own."""

from __future__ import annotations

import threading

from prefect import Task, task
from prefect.cache_policies import NO_CACHE

from tasks.cache import RETRIES, StepCache
from tasks.gpu import slot_for
from vidpipe import storage
from vidpipe.pipeline import Planned
from vidpipe.steps import Plan, Step, execute

_lock = threading.Lock()
_tasks: dict[str, tuple[Step, Task]] = {}


def task_for(step: Step) -> Task:
    """The Prefect task of ``step`` (made once per step object)."""
    with _lock:
        made = _tasks.get(step.name)
        if made is None or made[0] is not step:
            made = _tasks[step.name] = (step, _make(step))
        return made[1]


def run(unit: Planned, *, submit: bool = False, wait_for: list | None = None, return_state: bool = False):
    """The one way a planned unit runs: as its step's task, here and now (its result, or its
    state with ``return_state``), or with ``submit`` handed to the flow's task runner after
    ``wait_for`` (a future). The spread segment task runs its units through this too."""
    made = task_for(unit.step)
    if submit:
        return made.submit(unit.work, unit.plan, wait_for=wait_for or [])
    return made(unit.work, unit.plan, return_state=return_state)


def _make(step: Step) -> Task:
    def body(work, plan: Plan | None = None):
        return execute(step, work, plan, slot_for(step))

    body.__name__ = body.__qualname__ = step.name
    body.__doc__ = type(step).__doc__
    policy = StepCache() if step.needs.cached else NO_CACHE
    return task(body, name=step.name, task_run_name=f"{step.name}-{{work.label}}", cache_policy=policy, **RETRIES)


def _credentials_session(block: str):
    """A boto3 session from a Prefect ``AwsCredentials`` block."""
    from prefect_aws import AwsCredentials

    return AwsCredentials.load(block).get_boto3_session()


storage.set_session_resolver(_credentials_session)
