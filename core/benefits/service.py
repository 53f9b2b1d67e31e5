"""门特 benefits, one function per action: estimate a visit (试算), settle it, import a day's visits,
reverse a settlement, read a person's balances. Pages, the API and the CLI call these.

Who may do what: an insured person estimates and reads their own; hospital 医保科 record and
estimate visits at their own hospital, agency staff for people in their area (``check_recorder``).
Visits settle in the order given; a reversal frees the deductible and limit it used for later
visits but does not re-settle visits already made. Two settlements for the same person never run at
once (``ledger.lock_people``).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from core import idempotency
from core.audit import audit
from core.benefits import presentation
from core.benefits.calculation import Calculation, benefit_year, calculate
from core.benefits.inputs import Visit
from core.benefits.ledger import load_ledgers, lock_people, reimbursed_by_disease
from core.benefits.money import to_fen, yuan
from core.context import Context
from core.extensions import db
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.kernel.roles import DESK_ROLES, Role
from core.kernel.text import clean_text
from core.models import BenefitSettlement, User
from core.people.scope import can_view_person
from core.recognitions import rules as recognition_rules

RECORDER_ROLES = DESK_ROLES  # hospital 医保科 and agency reviewers record visits and stays


def institution_problem(ctx: Context, person: User, code: str | None) -> str | None:
    if not code:
        return "请选择就诊的定点医疗机构。"
    info = ctx.regions.get(person.region_code)
    inst = info.institution(code) if info else None
    if inst is None or inst.kind != "hospital":
        return f"{code} 不是本地区的定点医疗机构,请核对机构编码。"
    return None


def check_desk(actor: User | None) -> None:
    """Only hospital 医保科 and agency staff see and record other people's 门特 benefits."""
    if actor is None or actor.role not in RECORDER_ROLES:
        raise Forbidden("只有医院医保科和经办机构可以查看和登记参保人的门特待遇。")


def check_recorder(ctx: Context, person: User, institution_code: str | None = None) -> None:
    """Hospitals record at their own hospital only; agency staff for people in their area."""
    actor = ctx.actor
    check_desk(actor)
    if person.role != Role.INSURED or person.region_code != actor.region_code:
        raise Forbidden("只能为本地区的参保人登记。")
    if actor.role == Role.AGENCY_REVIEWER and actor.division_code and person.division_code != actor.division_code:
        raise Forbidden("只能为本辖区的参保人登记。")
    if institution_code is not None:
        if actor.role == Role.HOSPITAL_OFFICE and institution_code != actor.hospital_code:
            raise Forbidden("医院医保科只能登记本院的就诊。", fields={"institution": "只能是本院"})
        problem = institution_problem(ctx, person, institution_code)
        if problem:
            raise Invalid(problem, fields={"institution": problem})


def estimate(ctx: Context, visit: Visit) -> dict:
    """What ``visit`` would get back now, step by step. Saves nothing; the same answer on the page
    and in the API (a disease the person has no recognition for is 不予支付, with the reason)."""
    actor = ctx.actor
    if actor is not None and actor.role == Role.INSURED:
        if actor.id != visit.person.id:
            raise Forbidden("只能试算本人的待遇。")
        problem = institution_problem(ctx, visit.person, visit.institution_code)
        if problem:
            raise Invalid(problem, fields={"institution": problem})
    else:
        check_recorder(ctx, visit.person, visit.institution_code)
    today = ctx.today(visit.person.region_code)
    years = {benefit_year(ctx.regions, visit.person.region_code, visit.visit_date, today)}
    ledger = load_ledgers(ctx, [visit.person], years)[visit.person.id]
    return presentation.estimate_dict(ctx.regions, calculate(ctx.regions, ledger, visit, today))


