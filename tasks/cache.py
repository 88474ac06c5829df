"""The cache policy of every cached step: the key is the one the engine planned
(content hashes, settings, model files and code; never the run id, so a new run after
a crash reuses finished work), and a cache hit whose output file is gone is a miss.

When the output file is gone but its record exists, the key moves to a new
generation (``<key>-<n>``, the first without a record, remembered in ``<output>.gen``
beside a segment file, which an evicted file loses with it, and in the work folder for a
delivered file, so the user's output folder holds only outputs), so the lookup misses,
the step rewrites the same path and its record is stored under the new key. A delivered file that no longer carries the plan's tag (overwritten by another
input, or by hand) counts as gone. Nothing is deleted from the result storage, which may be local or S3."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect.cache_policies import CachePolicy

from vidpipe.errors import VidpipeError
from vidpipe.hashing import digest
from vidpipe.paths import work_dir
from vidpipe.steps import Plan
from vidpipe.steps.export_alpha import read_tag


@dataclass
class StepCache(CachePolicy):
    """The key of the task's ``plan`` argument."""

    def compute_key(self, task_ctx, inputs, flow_parameters, **kwargs) -> str | None:
        plan: Plan = inputs["plan"]
        if plan.out is None:
            return plan.key
        marker = _marker(plan)
        gen = _read_gen(marker)
        current = f"{plan.key}-{gen}" if gen else plan.key
        if not _present(plan):
            start = gen
            while _has_record(task_ctx, current):  # its record points at a file that is gone:
                gen += 1  # a new generation (past every one recorded, should the marker be gone too)
                current = f"{plan.key}-{gen}"
            if gen != start:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(str(gen))
        return current


def _marker(plan: Plan) -> Path:
    """Where the output's generation is kept. A delivered file's marker that an earlier
    vidpipe left beside it, in the user's output folder, is moved here."""
    out = Path(plan.out)
    beside = out.with_name(out.name + ".gen")
    if not plan.delivery:
        return beside
    marker = work_dir() / "delivered" / f"{digest(str(out.resolve()))[:32]}.gen"
    try:
        old = beside.read_text()
    except OSError:
        return marker
    if old.strip().isdigit():  # what vidpipe wrote there, and nothing else
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(old.strip())
        beside.unlink(missing_ok=True)
    return marker


def _present(plan: Plan) -> bool:
    """The output is there, and - for a delivered file - is still the one this plan made
    (another input or run may have written the same name since)."""
    out = Path(plan.out)
    if not out.exists():
        return False
    return not plan.delivery or read_tag(out) == plan.tag


def _read_gen(marker: Path) -> int:
    try:
        return int(marker.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _has_record(task_ctx, key: str) -> bool:
    store = getattr(task_ctx, "result_store", None)
    if store is None:
        from prefect.results import get_result_store

        store = get_result_store()
    return store.exists(key)


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
