"""Append-only audit trail (chained, with daily anchors) and the in-app inbox."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models.base import UTCDateTime, utcnow


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer)  # no FK: audit outlives anything
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str | None] = mapped_column(String(30))
    object_id: Mapped[str | None] = mapped_column(String(40))
    result: Mapped[str] = mapped_column(String(20), default="ok")
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[str | None] = mapped_column(Text)
    # The chain (core/audit_chain/seal.py): each row's keyed hash covers its content and the previous
    # row's hash, so an edited, deleted or forged row breaks the chain at that row.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))
    hash_alg: Mapped[str | None] = mapped_column(String(16))  # hmac-sha256 or hmac-sm3
    key_id: Mapped[str | None] = mapped_column(String(16))  # which audit key signed it (keys rotate)


class AuditAnchor(db.Model):
    """The chain's last row and hash at the end of a local day: printed or exported and kept outside
    the system, an anchor shows later that the chain up to that row was not rewritten."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)  # rows written that day
    total: Mapped[int] = mapped_column(Integer)  # rows in the chain up to last_id
    created_at = mapped_column(UTCDateTime, default=utcnow)


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
@event.listens_for(AuditAnchor, "before_update")
@event.listens_for(AuditAnchor, "before_delete")
def _audit_is_append_only(mapper, connection, target):
    # The database triggers (see the migration) enforce the same for raw SQL.
    raise PermissionError("审计记录只能追加,不能修改或删除")


class Notice(db.Model):
    """A message to a person: every decision, return and approval writes one."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_user", "user_id", "id"),)
    # Notices sent by scheduled jobs carry a key (e.g. "renewal:42:30"); the unique constraint makes
    # "sent exactly once" hold even if two job runs race or a run is repeated after a crash.


    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    recognition_id: Mapped[int | None] = mapped_column(ForeignKey("recognitions.id"))
    dedup_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    channels: Mapped[str | None] = mapped_column(String(100))  # delivered through, comma list
    created_at = mapped_column(UTCDateTime, default=utcnow)
    read_at = mapped_column(UTCDateTime, nullable=True)

    # SMS and letters queued for this notice (the inbox is the row itself).
    deliveries = relationship("NoticeDelivery", order_by="NoticeDelivery.id", viewonly=True)
