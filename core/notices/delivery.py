"""Sending queued SMS through the gateway hook, with back-off, and what administrators see of it.

``deliver_due`` (run by the ``deliver_notices`` job) is safe on several hosts: rows are claimed
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and marked "sending" in a committed transaction before
the gateway is called, so two hosts never send the same row; a crash mid-send is retried with the
same reference, which a de-duplicating gateway recognises. The claim is one conditional UPDATE (only
rows still pending or failed become "sending"), so the task queued when a notice is committed and
the per-minute sweep never both send a row, on SQLite too.

``notify_many`` notes the SMS deliveries it queues on the session (``note_queued``); after the
commit, core/queue/commit.py hands them to the worker, which sends them within seconds
(``deliver_due(ids=...)``). The sweep stays the safety net for a lost hand-over.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import NOT_FOUND, NotFound
from core.kernel.status import Channel, DeliveryStatus
from core.kernel.time import utcnow
from core.models import Notice, NoticeDelivery, User

# Minutes to wait after the 1st, 2nd, ... failed attempt; after the last, the delivery gives up.
BACKOFF_MINUTES = (5, 30, 120, 720)
SENDING_TIMEOUT = timedelta(minutes=30)  # a delivery "sending" this long was interrupted by a crash
FAILED = (DeliveryStatus.FAILED, DeliveryStatus.GAVE_UP, DeliveryStatus.SKIPPED)


QUEUED_KEY = "mtkit.sms_queued"  # Session.info: SMS delivery ids this transaction created
DUE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


def note_queued(ids: list[int]) -> None:
    """Remember SMS deliveries this transaction created, for the hand-over after commit."""
    if ids:
        db.session.info.setdefault(QUEUED_KEY, []).extend(ids)


def take_queued(session) -> list[int]:
    """The ids noted in ``session``'s transaction (forgotten once taken, or on rollback)."""
    return session.info.pop(QUEUED_KEY, None) or []


def deliver_due(ctx: Context, channel: str = Channel.SMS, batch: int = 500, progress=None,
                ids: list[int] | None = None) -> tuple[int, int]:
    """Send due deliveries of ``channel`` (only those of ``ids`` when given: the hand-over after a
    commit); returns (attempted, sent)."""
    attempted = sent = 0
    if ids is None:
        _recover_interrupted(channel)
    while True:
        now = utcnow()
        query = (
            select(NoticeDelivery.id)
            .where(NoticeDelivery.channel == channel, NoticeDelivery.status.in_(DUE), NoticeDelivery.next_attempt_at <= now)
            .order_by(NoticeDelivery.id)
            .limit(batch)
        )
        if ids is not None:
            query = query.where(NoticeDelivery.id.in_(ids))
        if db.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        candidates = db.session.scalars(query).all()
        if not candidates:
            break
        claimed = _claim(candidates, now)
        db.session.commit()
        if ids is not None:
            ids = [i for i in ids if i not in set(candidates)]
        if not claimed:
            continue
        rows = db.session.execute(
            select(NoticeDelivery.id, NoticeDelivery.attempts, Notice.title, Notice.body, User.phone)
            .join(Notice, Notice.id == NoticeDelivery.notice_id).join(User, User.id == Notice.user_id)
            .where(NoticeDelivery.id.in_(claimed)).order_by(NoticeDelivery.id)
        ).all()
        changes = []
        for r in rows:
            attempted += 1
            if not r.phone:
                changes.append({"id": r.id, "status": DeliveryStatus.SKIPPED, "result": "没有手机号码"})
                continue
            text = f"【门特服务】{r.title}:{r.body}"[:300]
            try:
                result = ctx.regions.send_sms(phone=r.phone, text=text, ref=f"mtkit-{r.id}")
            except Exception as exc:  # a gateway error is a failed attempt, never a crashed job
                changes.append(_failure(r.id, r.attempts, f"{type(exc).__name__}: {exc}", utcnow()))
                continue
            if result is not None and result.ok:
                changes.append({"id": r.id, "status": DeliveryStatus.SENT, "sent_at": utcnow(),
                                "result": (result.detail or "已发送")[:500]})
                sent += 1
            else:
                changes.append(_failure(r.id, r.attempts, getattr(result, "detail", "") or "网关未接受", utcnow()))
        for group in _same_keys(changes):
            db.session.execute(update(NoticeDelivery), group)
        db.session.commit()
        if progress:
            progress(attempted)
    return attempted, sent


