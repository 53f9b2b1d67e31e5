"""Notices to people: saved to the inbox, then offered to every notification plugin.

Each plugin (``mtkit_notify(notice, person)``) answers with the channel it wants the notice sent
through, or None; the inbox always takes it (the row is the inbox entry). For every other channel
(SMS, letters) a ``NoticeDelivery`` is queued in the same transaction, so a rolled-back action
sends nothing; SMS go to the worker once the transaction commits, with the ``deliver_notices`` job
as the safety net (``delivery.py``), and window staff print letters (``letters.py``). Plugins only decide: they never write or call back into services.
"""
from __future__ import annotations

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import selectinload

from core.context import Context
from core.extensions import db
from core.notices import delivery
from core.kernel.status import Channel, DeliveryStatus
from core.kernel.time import utcnow
from core.kernel.text import tidy
from core.models import Notice, NoticeDelivery, User

CHUNK = 500


def notify(ctx: Context, user_id: int, kind: str, title: str, body: str, application_id: int | None = None,
           recognition_id: int | None = None, dedup_key: str | None = None) -> Notice:
    return notify_many(ctx, [dict(user_id=user_id, kind=kind, title=title, body=body, application_id=application_id,
                                  recognition_id=recognition_id, dedup_key=dedup_key)])[0]


def notify_many(ctx: Context, items: list[dict]) -> list[Notice]:
    """Save notices, ask the plugins for channels, queue deliveries; returns the notices (with ids).

    Written with bulk statements (one INSERT round for the notices, one for the deliveries, one
    UPDATE per combination of channels) because the daily jobs send thousands.
    """
    if not items:
        return []
    now = utcnow()  # deliveries are operations: they are due now, whatever the business clock says
    sent = ctx.now()  # the notice itself is dated when its event happened (pinned in tests and the demo)
    rows = [{"application_id": None, "recognition_id": None, "dedup_key": None, **item, "created_at": sent} for item in items]
    for row in rows:  # pieces joined into a notice may each bring their own punctuation (。。)
        row["title"], row["body"] = tidy(row["title"]), tidy(row["body"])
    ids = db.session.scalars(insert(Notice).returning(Notice.id, sort_by_parameter_order=True), rows).all()
    saved = [Notice(id=notice_id, **row) for notice_id, row in zip(ids, rows)]
    people = _people({n.user_id for n in saved})
    queued: list[dict] = []
    by_channels: dict[str, list[int]] = {}
    for notice in saved:
        channels = ctx.regions.notice_channels(notice, people.get(notice.user_id))
        notice.channels = ",".join(channels)
        by_channels.setdefault(notice.channels, []).append(notice.id)
        queued += [{"notice_id": notice.id, "channel": c, "status": DeliveryStatus.PENDING, "attempts": 0,
                    "next_attempt_at": now, "created_at": now} for c in channels if c != Channel.INBOX]
    if queued:
        made = db.session.execute(insert(NoticeDelivery).returning(NoticeDelivery.id, NoticeDelivery.channel), queued).all()
        delivery.note_queued([d.id for d in made if d.channel == Channel.SMS])
    for channels, same in by_channels.items():
        for i in range(0, len(same), CHUNK):
            db.session.execute(update(Notice).where(Notice.id.in_(same[i:i + CHUNK])).values(channels=channels),
                               execution_options={"synchronize_session": False})
    return saved


def from_template(ctx: Context, region: str, kind: str, **fields) -> tuple[str, str]:
    """A notice's title and body in the region's wording (core defaults otherwise)."""
    return ctx.regions.notice_template(region, kind).render(**fields)


def existing_keys(keys: list[str]) -> set[str]:
    """Which of these dedup keys were already sent (the jobs send each key once)."""
    found: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        found.update(db.session.scalars(select(Notice.dedup_key).where(Notice.dedup_key.in_(keys[i:i + CHUNK]))))
    return found


def _people(ids) -> dict[int, User]:
    ids = list(ids)
    found: dict[int, User] = {}
    for i in range(0, len(ids), CHUNK):
        found.update({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids[i:i + CHUNK])))})
    return found


def inbox(user: User, limit: int = 200) -> list[Notice]:
    return list(db.session.scalars(
        select(Notice).where(Notice.user_id == user.id).order_by(Notice.id.desc()).limit(limit)
        .options(selectinload(Notice.deliveries))
    ))


def page(user: User, before: int | None, size: int = 50) -> tuple[list[Notice], int | None]:
    """One page of ``user``'s notices, newest first, and the cursor of the next."""
    query = select(Notice).where(Notice.user_id == user.id)
    if before:
        query = query.where(Notice.id < before)
    rows = db.session.scalars(query.order_by(Notice.id.desc()).limit(size + 1)).all()
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)


def mark_read(ctx: Context, user: User, notice_id: int | None = None) -> int:
    """Mark one of ``user``'s notices read (or all of them, with no id); returns how many changed."""
    query = update(Notice).where(Notice.user_id == user.id, Notice.read_at.is_(None))
    if notice_id is not None:
        query = query.where(Notice.id == notice_id)
    return db.session.execute(query.values(read_at=utcnow()), execution_options={"synchronize_session": False}).rowcount


def unread_count(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Notice).where(Notice.user_id == user.id, Notice.read_at.is_(None))
    )
