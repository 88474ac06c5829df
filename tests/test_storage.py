"""upload against a real S3 API on loopback (moto's server): multipart, checksum
metadata, idempotence, presigned links, and one clear line for what a user must fix."""

import hashlib
import urllib.request

import pytest
from helpers import free_port

from vidpipe.storage import S3Target, UploadError, classify, upload


def _file(path, size, seed=0):
    data = bytes((i * 31 + seed) % 251 for i in range(256)) * (size // 256 + 1)
    path.write_bytes(data[:size])
    return path


def test_upload_stores_checksum_and_link_serves_the_same_bytes(bucket, s3_endpoint, tmp_path):
    name, client = bucket
    video = _file(tmp_path / "clip_final.mp4", 300_000)
    result = upload(video, S3Target(f"s3://{name}/out/2026", s3_endpoint))
    assert result.uploaded and result.key == "out/2026/clip_final.mp4"
    head = client.head_object(Bucket=name, Key=result.key)
    sha = hashlib.sha256(video.read_bytes()).hexdigest()
    assert head["Metadata"]["sha256"] == sha == result.sha256
    assert head["ContentType"] == "video/mp4"
    with urllib.request.urlopen(result.url, timeout=30) as r:  # the presigned link works without credentials
        assert hashlib.sha256(r.read()).hexdigest() == sha


def test_large_file_goes_in_parts_and_same_content_is_not_sent_again(bucket, s3_endpoint, tmp_path, monkeypatch):
    import vidpipe.storage as storage

    monkeypatch.setattr(storage, "PART_BYTES", 5 << 20)  # S3's smallest part
    name, client = bucket
    video = _file(tmp_path / "big_final.mp4", 12 << 20)
    target = S3Target(f"s3://{name}", s3_endpoint)
    first = upload(video, target)
    etag = client.head_object(Bucket=name, Key="big_final.mp4")["ETag"]
    assert first.uploaded and etag.strip('"').endswith("-3")  # three parts
    again = upload(video, target)
    assert not again.uploaded and again.sha256 == first.sha256
    assert client.head_object(Bucket=name, Key="big_final.mp4")["ETag"] == etag  # untouched
    _file(video, 12 << 20, seed=7)  # new content under the same name is uploaded
    changed = upload(video, target)
    assert changed.uploaded and changed.sha256 != first.sha256


def test_missing_bucket_is_one_clear_permanent_error(s3_endpoint, tmp_path):
    video = _file(tmp_path / "a_final.mp4", 1000)
    with pytest.raises(UploadError) as e:
        upload(video, S3Target("s3://no-such-bucket-here/x", s3_endpoint))
    assert not e.value.transient
    assert "s3://no-such-bucket-here/x" in str(e.value) and "does not exist" in str(e.value)
    assert "\n" not in str(e.value)


def test_an_unreachable_endpoint_is_one_line_naming_it_and_is_not_retried(tmp_path, monkeypatch):
    port = free_port()  # a loopback port nobody listens on
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with pytest.raises(UploadError) as e:
        upload(_file(tmp_path / "a.mp4", 100), S3Target("s3://b/x", f"http://127.0.0.1:{port}"))
    assert not e.value.transient, e.value  # a wrong URL or port does not fix itself; a later run uploads
    assert str(e.value) == f"upload s3://b/x: cannot reach http://127.0.0.1:{port} (Connection refused)"


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("AccessDenied", 403, False),
        ("NoSuchBucket", 404, False),
        ("InvalidAccessKeyId", 403, False),
        ("SlowDown", 503, True),
        ("InternalError", 500, True),
        ("RequestTimeout", 400, True),
    ],
)
def test_errors_are_sorted_into_permanent_and_transient(code, status, transient):
    from botocore.exceptions import ClientError

    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Put"
    )
    assert classify(error, S3Target("s3://b/p"), "upload").transient is transient


def test_not_an_s3_url():
    from pydantic import ValidationError

    from vidpipe.config import JobSpec

    with pytest.raises(ValidationError, match="s3://bucket/prefix"):
        JobSpec(upload="my-bucket/videos")
    from vidpipe.steps import upload as step

    spec = JobSpec(upload="s3://b/p", upload_endpoint_url="http://x")
    assert step.STEP.configure(spec) == S3Target("s3://b/p", "http://x")


@pytest.mark.usefixtures("prefect_api")
def test_credentials_from_a_prefect_aws_credentials_block(bucket, s3_endpoint, tmp_path, monkeypatch):
    from prefect_aws import AwsCredentials

    import tasks  # noqa: F401 - installs the Prefect block reader
    from vidpipe.storage import session_for

    name, client = bucket
    AwsCredentials(aws_access_key_id="from-block", aws_secret_access_key="block-secret", region_name="us-east-1").save(
        "vidpipe-test-creds", overwrite=True
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")  # nothing in the environment: the block is the only source
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    session = session_for("vidpipe-test-creds")
    assert session.get_credentials().access_key == "from-block"
    result = upload(_file(tmp_path / "b_final.mp4", 5000), S3Target(f"s3://{name}", s3_endpoint), session)
    assert result.uploaded and client.head_object(Bucket=name, Key="b_final.mp4")["ContentLength"] == 5000
