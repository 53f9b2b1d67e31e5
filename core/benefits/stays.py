"""Inpatient stays and chosen institutions: the records that decide where and when 门特 benefits apply.

Like settlements they are never edited: a correction is a reversal row pointing at the original
(``reversal_of_id``), and a discharge closes an open stay by reversing it and recording the whole stay.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core import idempotency
from core.audit import audit
from core.benefits.inputs import EARLIEST, parse_date
from core.benefits.ledger import active_rows, lock_people
from core.benefits.service import check_recorder
from core.context import Context
from core.extensions import db
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.kernel.roles import Role
from core.kernel.text import clean_text
from core.kernel.text import code as normal_code
from core.models import BenefitSettlement, ChosenInstitution, InpatientStay, User


def record_stay(ctx: Context, person: User, *, institution_code, admitted_on, discharged_on=None, note="",
                key: str | None = None) -> InpatientStay:
    """Record a hospital stay; with ``key`` a repeat of the request returns the first stay."""
    institution_code = normal_code(institution_code)
    note = clean_text(note, "备注", field="note", multiline=True)
    claim = idempotency.claim(ctx, "benefits.stay", key, {
        "person": person.id, "institution": institution_code, "admitted_on": str(admitted_on or "").strip(),
        "discharged_on": str(discharged_on or "").strip(), "note": note})
    if claim.repeated:
        return idempotency.first_rows(claim, InpatientStay)[0]
    check_recorder(ctx, person, institution_code)
    today = ctx.today(person.region_code)
    admitted = parse_date(admitted_on, "入院日期")
    discharged = parse_date(discharged_on, "出院日期") if str(discharged_on or "").strip() else None
    if admitted < EARLIEST or admitted > today:
        raise Invalid("入院日期不能晚于今天,也不能早于 2000 年。")
    if discharged is not None and (discharged < admitted or discharged > today):
        raise Invalid("出院日期应在入院日期之后,且不能晚于今天。")
    lock_people([person.id])
    end = discharged or date.max
    for other in active_rows(InpatientStay, [person.id]).get(person.id, []):
        if other.admitted_on <= end and admitted <= (other.discharged_on or date.max):
            raise Invalid(f"与已登记的住院({other.period})重叠;如需更正,请先冲销原记录。")
    stay = InpatientStay(
        person_id=person.id, region_code=person.region_code, division_code=person.division_code,
        institution_code=institution_code, admitted_on=admitted, discharged_on=discharged,
        note=note[:500] or None, recorded_by_id=ctx.actor.id, recorded_at=ctx.now(),
    )
    db.session.add(stay)
    db.session.flush()
    audit(ctx, "stay.record", stay, detail=f"person={person.id} {admitted}..{discharged or ''}")
    idempotency.record(claim, stay)
    return stay


def chosen_of(person: User) -> list[ChosenInstitution]:
    return active_rows(ChosenInstitution, [person.id]).get(person.id, [])


def settled_during(stay: InpatientStay) -> list[BenefitSettlement]:
    """Covered settlements, not yet reversed, whose visit falls inside ``stay``: to check and reverse."""
    rows = db.session.scalars(
        select(BenefitSettlement).where(
            BenefitSettlement.person_id == stay.person_id,
            BenefitSettlement.covered.is_(True),
            BenefitSettlement.reversal_of_id.is_(None),
            BenefitSettlement.visit_date >= stay.admitted_on,
        )
    ).all()
    reversed_ids = set(db.session.scalars(
        select(BenefitSettlement.reversal_of_id).where(BenefitSettlement.reversal_of_id.in_([r.id for r in rows]))
    ))
    return [r for r in rows if stay.covers(r.visit_date) and r.id not in reversed_ids]


def reverse_stay(ctx: Context, stay: InpatientStay, reason: str) -> InpatientStay:
    """Cancel a stay (e.g. wrong dates); to record the discharge, cancel and record the full stay."""
    reason = clean_text(reason, "冲销原因", field="reason", multiline=True)[:500]
    if not reason:
        raise Invalid("请填写冲销原因。")
    person = db.session.get(User, stay.person_id)
    check_recorder(ctx, person, stay.institution_code if ctx.actor.role == Role.HOSPITAL_OFFICE else None)
    if stay.reversal_of_id is not None:
        raise Invalid("这是一条冲销记录,不能再冲销。")
    lock_people([person.id])
    if db.session.scalar(select(InpatientStay.id).where(InpatientStay.reversal_of_id == stay.id)):
        raise Conflict("该住院记录已被冲销。")
    row = InpatientStay(
        person_id=stay.person_id, region_code=stay.region_code, division_code=stay.division_code,
        institution_code=stay.institution_code, admitted_on=stay.admitted_on, discharged_on=stay.discharged_on,
        note=reason, reversal_of_id=stay.id, recorded_by_id=ctx.actor.id, recorded_at=ctx.now(),
    )
    db.session.add(row)
    db.session.flush()
    audit(ctx, "stay.reverse", stay, detail=f"reversal={row.id} reason={reason[:100]}")
    return row


def record_discharge(ctx: Context, stay: InpatientStay, discharged_on) -> InpatientStay:
    """Close a stay recorded as still in hospital: the open row is reversed and the whole stay
    recorded again with its discharge date (rows are never edited)."""
    if stay.discharged_on is not None or stay.reversal_of_id is not None:
        raise Invalid("该住院记录已登记出院或已冲销。")
    day = parse_date(discharged_on, "出院日期")
    if day < stay.admitted_on or day > ctx.today(stay.region_code):
        raise Invalid("出院日期应在入院日期之后,且不能晚于今天。")
    person = db.session.get(User, stay.person_id)
    reverse_stay(ctx, stay, f"登记出院({day.isoformat()})")
    return record_stay(ctx, person, institution_code=stay.institution_code, admitted_on=stay.admitted_on.isoformat(),
                       discharged_on=day.isoformat(), note=stay.note or "")


def choose_institution(ctx: Context, person: User, *, institution_code, start_date, key: str | None = None) -> ChosenInstitution:
    """Record an institution the person chose for 门特 treatment (agency staff); with ``key`` a
    repeat of the request returns the first row."""
    institution_code = normal_code(institution_code)
    claim = idempotency.claim(ctx, "benefits.chosen", key, {
        "person": person.id, "institution": institution_code, "start_date": str(start_date or "").strip()})
    if claim.repeated:
        return idempotency.first_rows(claim, ChosenInstitution)[0]
    if ctx.actor.role != Role.AGENCY_REVIEWER:
        raise Forbidden("选定定点机构由经办机构登记。")
    check_recorder(ctx, person, institution_code)
    start = parse_date(start_date, "生效日期")
    if start < EARLIEST:
        raise Invalid("生效日期不能早于 2000 年。")
    row = ChosenInstitution(
        person_id=person.id, region_code=person.region_code, division_code=person.division_code,
        institution_code=institution_code, start_date=start, recorded_by_id=ctx.actor.id, recorded_at=ctx.now(),
    )
    db.session.add(row)
    db.session.flush()
    audit(ctx, "chosen.record", row, detail=f"person={person.id} {institution_code} from {start}")
    idempotency.record(claim, row)
    return row
