"""Chaining audit rows: the canonical form, the keys, and sealing rows in order under a lock.

**The chain.** Row n stores ``prev_hash`` (row n-1's ``row_hash``; 64 zeros for the first row) and
``row_hash = HMAC(key, canonical(row n))``, where the canonical form is the row's fields as stored
(id, time in UTC with microseconds, user, action, object, result, address, detail), its
``prev_hash``, the algorithm and the key id, written as JSON with sorted keys. Editing any field of
a row, deleting a row or slipping a row in breaks the chain there; ``verify`` names the row.

**Why keyed.** A plain hash chain can be recomputed by anyone who can write to the database: edit a
row, recompute every later hash. With HMAC the rows can only be re-signed by someone holding the
audit key, which lives outside the database (``MTKIT_AUDIT_KEY`` or ``instance/audit_key``). Daily
anchors, printed or exported and kept elsewhere, catch even a rewrite by someone holding the key.
The key id is stored per row so keys can rotate: list the new key first, keep the old ones after it.

**Order and the lock.** ``audit()`` hands its row to the caller's transaction (``hold``; a row
added to the session directly is taken out of every flush the same way), where it waits for the
commit: a rollback drops it with everything else. At commit, after everything else of the
transaction has been flushed, the chain lock is taken (PostgreSQL: a transaction-level advisory
lock; SQLite: the database's write lock, taken by a no-op UPDATE before the tail is read), the
tail is read, and the held rows get consecutive ids, their time and their hashes. The lock is held
only from then to the commit, and the transaction takes no other lock while holding it (no
deadlocks), so ids, times and the chain follow one order even with many workers and hosts.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Mapping
from weakref import WeakKeyDictionary

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from core.kernel.time import utcnow
from core.models import AuditLog

GENESIS = "0" * 64  # the first row's prev_hash
ALGORITHMS = {"sha256": "hmac-sha256", "sm3": "hmac-sm3"}  # MTKIT_AUDIT_HASH -> stored hash_alg
DIGESTS = {"hmac-sha256": "sha256", "hmac-sm3": "sm3"}  # stored hash_alg -> hashlib name
# pg_advisory_xact_lock key: the first 8 bytes of sha256(b"mtkit.audit_log.chain"), signed.
PG_LOCK_KEY = 4937181512375053304

_HELD = "mtkit_audit_held"  # session.info: audit rows waiting for the commit
_SEALING = "mtkit_audit_sealing"  # session.info: the commit's sealing flush is running


class AuditKeyError(ValueError):
    """The audit key setting is missing or unusable."""


@dataclass(frozen=True)
class Keyring:
    alg: str  # what new rows are signed with
    current: str  # the key id new rows are signed with
    keys: Mapping[str, bytes]  # key id -> key, current first, then retired ones (verify only)

    def sign(self, canonical_form: bytes, alg: str | None = None, key_id: str | None = None) -> str | None:
        """The row hash with the given (else the current) algorithm and key; None for an unknown key."""
        key = self.keys.get(key_id or self.current)
        digest = DIGESTS.get(alg or self.alg)
        if key is None or digest is None:
            return None
        return hmac.new(key, canonical_form, digest).hexdigest()


def key_id(key: str) -> str:
    return hashlib.sha256(b"mtkit-audit-key-id:" + key.encode("utf-8")).hexdigest()[:8]


@lru_cache(maxsize=16)
def _parse(keys_text: str, hash_name: str) -> Keyring:
    keys = [k.strip() for k in keys_text.replace(",", "\n").split() if k.strip()]
    if not keys:
        raise AuditKeyError("MTKIT_AUDIT_KEY 为空:审计链需要密钥(见 README「Security」)")
    if any(len(k) < 16 for k in keys):
        raise AuditKeyError("MTKIT_AUDIT_KEY 中的密钥太短(至少 16 个字符,建议 64 位十六进制随机数)")
    alg = ALGORITHMS.get(hash_name.strip().lower())
    if alg is None:
        raise AuditKeyError(f"MTKIT_AUDIT_HASH 只能是 sha256 或 sm3,而不是 {hash_name!r}")
    try:
        hashlib.new(DIGESTS[alg])
    except ValueError:
        raise AuditKeyError(f"本机的 OpenSSL 不支持 {hash_name}:请改用 MTKIT_AUDIT_HASH=sha256") from None
    ring: dict[str, bytes] = {}
    for k in keys:
        ring.setdefault(key_id(k), k.encode("utf-8"))
    return Keyring(alg=alg, current=key_id(keys[0]), keys=ring)


def keyring(settings: Mapping) -> Keyring:
    return _parse(str(settings.get("MTKIT_AUDIT_KEY") or ""), str(settings.get("MTKIT_AUDIT_HASH") or "sha256"))


def at_text(moment: datetime | None) -> str | None:
    """The time as the database gives it back (microseconds kept by SQLite and PostgreSQL alike)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row) -> bytes:
    """The bytes a row's hash covers. Any object with the AuditLog attributes (a row, a query result)."""
    return json.dumps({
        "id": row.id, "at": at_text(row.at), "user_id": row.user_id, "username": row.username,
        "action": row.action, "object_type": row.object_type, "object_id": row.object_id, "result": row.result,
        "ip": row.ip, "detail": row.detail, "prev_hash": row.prev_hash, "hash_alg": row.hash_alg, "key_id": row.key_id,
    }, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# Which settings each database engine's sessions sign with (bound by create_app; one per app).
_SETTINGS: WeakKeyDictionary = WeakKeyDictionary()


def bind(engine, settings: Mapping) -> None:
    """Sign the audit rows written through ``engine`` with the keys in ``settings`` (checked now)."""
    keyring(settings)
    _SETTINGS[engine] = settings


def _keyring_for(session: Session) -> Keyring:
    engine = session.get_bind(mapper=inspect(AuditLog))
    settings = _SETTINGS.get(getattr(engine, "engine", engine))
    if settings is None:
        raise AuditKeyError("审计链没有配置密钥(create_app 未绑定此数据库)")
    return keyring(settings)


def lock_chain(connection) -> None:
    """Serialise extending the chain until this transaction ends (see the module's docstring)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
    else:
        # A write statement takes SQLite's write lock now (it matches no row, so no trigger fires);
        # reading the tail after it cannot see a stale tail.
        connection.exec_driver_sql("UPDATE audit_log SET id = id WHERE 0 = 1")


def tail(connection):
    """(id, row_hash) of the chain's last row, or None."""
    return connection.exec_driver_sql("SELECT id, row_hash FROM audit_log ORDER BY id DESC LIMIT 1").first()


def _seal(session: Session, rows: list[AuditLog]) -> None:
    ring = _keyring_for(session)
    connection = session.connection(bind_arguments={"mapper": inspect(AuditLog)})
    lock_chain(connection)
    last = tail(connection)
    next_id, prev = (last.id + 1, last.row_hash or "") if last else (1, GENESIS)
    now = utcnow()
    for row in rows:
        row.id = next_id
        if row.at is None:
            row.at = now
        if row.result is None:
            row.result = "ok"
        row.prev_hash, row.hash_alg, row.key_id = prev, ring.alg, ring.current
        row.row_hash = prev = ring.sign(canonical(row))
        next_id += 1


def hold(session: Session, row: AuditLog) -> None:
    """Keep ``row`` for the current transaction's commit (``audit()`` calls this rather than ``add``)."""
    if not session.in_transaction():
        session.begin()  # so that a rollback or close before the commit drops it (see _drop_held)
    session.info.setdefault(_HELD, []).append(row)


def _in_order(rows) -> list[AuditLog]:
    return sorted(rows, key=lambda r: inspect(r).insert_order or 0)


@event.listens_for(Session, "before_flush")
def _hold_or_seal(session: Session, flush_context, instances) -> None:
    rows = [obj for obj in session.new if isinstance(obj, AuditLog)]
    if not rows:
        return
    if session.info.get(_SEALING):
        _seal(session, _in_order(rows))
        return
    held = session.info.setdefault(_HELD, [])
    for row in _in_order(rows):
        session.expunge(row)
        held.append(row)


@event.listens_for(Session, "before_commit")
def _seal_at_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the rows wait for the real commit
    held = session.info.get(_HELD)
    if not held and not any(isinstance(obj, AuditLog) for obj in session.new):
        return
    if session.new or session.dirty or session.deleted:
        session.flush()  # everything else first: the chain lock is the transaction's last lock
    held = session.info.pop(_HELD, [])
    session.add_all(held)
    session.info[_SEALING] = True
    try:
        session.flush()
    finally:
        session.info[_SEALING] = False


@event.listens_for(Session, "after_transaction_end")
def _drop_held(session: Session, transaction) -> None:
    if transaction.parent is None:  # the transaction ended (committed: nothing is held any more; rolled back: dropped)
        session.info.pop(_HELD, None)
        session.info[_SEALING] = False
