"""Uploaded files on disk: content-addressed (sha256), outside the web root, written atomically.

Files are only ever reached through the authorised views (core/views/applications.py); the
folder (MTKIT_UPLOAD_DIR, default instance/uploads) must never be served directly.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app


def store(data: bytes) -> tuple[str, bool]:
    """Write bytes under their sha256 (atomically). Returns (hash, whether this call created it)."""
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(digest)
    if target.exists():
        return digest, False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest, True


def discard(digest: str) -> None:
    """Remove bytes this request stored when its record could not be saved (no row points at them)."""
    path_for(digest).unlink(missing_ok=True)


def path_for(digest: str) -> Path:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError("bad digest")
    return Path(current_app.config["MTKIT_UPLOAD_DIR"]) / digest[:2] / digest
