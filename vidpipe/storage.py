"""upload: put a finished file into S3 or an S3-compatible store (MinIO, R2, moto).

Multipart through boto3's transfer manager; the file's sha256 travels as object
metadata and is checked after the upload; an object that already carries the same
sha256 and size is not sent again. Errors are sorted into permanent (access denied,
no such bucket, bad credentials: one clear line, never retried) and transient
(throttling, 5xx, connection resets: botocore retries them, then the task may)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from vidpipe.errors import ConfigError, VidpipeError
from vidpipe.hashing import file_sha256

MB = 1 << 20
#: parts of 16 MB, 4 at a time; files under 16 MB go in one request
PART_BYTES = 16 * MB
PRESIGN_SECONDS = 7 * 24 * 3600
PERMANENT_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "NoSuchBucket",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidBucketName",
    "AuthorizationHeaderMalformed",
    "ExpiredToken",
    "InvalidToken",
    "403",
    "404",
}


#: credentials block name -> boto3 session; installed by the layer that knows what
#: blocks are (``tasks/`` installs Prefect's ``AwsCredentials``)
_session_resolver: Callable[[str], object] | None = None


def set_session_resolver(resolver: Callable[[str], object] | None) -> None:
    global _session_resolver
    _session_resolver = resolver


def session_for(credentials_block: str):
    """A boto3 session for a named credentials block, or None: the standard AWS chain
    (environment, shared profile, instance role)."""
    if not credentials_block:
        return None
    if _session_resolver is None:
        raise ConfigError(f"credentials block {credentials_block!r}: blocks are read through Prefect (vidpipe run)")
    return _session_resolver(credentials_block)


class UploadError(VidpipeError, OSError):
    """The upload failed; ``transient`` says whether trying again may help."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class S3Target:
    """Where finished files go: ``s3://bucket/prefix``; ``endpoint_url`` for
    S3-compatible stores."""

    url: str
    endpoint_url: str | None = None
    region: str | None = None

    @property
    def bucket(self) -> str:
        return parse_s3_url(self.url)[0]

    def key_for(self, path: str | Path) -> str:
        prefix = parse_s3_url(self.url)[1]
        return f"{prefix.rstrip('/')}/{Path(path).name}" if prefix else Path(path).name


@dataclass(frozen=True)
class UploadResult:
    bucket: str
    key: str
    sha256: str
    size: int
    uploaded: bool  # False: the same content was already there
    url: str  # presigned GET link

    @property
    def s3_url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix")."""
    p = urlparse(url)
    if p.scheme != "s3" or not p.netloc:
        raise UploadError(f"upload target {url!r} is not an s3://bucket/prefix URL")
    return p.netloc, p.path.strip("/")


#: the first contact: tries and connect timeout (s) before "cannot reach" (a wrong URL or port, no network)
REACH_ATTEMPTS, REACH_TIMEOUT = 2, 5


def _client(target: S3Target, session=None, attempts: int | None = None, connect_timeout: float = 10):
    import boto3
    from botocore.config import Config

    session = session or boto3.session.Session()
    if attempts is None:
        attempts = int(os.environ.get("AWS_MAX_ATTEMPTS", "5"))  # botocore retries throttling, 5xx, resets
    config = Config(
        retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=connect_timeout, read_timeout=60
    )
    return session.client("s3", endpoint_url=target.endpoint_url or None, region_name=target.region, config=config)


def _reach(target: S3Target, session=None) -> None:
    """Ask for the bucket once or twice, quickly: an endpoint that cannot be reached at all
    is one line naming it and the cause, not retried (a later run uploads what is
    delivered); 404: no such bucket, 403: access denied."""
    from botocore.exceptions import ConnectionError as BotoConnectionError

    try:
        _client(target, session, REACH_ATTEMPTS, REACH_TIMEOUT).head_bucket(Bucket=target.bucket)
    except BotoConnectionError as e:
        endpoint = target.endpoint_url or "S3"
        raise UploadError(f"upload {target.url}: cannot reach {endpoint} ({_cause(e)})") from None


