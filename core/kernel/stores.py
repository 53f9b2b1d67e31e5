"""Which object store the settings ask for (MTKIT_STORAGE=local|s3, MTKIT_S3_*), checked at start-up."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.kernel.objectstore import LocalStore, ObjectStore, StorageError


def s3_settings(settings: Mapping[str, Any]) -> dict:
    bucket = settings.get("MTKIT_S3_BUCKET") or ""
    if not bucket:
        raise StorageError("MTKIT_S3_BUCKET is not set (needed for MTKIT_STORAGE=s3 and files migrate-to-s3)")
    return {
        "bucket": bucket,
        "prefix": settings.get("MTKIT_S3_PREFIX") or "",
        "endpoint_url": settings.get("MTKIT_S3_ENDPOINT_URL") or None,
        "region": settings.get("MTKIT_S3_REGION") or None,
    }


def open_store(settings: Mapping[str, Any], area: str, local_root: Path | str, *, backend: str | None = None) -> ObjectStore:
    """The store for ``area`` (``uploads``, ...) as configured: MTKIT_STORAGE=local|s3."""
    backend = backend or settings.get("MTKIT_STORAGE") or "local"
    if backend == "local":
        return LocalStore(local_root)
    if backend == "s3":
        from core.kernel.s3store import S3Store  # boto3 is only imported when S3 is configured

        s = s3_settings(settings)
        return S3Store(s["bucket"], f"{s['prefix']}{area}/", endpoint_url=s["endpoint_url"], region=s["region"])
    raise StorageError(f"MTKIT_STORAGE must be local or s3, not {backend!r}")


def check_storage_settings(settings: Mapping[str, Any]) -> None:
    backend = settings.get("MTKIT_STORAGE") or "local"
    if backend not in ("local", "s3"):
        raise StorageError(f"MTKIT_STORAGE must be local or s3, not {backend!r}")
    if backend == "s3":
        s3_settings(settings)
