"""Where the app keeps bytes: one interface, two backends.

``local`` (the default) keeps each object as a file under a folder, exactly where the app always
kept it (``<root>/<key>``, folders 0700, files 0600, written atomically). ``s3`` keeps it in a
bucket through the S3 API (AWS, or a compatible store: Ceph RGW, SeaweedFS, Garage, MinIO, OSS,
OBS) under ``MTKIT_S3_PREFIX<area>/<key>``. The bucket is private: readers get the bytes through
the app, which checks who may see them first.

Keys are relative paths with ``/`` separators that the caller derives from the content; this
module never decides what a key means (core/applications/storage.py does, for uploads).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from core.kernel.files import private_dir


class StorageError(Exception):
    """The store could not be reached or refused the request (network, credentials, bucket)."""


class MissingObject(StorageError):
    """No object under that key."""


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    modified: float  # seconds since the epoch


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, *, sha256: str | None = None) -> None: ...
    def open(self, key: str) -> BinaryIO: ...  # a stream; MissingObject if absent
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def sha256(self, key: str) -> str | None: ...  # what was recorded at put (None: absent or unknown)
    def local_path(self, key: str) -> Path | None: ...  # the file itself, when the bytes are on this disk
    def delete(self, key: str) -> None: ...  # caches and unreferenced leftovers only
    def list(self, prefix: str = "") -> Iterator[Entry]: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise ValueError(f"bad object key {key!r}")
    return key


class LocalStore:
    """Files under ``root``: today's layout, so data written before the interface keeps working."""

    kind = "local"

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes, *, sha256: str | None = None) -> None:
        target = self.path(key)
        private_dir(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")  # 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.path(key), "rb")
        except FileNotFoundError as e:
            raise MissingObject(key) from e

    def get(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def sha256(self, key: str) -> str | None:
        return None  # not recorded on disk: callers hash the file when they need to know

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[Entry]:
        if not self.root.is_dir():
            return
        for dirpath, dirs, files in os.walk(self.root):
            dirs.sort()  # a stable order: progress lines of a rerun line up with the first run
            for name in sorted(files):
                full = Path(dirpath) / name
                key = full.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    st = full.stat()
                    yield Entry(key, st.st_size, st.st_mtime)


class Mismatch(StorageError):
    """Bytes whose sha256 is not what it should be: ``side`` is "source" (the original no longer
    matches its recorded hash) or "copy" (what was written reads back different)."""

    def __init__(self, key: str, side: str):
        super().__init__(f"{key}: sha256 mismatch ({side})")
        self.key, self.side = key, side


def copy_verified(source: ObjectStore, target: ObjectStore, key: str, sha256: str | None = None,
                  target_key: str | None = None) -> tuple[str, int]:
    """Copy one object and read it back: (sha256, size). ``sha256`` given: the source must match it.
    A copy that reads back different is removed (never left for a later run to take as done)."""
    target_key = target_key or key
    data = source.get(key)
    actual = hashlib.sha256(data).hexdigest()
    if sha256 and actual != sha256:
        raise Mismatch(key, "source")
    target.put(target_key, data, sha256=actual)
    if hashlib.sha256(target.get(target_key)).hexdigest() != actual:
        target.delete(target_key)
        raise Mismatch(target_key, "copy")
    return actual, len(data)


@dataclass
class Handout:
    """How a response hands an object out: ``body`` to stream (a local file or a stream from the
    store), or ``url``, a short-lived presigned address the browser fetches it from itself."""

    body: Path | BinaryIO | None = None
    url: str | None = None


def hand_out(store: ObjectStore, key: str, *, presign_seconds: int = 0, filename: str = "",
             content_type: str = "") -> Handout:
    """One object for a download, after the caller has checked who may see it and audited it. One
    request to the store: a GET whose body is streamed (or the local file itself); with
    ``presign_seconds`` on a store that presigns, a HEAD and a presigned GET. Absent: MissingObject."""
    if presign_seconds and hasattr(store, "presigned_get"):
        if not store.exists(key):
            raise MissingObject(key)
        return Handout(url=store.presigned_get(key, presign_seconds, filename=filename, content_type=content_type))
    path = store.local_path(key)
    if path is None:
        return Handout(body=store.open(key))
    if not path.is_file():
        raise MissingObject(key)
    return Handout(body=path)


def older_than(entry: Entry, seconds: float) -> bool:
    return entry.modified < time.time() - seconds
