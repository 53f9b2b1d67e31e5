"""Applications (申请), the diseases on them, decisions, materials and their timeline.

Statuses, kinds, results and timeline actions are ``core.kernel.status`` enums (stored as their strings).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.kernel.status import OPEN, UNDER_REVIEW, Kind, Result, Status
from core.models.base import UTCDateTime, utcnow


class Application(db.Model):
    __tablename__ = "applications"
    __table_args__ = (
        # Queues: by hospital/office and status, newest first (keyset on id).
        # Queues: "whose turn is it" (current_role) within a hospital/office or a division, newest first;
        # keyset pagination walks these indexes, so a queue stays fast at a million rows.
        Index("ix_applications_queue_inst", "region_code", "institution_code", "current_role", "id"),
        Index("ix_applications_queue_div", "region_code", "division_code", "current_role", "id"),
        Index("ix_applications_queue_region", "region_code", "current_role", "id"),
        # "全部" views: everything of a hospital/office, a division or a status, newest first.
        Index("ix_applications_all_inst", "region_code", "institution_code", "id"),
        Index("ix_applications_all_div", "region_code", "division_code", "id"),
        Index("ix_applications_status", "region_code", "status", "id"),
        Index("ix_applications_person", "person_id", "id"),
        # "Has this recognition a renewal under way?" (reminders, expiry sweep).
        Index("ix_applications_renewal_of", "renewal_of_id"),
        # SLA filters (overdue / due soon): most urgent first, keyset on (step_due, id). step_due is
        # set only while a step with a time limit is open, so these indexes hold open work only.
        Index("ix_applications_due_inst", "region_code", "institution_code", "step_due", "id"),
        Index("ix_applications_due_div", "region_code", "division_code", "step_due", "id"),
        Index("ix_applications_due_region", "region_code", "step_due", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    division_code: Mapped[str] = mapped_column(String(6))
    kind: Mapped[str] = mapped_column(String(10), default=Kind.NEW)
    # The designated hospital (hospital intake) or agency office (office intake) handling it.
    institution_code: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(20))
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # staff who filed it (代办)
    status: Mapped[str] = mapped_column(String(12), default=Status.DRAFT)
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    # Role that must act next (None when nobody on staff must): denormalised for indexed queues.
    current_role: Mapped[str | None] = mapped_column(String(20))
    # The title the current step requires (None: any), so a 主治医师's 待办 leaves out what he may not decide.
    current_min_title: Mapped[str | None] = mapped_column(String(20))
    steps: Mapped[list] = mapped_column(JSON, default=list)  # snapshot of the region's steps
    fast_track: Mapped[bool] = mapped_column(Boolean, default=False)
    # use_alter: applications and recognitions reference each other (see the initial migration).
    renewal_of_id: Mapped[int | None] = mapped_column(ForeignKey("recognitions.id", use_alter=True))
    return_reason: Mapped[str | None] = mapped_column(Text)
    return_reason_code: Mapped[str | None] = mapped_column(String(10))
    return_to: Mapped[str | None] = mapped_column(String(12))  # applicant / hospital
    return_deadline: Mapped[date | None] = mapped_column(Date)
    materials_changed_at = mapped_column(UTCDateTime, nullable=True)
    step_started_at = mapped_column(UTCDateTime, nullable=True)
    step_due: Mapped[date | None] = mapped_column(Date)
    # Working days the step had left when it was returned for supplement: the clock pauses and
    # resumes with these on resubmission.
    sla_remaining: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    submitted_at = mapped_column(UTCDateTime, nullable=True)
    decided_at = mapped_column(UTCDateTime, nullable=True)
    # When the applicant ticked the online declaration that stands in for a signed form (online renewal).
    declared_at = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    # Optimistic locking: an UPDATE that finds another version raises StaleDataError.
    __mapper_args__ = {"version_id_col": version}

    person = relationship("User", foreign_keys=[person_id])
    filed_by = relationship("User", foreign_keys=[filed_by_id])
    diseases = relationship("ApplicationDisease", back_populates="application", order_by="ApplicationDisease.id")
    materials = relationship("Material", back_populates="application", order_by="Material.id")
    events = relationship("ApplicationEvent", order_by="ApplicationEvent.id")
    decisions = relationship("Decision", order_by="Decision.id")
    renewal_of = relationship("Recognition", foreign_keys=[renewal_of_id])

    @property
    def status_name(self) -> str:
        return Status.label_of(self.status)

    @property
    def kind_name(self) -> str:
        return Kind.label_of(self.kind)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def reference(self) -> str:
        """The number printed on forms: MT + region + zero-padded id."""
        return f"MT{self.region_code}{self.id:08d}"

    @property
    def current_step(self) -> dict | None:
        if self.status not in UNDER_REVIEW or not self.steps:
            return None
        if 0 <= self.step_index < len(self.steps):
            return self.steps[self.step_index]
        return None

    @property
    def proxy(self) -> bool:
        return self.filed_by_id is not None and self.filed_by_id != self.person_id

    def current_materials(self):
        """Materials not replaced by a later upload."""
        return [m for m in self.materials if m.replaced_by_id is None]


class ApplicationDisease(db.Model):
    __tablename__ = "application_diseases"
    __table_args__ = (
        # A person may hold only one open application per disease, even under concurrent requests.
        Index(
            "uq_open_disease_per_person",
            "person_id",
            "region_code",
            "disease_code",
            unique=True,
            sqlite_where=text("is_open = 1"),
            postgresql_where=text("is_open"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    disease_code: Mapped[str] = mapped_column(String(30))
    national_code: Mapped[str] = mapped_column(String(30))
    disease_name: Mapped[str] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(10), default=Result.PENDING)
    reason_code: Mapped[str | None] = mapped_column(String(10))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)

    application = relationship("Application", back_populates="diseases")

    @property
    def result_name(self) -> str:
        return Result.label_of(self.result)


class Decision(db.Model):
    """One reviewer's decision on one disease at one step. Append-only."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    disease_code: Mapped[str] = mapped_column(String(30))
    step_code: Mapped[str] = mapped_column(String(30))
    result: Mapped[str] = mapped_column(String(10))
    reason_code: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at = mapped_column(UTCDateTime, default=utcnow)

    decided_by = relationship("User")


class Material(db.Model):
    """An uploaded file for one checklist item. Replacing a file adds a row; the old row is kept."""

    __tablename__ = "materials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    disease_code: Mapped[str] = mapped_column(String(30), default="*")
    material_code: Mapped[str] = mapped_column(String(30))
    original_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(50))
    pages: Mapped[int | None] = mapped_column(Integer)  # PDFs: page count, checked at upload
    width: Mapped[int | None] = mapped_column(Integer)  # images: pixels after EXIF orientation
    height: Mapped[int | None] = mapped_column(Integer)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at = mapped_column(UTCDateTime, default=utcnow)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("materials.id"))

    application = relationship("Application", back_populates="materials")


class ApplicationEvent(db.Model):
    """The status timeline shown to the applicant and staff. Append-only."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    at = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    step_name: Mapped[str | None] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(Text)

    actor = relationship("User")
