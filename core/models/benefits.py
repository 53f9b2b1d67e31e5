"""The outpatient 门特 benefit ledger: settlements, inpatient stays and chosen institutions.

Rows are never edited or deleted. A correction is a reversal row (``reversal_of_id``) that cancels
the original: a settlement's reversal carries the negated amounts, so sums over the ledger are the
balances; a stay or a chosen institution is void once a reversal row points at it.
Money is kept in integer fen (分): exact on every database (SQLite has no decimal type).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models.base import UTCDateTime, utcnow


class BenefitSettlement(db.Model):
    """One outpatient 门特 visit as settled (or refused), with the figures and the policy used."""

    __tablename__ = "benefit_settlements"
    __table_args__ = (
        Index("ix_benefit_settlements_person_year", "person_id", "benefit_year", "disease_code"),
        Index("ix_benefit_settlements_inst", "region_code", "institution_code", "id"),
        Index("ix_benefit_settlements_div", "region_code", "division_code", "id"),
        # The year-end export walks one year of a region by id (core/benefits/yearend.py).
        Index("ix_benefit_settlements_year", "benefit_year", "region_code", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    division_code: Mapped[str] = mapped_column(String(6))  # the person's, for agency scope
    institution_code: Mapped[str] = mapped_column(String(30))  # where the visit took place
    disease_code: Mapped[str] = mapped_column(String(30))
    disease_name: Mapped[str] = mapped_column(String(100))
    recognition_id: Mapped[int | None] = mapped_column(ForeignKey("recognitions.id"))
    visit_date: Mapped[date] = mapped_column(Date)
    settled_on: Mapped[date] = mapped_column(Date)
    benefit_year: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(10))  # benefit category used
    covered: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)  # why not covered, or why only in part
    eligible_fen: Mapped[int] = mapped_column(BigInteger)
    deductible_fen: Mapped[int] = mapped_column(BigInteger)  # deductible paid by this visit
    limit_used_fen: Mapped[int] = mapped_column(BigInteger)  # amount taken from the disease's limit
    reimbursed_fen: Mapped[int] = mapped_column(BigInteger)
    own_fen: Mapped[int] = mapped_column(BigInteger)  # the person's share
    # The policy figures used, so a settlement explains itself after the policy changes.
    policy_version: Mapped[str] = mapped_column(String(40))
    ratio: Mapped[str | None] = mapped_column(String(8))
    annual_limit_fen: Mapped[int | None] = mapped_column(BigInteger)
    deductible_amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    limit_left_fen: Mapped[int | None] = mapped_column(BigInteger)  # after this visit
    items: Mapped[list | None] = mapped_column(JSON)  # [{"name": ..., "amount": "12.30"}]
    note: Mapped[str | None] = mapped_column(Text)
    reversal_of_id: Mapped[int | None] = mapped_column(ForeignKey("benefit_settlements.id"), unique=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at = mapped_column(UTCDateTime, default=utcnow)

    person = relationship("User", foreign_keys=[person_id])
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])
    reversal_of = relationship("BenefitSettlement", remote_side=[id])


class InpatientStay(db.Model):
    """A hospital stay, admission to discharge (both days included); no 门特 benefit meanwhile."""

    __tablename__ = "inpatient_stays"
    __table_args__ = (Index("ix_inpatient_stays_person", "person_id", "admitted_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    division_code: Mapped[str] = mapped_column(String(6))
    institution_code: Mapped[str] = mapped_column(String(30))
    admitted_on: Mapped[date] = mapped_column(Date)
    discharged_on: Mapped[date | None] = mapped_column(Date)  # None: still in hospital
    note: Mapped[str | None] = mapped_column(Text)
    reversal_of_id: Mapped[int | None] = mapped_column(ForeignKey("inpatient_stays.id"), unique=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at = mapped_column(UTCDateTime, default=utcnow)

    def covers(self, day: date) -> bool:
        return self.admitted_on <= day and (self.discharged_on is None or day <= self.discharged_on)

    @property
    def period(self) -> str:
        """"2026-08-23 入院,2026-08-31 出院": the one way every page and message states a stay."""
        until = f"{self.discharged_on.isoformat()} 出院" if self.discharged_on else "尚未出院"
        return f"{self.admitted_on.isoformat()} 入院,{until}"


class ChosenInstitution(db.Model):
    """A designated institution the person chose for 门特 treatment, from ``start_date``."""

    __tablename__ = "chosen_institutions"
    __table_args__ = (Index("ix_chosen_institutions_person", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    division_code: Mapped[str] = mapped_column(String(6))
    institution_code: Mapped[str] = mapped_column(String(30))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    reversal_of_id: Mapped[int | None] = mapped_column(ForeignKey("chosen_institutions.id"), unique=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at = mapped_column(UTCDateTime, default=utcnow)

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)


@event.listens_for(BenefitSettlement, "before_update")
@event.listens_for(BenefitSettlement, "before_delete")
@event.listens_for(InpatientStay, "before_update")
@event.listens_for(InpatientStay, "before_delete")
@event.listens_for(ChosenInstitution, "before_update")
@event.listens_for(ChosenInstitution, "before_delete")
def _ledger_is_append_only(mapper, connection, target):
    raise PermissionError("门特台账只能追加;更正请登记冲销记录。")
