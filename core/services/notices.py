"""Notices to people: saved to the inbox, then handed to every notification plugin.

Plugins for outside channels (SMS, letters) only queue a ``NoticeDelivery`` in the same
transaction; ``deliver_due`` (run by the ``deliver_notices`` job) sends it later, records the
gateway's answer and retries failures with back-off. Staff see failed deliveries (``failed``).
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, g
from sqlalchemy import insert, select, update

from core.extensions import db
from core.models import Notice, NoticeDelivery, User
from core.models.base import utcnow

# Minutes to wait after the 1st, 2nd, ... failed attempt; after the last, the delivery gives up.
BACKOFF_MINUTES = (5, 30, 120, 720)
SENDING_TIMEOUT = timedelta(minutes=30)  # a delivery "sending" this long was interrupted by a crash


def notify(user_id: int, kind: str, title: str, body: str, application_id: int | None = None,
           recognition_id: int | None = None, dedup_key: str | None = None) -> Notice:
    return notify_many([dict(user_id=user_id, kind=kind, title=title, body=body, application_id=application_id,
                             recognition_id=recognition_id, dedup_key=dedup_key)])[0]


def notify_many(items: list[dict]) -> list[Notice]:
    """Save notices, then hand each to the notification plugins; returns the notices (with ids).

    Written with bulk statements (one INSERT round for the notices, one for the deliveries the
    plugins queue, one UPDATE per combination of channels) because the daily jobs send thousands.
    """
    if not items:
        return []
    now = utcnow()
    rows = [{"application_id": None, "recognition_id": None, "dedup_key": None, **item, "created_at": now} for item in items]
    ids = db.session.scalars(insert(Notice).returning(Notice.id, sort_by_parameter_order=True), rows).all()
    saved = [Notice(id=notice_id, **row) for notice_id, row in zip(ids, rows)]
    hook = current_app.extensions["mtkit_pm"].hook.mtkit_notify
    g._mtkit_deliveries = []
    by_channels: dict[str, list[int]] = {}
    try:
        for notice in saved:
            channels = ",".join(sorted({c for c in hook(notice=notice) if c}))
            notice.channels = channels
            by_channels.setdefault(channels, []).append(notice.id)
        queued = g._mtkit_deliveries
    finally:
        g._mtkit_deliveries = None
    if queued:
        db.session.execute(insert(NoticeDelivery), queued)
    for channels, same in by_channels.items():
        for i in range(0, len(same), 500):
            db.session.execute(update(Notice).where(Notice.id.in_(same[i:i + 500])).values(channels=channels),
                               execution_options={"synchronize_session": False})
    return saved


def from_template(region: str, kind: str, **fields) -> tuple[str, str]:
    template = current_app.extensions["mtkit_pm"].hook.mtkit_notice_template(region=region, kind=kind)
    return template.render(**fields)


def queue_delivery(notice: Notice, channel: str) -> None:
    """Called by channel plugins from ``mtkit_notify``: queue ``notice`` for ``channel``."""
    row = {"notice_id": notice.id, "channel": channel, "status": "pending", "attempts": 0,
           "next_attempt_at": utcnow(), "created_at": utcnow()}
    buffer = g.get("_mtkit_deliveries")
    if buffer is not None:
        buffer.append(row)  # inserted with the other notices of the batch
    else:
        db.session.execute(insert(NoticeDelivery), [row])


def deliver_due(channel: str = "sms", batch: int = 500, progress=None) -> tuple[int, int]:
    """Send due deliveries of ``channel``; returns (attempted, sent). Safe on several hosts:
    rows are claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and marked "sending" in a committed
    transaction before the gateway is called, so two hosts never send the same row."""
    send = current_app.extensions["mtkit_pm"].hook.mtkit_sms_send
    attempted = sent = 0
    now = utcnow()
    # Deliveries a crashed run left "sending": count as a failed attempt and retry (the gateway gets
    # the same ref, so one that de-duplicates will not send twice).
    for d in db.session.scalars(
        select(NoticeDelivery).where(NoticeDelivery.channel == channel, NoticeDelivery.status == "sending",
                                     NoticeDelivery.last_attempt_at < now - SENDING_TIMEOUT)
    ):
        _failed(d, "发送中断(结果未知),将重试", now)
    db.session.commit()
    while True:
        now = utcnow()
        query = (
            select(NoticeDelivery.id, NoticeDelivery.attempts)
            .where(NoticeDelivery.channel == channel, NoticeDelivery.status.in_(("pending", "failed")),
                   NoticeDelivery.next_attempt_at <= now)
            .order_by(NoticeDelivery.id)
            .limit(batch)
        )
        if db.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = db.session.execute(query).all()
        if not claimed:
            break
        db.session.execute(update(NoticeDelivery), [
            {"id": r.id, "status": "sending", "last_attempt_at": now, "attempts": r.attempts + 1} for r in claimed])
        db.session.commit()
        rows = db.session.execute(
            select(NoticeDelivery.id, NoticeDelivery.attempts, Notice.title, Notice.body, User.phone)
            .join(Notice, Notice.id == NoticeDelivery.notice_id).join(User, User.id == Notice.user_id)
            .where(NoticeDelivery.id.in_([r.id for r in claimed])).order_by(NoticeDelivery.id)
        ).all()
        changes = []
        for r in rows:
            attempted += 1
            if not r.phone:
                changes.append({"id": r.id, "status": "skipped", "result": "没有手机号码"})
                continue
            text = f"【门特服务】{r.title}:{r.body}"[:300]
            try:
                result = send(phone=r.phone, text=text, ref=f"mtkit-{r.id}")
            except Exception as exc:  # a gateway error is a failed attempt, never a crashed job
                changes.append(_failure(r.id, r.attempts, f"{type(exc).__name__}: {exc}", utcnow()))
                continue
            if result is not None and result.ok:
                changes.append({"id": r.id, "status": "sent", "sent_at": utcnow(), "result": (result.detail or "已发送")[:500]})
                sent += 1
            else:
                changes.append(_failure(r.id, r.attempts, getattr(result, "detail", "") or "网关未接受", utcnow()))
        for group in _same_keys(changes):
            db.session.execute(update(NoticeDelivery), group)
        db.session.commit()
        if progress:
            progress(attempted)
    return attempted, sent


def _failure(delivery_id: int, attempts: int, why: str, now) -> dict:
    if attempts > len(BACKOFF_MINUTES):
        return {"id": delivery_id, "status": "gave_up", "result": why[:500]}
    return {"id": delivery_id, "status": "failed", "result": why[:500],
            "next_attempt_at": now + timedelta(minutes=BACKOFF_MINUTES[attempts - 1])}


def _same_keys(changes: list[dict]) -> list[list[dict]]:
    """Bulk UPDATE by primary key needs the same columns in every row: group them."""
    groups: dict[tuple, list[dict]] = {}
    for c in changes:
        groups.setdefault(tuple(sorted(c)), []).append(c)
    return list(groups.values())


def _failed(d: NoticeDelivery, why: str, now) -> None:
    for key, value in _failure(d.id, max(d.attempts, 1), why, now).items():
        setattr(d, key, value)


def retry_now(delivery: NoticeDelivery) -> None:
    """Staff asked to try a failed delivery again at once (a fresh round of attempts)."""
    delivery.status, delivery.next_attempt_at, delivery.attempts = "pending", utcnow(), 0


def _region_scope(q, user):
    if user.region_code:
        q = q.where(User.region_code == user.region_code)
        if user.division_code:
            q = q.where(User.division_code == user.division_code)
    return q


def pending_letters_count(user):
    from sqlalchemy import func

    q = (select(func.count()).select_from(NoticeDelivery).join(Notice, Notice.id == NoticeDelivery.notice_id)
         .join(User, User.id == Notice.user_id).where(NoticeDelivery.channel == "letter", NoticeDelivery.status == "pending"))
    return _region_scope(q, user)


def failed_query(user):
    """Deliveries that failed, gave up or could not be sent, for people in ``user``'s region (staff page)."""
    q = (
        select(NoticeDelivery, Notice, User)
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .join(User, User.id == Notice.user_id)
        .where(NoticeDelivery.status.in_(("failed", "gave_up", "skipped")))
    )
    return _region_scope(q, user).order_by(NoticeDelivery.id.desc())
