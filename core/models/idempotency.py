"""Idempotency keys: a record-creating request, repeated, takes effect once (``core/idempotency.py``)."""
from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.models.base import UTCDateTime, utcnow


class IdempotencyKey(db.Model):
    """One key of one action: written in the same transaction as the records the action created,
    with what it created (``result``), so a repeat of the request answers with the same records.

    ``scope`` is the action, and for keys a client chose also who chose it ("benefits.settle:u12");
    the UNIQUE (scope, key) is what makes four simultaneous submits record one settlement.
    ``expires_at`` None: kept for good (an imported file's digest). Rows are technical, not records:
    expired ones are deleted by the daily job ``idempotency_purge``.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the request's content
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    result: Mapped[dict | None] = mapped_column(JSON)  # {"table": ..., "ids": [...]} or a summary
    created_at = mapped_column(UTCDateTime, default=utcnow)
    expires_at = mapped_column(UTCDateTime, nullable=True)