def settle(ctx: Context, visit: Visit, key: str | None = None) -> BenefitSettlement:
    """Record one visit: compute it against the person's ledger and save it with the policy used.

    With ``key`` (the form's one-time key, an API's Idempotency-Key) a repeat of the same request,
    in a row or at the same moment, returns the first request's settlement and records nothing."""
    claim = idempotency.claim(ctx, "benefits.settle", key, visit_payload(visit))
    if claim.repeated:
        return idempotency.first_rows(claim, BenefitSettlement)[0]
    row = settle_many(ctx, [visit])[0]
    audit(ctx, "benefit.settle", row, detail=f"person={row.person_id} reimbursed={yuan(row.reimbursed_fen)}")
    idempotency.record(claim, row)
    return row


def visit_payload(visit: Visit) -> dict:
    """What a visit to settle is, for telling a repeat of the same request from a different one."""
    return {"person": visit.person.id, "institution": visit.institution_code, "disease": visit.disease_code,
            "visit_date": visit.visit_date, "eligible": visit.eligible, "note": visit.note,
            "items": [(i["name"], str(i["amount"])) for i in visit.items]}


def settle_many(ctx: Context, visits: list[Visit], settled_on: date | None = None) -> list[BenefitSettlement]:
    """Settle visits in the given order in one transaction; returns the saved rows."""
    rows = [BenefitSettlement(**values) for _, values in _settle(ctx, visits, settled_on)]
    db.session.add_all(rows)
    db.session.flush()
    return rows


def import_visits(ctx: Context, visits: list[Visit], settled_on: date | None = None) -> dict:
    """Batched import (e.g. a day's visits from a hospital system): like ``settle_many`` but the rows
    go in with one multi-row INSERT and no ORM objects, and one audit row records the batch.

    Returns a summary dict: count, covered, not_covered, eligible, reimbursed, own (yuan strings).
    """
    done = _settle(ctx, visits, settled_on)
    if done:
        db.session.execute(insert(BenefitSettlement), [values for _, values in done])
    covered = sum(1 for c, _ in done if c.covered)
    totals = {k: sum(v[f"{k}_fen"] for _, v in done) for k in ("eligible", "reimbursed", "own")}
    summary = {"count": len(done), "covered": covered, "not_covered": len(done) - covered,
               **{k: yuan(v) for k, v in totals.items()}}
    audit(ctx, "benefit.import", ("benefit_settlements", None), detail=" ".join(f"{k}={v}" for k, v in summary.items()))
    return summary


def _settle(ctx: Context, visits: list[Visit], settled_on: date | None) -> list[tuple[Calculation, dict]]:
    """Check, lock, load once, calculate in order. Everything a person's visits need is loaded once
    for the whole batch, so the cost per visit is the calculation and its insert."""
    people = {v.person.id: v.person for v in visits}
    for v in visits:
        check_recorder(ctx, v.person, v.institution_code)
    lock_people(people)
    on = {v.person.id: settled_on or ctx.today(v.person.region_code) for v in visits}
    years = {benefit_year(ctx.regions, v.person.region_code, v.visit_date, on[v.person.id]) for v in visits}
    ledgers = load_ledgers(ctx, list(people.values()), years)
    now = ctx.now()
    out = []
    for v in visits:
        ledger = ledgers[v.person.id]
        calc = calculate(ctx.regions, ledger, v, on[v.person.id])
        ledger.add(calc)
        out.append((calc, _values(calc, on[v.person.id], ctx.actor, now)))
    return out


