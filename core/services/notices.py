"""Notices to people: saved to the inbox, then handed to every notification plugin.

Plugins for outside channels (SMS, letters) only queue a ``NoticeDelivery`` in the same
transaction; ``deliver_due`` (run by the ``deliver_notices`` job) sends it later, records the
gateway's answer and retries failures with back-off. Staff see failed deliveries (``failed``).
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from core.extensions import db
from core.models import Notice, NoticeDelivery, User
from core.models.base import utcnow

# Minutes to wait after the 1st, 2nd, ... failed attempt; after the last, the delivery gives up.
BACKOFF_MINUTES = (5, 30, 120, 720)
SENDING_TIMEOUT = timedelta(minutes=30)  # a delivery "sending" this long was interrupted by a crash


def notify(user_id: int, kind: str, title: str, body: str, application_id: int | None = None,
           recognition_id: int | None = None, dedup_key: str | None = None) -> Notice:
    notice = Notice(user_id=user_id, kind=kind, title=title, body=body, application_id=application_id,
                    recognition_id=recognition_id, dedup_key=dedup_key)
    db.session.add(notice)
    db.session.flush()  # plugins get a notice with an id
    delivered = current_app.extensions["mtkit_pm"].hook.mtkit_notify(notice=notice)
    notice.channels = ",".join(sorted({c for c in delivered if c}))
    return notice


def from_template(region: str, kind: str, **fields) -> tuple[str, str]:
    template = current_app.extensions["mtkit_pm"].hook.mtkit_notice_template(region=region, kind=kind)
    return template.render(**fields)


def queue_delivery(notice: Notice, channel: str) -> NoticeDelivery:
    delivery = NoticeDelivery(notice_id=notice.id, channel=channel, status="pending", attempts=0, next_attempt_at=utcnow())
    db.session.add(delivery)
    return delivery


def sms_text(notice: Notice) -> str:
    return f"【门特服务】{notice.title}:{notice.body}"[:300]


def deliver_due(channel: str = "sms", batch: int = 200, progress=None) -> tuple[int, int]:
    """Send due deliveries of ``channel``; returns (attempted, sent). Safe on several hosts:
    rows are claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and marked "sending" before the
    gateway is called, so two hosts never send the same row."""
    pm = current_app.extensions["mtkit_pm"]
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
            select(NoticeDelivery)
            .where(NoticeDelivery.channel == channel, NoticeDelivery.status.in_(("pending", "failed")),
                   NoticeDelivery.next_attempt_at <= now)
            .order_by(NoticeDelivery.id)
            .limit(batch)
        )
        if db.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = list(db.session.scalars(query))
        if not claimed:
            break
        for d in claimed:
            d.status, d.last_attempt_at, d.attempts = "sending", now, d.attempts + 1
        db.session.commit()
        for d in claimed:
            notice = d.notice
            person = db.session.get(User, notice.user_id)
            attempted += 1
            if not person or not person.phone:
                d.status, d.result = "skipped", "没有手机号码"
                continue
            try:
                result = pm.hook.mtkit_sms_send(phone=person.phone, text=sms_text(notice), ref=f"mtkit-{d.id}")
            except Exception as exc:  # a gateway error is a failed attempt, never a crashed job
                _failed(d, f"{type(exc).__name__}: {exc}"[:500], utcnow())
                continue
            if result is not None and result.ok:
                d.status, d.sent_at, d.result = "sent", utcnow(), (result.detail or "已发送")[:500]
                sent += 1
            else:
                _failed(d, (getattr(result, "detail", "") or "网关未接受")[:500], utcnow())
        db.session.commit()
        if progress:
            progress(attempted)
    return attempted, sent


def _failed(d: NoticeDelivery, why: str, now) -> None:
    d.result = why
    if d.attempts > len(BACKOFF_MINUTES):
        d.status = "gave_up"
    else:
        d.status = "failed"
        d.next_attempt_at = now + timedelta(minutes=BACKOFF_MINUTES[max(d.attempts, 1) - 1])


def retry_now(delivery: NoticeDelivery) -> None:
    """Staff asked to try a failed delivery again at once (a fresh round of attempts)."""
    delivery.status, delivery.next_attempt_at, delivery.attempts = "pending", utcnow(), 0


def failed_query(user):
    """Deliveries that failed or gave up, for notices of people ``user`` may see (staff page)."""
    q = (
        select(NoticeDelivery, Notice, User)
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .join(User, User.id == Notice.user_id)
        .where(NoticeDelivery.status.in_(("failed", "gave_up", "skipped")))
    )
    if user.region_code:
        q = q.where(User.region_code == user.region_code)
        if user.division_code:
            q = q.where(User.division_code == user.division_code)
    return q.order_by(NoticeDelivery.id.desc())
