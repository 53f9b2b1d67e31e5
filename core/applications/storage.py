"""Uploaded files: content-addressed (sha256), kept in the object store, never served directly.

The one rule for where an upload's bytes live: key ``<first two hex digits>/<sha256>`` in the
``uploads`` area of the configured store (MTKIT_STORAGE=local: MTKIT_UPLOAD_DIR, default
instance/uploads, the layout the app always had; s3: ``MTKIT_S3_PREFIX``uploads/ in the bucket).
Files are only ever reached through the authorised pages and API (``materials.open_material``).
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.context import Context
from core.kernel import objectstore
from core.kernel.objectstore import Entry, Handout, LocalStore, ObjectStore, older_than
from core.kernel.stores import open_store

AREA = "uploads"


def root(ctx: Context) -> Path:
    return Path(ctx.settings["MTKIT_UPLOAD_DIR"])


def store_of(ctx: Context, backend: str | None = None) -> ObjectStore:
    return open_store(ctx.settings, AREA, root(ctx), backend=backend)


def key_for(digest: str) -> str:
    if not is_digest(digest):
        raise ValueError("bad digest")
    return f"{digest[:2]}/{digest}"


def is_digest(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def path_for(ctx: Context, digest: str) -> Path:
    """Where the local backend keeps a file (also the source of files migrate-to-s3)."""
    return root(ctx) / key_for(digest)


def exists(ctx: Context, digest: str) -> bool:
    return store_of(ctx).exists(key_for(digest))


def store(ctx: Context, data: bytes) -> str:
    """Keep bytes under their sha256 (atomically; once) and return the hash."""
    digest = hashlib.sha256(data).hexdigest()
    target = store_of(ctx)
    if not target.exists(key_for(digest)):
        target.put(key_for(digest), data, sha256=digest)
    return digest


def read(ctx: Context, digest: str) -> bytes:
    return store_of(ctx).get(key_for(digest))


def hand_out(ctx: Context, digest: str, *, presign_seconds: int = 0, filename: str = "",
             content_type: str = "") -> Handout:
    """What a response sends for an upload: its bytes to stream, or (``presign_seconds`` on S3) a
    short-lived address; the caller has checked who may see it (objectstore.hand_out)."""
    return objectstore.hand_out(store_of(ctx), key_for(digest), presign_seconds=presign_seconds,
                                filename=filename, content_type=content_type)


@contextmanager
def local_copy(ctx: Context, digest: str, folder: Path) -> Iterator[Path]:
    """A path a separate program (pdftoppm) can read: the file itself, or a private temporary copy
    in ``folder`` that is gone afterwards."""
    target = store_of(ctx)
    path = target.local_path(key_for(digest))
    if path is not None:
        yield path
        return
    temp = LocalStore(folder)
    key = f".fetch-{digest}-{uuid.uuid4().hex}"  # several workers may render the same file at once
    temp.put(key, target.get(key_for(digest)))
    try:
        yield temp.path(key)
    finally:
        temp.delete(key)


def sha256_of_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


def sweep(ctx: Context, referenced: set[str], older_than_seconds: int) -> list[str]:
    """Remove stored files that no row references and that are older than ``older_than_seconds``
    (left by a request whose rows failed to save). Returns the keys removed."""
    target = store_of(ctx)
    removed = []
    for entry in list(target.list()):
        name = entry.key.rsplit("/", 1)[-1]
        if _leftover(entry, name, referenced) and older_than(entry, older_than_seconds):
            target.delete(entry.key)
            removed.append(entry.key)
    return removed


def _leftover(entry: Entry, name: str, referenced: set[str]) -> bool:
    if entry.key.count("/") != 1:
        return False
    if name.endswith(".part"):  # an interrupted local write
        return True
    return is_digest(name) and name not in referenced
