"""Readiness: can this app host serve requests now? Database answers, schema at the migrations'
head, upload storage writable, encryption keys loaded.

Each check returns nothing when fine and raises (any exception) when not; the endpoint reports
only each check's name and ok/fail (the reasons go to the log, never to an anonymous caller).
Other parts may add or replace a check by name with ``register_check`` (an S3 storage backend
replaces "storage", say), so one probe covers what this host depends on.
"""
from __future__ import annotations

import logging
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from core.kernel.files import private_dir

log = logging.getLogger(__name__)
DB_TIMEOUT_MS = 2000  # a database slower than this to answer SELECT 1 is not ready


class NotReady(Exception):
    pass


@lru_cache(maxsize=8)
def head_revisions(migrations_dir: str) -> frozenset[str]:
    """The migration scripts' head(s): read once per process (the scripts do not change while it runs)."""
    return frozenset(ScriptDirectory(migrations_dir).get_heads())


def check_database(engine: Engine) -> None:
    """SELECT 1 under a short statement timeout (PostgreSQL; SQLite answers locally)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {DB_TIMEOUT_MS}"))
        conn.execute(text("SELECT 1"))
        conn.rollback()


def check_migrations(engine: Engine, migrations_dir: str) -> None:
    """The database's alembic revision is the migration scripts' head (a host running newer code
    than the schema, or the schema not yet upgraded, is not ready)."""
    with engine.connect() as conn:
        current = frozenset(MigrationContext.configure(conn).get_current_heads())
        conn.rollback()
    wanted = head_revisions(migrations_dir)
    if current != wanted:
        raise MigrationsBehind(f"database at {sorted(current)}, migrations head {sorted(wanted)}")


class MigrationsBehind(NotReady):
    pass


def check_upload_dir(folder: str | Path) -> None:
    """Create the folder if missing (0700, as uploads do) and write and remove a small file in it."""
    folder = private_dir(Path(folder))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ready-", suffix=".part")
    try:
        os.write(fd, b"ok")
    finally:
        os.close(fd)
        os.unlink(tmp)


def check_storage(settings) -> None:
    """Local disk: the upload folder is writable. S3: the bucket answers (a HEAD of a probe key; absent is fine)."""
    if (settings.get("MTKIT_STORAGE") or "local") == "local":
        check_upload_dir(settings["MTKIT_UPLOAD_DIR"])
        return
    from core.kernel.stores import open_store  # boto3 only when S3 is configured

    open_store(settings, "uploads", settings["MTKIT_UPLOAD_DIR"]).exists("readyz/probe")


def check_keys(keys) -> None:
    """The field-encryption key ring is loaded and a value survives a round trip through it."""
    ring = keys.ring if keys is not None else None
    if ring is None or not ring.keys:
        raise NotReady("no encryption keys loaded")
    if ring.decrypt(ring.encrypt("ready", "readyz"), "readyz") != "ready":
        raise NotReady("encryption keys do not round-trip")


# name -> check(app_parts) ; app_parts is the dict built by the endpoint (engine, settings, keys, ...)
_EXTRA: dict[str, Callable[[dict], None]] = {}


def register_check(name: str, check: Callable[[dict], None]) -> None:
    """Add a readiness check, or replace a built-in one of the same name. ``check(parts)`` raises when
    not ready; ``parts`` holds "engine", "settings", "keys" and "migrations_dir"."""
    _EXTRA[name] = check


def _builtin() -> dict[str, Callable[[dict], None]]:
    return {
        "database": lambda p: check_database(p["engine"]),
        "migrations": lambda p: check_migrations(p["engine"], p["migrations_dir"]),
        "storage": lambda p: check_storage(p["settings"]),
        "keys": lambda p: check_keys(p["keys"]),
    }


def run_checks(parts: dict) -> dict[str, bool]:
    """Every check by name: True when it passed. Failures are logged with their reason."""
    results = {}
    for name, check in {**_builtin(), **_EXTRA}.items():
        try:
            check(parts)
            results[name] = True
        except Exception as e:  # a readiness probe reports, it never raises
            log.warning("readiness check %s failed: %s", name, e)
            results[name] = False
    return results
