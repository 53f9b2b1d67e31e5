"""moto's S3 server on loopback, shared by the tests that need an S3 endpoint (object storage, two hosts)."""
from __future__ import annotations

import contextlib
import logging
import os
import socket

from moto.server import ThreadedMotoServer

from core.kernel import s3store

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_s3(port: int | None = None):
    """Start moto's S3 server on ``port`` (a free one by default) with throw-away credentials in
    os.environ (other processes get them from CREDENTIALS); yields its endpoint URL."""
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
