"""Printed letters: notices that people chose to receive on paper, printed by window staff in
batches (one A4 page per letter, addressed to the 异地 address when the person lives elsewhere).

Printing marks the batch's deliveries as sent with the batch number, in the same transaction
that renders the PDF, so a failed rendering marks nothing; a batch can be printed again by its number.
"""
from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.models import Notice, NoticeDelivery, User
from core.models.base import utcnow
from core.regions import regions
from core.services import NotFound
from core.services.audit import audit
from core.services.clock import today
from core.services.notices import _region_scope
from core.services.pdf import render_pdf

BATCH_LIMIT = 200
PRINTERS = ("admin", "agency_reviewer")  # window staff and administrators


def _query(user: User, status: str):
    q = (
        select(NoticeDelivery, Notice, User)
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .join(User, User.id == Notice.user_id)
        .where(NoticeDelivery.channel == "letter", NoticeDelivery.status == status)
    )
    return _region_scope(q, user).order_by(NoticeDelivery.id)


def pending(user: User) -> list:
    return db.session.execute(_query(user, "pending").limit(BATCH_LIMIT)).all()


def batch_label(user: User) -> str:
    return f"{utcnow().strftime('%Y%m%d%H%M%S')}-{user.id}"


def print_batch(user: User) -> tuple[str, bytes] | None:
    """Print up to BATCH_LIMIT pending letters; returns (batch number, PDF) or None when none wait."""
    q = _query(user, "pending").limit(BATCH_LIMIT)
    if db.engine.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=NoticeDelivery)  # two windows never print the same letter
    rows = db.session.execute(q).all()
    if not rows:
        return None
    batch = batch_label(user)
    pdf = _render(rows, batch)
    now = utcnow()
    for delivery, _notice, _person in rows:
        delivery.status, delivery.sent_at, delivery.last_attempt_at = "sent", now, now
        delivery.attempts += 1
        delivery.result = result_text(batch)
    audit("letters.print", ("notice_deliveries", None), user=user, detail=f"batch={batch} letters={len(rows)}")
    return batch, pdf


def reprint(user: User, batch: str) -> bytes:
    rows = db.session.execute(_query(user, "sent").where(NoticeDelivery.result == result_text(batch))).all()
    if not rows:
        raise NotFound("没有这个批次的信件,或您无权查看。")
    audit("letters.reprint", ("notice_deliveries", None), user=user, detail=f"batch={batch} letters={len(rows)}")
    return _render(rows, batch)


def result_text(batch: str) -> str:
    return f"已打印,待邮寄(批次 {batch})"


def _render(rows, batch: str) -> bytes:
    letters = []
    for delivery, notice, person in rows:
        info = regions().get(person.region_code)
        letters.append({
            "name": person.name,
            "address": person.remote_address or person.address or "",
            "remote": bool(person.remote_address),
            "title": notice.title,
            "body": notice.body,
            "issuer": f"{info.name}医疗保障经办机构" if info else "医疗保障经办机构",
            "contact": info.contact if info else "",
            "number": f"{batch}-{delivery.id}",
        })
    return render_pdf("pdf/letters.html", {"letters": letters, "batch": batch, "date": today()})
