"""The contract of every Prefect private name vidpipe uses (all in tasks/prefect_compat.py):
on a Prefect upgrade that moves one, these fail here, naming it. Nothing else in the
project may reach into Prefect's private names."""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path

from tasks import prefect_compat

ROOT = Path(__file__).resolve().parents[1]


def test_the_task_worker_members_the_segment_worker_overrides_or_calls_exist():
    from prefect import task
    from prefect.task_worker import TaskWorker

    for name in prefect_compat.TASK_WORKER_MEMBERS:
        member = getattr(TaskWorker, name, None)
        assert inspect.iscoroutinefunction(member), f"TaskWorker.{name} is gone or no longer a coroutine"
    assert list(inspect.signature(TaskWorker._acquire_token).parameters) == ["self", "task_run_id"]
    assert list(inspect.signature(TaskWorker._submit_scheduled_task_run).parameters) == ["self", "task_run"]

    @task
    def nothing() -> None:
        return None

    async def made():  # a task worker is made inside an event loop
        return TaskWorker(nothing, limit=2), prefect_compat.segment_worker_class(lambda run: None)(nothing, limit=1)

    worker, segment_worker = asyncio.run(made())
    for name in prefect_compat.TASK_WORKER_ATTRIBUTES:
        assert hasattr(worker, name), f"TaskWorker instances have no {name} any more"
    limiter = worker._limiter  # an anyio CapacityLimiter: taken and given back on behalf of a borrower
    assert (
        limiter.total_tokens == 2 and callable(limiter.acquire_on_behalf_of) and callable(limiter.release_on_behalf_of)
    )
    assert worker.task_keys == {nothing.task_key}
    subclass = type(segment_worker)
    assert issubclass(subclass, TaskWorker) and segment_worker._limiter.total_tokens == 1
    for name in ("_subscribe_to_task_scheduling", "_submit_scheduled_task_run"):  # overridden, with the same shape
        assert getattr(subclass, name) is not getattr(TaskWorker, name)
        assert (
            inspect.signature(getattr(subclass, name)).parameters.keys()
            == inspect.signature(getattr(TaskWorker, name)).parameters.keys()
        )


def test_the_subscription_the_segment_worker_opens_takes_its_arguments():
    from prefect.client.subscriptions import Subscription

    assert {"model", "path", "keys", "client_id", "base_url"} <= set(inspect.signature(Subscription).parameters)
    assert hasattr(Subscription, "__anext__")


def test_the_server_answers_the_task_workers_route_and_the_client_has_a_raw_http_client():
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.server.api import task_workers

    paths = {getattr(r, "path", "") for r in task_workers.router.routes}
    assert prefect_compat.TASK_WORKERS_ROUTE in paths, f"no {prefect_compat.TASK_WORKERS_ROUTE} route: {paths}"
    assert "_client" in inspect.getsource(SyncPrefectClient.__init__), "SyncPrefectClient keeps no _client"


def test_the_parameters_reader_and_the_ephemeral_server_are_where_they_were():
    from prefect.results import ResultStore, get_or_create_default_task_scheduling_storage
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.task_worker import read_parameters

    assert inspect.iscoroutinefunction(read_parameters) and list(inspect.signature(read_parameters).parameters)[:2] == [
        "result_store",
        "identifier",
    ]
    assert inspect.iscoroutinefunction(get_or_create_default_task_scheduling_storage)
    assert "result_storage" in ResultStore.model_fields
    assert callable(SubprocessASGIServer.start)


def test_no_other_module_uses_a_private_prefect_name():
    """``x._name`` on a Prefect object, or a ``_name`` imported from prefect, only in prefect_compat."""
    for path in [
        *ROOT.glob("tasks/*.py"),
        *ROOT.glob("flows/*.py"),
        *ROOT.glob("deployments/*.py"),
        *ROOT.glob("app/*.py"),
        *ROOT.glob("vidpipe/**/*.py"),
    ]:
        if path.name == "prefect_compat.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prefect"):
                assert not any(a.name.startswith("_") for a in node.names), f"{path}: {ast.unparse(node)}"
                assert not any(p.startswith("_") for p in node.module.split(".")), f"{path}: {ast.unparse(node)}"
        text = path.read_text()
        for name in (
            *prefect_compat.TASK_WORKER_MEMBERS,
            "_limiter",
            "_runs_task_group",
            "client._client",
            "SubprocessASGIServer",
        ):
            assert name not in text, f"{path}: uses {name} (keep it in tasks/prefect_compat.py)"
