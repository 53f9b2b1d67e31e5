"""Heavy work a user asks for (a letter batch PDF, a national-platform export), done by the worker
instead of the request.

The request calls ``request``: a ``background_tasks`` row (queued, owned by the user) whose id is
handed to the worker once the transaction commits (core/queue/commit.py). The worker calls ``run``
with the kind's function, the same service function a synchronous caller uses; the file it makes
goes to the object store (``results`` area: MTKIT_RESULT_DIR, or ``results/`` in the bucket) and
the row says done. The page polls ``visible`` and the owner (or an administrator of the owner's
region) downloads it through ``open_result``: checked and audited like any medical document.

The files hold names, addresses and ID numbers and can be made again from the rows, so they are
kept MTKIT_RESULT_DAYS days after they were made: the daily ``result_purge`` job (``purge``)
deletes older ones and marks their rows expired (the row, with what was made and by whom, stays).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, Callable

from sqlalchemy import or_, select, update

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import NOT_FOUND, NotFound, ServiceError
from core.kernel.objectstore import MissingObject, ObjectStore, StorageError, hand_out
from core.kernel.roles import Role
from core.kernel.stores import open_store
from core.kernel.time import utcnow
from core.models import BackgroundTask, User

log = logging.getLogger("mtkit.queue")
AREA = "results"
QUEUED_KEY = "mtkit.tasks_queued"  # Session.info: background task ids this transaction created
RUNNING_TIMEOUT = timedelta(minutes=30)  # "running" this long: the worker died; a retry may take it
STRANDED = timedelta(minutes=5)  # longer than a task's retries take (3 x 10 s)
QUEUED, RUNNING, DONE, FAILED, EXPIRED = "queued", "running", "done", "failed", "expired"
STATUS = {QUEUED: "排队中", RUNNING: "生成中", DONE: "已生成", FAILED: "生成失败", EXPIRED: "已过保存期限"}
MISSING = "生成的文件已不在存储中,请重新生成。"
UNAVAILABLE = "文件存储暂时无法访问,请稍后再试;如一直如此,请联系系统管理员。"


@dataclass
class Made:
    """What a task's function made: a file, or only a message (nothing to make)."""

    message: str
    filename: str | None = None
    content_type: str | None = None
    data: bytes | None = None


def store_of(ctx: Context) -> ObjectStore:
    return open_store(ctx.settings, AREA, Path(ctx.settings["MTKIT_RESULT_DIR"]))


