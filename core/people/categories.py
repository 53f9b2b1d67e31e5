"""A person's insured category over time (在职 → 退休, 职工 ↔ 城乡居民): recorded with an effective
date, history kept (``InsuredCategoryChange``, never edited). A visit is settled with the category in
force on the visit date, whenever it is settled; ``User.insured_scheme``/``insured_category`` mirror
the category in force today (what printed forms and exports show)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import Forbidden, Invalid
from core.kernel.roles import Role
from core.kernel.text import clean_text, nfkc
from core.kernel.types import BENEFIT_CATEGORIES, INSURED_CATEGORIES, INSURED_SCHEMES, benefit_category
from core.models import CATEGORY_EARLIEST, BenefitSettlement, InsuredCategoryChange, User


def in_force(history: list, day: date):
    """The history row in force on ``day``: the latest ``effective_from`` on or before it (the
    later-recorded row wins a tie); the first row also covers days before it. None without history."""
    if not history:
        return None
    ordered = sorted(history, key=lambda r: (r.effective_from, r.id or 0))
    current = ordered[0]
    for row in ordered:
        if row.effective_from <= day:
            current = row
    return current


def category_on(person: User, history: list, day: date) -> str | None:
    """The benefit category ("employed", "retired", "resident") of ``person`` on ``day``; a person with
    no recorded history (created before it was kept, or in bulk) keeps their registered category."""
    row = in_force(history, day)
    if row is None:
        return benefit_category(person.insured_scheme, person.insured_category)
    return benefit_category(row.scheme, row.category)


def history_of(person_ids) -> dict[int, list[InsuredCategoryChange]]:
    """Each person's category rows, oldest effective date first."""
    out: dict[int, list] = {pid: [] for pid in person_ids}
    rows = db.session.scalars(
        select(InsuredCategoryChange).where(InsuredCategoryChange.person_id.in_(list(out)))
        .order_by(InsuredCategoryChange.effective_from, InsuredCategoryChange.id)
    )
    for r in rows:
        out[r.person_id].append(r)
    return out


def record_initial(person: User, actor: User | None = None) -> InsuredCategoryChange:
    """A newly registered person's category, as registered (in force from the start). Registration
    and demo data call this; no audit row of its own (the registration has one)."""
    row = InsuredCategoryChange(person_id=person.id, scheme=person.insured_scheme or "employee",
                                category=person.insured_category, effective_from=CATEGORY_EARLIEST,
                                reason="注册时登记", recorded_by_id=getattr(actor, "id", None))
    db.session.add(row)
    return row


def parse_day(text) -> date:
    try:
        return date.fromisoformat(nfkc(str(text or "")).strip())
    except ValueError:
        raise Invalid("请按 年-月-日 填写生效日期,如 2026-07-01。", fields={"effective_from": "日期格式不对"}) from None


def record_change(ctx: Context, person: User, *, scheme: str, category: str | None, effective_from, reason: str = "",
                  ) -> tuple[InsuredCategoryChange, list[BenefitSettlement]]:
    """Agency staff record a change of scheme or category (e.g. retirement) from ``effective_from``.

    Visits on or after that date are settled with the new category; earlier visits keep the old one,
    whenever they are settled. A change is a new row (history kept); a mistaken one is corrected by
    recording the right category from the same date. Returns the row and the settlements already made
    for visits from that date with another category (to check and, if needed, reverse and settle again).
    Audited."""
    actor = ctx.actor
    if actor.role != Role.AGENCY_REVIEWER or person.role != Role.INSURED or person.region_code != actor.region_code:
        raise Forbidden("参保类别由本地区经办机构变更。")
    if actor.division_code and person.division_code != actor.division_code:
        raise Forbidden("只能变更本辖区参保人的参保类别。")
    if scheme not in INSURED_SCHEMES:
        raise Invalid("请选择参保险种(职工医保或城乡居民医保)。", fields={"scheme": "请选择参保险种"})
    if scheme == "employee" and category not in INSURED_CATEGORIES:
        raise Invalid("职工医保参保人请选择人员类别(在职或退休)。", fields={"category": "请选择在职或退休"})
    if scheme == "resident":
        category = None  # residents have one category: 在职/退休 does not apply
    today = ctx.today(person.region_code)
    day = parse_day(effective_from)
    if day <= CATEGORY_EARLIEST or day > today:
        raise Invalid(f"生效日期应在 {CATEGORY_EARLIEST.isoformat()} 之后,且不能晚于今天({today.isoformat()});"
                      "尚未生效的变更请在生效后登记。", fields={"effective_from": "生效日期不在允许范围内"})
    reason = clean_text(reason, "变更原因", field="reason", multiline=True)
    if len(reason) > 200:
        raise Invalid("变更原因最多 200 字。", fields={"reason": "最多 200 字"})
    history = history_of([person.id])[person.id]
    if not history:  # no row yet (created in bulk): the registered category becomes the first one
        history = [record_initial(person)]
        db.session.flush()
    new = benefit_category(scheme, category)
    if category_on(person, history, day) == new:
        raise Invalid(f"{day.isoformat()} 起该参保人已是{BENEFIT_CATEGORIES[new]},无需变更。")
    row = InsuredCategoryChange(person_id=person.id, scheme=scheme, category=category, effective_from=day,
                                reason=reason or None, recorded_by_id=actor.id, recorded_at=ctx.now())
    db.session.add(row)
    db.session.flush()
    history.append(row)
    before = category_on(person, history[:-1], day)
    current = in_force(history, today)
    person.insured_scheme, person.insured_category = current.scheme, current.category
    audit(ctx, "person.category", person, detail=f"{before} -> {new} from {day.isoformat()}")
    return row, settled_with_another_category(person, history, day)


def settled_with_another_category(person: User, history: list, since: date) -> list[BenefitSettlement]:
    """Settlements of visits from ``since`` (not reversals, not reversed) made with a category other
    than the one now in force on their visit date."""
    rows = db.session.scalars(
        select(BenefitSettlement).where(BenefitSettlement.person_id == person.id, BenefitSettlement.visit_date >= since)
        .order_by(BenefitSettlement.id)
    ).all()
    reversed_ids = {r.reversal_of_id for r in rows if r.reversal_of_id}
    return [r for r in rows if r.reversal_of_id is None and r.id not in reversed_ids
            and r.category != category_on(person, history, r.visit_date)]
