"""Orchestration: every engine step as a Prefect task, made by one factory
(:func:`task_for`), plus the cache policy (``cache.py``) and the GPU limit
(``gpu.py``). Importing this package points Prefect at the project folder before
Prefect is imported, and lets the engine read Prefect credentials blocks."""

from tasks.environment import prepare_prefect_env

prepare_prefect_env()

from tasks.factory import run, task_for  # noqa: E402 - after the environment is set

__all__ = ["run", "task_for"]