def _recover_interrupted(channel: str) -> None:
    """Deliveries a crashed run left "sending": count as a failed attempt and retry."""
    now = utcnow()
    for d in db.session.scalars(
        select(NoticeDelivery).where(NoticeDelivery.channel == channel, NoticeDelivery.status == DeliveryStatus.SENDING,
                                     NoticeDelivery.last_attempt_at < now - SENDING_TIMEOUT)
    ):
        for key, value in _failure(d.id, max(d.attempts, 1), "发送中断(结果未知),将重试", now).items():
            setattr(d, key, value)
    db.session.commit()


def _claim(candidates: list[int], now) -> list[int]:
    """Mark ``candidates`` "sending" if they are still due: the rows another sender took in the
    meantime are left out (the WHERE is checked again under the row lock)."""
    return list(db.session.scalars(
        update(NoticeDelivery)
        .where(NoticeDelivery.id.in_(candidates), NoticeDelivery.status.in_(DUE), NoticeDelivery.next_attempt_at <= now)
        .values(status=DeliveryStatus.SENDING, last_attempt_at=now, attempts=NoticeDelivery.attempts + 1)
        .returning(NoticeDelivery.id),
        execution_options={"synchronize_session": False}).all())


def _failure(delivery_id: int, attempts: int, why: str, now) -> dict:
    if attempts > len(BACKOFF_MINUTES):
        return {"id": delivery_id, "status": DeliveryStatus.GAVE_UP, "result": why[:500]}
    return {"id": delivery_id, "status": DeliveryStatus.FAILED, "result": why[:500],
            "next_attempt_at": now + timedelta(minutes=BACKOFF_MINUTES[attempts - 1])}


def _same_keys(changes: list[dict]) -> list[list[dict]]:
    """Bulk UPDATE by primary key needs the same columns in every row: group them."""
    groups: dict[tuple, list[dict]] = {}
    for c in changes:
        groups.setdefault(tuple(sorted(c)), []).append(c)
    return list(groups.values())


# --- what administrators see ---------------------------------------------------------------------
def region_scope(query, user: User):
    """Deliveries to people of ``user``'s region (and district); the instance administrator: all."""
    if user.region_code:
        query = query.where(User.region_code == user.region_code)
        if user.division_code:
            query = query.where(User.division_code == user.division_code)
    return query


def _joined(*where):
    return (select(NoticeDelivery, Notice, User)
            .join(Notice, Notice.id == NoticeDelivery.notice_id)
            .join(User, User.id == Notice.user_id)
            .where(*where))


def failed_page(user: User, before: int | None, size: int = 50):
    """Deliveries that failed, gave up or could not be sent, newest first, and the next cursor."""
    query = region_scope(_joined(NoticeDelivery.status.in_(FAILED)), user).order_by(NoticeDelivery.id.desc())
    if before:
        query = query.where(NoticeDelivery.id < before)
    rows = db.session.execute(query.limit(size + 1)).all()
    return rows[:size], (rows[size - 1][0].id if len(rows) > size else None)


def pending_letters(user: User) -> int:
    query = (select(func.count()).select_from(NoticeDelivery).join(Notice, Notice.id == NoticeDelivery.notice_id)
             .join(User, User.id == Notice.user_id)
             .where(NoticeDelivery.channel == Channel.LETTER, NoticeDelivery.status == DeliveryStatus.PENDING))
    return db.session.scalar(region_scope(query, user))


def retry_now(ctx: Context, delivery_id: int) -> NoticeDelivery:
    """An administrator asks to try a failed delivery again at once (a fresh round of attempts)."""
    found = db.session.execute(
        region_scope(_joined(NoticeDelivery.status.in_(FAILED), NoticeDelivery.id == delivery_id), ctx.actor)
    ).first()
    if found is None:
        raise NotFound(NOT_FOUND)
    delivery = found[0]
    delivery.status, delivery.next_attempt_at, delivery.attempts = DeliveryStatus.PENDING, utcnow(), 0
    audit(ctx, "notice.retry", ("notice_deliveries", delivery_id))
    return delivery
