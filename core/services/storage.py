"""Uploaded files: content-addressed (sha256) outside the web root. The next issue hardens checks."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app

from core.services import Invalid

# Type is decided by content, never by the file name.
SIGNATURES = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
}
CONTENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}
TYPE_NAMES = {"pdf": "PDF", "jpg": "JPG", "png": "PNG"}


def sniff(head: bytes) -> str | None:
    for kind, prefixes in SIGNATURES.items():
        if any(head.startswith(p) for p in prefixes):
            return kind
    return None


def read_upload(file_storage, accept: tuple[str, ...]) -> tuple[bytes, str]:
    """Read an upload within the size limit and check its type; return (bytes, kind)."""
    limit = current_app.config["MTKIT_MAX_FILE_BYTES"]
    if file_storage is None or not getattr(file_storage, "filename", ""):
        raise Invalid("请选择要上传的文件。")
    data = file_storage.stream.read(limit + 1)
    if not data:
        raise Invalid("上传的文件是空的,请重新选择。")
    if len(data) > limit:
        raise Invalid(f"文件超过 {limit // (1024 * 1024)} MB 的大小限制,请压缩后再上传。", status=413)
    kind = sniff(data[:16])
    allowed = "、".join(TYPE_NAMES[a] for a in accept if a in TYPE_NAMES)
    if kind is None or kind not in accept:
        raise Invalid(f"文件类型不符合要求,只接受 {allowed} 格式。", status=415)
    return data, kind


def store(data: bytes) -> str:
    """Write bytes under their sha256 (atomically) and return the hash."""
    digest = hashlib.sha256(data).hexdigest()
    root = Path(current_app.config["MTKIT_UPLOAD_DIR"])
    target = root / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    return digest


def path_for(digest: str) -> Path:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError("bad digest")
    return Path(current_app.config["MTKIT_UPLOAD_DIR"]) / digest[:2] / digest
