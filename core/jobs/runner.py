"""Running scheduled jobs: "what is due", a lease lock per job and a record of every run.

cron or a systemd timer calls ``flask --app app jobs run`` (every few minutes is fine), and the
background worker (``flask --app app queue worker``, core/queue/tasks.py) calls the same ``run``
from its periodic tasks: daily jobs run once per local day, interval jobs when their interval has
passed. Safety:
- one host at a time per job: a lease in ``job_locks`` claimed by one conditional UPDATE (atomic
  on PostgreSQL and SQLite); a crashed host's lease runs out after ``LEASE``;
- idempotent bodies: every notice a job sends carries a unique ``dedup_key`` and every status
  change is conditional, so a rerun (after a crash midway, or forced) sends and changes nothing twice;
- work in committed batches, so a crash loses at most one batch, which the rerun redoes.
Which jobs exist is ``schedule.py``; their bodies call the features' services.
"""
from __future__ import annotations

import socket
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.context import Context
from core.extensions import db
from core.kernel.time import utcnow
from core.models import JobLock, JobRun

LEASE = timedelta(minutes=15)
BATCH = 1000


@dataclass(frozen=True)
class Job:
    name: str  # technical name: the command line and the run records use it
    title: str  # what people read: the short Chinese name
    body: Callable[[Context, "Progress"], None]
    every_minutes: int | None = None  # None: once per local day
    about: str = ""  # what it does, in a sentence


class Progress:
    """What a job body reports to: its run record, progress output and the lease to keep alive."""

    def __init__(self, run: JobRun, holder: str, echo: Callable[[str], None], previous: JobRun | None):
        self.run_id = run.id
        self.name = run.name
        self.run_date = run.run_date
        self.holder = holder
        self.echo = echo
        self.previous = previous  # the last run that finished, if any (its run_date is the watermark)
        self.processed = 0
        self.changed = 0

    def progress(self, note: str = "") -> None:
        """Called after each committed batch: print progress and extend the lease."""
        _extend_lease(self.name, self.holder)
        db.session.execute(update(JobRun).where(JobRun.id == self.run_id).values(processed=self.processed, changed=self.changed))
        db.session.commit()
        self.echo(f"  {self.name}: 已处理 {self.processed:,},变更/发送 {self.changed:,}{(' ' + note) if note else ''}")


def last_done(name: str) -> JobRun | None:
    return db.session.scalars(
        select(JobRun).where(JobRun.name == name, JobRun.status == "done").order_by(JobRun.id.desc()).limit(1)
    ).first()


def is_due(ctx: Context, job: Job) -> bool:
    prev = last_done(job.name)
    if prev is None:
        return True
    if job.every_minutes is None:
        return prev.run_date < ctx.today(None)
    return prev.finished_at is None or prev.finished_at + timedelta(minutes=job.every_minutes) <= utcnow()


def run(ctx: Context, job: Job, echo: Callable[[str], None] = print, force: bool = False) -> str:
    """Run ``job`` if due (or ``force``). Returns "done", "skipped", "locked" or "failed"."""
    name = job.name
    if not force and not is_due(ctx, job):
        echo(f"{name}: 今天已运行,跳过。" if job.every_minutes is None else f"{name}: 未到运行间隔,跳过。")
        return "skipped"
    holder = f"{socket.gethostname()}:{id(object())}"[:100]
    if not _claim(name, holder):
        echo(f"{name}: 另一台主机正在运行,跳过。")
        return "locked"
    # Asked again under the lease: another host may have finished today's run between the check
    # above and the claim (it released the lease as it finished), and would otherwise run it twice.
    if not force and not is_due(ctx, job):
        _release(name, holder)
        echo(f"{name}: 另一台主机刚刚完成,跳过。")
        return "skipped"
    previous = last_done(name)
    record = JobRun(name=name, run_date=ctx.today(None), status="running", host=holder, processed=0, changed=0)
    db.session.add(record)
    db.session.commit()
    progress = Progress(record, holder, echo, previous)
    echo(f"{name}: 开始({job.title}:{job.about})" if job.about else f"{name}: 开始({job.title})")
    started = time.perf_counter()
    try:
        job.body(ctx, progress)
    except Exception as exc:
        db.session.rollback()
        db.session.execute(update(JobRun).where(JobRun.id == progress.run_id).values(
            status="failed", finished_at=utcnow(), processed=progress.processed, changed=progress.changed,
            detail="".join(traceback.format_exception_only(type(exc), exc))[:2000]))
        db.session.commit()
        _release(name, holder)
        echo(f"{name}: 失败:{exc}(已提交的批次保留;重新运行会从中断处继续,不会重复发送)")
        return "failed"
    db.session.execute(update(JobRun).where(JobRun.id == progress.run_id).values(
        status="done", finished_at=utcnow(), processed=progress.processed, changed=progress.changed))
    db.session.commit()
    _release(name, holder)
    echo(f"{name}: 完成,处理 {progress.processed:,},变更/发送 {progress.changed:,},用时 {time.perf_counter() - started:.1f} 秒")
    return "done"


def run_due(ctx: Context, jobs, echo: Callable[[str], None] = print, force: bool = False) -> dict[str, str]:
    return {job.name: run(ctx, job, echo, force) for job in jobs}


def _claim(name: str, holder: str) -> bool:
    try:
        with db.session.begin_nested():
            db.session.execute(insert(JobLock).values(name=name, holder=None, locked_until=None))
    except IntegrityError:
        pass  # the row exists already
    now = utcnow()
    claimed = db.session.execute(
        update(JobLock)
        .where(JobLock.name == name, or_(JobLock.locked_until.is_(None), JobLock.locked_until < now))
        .values(holder=holder, locked_until=now + LEASE)
    ).rowcount
    db.session.commit()
    return claimed == 1


def _extend_lease(name: str, holder: str) -> None:
    db.session.execute(update(JobLock).where(JobLock.name == name, JobLock.holder == holder).values(locked_until=utcnow() + LEASE))


def _release(name: str, holder: str) -> None:
    db.session.execute(update(JobLock).where(JobLock.name == name, JobLock.holder == holder).values(locked_until=None))
    db.session.commit()


def recent_runs(limit: int = 30) -> list[JobRun]:
    """The latest runs of every job, newest first (shown to administrators)."""
    return list(db.session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(limit)))
