"""Shared column types and limits: UTC datetimes and encrypted columns."""
from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from datetime import timezone

from sqlalchemy import JSON, DateTime, String, Text, literal
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from core.extensions import db
from core.kernel.crypto import KeyRing, is_ciphertext, key_id_of
from core.kernel.errors import Conflict
from core.kernel.time import utcnow  # noqa: F401  (column defaults: the real moment a row was written)

# Ids are 32-bit INTEGER columns on PostgreSQL: anything larger cannot exist (a 404, not a database error).
MAX_ID = 2**31 - 1


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use core.kernel.time.utcnow() or Context.now()")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def flush_or_conflict(message: str) -> None:
    """Write now; a row whose version moved meanwhile (optimistic locking) is a conflict with
    ``message``, and nothing of the unit of work is kept."""
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(message) from None


# --- encryption at rest -------------------------------------------------------------------------
class Keys:
    """An app's key ring, bound to its database engine (so two apps in one process keep their own).
    A value written with a key this process has not loaded (``keys rotate`` ran meanwhile) makes it
    read the key file again, if the file changed since it was last read."""

    def __init__(self, ring: KeyRing, reload: Callable[[], KeyRing] | None = None, path: str = ""):
        self.ring = ring
        self.path = path  # the key file, for messages and the `keys` commands
        self._load = reload or (lambda: self.ring)
        self._lock = threading.Lock()
        self._seen = self._stamp()

    def _stamp(self):
        try:
            st = os.stat(self.path) if self.path else None
            return (st.st_ino, st.st_mtime_ns, st.st_size) if st else None  # the file is replaced, never edited in place
        except OSError:
            return None

    def for_key(self, kid: str) -> KeyRing:
        ring = self.ring
        if kid not in ring.keys:
            with self._lock:
                stamp = self._stamp()
                if kid not in self.ring.keys and (stamp is None or stamp != self._seen):  # re-read a changed file only
                    self.ring, self._seen = self._load(), stamp
                ring = self.ring
        return ring

    def decrypt(self, token: str, where: str) -> str:
        return self.for_key(key_id_of(token)).decrypt(token, where)


_KEYS: weakref.WeakKeyDictionary[Dialect, Keys] = weakref.WeakKeyDictionary()


def bind_keys(engine: Engine, keys: Keys) -> None:
    """Encrypted columns on ``engine`` use ``keys`` (app.py, once per app)."""
    _KEYS[engine.dialect] = keys


def keys_for(dialect: Dialect) -> Keys:
    try:
        return _KEYS[dialect]
    except KeyError:
        raise RuntimeError("no key ring is bound to this database engine (create_app binds it)") from None


class _SealedComparator(TypeDecorator.Comparator):
    """Encrypted columns only compare with NULL: any other comparison would compare ciphertexts
    (which differ on every write) and quietly find nothing. Search through the HMAC look-up column."""

    def operate(self, op, *other, **kwargs):
        if op in (operators.is_, operators.is_not) or (op in (operators.eq, operators.ne) and other and other[0] is None):
            return super().operate(op, *other, **kwargs)
        raise TypeError(f"{self.expr} is encrypted: compare through its look-up column (e.g. User.id_number_is)")

    def reverse_operate(self, op, other, **kwargs):
        raise TypeError(f"{self.expr} is encrypted: compare through its look-up column (e.g. User.id_number_is)")


class EncryptedString(TypeDecorator):
    """Text encrypted on write and decrypted on read with the engine's key ring; Python code sees
    plaintext. ``where`` ("table.column") is bound into each ciphertext as associated data."""

    impl = String
    cache_ok = True
    comparator_factory = _SealedComparator

    def __init__(self, where: str, length: int | None = None):
        self.where = where
        self.length = length
        super().__init__(length) if length else super().__init__()

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return keys_for(dialect).ring.encrypt(str(value), self.where)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return keys_for(dialect).decrypt(value, self.where)


class EncryptedText(EncryptedString):
    impl = Text
    cache_ok = True

    def __init__(self, where: str):
        super().__init__(where)


class EncryptedFields(TypeDecorator):
    """A JSON object some of whose string fields are encrypted (e.g. a phone number in a stored
    national-platform message); the rest stays readable JSON. Empty strings stay empty."""

    impl = JSON
    cache_ok = True

    def __init__(self, where: str, fields: tuple[str, ...]):
        self.where = where
        self.fields = tuple(fields)
        super().__init__()

    def process_bind_param(self, value, dialect):
        if not isinstance(value, dict):
            return value
        ring = keys_for(dialect).ring
        return {k: ring.encrypt(v, f"{self.where}.{k}") if k in self.fields and isinstance(v, str) and v else v
                for k, v in value.items()}

    def process_result_value(self, value, dialect):
        if not isinstance(value, dict):
            return value
        keys = keys_for(dialect)
        return {k: keys.decrypt(v, f"{self.where}.{k}") if k in self.fields and is_ciphertext(v) else v
                for k, v in value.items()}


class LookupOf(TypeDecorator):
    """A bind value that becomes its HMAC look-up value when the statement runs (with the key ring
    of the engine running it): ``User.id_number_hmac == literal(idn, LookupOf("id_number"))``."""

    impl = String(64)
    cache_ok = True

    def __init__(self, kind: str):
        self.kind = kind
        super().__init__()

    def process_bind_param(self, value, dialect):
        return None if value is None else keys_for(dialect).ring.lookup(self.kind, value)


def lookup_value(kind: str, normalised: str):
    return literal(normalised, LookupOf(kind))

