"""Uploaded files on disk: content-addressed (sha256), outside the web root, written atomically.

Files are only ever reached through the authorised pages and API (``materials.open_material``);
the folder (``MTKIT_UPLOAD_DIR``, default instance/uploads) must never be served directly.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from core.context import Context
from core.kernel.files import private_dir


def root(ctx: Context) -> Path:
    return Path(ctx.settings["MTKIT_UPLOAD_DIR"])


def path_for(ctx: Context, digest: str) -> Path:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError("bad digest")
    return root(ctx) / digest[:2] / digest


def exists(ctx: Context, digest: str) -> bool:
    return path_for(ctx, digest).is_file()


def store(ctx: Context, data: bytes) -> str:
    """Write bytes under their sha256 (atomically) and return the hash."""
    digest = hashlib.sha256(data).hexdigest()
    target = path_for(ctx, digest)
    if target.exists():
        return digest
    private_dir(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")  # 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def sweep(ctx: Context, referenced: set[str], older_than_seconds: int) -> list[Path]:
    """Remove stored files that no row references and that are older than ``older_than_seconds``
    (left by a request whose rows failed to save). Returns what was removed."""
    cutoff = time.time() - older_than_seconds
    removed = []
    for path in root(ctx).glob("??/*"):
        name = path.name
        if name.endswith(".part"):
            if path.stat().st_mtime < cutoff:  # an interrupted write
                path.unlink(missing_ok=True)
                removed.append(path)
            continue
        if len(name) == 64 and name not in referenced and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