def request(ctx: Context, kind: str, params: dict | None = None) -> BackgroundTask:
    """Queue ``kind`` (with ``params``, JSON) for the acting user; the worker starts it once the
    caller commits. The caller has checked the user may do it and validated ``params``."""
    row = BackgroundTask(kind=kind, params=params or {}, owner_id=ctx.actor_id, status=QUEUED, attempts=0,
                         created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    db.session.info.setdefault(QUEUED_KEY, []).append(row.id)
    audit(ctx, "task.request", row, detail=kind)
    return row


def take_queued(session) -> list[int]:
    return session.info.pop(QUEUED_KEY, None) or []


def run(ctx: Context, task_id: int, kinds: dict[str, Callable[[Context, dict], Made]]) -> str:
    """Do task ``task_id`` as its owner with its kind's function (called by the worker; retried by
    Huey when it raises). Returns its status; a task already done, or running elsewhere, is left alone."""
    if not _claim(task_id):
        db.session.rollback()
        row = db.session.get(BackgroundTask, task_id)
        return row.status if row else "missing"
    db.session.commit()
    row = db.session.get(BackgroundTask, task_id)
    try:
        made = kinds[row.kind](ctx.acting_as(db.session.get(User, row.owner_id)), row.params or {})
        if made.data is not None:
            row.object_key = f"{row.id}/{made.filename}"
            store_of(ctx).put(row.object_key, made.data)
            row.filename, row.content_type, row.size = made.filename, made.content_type, len(made.data)
        row.status, row.message, row.finished_at = DONE, made.message[:500], utcnow()
        db.session.commit()  # the work's own changes (letters marked printed) and the row: together
    except Exception as exc:
        db.session.rollback()  # nothing the attempt changed is kept; the row waits for Huey's retry
        db.session.execute(update(BackgroundTask).where(BackgroundTask.id == task_id)
                           .values(status=QUEUED, message=f"{type(exc).__name__}"[:500]))
        db.session.commit()
        raise
    return row.status


def _startable(now):
    return or_(BackgroundTask.status == QUEUED,
               (BackgroundTask.status == RUNNING) & (BackgroundTask.started_at < now - RUNNING_TIMEOUT))


def _claim(task_id: int) -> bool:
    now = utcnow()
    claimed = db.session.execute(
        update(BackgroundTask)
        .where(BackgroundTask.id == task_id, _startable(now))
        .values(status=RUNNING, started_at=now, attempts=BackgroundTask.attempts + 1)
        .execution_options(synchronize_session=False))
    return claimed.rowcount == 1


def stranded(limit: int = 100) -> list[int]:
    """Tasks waiting longer than STRANDED (the hand-over after commit was lost: the queue was down)
    or left running by a worker that died: the worker's minute tick hands them over again. A task
    the queue still holds is harmless to hand over twice: only one run claims it."""
    now = utcnow()
    return list(db.session.scalars(
        select(BackgroundTask.id).where(_startable(now), BackgroundTask.created_at < now - STRANDED)
        .order_by(BackgroundTask.id).limit(limit)))


def mark_failed(task_id: int, why: str) -> None:
    """The worker gave up (last retry failed): the page says so; the user may ask again."""
    db.session.execute(update(BackgroundTask).where(BackgroundTask.id == task_id, BackgroundTask.status != DONE)
                       .values(status=FAILED, message=why[:500], finished_at=utcnow()))
    db.session.commit()


def visible(ctx: Context, task_id: int) -> BackgroundTask:
    """A task its owner, or an administrator of the owner's region, may look at."""
    row = db.session.get(BackgroundTask, task_id)
    if row is None or ctx.actor is None:
        raise NotFound(NOT_FOUND)
    if row.owner_id != ctx.actor_id:
        owner = db.session.get(User, row.owner_id)
        if ctx.actor.role != Role.ADMIN or ctx.actor.region_code not in (None, owner.region_code):
            raise NotFound(NOT_FOUND)
    return row


def recent(ctx: Context, kind: str, limit: int = 5) -> list[BackgroundTask]:
    """The acting user's latest tasks of ``kind``, newest first (to find a file made earlier)."""
    return list(db.session.scalars(select(BackgroundTask).where(
        BackgroundTask.owner_id == ctx.actor_id, BackgroundTask.kind == kind).order_by(BackgroundTask.id.desc()).limit(limit)))


@dataclass
class Result:
    task: BackgroundTask
    body: Path | BinaryIO | None = None
    url: str | None = None


def open_result(ctx: Context, task_id: int) -> Result:
    """The file a finished task made, for someone allowed to see it: audited; streamed, or with
    MTKIT_S3_PRESIGN_SECONDS on S3 a short-lived presigned address."""
    row = visible(ctx, task_id)
    if row.status == EXPIRED:
        raise ServiceError(row.message or MISSING, status=410)
    if row.status != DONE or not row.object_key:
        raise NotFound("文件尚未生成。")
    try:
        out = hand_out(store_of(ctx), row.object_key, presign_seconds=int(ctx.settings.get("MTKIT_S3_PRESIGN_SECONDS") or 0),
                       filename=row.filename, content_type=row.content_type)
        opened = Result(row, body=out.body, url=out.url)
    except MissingObject as e:
        log.error("task %s: result %s is missing", row.id, row.object_key)
        raise ServiceError(MISSING, status=410) from e
    except StorageError as e:
        log.error("task %s: result %s could not be read: %s", row.id, row.object_key, e)
        raise ServiceError(UNAVAILABLE, status=503) from e
    audit(ctx, "task.download", row, detail=f"{row.kind} {row.filename}")
    return opened


def purge(ctx: Context, batch: int = 500, progress: Callable[[int], None] | None = None) -> int:
    """Delete the files of tasks finished more than MTKIT_RESULT_DAYS days ago (0: keep them) and
    mark each row expired, audited; returns how many. The file goes first: a run that stops between
    the two leaves a row whose download answers 410, and the next run finishes it."""
    days = int(ctx.settings.get("MTKIT_RESULT_DAYS") or 0)
    if days <= 0:
        return 0
    cutoff, store, done = utcnow() - timedelta(days=days), store_of(ctx), 0
    why = f"文件已超过 {days} 天的保存期限,已删除;如还需要,请重新生成。"
    while True:
        rows = list(db.session.scalars(
            select(BackgroundTask).where(BackgroundTask.status == DONE, BackgroundTask.object_key.is_not(None),
                                         BackgroundTask.finished_at < cutoff)
            .order_by(BackgroundTask.id).limit(batch)))
        if not rows:
            return done
        for row in rows:
            store.delete(row.object_key)  # an absent file is fine: a run stopped half-way
            row.status, row.message = EXPIRED, why
            audit(ctx, "task.expire", row, detail=f"{row.kind} {row.filename} {row.finished_at:%Y-%m-%d}")
        db.session.commit()
        done += len(rows)
        if progress:
            progress(done)
