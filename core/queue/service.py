"""The dead-letter list: background tasks that failed on their last retry, and sending one back."""
from __future__ import annotations

import traceback

from sqlalchemy import select

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import NOT_FOUND, Conflict, NotFound
from core.kernel.time import utcnow
from core.models import QueueFailure


TASK_TITLES = {"run_task": "后台生成文件(如打印信件)", "send_sms": "发送短信"}


def task_title(task: str) -> str:
    """The Chinese name of a queue task that is not a scheduled job."""
    return TASK_TITLES.get(task, task)


def record_failure(task: str, job: str | None, exc: BaseException | None, attempts: int) -> QueueFailure:
    """Called by the worker when a task has no retries left (its own session and commit)."""
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip() if exc else "未知错误"
    # SQLAlchemy appends the statement and its parameters (personal data, encrypted or not): drop them.
    error = error.split("\n[SQL:")[0].split("\n(Background on this error")[0]
    row = QueueFailure(task=task[:60], job=(job or None) and job[:40], error=error[:2000], attempts=attempts)
    db.session.add(row)
    db.session.commit()
    return row


def open_failures(limit: int = 50) -> list[QueueFailure]:
    """Failures nobody has sent back yet, newest first."""
    return list(db.session.scalars(
        select(QueueFailure).where(QueueFailure.retried_at.is_(None)).order_by(QueueFailure.id.desc()).limit(limit)))


def retry(ctx: Context, failure_id: int) -> QueueFailure:
    """An administrator sends a failed task back to the queue: marked (kept, never deleted) and
    audited here; the caller enqueues the job after committing."""
    row = db.session.get(QueueFailure, failure_id)
    if row is None:
        raise NotFound(NOT_FOUND)
    if row.retried_at is not None or not row.job:
        raise Conflict("该任务已重新排队,或不能重试。")
    row.retried_at, row.retried_by_id = utcnow(), ctx.actor_id
    audit(ctx, "queue.retry", ("queue_failures", row.id), detail=row.job)
    return row
