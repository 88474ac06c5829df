"""Start enhance-video from your own service through the Prefect API and wait for it.

    export PREFECT_API_URL=http://127.0.0.1:4200/api
    python examples/run_deployment.py /srv/videos/dance.mp4 --upload s3://my-bucket/finished

The path is read on the worker's machine. The run shows in the UI like any other;
re-sending the same file and settings is cheap (every step is cached).
"""

from __future__ import annotations

import argparse
import hashlib

from prefect.deployments import run_deployment


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", help="path of the video on the worker")
    ap.add_argument("--out", default="final_output", help="output folder on the worker")
    ap.add_argument("--upload", default="", help="s3://bucket/prefix (optional)")
    ap.add_argument("--background", default="none", help="none, blur, #RRGGBB or an image/video path")
    ap.add_argument("--target", default="1080p", choices=["720p", "1080p", "2160p", "none"])
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait (0: start and return)")
    args = ap.parse_args()

    job = {"input": args.video, "output_dir": args.out, "target": args.target, "background": args.background, "upload": args.upload}
    run = run_deployment(
        "enhance-video/enhance-video",
        parameters={"job": job},
        timeout=args.timeout,
        # the same request twice starts one run, not two
        idempotency_key=hashlib.sha256(repr(sorted(job.items())).encode()).hexdigest(),
        tags=["api"],
    )
    print(f"flow run {run.name}: {run.state.name if run.state else 'unknown'}")
    if run.state and run.state.is_completed():
        print(report(run.id))  # sizes, per-step cost, output path, presigned download link


def report(flow_run_id) -> str:
    """The run's Markdown report artifact (readable from any machine that reaches the API)."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType

    only = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), type=ArtifactFilterType(any_=["markdown"]))
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=only)
    return found[0].data if found else "(no report)"


if __name__ == "__main__":
    main()
