"""Create, verify and restore a backup (the CLI, core/backup/cli.py, parses and prints).

Order matters for a live system: the database is copied first (one consistent instant), the
objects after it. Uploads are content-addressed and never removed while a row points at them, so
every object the copied rows need is still there when the objects are copied; what was uploaded in
between comes along unreferenced, which is harmless.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from core.applications import materials, storage
from core.audit import audit
from core.audit_chain.verify import db_anchors, describe
from core.audit_chain.verify import verify as verify_chain
from core.backup import database, manifest, objects
from core.backup.errors import BackupError
from core.context import Context
from core.extensions import db
from core.kernel.files import private_dir
from core.ops.readiness import check_migrations

Echo = Callable[[str], None]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def create(ctx: Context, dest: Path, echo: Echo, *, caches: bool = False) -> dict:
    """Write a backup into the new folder ``dest`` (built under a temporary name, renamed when complete)."""
    dest = Path(dest)
    if dest.exists():
        raise BackupError(f"{dest} 已存在:备份只写入一个新的目录")
    if not dest.parent.exists():
        private_dir(dest.parent)  # only a folder made here is set to 0700: an existing one is the operator's
    work = private_dir(dest.parent / f".{dest.name}.partial-{os.getpid()}")
    try:
        made = _fill(ctx, work, echo, caches)
        manifest.write(work, made)
        os.rename(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # our own half-written folder, never shown as a backup
        raise
    # A copy of every record leaves the database: who made it, and where to (after the snapshot, so
    # the backup's own counts are not changed by this row).
    audit(ctx, "backup.create", None, detail=f"{dest} rows={sum(made['row_counts'].values())} "
                                             f"objects={sum(len(v) for v in made['objects'].values())}")
    db.session.commit()
    return made


def _fill(ctx: Context, work: Path, echo: Echo, caches: bool) -> dict:
    url = str(ctx.settings["SQLALCHEMY_DATABASE_URI"])
    kind = database.kind_of(url)
    started = _now()
    dump = work / database.FILES[kind]
    echo(f"数据库({kind})→ {dump.name} …")
    found = database.dump_sqlite(url, dump) if kind == "sqlite" else database.dump_postgresql(url, dump, echo)
    db_file = {"kind": kind, "file": dump.name, "size": dump.stat().st_size, "sha256": storage.sha256_of_file(dump)}
    if "server_major" in found:
        db_file["server_major"] = found.pop("server_major")
    echo(f"数据库已备份:{db_file['size']} 字节,{sum(found['row_counts'].values())} 行,迁移版本 {','.join(found['migration_head'])}")
    areas = [objects.UPLOADS, *(objects.CACHES if caches else ())]
    held = {}
    for area in areas:
        echo(f"对象存储 {area} …")
        held[area] = objects.back_up_area(ctx, area, work, echo)
    return {
        "format": manifest.FORMAT,
        "created_at": started,
        "finished_at": _now(),
        "database": db_file,
        **found,
        "storage": ctx.settings.get("MTKIT_STORAGE") or "local",
        "objects": held,
        "keys": manifest.KEYS_NOTE,
    }


def verify(folder: Path) -> tuple[dict, list[str]]:
    """The manifest and every problem of the files against it (an empty list: the backup is whole)."""
    folder = Path(folder)
    made = manifest.read(folder)
    problems = []
    db_file = made["database"]
    dump = folder / db_file["file"]
    if not dump.is_file():
        problems.append(f"{dump.name}:备份中缺少数据库文件")
    elif dump.stat().st_size != db_file["size"] or storage.sha256_of_file(dump) != db_file["sha256"]:
        problems.append(f"{dump.name}:内容与清单的 sha256 不符(备份已被改动或损坏)")
    for area, listed in made["objects"].items():
        problems += objects.check_area(folder, area, listed)
    return made, problems


def restore(ctx: Context, folder: Path, echo: Echo, *, migrations_dir: str, set_aside_database: bool = False,
            into_store_with_uploads: bool = False) -> list[tuple[str, bool, str]]:
    """Restore into an empty database and an empty store, then check; returns (check, ok, detail)."""
    folder = Path(folder)
    echo("校验备份 …")
    made, problems = verify(folder)
    if problems:
        raise BackupError("备份未通过校验,未做任何恢复:\n  " + "\n  ".join(problems))
    url = str(ctx.settings["SQLALCHEMY_DATABASE_URI"])
    kind = database.kind_of(url)
    if made["database"]["kind"] != kind:
        raise BackupError(f"这份备份的数据库是 {made['database']['kind']},当前配置的是 {kind}:请配置同类数据库后再恢复")
    db.session.remove()
    db.engine.dispose()
    tables = database.user_tables(db.engine)
    if tables and not set_aside_database:
        raise BackupError(f"目标数据库不是空的(已有 {len(tables)} 张表,例如 {', '.join(tables[:3])}):恢复只写入空数据库,"
                          "未做任何改动。请改用一个新建的空数据库,或加 --set-aside-database 把现有数据改名保留后再恢复。")
    present = objects.upload_keys(ctx)
    if present and not into_store_with_uploads:
        raise BackupError(f"对象存储中已有 {len(present)} 个上传文件:恢复只写入空的存储,未做任何改动。请改用空的存储,"
                          "或加 --into-store-with-uploads(内容相同的文件跳过,内容不同的报错,不覆盖任何文件)。")
    if tables:
        stamp = database.stamp()
        aside = (database.set_aside_sqlite(url, stamp) if kind == "sqlite" else database.set_aside_postgresql(url, stamp))
        echo(f"现有数据库已改名保留为 {aside}")
    echo(f"恢复数据库 {made['database']['file']} …")
    (database.restore_sqlite if kind == "sqlite" else database.restore_postgresql)(url, folder / made["database"]["file"])
    db.engine.dispose()
    for area, listed in made["objects"].items():
        echo(f"恢复对象存储 {area}({len(listed)} 个)…")
        copied, same = objects.restore_area(ctx, area, folder, listed, echo)
        echo(f"{area}:恢复 {copied} 个,已存在且相同 {same} 个")
    found = checks(ctx, made, migrations_dir)
    # Recorded in the restored database once it has been checked against the backup.
    audit(ctx, "backup.restore", None, detail=f"{folder} made={made.get('finished_at')} "
                                              f"checks={'ok' if all(ok for _, ok, _ in found) else 'failed'}")
    db.session.commit()
    return found


def checks(ctx: Context, made: dict, migrations_dir: str) -> list[tuple[str, bool, str]]:
    """What a restored system must show: schema at head, the manifest's row counts, an intact audit
    chain ending where the backup's did, and the bytes of every material."""
    out = []
    try:
        check_migrations(db.engine, migrations_dir)
        out.append(("迁移版本", True, f"位于最新版本 {','.join(made['migration_head'])}"))
    except Exception as e:  # noqa: BLE001 - reported as a failed check, with its reason
        out.append(("迁移版本", False, f"{e}(运行 flask --app app db upgrade)"))
    with db.engine.connect() as conn:
        found = database.facts(conn)
    diff = [f"{t}: 备份 {n} 行,恢复后 {found['row_counts'].get(t)} 行"
            for t, n in made["row_counts"].items() if found["row_counts"].get(t) != n]
    out.append(("各表行数", not diff, "; ".join(diff) or f"{len(made['row_counts'])} 张表、"
                f"{sum(made['row_counts'].values())} 行与清单一致"))
    report = verify_chain(ctx, anchors=db_anchors())
    db.session.rollback()
    same_end = report.last_hash == made["audit"]["last_hash"]
    out.append(("审计链", report.ok and same_end, describe(ctx, report) + ("" if same_end else
                f";但最后一条的哈希与备份时({made['audit']['last_hash']})不同")))
    keys = set(objects.upload_keys(ctx))
    digests = materials.stored_digests()
    db.session.rollback()
    missing = sorted(d for d in digests if storage.key_for(d) not in keys)
    out.append(("材料文件", not missing, f"{len(digests)} 个材料文件都在存储中" if not missing else
                f"缺少 {len(missing)} 个:{', '.join(missing[:5])}"))
    return out
