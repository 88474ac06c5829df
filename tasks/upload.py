from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.cache import RETRIES
from vidpipe import storage
from vidpipe.storage import S3Target, UploadResult


def _session(credentials_block: str):
    """A boto3 session from a Prefect ``AwsCredentials`` block, or None: the standard
    AWS chain (environment, shared profile, instance role)."""
    if not credentials_block:
        return None
    from prefect_aws import AwsCredentials

    return AwsCredentials.load(credentials_block).get_boto3_session()


@task(name="upload", task_run_name="upload-{path}", cache_policy=NO_CACHE, **RETRIES)
def upload(path: str, target: S3Target, credentials_block: str = "") -> UploadResult:
    """Upload one finished file (skipped when the same content is already there)."""
    return storage.upload(path, target, _session(credentials_block))
