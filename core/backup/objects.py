"""The object-store side of a backup: copy each object of an area into the backup folder (or back),
each one's sha256 checked on both sides (core/kernel/objectstore.copy_verified).

Areas: ``uploads`` (the only copy of what people uploaded: always backed up) and the re-creatable
caches ``previews`` and ``pdf-cache`` (only on request). The live store is whatever MTKIT_STORAGE
says (local disk or S3); the backup side is always a local folder, so an S3 bucket is backed up to
a folder and restored to a bucket the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.applications import storage
from core.backup.errors import BackupError
from core.context import Context
from core.kernel.objectstore import LocalStore, MissingObject, Mismatch, ObjectStore, StorageError, copy_verified
from core.kernel.stores import open_store

UPLOADS = "uploads"
CACHES = ("previews", "pdf-cache")
FOLDER_SETTING = {UPLOADS: "MTKIT_UPLOAD_DIR", "previews": "MTKIT_PREVIEW_DIR", "pdf-cache": "MTKIT_PDF_CACHE_DIR"}


def live_store(ctx: Context, area: str) -> ObjectStore:
    return open_store(ctx.settings, area, ctx.settings[FOLDER_SETTING[area]])


def backup_store(folder: Path, area: str) -> LocalStore:
    return LocalStore(folder / "objects" / area)


def _wanted(area: str, key: str) -> bool:
    """Uploads: only content-addressed objects (``ab/<sha256>``; not an interrupted write's ``.part``)."""
    if area != UPLOADS:
        return not key.endswith(".part")
    return key.count("/") == 1 and storage.is_digest(key.rsplit("/", 1)[1])


def expected_sha(area: str, key: str) -> str | None:
    return key.rsplit("/", 1)[1] if area == UPLOADS else None


def upload_keys(ctx: Context) -> list[str]:
    return [e.key for e in live_store(ctx, UPLOADS).list() if _wanted(UPLOADS, e.key)]


def back_up_area(ctx: Context, area: str, folder: Path, echo: Callable[[str], None]) -> list[dict]:
    """Copy every object of ``area`` into the backup; raises BackupError naming each one that failed."""
    source, target = live_store(ctx, area), backup_store(folder, area)
    try:
        entries = [e for e in source.list() if _wanted(area, e.key)]
    except StorageError as e:
        raise BackupError(f"无法读取对象存储({area}):{e}") from e
    done, failures = [], []
    total_bytes, copied_bytes = sum(e.size for e in entries), 0
    for n, entry in enumerate(entries, 1):
        try:
            sha, size = copy_verified(source, target, entry.key, expected_sha(area, entry.key))
        except MissingObject:  # removed between listing and copying (a cache pruned, an unreferenced leftover swept)
            echo(f"[{area} {n}/{len(entries)}] {entry.key} 已不在存储中,跳过")
            continue
        except Mismatch as e:
            failures.append(f"{entry.key}:" + ("存储中的内容与其 sha256 不符(已损坏:请从更早的备份恢复这个文件)"
                                               if e.side == "source" else "写入备份后读回不符(备份盘有问题?)"))
            continue
        except (StorageError, OSError) as e:
            failures.append(f"{entry.key}:{type(e).__name__}: {e}")
            continue
        copied_bytes += size
        done.append({"key": entry.key, "size": size, "sha256": sha})
        echo(f"[{area} {n}/{len(entries)}] {entry.key} {size} 字节 已复制并校验(累计 {copied_bytes}/{total_bytes} 字节)")
    if failures:
        raise BackupError(f"{area} 中有 {len(failures)} 个对象未能备份:\n  " + "\n  ".join(failures))
    return done


def check_area(folder: Path, area: str, listed: list[dict]) -> list[str]:
    """Problems of the backup's copy of ``area`` against the manifest: missing, wrong size, wrong sha256."""
    store, problems = backup_store(folder, area), []
    for item in listed:
        path = store.path(item["key"])
        if not path.is_file():
            problems.append(f"{area}/{item['key']}:备份中缺少这个文件")
        elif path.stat().st_size != item["size"] or storage.sha256_of_file(path) != item["sha256"]:
            problems.append(f"{area}/{item['key']}:内容与清单的 sha256 不符(备份已被改动或损坏)")
    return problems


def restore_area(ctx: Context, area: str, folder: Path, listed: list[dict], echo: Callable[[str], None]) -> tuple[int, int]:
    """Copy the backup's objects into the live store: (copied, already there). An object already in the
    store with the same content is left as it is; one with other content is an error (never overwritten)."""
    source, target = backup_store(folder, area), live_store(ctx, area)
    copied = present = 0
    for n, item in enumerate(listed, 1):
        key, sha = item["key"], item["sha256"]
        if target.exists(key):
            if _sha_in_store(target, key) != sha:
                raise BackupError(f"存储中已有 {area}/{key} 且内容不同:未覆盖。请检查这个存储是否属于别的系统。")
            present += 1
            echo(f"[{area} {n}/{len(listed)}] {key} 已在存储中且内容相同,跳过")
            continue
        try:
            copy_verified(source, target, key, sha)
        except Mismatch as e:
            raise BackupError(f"{area}/{key}:" + ("备份中的文件与清单的 sha256 不符" if e.side == "source"
                                                    else "写入存储后读回不符,已从存储中移除这个副本")) from e
        except (StorageError, OSError) as e:
            raise BackupError(f"{area}/{key} 写入对象存储失败:{type(e).__name__}: {e}") from e
        copied += 1
        echo(f"[{area} {n}/{len(listed)}] {key} {item['size']} 字节 已恢复并校验")
    return copied, present


def _sha_in_store(store: ObjectStore, key: str) -> str | None:
    path = store.local_path(key)
    if path is not None:
        return storage.sha256_of_file(path)
    return store.sha256(key)
