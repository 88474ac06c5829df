"""upload: a delivered file into S3 or an S3-compatible store (multipart, sha256
metadata, skipped when the same content is there). Not cached: the bucket is what
says whether it is done. The client is :mod:`vidpipe.storage`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidpipe import storage
from vidpipe.steps.base import Needs, Step
from vidpipe.storage import S3Target, UploadResult


@dataclass(frozen=True)
class UploadWork:
    path: str
    target: S3Target
    credentials_block: str = ""  # a named credentials block; empty = the standard AWS chain

    @property
    def label(self) -> str:
        return Path(self.path).name


class Upload(Step):
    name = "upload"
    needs = Needs(cached=False)

    def configure(self, spec, info=None) -> S3Target | None:
        return S3Target(spec.upload, spec.upload_endpoint_url or None) if spec.upload else None

    def run(self, work: UploadWork, plan=None, on_frame=None) -> UploadResult:
        return storage.upload(work.path, work.target, storage.session_for(work.credentials_block))

    def describe(self, work: UploadWork) -> str:
        return work.target.endpoint_url or "aws s3"


STEP = Upload()