def _cause(error: Exception) -> str:
    """What went wrong under a botocore connection error, in a few words: the innermost
    OS error's ("Connection refused"), else the error's own text."""
    reasons = [e.strerror for e in _chain(error) if isinstance(e, OSError) and (e.strerror or "").strip()]
    if reasons:
        return reasons[-1]
    text = str(error)
    return text.split(": ")[-1] if "Could not connect" in text else text


def classify(error: Exception, target: S3Target, what: str) -> UploadError:
    """One line naming the target and the cause; transient for throttling, 5xx and
    dropped connections, permanent for everything the user has to fix."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where = f"{what} {target.url}" + (f" at {target.endpoint_url}" if target.endpoint_url else "")
    if isinstance(error, NoCredentialsError):
        return UploadError(
            f"{where}: no AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, "
            "or an AwsCredentials block name)"
        )
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        msg = error.response.get("Error", {}).get("Message", "") or code
        if code in PERMANENT_CODES or 400 <= status < 500 and code not in ("SlowDown", "Throttling", "RequestTimeout"):
            hint = {
                "NoSuchBucket": "the bucket does not exist",
                "404": "the bucket does not exist",
                "AccessDenied": "access denied",
                "403": "access denied",
            }.get(code, msg)
            return UploadError(f"{where}: {hint} ({code})")
        return UploadError(f"{where}: {msg} ({code or status}), will retry", transient=True)
    if isinstance(error, EndpointConnectionError | ConnectionError | TimeoutError):
        return UploadError(f"{where}: cannot connect ({error})", transient=True)
    return UploadError(f"{where}: {error}", transient=isinstance(error, OSError))


def remote_sha256(client, bucket: str, key: str) -> tuple[str | None, int]:
    """The sha256 metadata and size of an object, (None, 0) when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if str(e.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
            return None, 0
        raise
    return head.get("Metadata", {}).get("sha256"), int(head.get("ContentLength", 0))


def upload(
    path: str | Path,
    target: S3Target,
    session=None,
    on_bytes: Callable[[int], None] | None = None,
) -> UploadResult:
    """Upload ``path`` to ``target`` unless the same content is already there."""
    from boto3.s3.transfer import TransferConfig

    path = Path(path)
    if not path.is_file():
        raise UploadError(f"{path}: nothing to upload (file not found)")
    bucket, key = target.bucket, target.key_for(path)
    sha, size = file_sha256(path), path.stat().st_size
    try:
        _reach(target, session)
        client = _client(target, session)
        have, have_size = remote_sha256(client, bucket, key)
        uploaded = not (have == sha and have_size == size)
        if uploaded:
            transfer = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4)
            extra = {"Metadata": {"sha256": sha}, "ContentType": _content_type(path)}
            client.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=transfer, Callback=on_bytes)
            have, have_size = remote_sha256(client, bucket, key)
            if have != sha or have_size != size:
                raise UploadError(
                    f"upload {target.url}: s3://{bucket}/{key} reads back as {have_size} bytes, sha256 {have}; "
                    f"expected {size} bytes, sha256 {sha}",
                    transient=True,
                )
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS
        )
    except UploadError:
        raise
    except Exception as e:  # sorted into one clear line by classify
        if type(e).__module__.startswith(("botocore", "boto3", "s3transfer")) or isinstance(e, OSError):
            raise classify(_root_cause(e), target, "upload") from e
        raise
    return UploadResult(bucket, key, sha, size, uploaded, url)


def _root_cause(error: BaseException) -> BaseException:
    """boto3 wraps a part's ClientError in S3UploadFailedError; find the ClientError."""
    from botocore.exceptions import BotoCoreError, ClientError

    return next((e for e in _chain(error) if isinstance(e, ClientError | BotoCoreError)), error)


def _chain(error: BaseException):
    """``error``, then what it was raised from or during, down to the first."""
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def _content_type(path: Path) -> str:
    return {".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm", ".zip": "application/zip"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