def _values(calc: Calculation, settled_on: date, actor: User, now) -> dict:
    v = calc.visit
    return dict(
        person_id=v.person.id, region_code=v.person.region_code, division_code=v.person.division_code,
        institution_code=v.institution_code, disease_code=v.disease_code, disease_name=calc.disease_name[:100],
        recognition_id=calc.recognition.id if calc.recognition else None, visit_date=v.visit_date,
        settled_on=settled_on, benefit_year=calc.benefit_year, category=calc.category, covered=calc.covered,
        reason=calc.reason, eligible_fen=to_fen(v.eligible), deductible_fen=to_fen(calc.deductible_paid),
        limit_used_fen=to_fen(calc.limit_used), reimbursed_fen=to_fen(calc.reimbursed), own_fen=to_fen(calc.own),
        policy_version=calc.policy.version, ratio=str(calc.rate.ratio) if calc.rate else None,
        annual_limit_fen=to_fen(calc.limit) if calc.rate else None,
        deductible_amount_fen=to_fen(calc.deductible_amount) if calc.covered else None,
        limit_left_fen=to_fen(calc.limit_left_after) if calc.covered else None,
        items=[{"name": i["name"], "amount": yuan(i["amount"])} for i in v.items] or None,
        note=v.note or None, recorded_by_id=actor.id, recorded_at=now,
    )


def reverse(ctx: Context, original: BenefitSettlement, reason: str) -> BenefitSettlement:
    """Cancel a settlement with a reversal row carrying the negated amounts (never an edit)."""
    reason = clean_text(reason, "冲销原因", field="reason", multiline=True)
    if not reason:
        raise Invalid("请填写冲销原因。")
    if len(reason) > 500:
        raise Invalid("冲销原因最多 500 字。")
    person = db.session.get(User, original.person_id)
    check_recorder(ctx, person, original.institution_code if ctx.actor.role == Role.HOSPITAL_OFFICE else None)
    if original.reversal_of_id is not None:
        raise Invalid("这是一笔冲销记录,不能再冲销。")
    lock_people([person.id])
    if db.session.scalar(select(BenefitSettlement.id).where(BenefitSettlement.reversal_of_id == original.id)):
        raise Conflict("该笔结算已被冲销。")
    row = BenefitSettlement(
        person_id=original.person_id, region_code=original.region_code, division_code=original.division_code,
        institution_code=original.institution_code, disease_code=original.disease_code,
        disease_name=original.disease_name, recognition_id=original.recognition_id,
        visit_date=original.visit_date, settled_on=ctx.today(original.region_code), benefit_year=original.benefit_year,
        category=original.category, covered=original.covered,
        reason=f"冲销第 {original.id} 号结算:{reason}",
        eligible_fen=-original.eligible_fen, deductible_fen=-original.deductible_fen,
        limit_used_fen=-original.limit_used_fen, reimbursed_fen=-original.reimbursed_fen,
        own_fen=-original.own_fen, policy_version=original.policy_version, ratio=original.ratio,
        annual_limit_fen=original.annual_limit_fen, deductible_amount_fen=original.deductible_amount_fen,
        reversal_of_id=original.id, recorded_by_id=ctx.actor.id, recorded_at=ctx.now(), note=reason,
    )
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent reversal won the unique index
        db.session.rollback()
        raise Conflict("该笔结算已被冲销。") from None
    audit(ctx, "benefit.reverse", original, detail=f"reversal={row.id} reason={reason[:100]}")
    return row


def balances(ctx: Context, person: User, year: int | None = None) -> dict:
    """A year's deductible used and each recognised disease's limit used and left."""
    on = ctx.today(person.region_code)
    year = year or on.year
    ledger = load_ledgers(ctx, [person], [year])[person.id]
    states = {r.id: recognition_rules.state(r, on, ledger.renewals.get(r.id))
              for rows in ledger.recognitions.values() for r in rows}
    return presentation.balances_dict(ctx.regions, person, year, ledger, reimbursed_by_disease(person.id, year), states)


def record_view(ctx: Context, person: User) -> None:
    """Staff open a person's benefit records: health data, so every view is audited. Only the
    person themselves, or 医保科 and agency staff within their scope, may."""
    actor = ctx.actor
    if actor.id == person.id:
        return
    check_desk(actor)
    if not can_view_person(actor, person):
        raise Forbidden("只能查看本地区(本辖区)参保人的门特待遇。")
    audit(ctx, "benefit.view_person", ("users", person.id))
