"""Recognitions (认定): a person's right to 门特 benefits for one disease, for a period."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.kernel.status import RecStatus
from core.models.base import UTCDateTime, utcnow


class Recognition(db.Model):
    __tablename__ = "recognitions"
    __table_args__ = (
        Index("ix_recognitions_person", "person_id", "disease_code"),
        Index("ix_recognitions_end", "region_code", "end_date", "status"),
        # The daily jobs walk recognitions by end date within a status (reminders, expiry sweep).
        Index("ix_recognitions_status_end", "status", "region_code", "end_date", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    division_code: Mapped[str] = mapped_column(String(6))
    institution_code: Mapped[str] = mapped_column(String(30))
    disease_code: Mapped[str] = mapped_column(String(30))
    national_code: Mapped[str] = mapped_column(String(30))
    disease_name: Mapped[str] = mapped_column(String(100))
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("recognitions.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    # First day without benefits when a recognition is stopped (e.g. its renewal was rejected).
    stop_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default=RecStatus.ACTIVE)
    created_at = mapped_column(UTCDateTime, default=utcnow)

    person = relationship("User", foreign_keys=[person_id])
