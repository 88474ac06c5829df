"""The cache policy of every step: a key computed by the engine from content hashes,
settings, model files and code (never the run id, so a new run after a crash
reuses finished work), and a cache hit whose output file is gone is a miss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.settings import get_current_settings

from vidpipe.errors import VidpipeError

Plan = Callable[[dict[str, Any]], tuple[str, Path | None]]


def _forget(key: str) -> None:
    """Drop the result record of ``key`` (its file name is the key)."""
    storage = Path(get_current_settings().results.local_storage_path).expanduser()
    (storage / key).unlink(missing_ok=True)


@dataclass
class StepCache(CachePolicy):
    """``plan(inputs) -> (key, output path or None)``, from the engine."""

    plan: Plan = field(default=None)  # type: ignore[assignment]

    def compute_key(self, task_ctx, inputs, flow_parameters, **kwargs) -> str | None:
        key, out = self.plan(inputs)
        if out is not None and not Path(out).exists():
            _forget(key)
        return key


def transient_only(task, task_run, state) -> bool:
    """Retry I/O hiccups; never bad input or settings (any VidpipeError)."""
    try:
        state.result()
    except VidpipeError as e:
        return e.transient
    except (OSError, TimeoutError, ConnectionError, MemoryError):
        return True
    except Exception:  # noqa: BLE001 - a bug does not fix itself on retry
        return False
    return True


RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10], "retry_condition_fn": transient_only}
