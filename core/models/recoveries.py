"""Recovery cases (待遇追回): a settlement paid for a visit on or after the stop date of a
recognition whose renewal failed, and what became of it.

Both tables only grow: a case is opened once per settlement (unique), and its outcome is a second
row, at most one per case (unique), which also makes a double submit harmless. The case copies the
settlement's region, division and institution so record-level scope (``core.people.scope``) applies
to it as to the settlement itself.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models.base import UTCDateTime, utcnow


class BenefitRecovery(db.Model):
    __tablename__ = "benefit_recoveries"
    __table_args__ = (
        Index("ix_benefit_recoveries_inst", "region_code", "institution_code", "id"),
        Index("ix_benefit_recoveries_div", "region_code", "division_code", "id"),
        Index("ix_benefit_recoveries_person", "person_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("benefit_settlements.id"), unique=True)
    recognition_id: Mapped[int] = mapped_column(ForeignKey("recognitions.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))  # the failed renewal
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    division_code: Mapped[str] = mapped_column(String(6))
    institution_code: Mapped[str] = mapped_column(String(30))
    disease_code: Mapped[str] = mapped_column(String(30))
    disease_name: Mapped[str] = mapped_column(String(100))
    visit_date: Mapped[date] = mapped_column(Date)
    stop_date: Mapped[date] = mapped_column(Date)  # first day without benefits
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # what the fund paid for the visit
    cause: Mapped[str] = mapped_column(String(20))  # rejected / withdrawn / lapsed
    allowed: Mapped[str] = mapped_column(String(40))  # outcomes the region allows, comma-separated
    proposed: Mapped[str] = mapped_column(String(20))  # the region's default outcome
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at = mapped_column(UTCDateTime, default=utcnow)

    settlement = relationship("BenefitSettlement", foreign_keys=[settlement_id])
    person = relationship("User", foreign_keys=[person_id])
    outcome = relationship("RecoveryOutcome", uselist=False, back_populates="recovery", lazy="selectin")


class RecoveryOutcome(db.Model):
    """What became of a case: recovered (the reversal row) or waived (the reason); who and when
    (no one: waived by the region's rule when the case was opened)."""

    __tablename__ = "recovery_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recovery_id: Mapped[int] = mapped_column(ForeignKey("benefit_recoveries.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(20))  # RecoveryStatus.RECOVERED / WAIVED
    reversal_id: Mapped[int | None] = mapped_column(ForeignKey("benefit_settlements.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at = mapped_column(UTCDateTime, default=utcnow)

    recovery = relationship("BenefitRecovery", back_populates="outcome")
    decided_by = relationship("User", foreign_keys=[decided_by_id])


@event.listens_for(BenefitRecovery, "before_update")
@event.listens_for(BenefitRecovery, "before_delete")
@event.listens_for(RecoveryOutcome, "before_update")
@event.listens_for(RecoveryOutcome, "before_delete")
def _append_only(mapper, connection, target):
    raise PermissionError("待遇追回记录只能追加。")
