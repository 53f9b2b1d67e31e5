"""moto's S3 server on loopback for the tests that need an S3 endpoint (object storage, backup, two hosts).
The fixtures ``s3_endpoint`` (one server per test module) and ``bucket`` (a fresh one per test) are
in tests/conftest.py and use these."""
from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from core.kernel import s3store

# Throw-away credentials: set in os.environ while the server runs; other processes get them from here.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server(port: int | None = None) -> Iterator[str]:
    """moto's S3 server on ``port`` (a free loopback port by default), with CREDENTIALS while it runs."""
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    quiet = logging.getLogger("werkzeug")  # moto's server logs every request at INFO
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3store._CLIENTS.clear()  # clients built before hold other credentials
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        s3store._CLIENTS.clear()
        quiet.setLevel(level)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def new_bucket(endpoint: str):
    """A fresh bucket and a client to look inside it."""
    name = f"mtkit-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket=name)
    return name, s3


def use_s3(app, endpoint: str, bucket_name: str, storage_backend: str = "s3") -> None:
    app.config.update(MTKIT_STORAGE=storage_backend, MTKIT_S3_BUCKET=bucket_name, MTKIT_S3_PREFIX="prov/",
                      MTKIT_S3_ENDPOINT_URL=endpoint, MTKIT_S3_REGION="us-east-1")


def keys_in(s3, bucket_name: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket_name).get("Contents", []))
