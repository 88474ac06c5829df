from __future__ import annotations

import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks.split import Timeline
from vidpipe import report as engine
from vidpipe.media import still
from vidpipe.media.probe import MediaInfo, probe


def artifact_key(kind: str, source: str) -> str:
    """Artifact keys are lowercase letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", Path(source).stem.lower()).strip("-") or "video"
    return f"{kind}-{slug}"[:100]


@task(name="report", task_run_name="report-{output}", cache_policy=NO_CACHE)
def report(
    info: MediaInfo,
    timeline: Timeline,
    output: str,
    rows: list[engine.StepRow],
    upload_url: str | None = None,
    wall_seconds: float | None = None,
) -> str:
    """Write the before/after still beside the output and publish the run report
    as a Markdown artifact; returns the Markdown."""
    picture = still.compare(info, timeline.timestamps, output, still.still_path(output))
    text = engine.markdown(info, probe(output), rows, output, str(picture), upload_url, wall_seconds)
    create_markdown_artifact(text, key=artifact_key("enhance", info.path), description=f"vidpipe: {info.path}")
    return text
