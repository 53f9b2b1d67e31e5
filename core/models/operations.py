"""Operations: notice deliveries per channel, scheduled job runs and locks, calendar days set by administrators."""
from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.kernel.status import Channel, DeliveryStatus
from core.models.base import UTCDateTime, utcnow


class NoticeDelivery(db.Model):
    """One notice through one channel (SMS, letter): its state, attempts and the gateway's answer."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "channel", name="uq_notice_deliveries_notice_channel"),
        # The delivery job picks due rows: status + next attempt time.
        Index("ix_notice_deliveries_due", "status", "next_attempt_at", "id"),
        Index("ix_notice_deliveries_channel", "channel", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at = mapped_column(UTCDateTime, nullable=True)
    sent_at = mapped_column(UTCDateTime, nullable=True)
    result: Mapped[str | None] = mapped_column(Text)  # gateway answer or error, shown to staff
    created_at = mapped_column(UTCDateTime, default=utcnow)

    notice = relationship("Notice")

    @property
    def status_name(self) -> str:
        return DeliveryStatus.label_of(self.status)

    @property
    def channel_name(self) -> str:
        return Channel.label_of(self.channel)


class JobRun(db.Model):
    """One run of a scheduled job: when, what it covered, how much it did, and how it ended."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_name", "name", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    run_date: Mapped[date] = mapped_column(Date)  # the local day the run covered
    status: Mapped[str] = mapped_column(String(10), default="running")  # running / done / failed
    host: Mapped[str | None] = mapped_column(String(100))
    started_at = mapped_column(UTCDateTime, default=utcnow)
    finished_at = mapped_column(UTCDateTime, nullable=True)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text)


class JobLock(db.Model):
    """A lease on a job name: the host holding it until ``locked_until`` runs the job; others skip.

    Claimed by one conditional UPDATE (atomic on PostgreSQL and SQLite), so it works across hosts,
    and a crashed host's lease simply runs out.
    """

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100))
    locked_until = mapped_column(UTCDateTime, nullable=True)


class CalendarDay(db.Model):
    """A day an administrator marked as a holiday or a working day for a region. Revoked, never deleted."""

    __tablename__ = "calendar_days"
    __table_args__ = (Index("ix_calendar_days_region", "region_code", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6))
    day: Mapped[date] = mapped_column(Date)
    is_working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(100))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow)
    revoked_at = mapped_column(UTCDateTime, nullable=True)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class QueueFailure(db.Model):
    """A background task that failed on its last retry (the dead-letter list administrators see).

    Kept after a retry: ``retried_at``/``retried_by_id`` say who sent it back to the queue and when.
    """

    __tablename__ = "queue_failures"
    __table_args__ = (Index("ix_queue_failures_open", "retried_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(60))  # the queue's task name, e.g. run_job
    job: Mapped[str | None] = mapped_column(String(40))  # the scheduled job it ran, if any
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    failed_at = mapped_column(UTCDateTime, default=utcnow)
    retried_at = mapped_column(UTCDateTime, nullable=True)
    retried_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class BackgroundTask(db.Model):
    """Heavy work a user asked for (a letter batch PDF), done by the worker; the file it made is
    kept in the object store (``results`` area, ``object_key``) and downloaded by its owner.

    status: queued -> running -> done (or back to queued for a retry, or failed after the last).
    """

    __tablename__ = "background_tasks"
    __table_args__ = (Index("ix_background_tasks_owner", "owner_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # what the request chose (e.g. region, date)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(500))  # what the page says when done or failed
    object_key: Mapped[str | None] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(120))
    content_type: Mapped[str | None] = mapped_column(String(60))
    size: Mapped[int | None] = mapped_column(Integer)
    created_at = mapped_column(UTCDateTime, default=utcnow)
    started_at = mapped_column(UTCDateTime, nullable=True)
    finished_at = mapped_column(UTCDateTime, nullable=True)
