"""The GPU limit: with a global concurrency limit of 2 slots, four upscale segments
submitted at once never have more than two inside the GPU section; cache hits
never wait for a slot; every slot is given back."""

import threading
import time
import uuid

import pytest

from vidpipe.config import VideoJob

pytestmark = pytest.mark.usefixtures("prefect_api")


class Gauge:
    """How many calls are inside the wrapped function at once (and at most)."""

    def __init__(self, inner, hold: float):
        self.inner, self.hold = inner, hold
        self.lock = threading.Lock()
        self.inside = self.most = self.calls = 0

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.inside += 1
            self.calls += 1
            self.most = max(self.most, self.inside)
        try:
            time.sleep(self.hold)  # long enough for the other workers to try for a slot
            return self.inner(*args, **kwargs)
        finally:
            with self.lock:
                self.inside -= 1


def _limit(name: str):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name)


@pytest.mark.slow
def test_four_gpu_tasks_at_most_two_inside_and_cache_hits_never_wait(clip, tmp_path, monkeypatch):
    from prefect import get_client
    from prefect.concurrency.sync import concurrency
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.enhance_video import enhance_video
    from vidpipe.steps import upscale as engine

    name = f"gpu-test-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=2)
    monkeypatch.setenv("VIDPIPE_GPU_LIMIT", name)
    monkeypatch.setattr(engine.STEP, "uses_gpu", lambda work: True)  # as on a GPU machine
    gauge = Gauge(engine.upscale, hold=1.0)
    monkeypatch.setattr(engine, "upscale", gauge)

    src = clip(width=64, height=36, frames=24, fps=24)
    job = VideoJob(
        input=str(src), output_dir=str(tmp_path), target="none", scale=2, segment_seconds=0.25, preset="ultrafast"
    )
    four_at_once = enhance_video.with_options(task_runner=ThreadPoolTaskRunner(max_workers=4))
    state = four_at_once(job, return_state=True)
    assert state.is_completed(), state.message
    assert gauge.calls == 4  # four segments, all computed
    assert 1 <= gauge.most <= 2, f"{gauge.most} upscale segments were inside the GPU section at once"
    assert _limit(name).active_slots == 0  # every slot given back

    # every slot taken by someone else: a run whose segments are all cached still finishes
    finished = threading.Event()
    with concurrency(name, occupy=2, strict=True):
        worker = threading.Thread(target=lambda: four_at_once(job) and finished.set(), daemon=True)
        worker.start()
        worker.join(timeout=120)
        assert finished.is_set(), "a cached run waited for a GPU slot"
    assert gauge.calls == 4  # nothing recomputed
    assert _limit(name).active_slots == 0


def test_strict_limit_missing_is_an_error_not_a_free_for_all(clip, tmp_path, monkeypatch):
    from flows.enhance_video import enhance_video
    from vidpipe.steps import upscale

    monkeypatch.setenv("VIDPIPE_GPU_LIMIT", f"gpu-missing-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(upscale.STEP, "uses_gpu", lambda work: True)  # as on a GPU machine
    src = clip(width=48, height=32, frames=6, fps=24)
    job = VideoJob(input=str(src), output_dir=str(tmp_path), target="none", scale=2, preset="ultrafast")
    state = enhance_video(job, return_state=True)
    assert state.is_failed()
    assert "gpu-missing-" in state.message or "gpu-missing-" in str(state.result(raise_on_failure=False))


def test_a_step_on_the_cpu_takes_no_gpu_slot(clip, tmp_path, monkeypatch):
    """Steps declare whether they run a model on this machine's GPU; here (no GPU) the
    upscale runs on the CPU, so even a missing strict limit is never asked for."""
    from flows.enhance_video import enhance_video
    from vidpipe.steps import upscale

    monkeypatch.setenv("VIDPIPE_GPU_LIMIT", f"gpu-missing-{uuid.uuid4().hex[:8]}")
    src = clip(width=48, height=32, frames=6, fps=24)
    job = VideoJob(input=str(src), output_dir=str(tmp_path), target="none", scale=2, preset="ultrafast", crf=30)
    from vidpipe.media.probe import probe
    from vidpipe.steps.base import SegmentWork
    from vidpipe.steps.split import timeline

    info = probe(src)
    work = SegmentWork(info, timeline(info, 4.0).segments[0], upscale.STEP.configure(job.spec(), info))
    assert upscale.STEP.uses_gpu(work) is False  # ncnn on the CPU of this machine
    state = enhance_video(job, return_state=True)
    assert state.is_completed(), state.message
