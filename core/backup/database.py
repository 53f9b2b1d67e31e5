"""The database side of a backup: a consistent copy out, a copy into an empty database, and the facts
(row counts, migration head, the audit chain's end) read from the very state that was copied.

SQLite: the online backup API (consistent while the app writes: a write during the copy restarts it).
PostgreSQL: ``pg_dump -Fc`` inside a REPEATABLE READ snapshot that this process exports, so the dump
and the manifest's counts describe the same instant; restored with ``pg_restore`` in one transaction
(a failed restore leaves the target as empty as it was). The client tools must be at least the
server's major version (Debian: postgresql-client-<major>, or /usr/lib/postgresql/<major>/bin).
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Connection, make_url

from core.backup.errors import BackupError
from core.extensions import db
from core.models import AuditAnchor, AuditLog

FILES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# Connection settings in the URL's query that libpq reads from the environment.
LIBPQ_QUERY = {"host": "PGHOST", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
               "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME"}


def kind_of(url: str | URL) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in FILES:
        raise BackupError(f"不支持的数据库类型:{backend}(只支持 SQLite 与 PostgreSQL)")
    return backend


def facts(conn: Connection) -> dict:
    """What a restore must reproduce: every table's row count, the migration head, the audit chain's end."""
    present = set(sa.inspect(conn).get_table_names())
    counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
              for t in db.metadata.sorted_tables if t.name in present}
    last = conn.execute(sa.select(AuditLog.id, AuditLog.row_hash).order_by(AuditLog.id.desc()).limit(1)).first()
    anchor = conn.execute(sa.select(AuditAnchor.day, AuditAnchor.last_id, AuditAnchor.last_hash)
                          .order_by(AuditAnchor.day.desc()).limit(1)).first()
    return {
        "migration_head": sorted(MigrationContext.configure(conn).get_current_heads()),
        "row_counts": dict(sorted(counts.items())),
        "audit": {"last_id": last.id if last else None, "last_hash": last.row_hash if last else None,
                  "last_anchor": {"day": anchor.day.isoformat(), "last_id": anchor.last_id, "last_hash": anchor.last_hash}
                  if anchor else None},
    }


def user_tables(engine: sa.Engine) -> list[str]:
    return sorted(sa.inspect(engine).get_table_names())


# --- SQLite -----------------------------------------------------------------------------------------

def sqlite_path(url: str | URL) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:":
        raise BackupError("SQLite 数据库须是一个文件(DATABASE_URL=sqlite:///路径)")
    return Path(name)


def _sqlite_copy(source: Path, target: Path) -> None:
    # A plain connection (a read-only one cannot open a WAL database whose -shm file is missing);
    # the backup only reads it, and waits for a writer's lock rather than failing at once.
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()


def dump_sqlite(url: str, out: Path) -> dict:
    source = sqlite_path(url)
    if not source.is_file():
        raise BackupError(f"找不到 SQLite 数据库文件 {source}")
    _sqlite_copy(source, out)
    check = sqlite3.connect(out)
    try:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("备份出的 SQLite 文件未通过完整性检查")
    finally:
        check.close()
    engine = sa.create_engine(f"sqlite:///{out}")
    try:
        with engine.connect() as conn:
            return facts(conn)
    finally:
        engine.dispose()


def restore_sqlite(url: str, dump: Path) -> None:
    _sqlite_copy(dump, sqlite_path(url))


def set_aside_sqlite(url: str, stamp: str) -> Path:
    """Rename the database file (and its WAL files) aside: nothing is deleted."""
    path = sqlite_path(url)
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.rename(f"{path}{suffix}", f"{aside}{suffix}")
    return aside


# --- PostgreSQL -------------------------------------------------------------------------------------

def libpq_env(url: str | URL) -> dict[str, str]:
    """The URL as libpq's environment (the password never on a command line that `ps` shows)."""
    u = make_url(url)
    env = dict(os.environ)
    for name, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username),
                        ("PGPASSWORD", u.password), ("PGDATABASE", u.database)):
        if value:
            env[name] = str(value)
    for key, name in LIBPQ_QUERY.items():
        value = u.query.get(key)
        if value:
            env[name] = value if isinstance(value, str) else value[0]
    return env


def server_major(conn: Connection) -> int:
    return int(conn.execute(sa.text("SHOW server_version_num")).scalar_one()) // 10000


def pg_tool(name: str, major: int) -> tuple[str, int]:
    """The client tool (pg_dump, pg_restore) for a server of ``major``: Debian's versioned one, else PATH's."""
    found = [str(p) for p in (Path(f"/usr/lib/postgresql/{major}/bin/{name}"),) if p.is_file()]
    found += [p for p in (shutil.which(name),) if p]
    for path in found:
        version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"(\d+)(?:\.\d+)?", version)
        if m and int(m.group(1)) >= major:
            return path, int(m.group(1))
    raise BackupError(f"没有可用的 {name}(需要 PostgreSQL {major} 或更新版本的客户端):"
                      f"请安装 postgresql-client-{major}(或运行 bash scripts/setup-system.sh)")


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise BackupError(f"{what}失败(退出码 {done.returncode}):" + " / ".join(detail))


@contextmanager
def _snapshot(engine: sa.Engine) -> Iterator[tuple[Connection, str]]:
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        with conn.begin():
            yield conn, conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()


def dump_postgresql(url: str, out: Path, echo: Callable[[str], None]) -> dict:
    engine = sa.create_engine(url)
    try:
        with _snapshot(engine) as (conn, snapshot):
            major = server_major(conn)
            tool, tool_major = pg_tool("pg_dump", major)
            echo(f"PostgreSQL 服务器 {major},使用 {tool}({tool_major})")
            found = facts(conn)
            _run([tool, "-Fc", "--no-password", f"--snapshot={snapshot}", "-f", str(out)], libpq_env(url), "pg_dump ")
            return {**found, "server_major": major}
    finally:
        engine.dispose()


def restore_postgresql(url: str, dump: Path) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            major = server_major(conn)
    finally:
        engine.dispose()
    tool, _ = pg_tool("pg_restore", major)
    # No owners or grants from the old server (its roles may not exist here): the restoring role owns all.
    _run([tool, "--no-password", "--no-owner", "--no-acl", "--single-transaction", "--exit-on-error",
          "-d", make_url(url).database or "", str(dump)], libpq_env(url), "pg_restore ")


def set_aside_postgresql(url: str, stamp: str) -> str:
    """Rename the public schema aside and start an empty one: nothing is deleted."""
    aside = f"mtkit_before_restore_{stamp}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'ALTER SCHEMA public RENAME TO "{aside}"'))
            conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return aside


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
