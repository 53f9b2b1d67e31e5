"""Printed letters: notices that people chose to receive on paper, printed by window staff in
batches (one A4 page per letter, addressed to the 异地 address when the person lives elsewhere).

Printing marks the batch's deliveries as sent with the batch number, in the same transaction
that renders the PDF, so a failed rendering marks nothing; a batch can be printed again by its number.
"""
from __future__ import annotations

import re

from sqlalchemy import select

from core.audit import audit
from core.context import Context
from core.documents.pdf import render_pdf
from core.extensions import db
from core.kernel.errors import Forbidden, NotFound
from core.kernel.roles import Role
from core.kernel.status import Channel, DeliveryStatus
from core.kernel.time import utcnow
from core.models import Notice, NoticeDelivery, User
from core.notices.delivery import region_scope
from core.queue import results

BATCH_LIMIT = 200
PRINTERS = (Role.ADMIN, Role.AGENCY_REVIEWER)  # window staff and administrators
BATCH_NUMBER = re.compile(r"\d{14}-\d{1,10}")


def _check_printer(ctx: Context) -> None:
    if ctx.actor is None or ctx.actor.role not in PRINTERS:
        raise Forbidden("只有经办机构窗口人员和管理员可以打印信件。")


def _query(user: User, status: str):
    q = (
        select(NoticeDelivery, Notice, User)
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .join(User, User.id == Notice.user_id)
        .where(NoticeDelivery.channel == Channel.LETTER, NoticeDelivery.status == status)
    )
    return region_scope(q, user).order_by(NoticeDelivery.id)


def pending(ctx: Context) -> list:
    _check_printer(ctx)
    return db.session.execute(_query(ctx.actor, DeliveryStatus.PENDING).limit(BATCH_LIMIT)).all()


def print_batch(ctx: Context) -> tuple[str, bytes] | None:
    """Print up to BATCH_LIMIT pending letters; returns (batch number, PDF) or None when none wait."""
    _check_printer(ctx)
    q = _query(ctx.actor, DeliveryStatus.PENDING).limit(BATCH_LIMIT)
    if db.engine.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=NoticeDelivery)  # two windows never print the same letter
    rows = db.session.execute(q).all()
    if not rows:
        return None
    batch = f"{utcnow().strftime('%Y%m%d%H%M%S')}-{ctx.actor.id}"
    pdf = _render(ctx, rows, batch)
    now = utcnow()
    for delivery, _notice, _person in rows:
        delivery.status, delivery.sent_at, delivery.last_attempt_at = DeliveryStatus.SENT, now, now
        delivery.attempts += 1
        delivery.result = result_text(batch)
    audit(ctx, "letters.print", ("notice_deliveries", None), detail=f"batch={batch} letters={len(rows)}")
    return batch, pdf


def request_print(ctx: Context):
    """A window asks for a batch: rendered by the worker (``batch_file``), downloaded when ready."""
    _check_printer(ctx)
    return results.request(ctx, "letters")


def batch_file(ctx: Context, params: dict) -> results.Made:
    """``print_batch`` as the worker runs it: the PDF is kept for the person who asked."""
    printed = print_batch(ctx)
    if printed is None:
        return results.Made("没有待打印的信件。")
    batch, pdf = printed
    return results.Made(f"已打印 {batch} 批次的信件,请下载后打印。", f"letters-{batch}.pdf", "application/pdf", pdf)


def reprint(ctx: Context, batch: str) -> bytes:
    _check_printer(ctx)
    rows = []
    if BATCH_NUMBER.fullmatch(batch or ""):
        rows = db.session.execute(_query(ctx.actor, DeliveryStatus.SENT).where(NoticeDelivery.result == result_text(batch))).all()
    if not rows:
        raise NotFound("没有这个批次的信件,或您无权查看。")
    audit(ctx, "letters.reprint", ("notice_deliveries", None), detail=f"batch={batch} letters={len(rows)}")
    return _render(ctx, rows, batch)


def result_text(batch: str) -> str:
    return f"已打印,待邮寄(批次 {batch})"


def _render(ctx: Context, rows, batch: str) -> bytes:
    letters = []
    for delivery, notice, person in rows:
        info = ctx.regions.get(person.region_code)
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
    return render_pdf(ctx, "pdf/letters.html", {"letters": letters, "batch": batch, "date": ctx.today(ctx.actor.region_code)})
