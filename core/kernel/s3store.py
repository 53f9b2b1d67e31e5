"""The S3 backend of core/kernel/objectstore.py (boto3).

Credentials come the standard AWS way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
~/.aws, an instance role); nothing secret is in the app's settings. Checksums are only computed and
validated when an operation requires them: newer botocore otherwise sends CRC32 trailers that
S3-compatible stores (Ceph RGW, SeaweedFS, Garage, OSS, OBS) reject. The app keeps its own check:
each object carries its sha256 in ``x-amz-meta-sha256``.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timezone
from functools import wraps
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.kernel.objectstore import Entry, MissingObject, StorageError, _check_key

_CLIENTS: dict[tuple, object] = {}
_LOCK = threading.Lock()
NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def client(endpoint_url: str | None, region: str | None):
    """One client per endpoint and region per process (boto3 clients are thread-safe, and slow to build)."""
    key = (endpoint_url, region)
    with _LOCK:
        if key not in _CLIENTS:
            config = Config(
                request_checksum_calculation="when_required", response_checksum_validation="when_required",
                # Path-style addressing for self-hosted stores (no wildcard DNS for bucket names needed).
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                signature_version="s3v4",  # presigned addresses too (botocore would sign those with SigV2)
            )
            _CLIENTS[key] = boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        return _CLIENTS[key]


def _errors(fn):
    """Every failure of the store becomes a StorageError (MissingObject for an absent key)."""
    @wraps(fn)
    def wrapper(self, key="", *args, **kwargs):
        try:
            return fn(self, key, *args, **kwargs)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in NOT_FOUND:
                raise MissingObject(key) from e
            raise StorageError(f"S3 {fn.__name__} {key}: {code}") from e
        except BotoCoreError as e:
            raise StorageError(f"S3 {fn.__name__} {key}: {type(e).__name__}") from e
    return wrapper


class S3Store:
    kind = "s3"

    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None = None, region: str | None = None):
        self.bucket, self.prefix = bucket, prefix
        self.s3 = client(endpoint_url, region)

    def name(self, key: str) -> str:
        return self.prefix + _check_key(key)

    @_errors
    def put(self, key: str, data: bytes, *, sha256: str | None = None) -> None:
        extra = {"Metadata": {"sha256": sha256}} if sha256 else {}
        self.s3.put_object(Bucket=self.bucket, Key=self.name(key), Body=data,
                           ContentType="application/octet-stream", **extra)

    @_errors
    def open(self, key: str) -> BinaryIO:
        return self.s3.get_object(Bucket=self.bucket, Key=self.name(key))["Body"]

    def get(self, key: str) -> bytes:
        with self.open(key) as body:
            return _read(body, key)

    @_errors
    def _head(self, key: str) -> dict:
        return self.s3.head_object(Bucket=self.bucket, Key=self.name(key))

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except MissingObject:
            return False
        return True

    def sha256(self, key: str) -> str | None:
        try:
            return self._head(key).get("Metadata", {}).get("sha256")
        except MissingObject:
            return None

    def local_path(self, key: str) -> Path | None:
        return None

    @_errors
    def presigned_get(self, key: str, seconds: int, *, filename: str, content_type: str) -> str:
        """A GET address valid ``seconds``, answering with the download's name and type and never
        cached. Signed locally: no request to the store."""
        return self.s3.generate_presigned_url("get_object", ExpiresIn=seconds, Params={
            "Bucket": self.bucket, "Key": self.name(key), "ResponseContentType": content_type,
            "ResponseContentDisposition": attachment(filename), "ResponseCacheControl": "no-store"})

    @_errors
    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.name(key))

    @_errors
    def _pages(self, prefix: str):
        return list(self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix))

    def list(self, prefix: str = "") -> Iterator[Entry]:
        for page in self._pages(prefix):
            for obj in page.get("Contents", []):
                modified = obj["LastModified"].replace(tzinfo=obj["LastModified"].tzinfo or timezone.utc).timestamp()
                yield Entry(obj["Key"][len(self.prefix):], obj["Size"], modified)


def attachment(filename: str) -> str:
    """Content-Disposition for a download: an ASCII fallback and the UTF-8 name (RFC 6266/5987)."""
    fallback = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _read(body, key: str) -> bytes:
    try:
        return body.read()
    except BotoCoreError as e:  # the connection broke while reading
        raise StorageError(f"S3 get {key}: {type(e).__name__}") from e
