from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.cache import RETRIES
from vidpipe.media import probe as engine
from vidpipe.media.probe import MediaInfo


@task(name="probe", task_run_name="probe-{path}", cache_policy=NO_CACHE, **RETRIES)
def probe(path: str) -> MediaInfo:
    """Read the input's facts (and its content hash, which keys every cache)."""
    return engine.probe(path)
