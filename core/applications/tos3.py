"""`flask --app app files migrate-to-s3`: copy every upload from the local disk to the S3 bucket.

Resumable (an object already in the bucket with the same sha256 and size is skipped), verified
(each object is read back and hashed after the upload; a mismatch is removed from the bucket and
reported), and it changes nothing locally: local files are only read, never moved or deleted, so
switching MTKIT_STORAGE back to local is always possible. A local file whose content no longer
matches its name (its sha256) is reported and not uploaded.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.applications import storage
from core.context import Context
from core.kernel.objectstore import LocalStore, Mismatch, ObjectStore, StorageError, copy_verified


@dataclass
class Outcome:
    total: int = 0
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (key, why)


def migrate_to_s3(ctx: Context, echo: Callable[[str], None], target: ObjectStore | None = None) -> Outcome:
    source = LocalStore(storage.root(ctx))
    target = target or storage.store_of(ctx, backend="s3")
    entries = [e for e in source.list() if e.key.count("/") == 1 and storage.is_digest(e.key.rsplit("/", 1)[1])]
    out = Outcome(total=len(entries))
    total_bytes = sum(e.size for e in entries)
    done_bytes = 0
    for n, entry in enumerate(entries, 1):
        digest = entry.key.rsplit("/", 1)[1]
        done_bytes += entry.size
        status = _copy_one(source, target, entry.key, digest, entry.size, out)
        echo(f"[{n}/{out.total}] {entry.key} {entry.size} 字节 {status}(累计 {done_bytes}/{total_bytes} 字节)")
    return out


def _copy_one(source: LocalStore, target: ObjectStore, key: str, digest: str, size: int, out: Outcome) -> str:
    try:
        if target.sha256(key) == digest and _size(target, key) == size:
            out.skipped += 1
            return "已在存储中,跳过"
        copy_verified(source, target, key, digest)
    except Mismatch as e:
        if e.side == "source":
            out.failures.append((key, "本地文件内容与其 sha256 不符(文件已损坏),未上传"))
            return "失败:本地文件校验不符"
        out.failures.append((key, "上传后读回的内容校验不符,已从存储中删除"))
        return "失败:上传后校验不符"
    except (StorageError, OSError) as e:
        out.failures.append((key, f"{type(e).__name__}: {e}"))
        return "失败"
    out.copied += 1
    out.bytes_copied += size
    return "已上传并校验"


def _size(target: ObjectStore, key: str) -> int | None:
    return next((e.size for e in target.list(key) if e.key == key), None)
