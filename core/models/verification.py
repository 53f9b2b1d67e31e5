"""Verification codes printed on decision notices, checkable by anyone on a public page."""
from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.models.base import UTCDateTime, utcnow


class VerificationCode(db.Model):
    """One per decided application. ``payload`` is what the public page shows (masked name,
    diseases, decisions, validity), frozen at issue time and signed, so an edited row is caught too."""

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    issued_at = mapped_column(UTCDateTime, default=utcnow)
    payload: Mapped[dict] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(String(64))
