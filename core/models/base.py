"""Shared column types and limits."""
from __future__ import annotations

from datetime import timezone

from sqlalchemy import DateTime
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import TypeDecorator

from core.extensions import db
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
