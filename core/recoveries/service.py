"""待遇追回: settlements paid for visits after a failed renewal's stop date, one function per action.

Seed 001: benefits continue while a timely renewal is in review; if it fails, they stop from the day
after the original end (``recognitions.service.end_after_failed_renewal``). Visits on or after that
day settled while the renewal was in review were paid without cover: ``open_after_failed_renewal``
opens one case per such settlement, asks the region (``mtkit_recovery_policy``) what may become of
it, and tells the person. Staff then record each case's outcome once: ``recover`` (through the
ledger's own reversal) or ``waive`` (with a reason). Who sees a case is the settlement's scope: the
hospital where the visit was settled, the agency of the person's area, the person.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.audit import audit
from core.benefits import service as benefits
from core.benefits.ledger import lock_people
from core.benefits.money import yuan
from core.context import Context
from core.extensions import db
from core.kernel.errors import Conflict, Invalid
from core.kernel.status import RecoveryStatus
from core.kernel.text import clean_text
from core.kernel.types import RECOVERY_OUTCOMES
from core.models import BenefitRecovery, BenefitSettlement, Recognition, RecoveryOutcome, User
from core.notices.service import notify
from core.people.scope import get_visible, record_scope

CAUSES = {"rejected": "续办申请未通过", "withdrawn": "续办申请已撤回", "lapsed": "续办申请逾期未补正"}
MAX_REASON = 500
MAX_NOTE = 400
PAGE_ROWS = 100


# --- opening ------------------------------------------------------------------------------------
def paid_after_stop(rec: Recognition) -> list[BenefitSettlement]:
    """The recognition's settlements for visits on or after its stop date that the fund paid and
    that no reversal has cancelled yet (the visit on the original end date itself was covered)."""
    reversed_ = select(BenefitSettlement.reversal_of_id).where(BenefitSettlement.reversal_of_id.isnot(None))
    return list(db.session.scalars(
        select(BenefitSettlement).where(
            BenefitSettlement.recognition_id == rec.id, BenefitSettlement.visit_date >= rec.stop_date,
            BenefitSettlement.reversal_of_id.is_(None), BenefitSettlement.reimbursed_fen > 0,
            BenefitSettlement.id.not_in(reversed_),
            BenefitSettlement.id.not_in(select(BenefitRecovery.settlement_id)),
        ).order_by(BenefitSettlement.visit_date, BenefitSettlement.id)
    ))


def open_after_failed_renewal(ctx: Context, rec: Recognition, application_id: int | None, cause: str) -> list[BenefitRecovery]:
    """Open a case for each settlement paid after ``rec``'s stop date and tell the person which
    visits and why. Called in the transaction that ended ``rec``; a second call opens nothing."""
    if rec.stop_date is None or cause not in CAUSES:
        return []
    lock_people([rec.person_id])  # a settlement in progress for this person lands before we look
    rows = paid_after_stop(rec)
    cases = []
    for s in rows:
        policy = ctx.regions.recovery_policy(s.region_code, s.disease_code, s.reimbursed_fen)
        case = BenefitRecovery(
            settlement_id=s.id, recognition_id=rec.id, application_id=application_id, person_id=s.person_id,
            region_code=s.region_code, division_code=s.division_code, institution_code=s.institution_code,
            disease_code=s.disease_code, disease_name=s.disease_name, visit_date=s.visit_date, stop_date=rec.stop_date,
            amount_fen=s.reimbursed_fen, cause=cause, allowed=",".join(policy.allowed), proposed=policy.default,
            opened_by_id=ctx.actor_id, opened_at=ctx.now(),
        )
        db.session.add(case)
        db.session.flush()
        audit(ctx, "benefit.recovery_open", case, detail=f"settlement={s.id} amount={yuan(s.reimbursed_fen)} cause={cause}")
        if policy.waive_now:
            _record_outcome(ctx, case, RecoveryStatus.WAIVED, reason=policy.reason, by_rule=True)
        cases.append(case)
    if cases:
        _tell_person(ctx, rec, cases, cause)
    return cases


def _tell_person(ctx: Context, rec: Recognition, cases: list[BenefitRecovery], cause: str) -> None:
    lines = []
    for c in cases:
        place = ctx.regions.institution_name(c.region_code, c.institution_code)
        state = "免予追回" if c.outcome is not None else "需追回"
        lines.append(f"{c.visit_date.isoformat()} {place}:基金支付 {yuan(c.amount_fen)} 元({state})")
    due = sum(c.amount_fen for c in cases if c.outcome is None)
    body = (
        f"您的{rec.disease_name}门特认定{CAUSES[cause]},按规定门特待遇自 {rec.stop_date.isoformat()} 起停止"
        f"(原有效期至 {rec.end_date.isoformat()})。续办审核期间,以下就诊已按门特待遇结算,"
        f"就诊日在待遇停止之后,基金已支付的金额需要处理:\n" + "\n".join(lines)
        + f"\n需追回合计 {yuan(due)} 元。就诊医院医保科或医保经办机构将与您联系办理;处理结果可在「我的待遇」查看。"
    )
    notify(ctx, rec.person_id, "recovery", f"门特待遇追回:{rec.disease_name}", body,
           recognition_id=rec.id, dedup_key=f"recovery:{rec.id}:{cases[0].id}")


# --- reading ------------------------------------------------------------------------------------
def status_of(case: BenefitRecovery) -> str:
    return case.outcome.outcome if case.outcome is not None else RecoveryStatus.OPEN


def _filtered(actor: User, institution: str | None, status: str | None):
    query = (select(BenefitRecovery).outerjoin(RecoveryOutcome, RecoveryOutcome.recovery_id == BenefitRecovery.id)
             .where(record_scope(actor, BenefitRecovery)))
    if institution:
        query = query.where(BenefitRecovery.institution_code == institution)
    if status == RecoveryStatus.OPEN:
        query = query.where(RecoveryOutcome.id.is_(None))
    elif status in RECOVERY_OUTCOMES:
        query = query.where(RecoveryOutcome.outcome == status)
    return query


def check_filters(institution: str | None, status: str | None) -> None:
    if status and status not in RecoveryStatus.labels():
        raise Invalid("处理状态无效,请从列表中选择。", fields={"status": "无效"})
    if institution and (len(institution) > 30 or not institution.replace("_", "").replace("-", "").isalnum()):
        raise Invalid("机构编码无效,请从列表中选择。", fields={"institution": "无效"})


def report(ctx: Context, institution: str | None = None, status: str | None = None, before: int | None = None,
           size: int = PAGE_ROWS) -> dict:
    """The cases in the actor's scope (hospital 医保科: its own visits; agency: its area), newest
    first, one page at a time, with the count and amount of every case matching the filters, by status."""
    benefits.check_desk(ctx.actor)
    check_filters(institution, status)
    query = _filtered(ctx.actor, institution, status)
    page = query.order_by(BenefitRecovery.id.desc())
    if before:
        page = page.where(BenefitRecovery.id < before)
    rows = db.session.scalars(page.limit(size + 1)).unique().all()
    sums = [(code or RecoveryStatus.OPEN.value, count, amount) for code, count, amount in db.session.execute(
        query.with_only_columns(RecoveryOutcome.outcome, func.count(BenefitRecovery.id), func.sum(BenefitRecovery.amount_fen))
        .group_by(RecoveryOutcome.outcome)  # no outcome yet (NULL): open
    ).all()]
    by_status = {code: {"label": label, "count": 0, "amount": yuan(0)} for code, label in RecoveryStatus.labels().items()}
    for code, count, amount in sums:
        by_status[code] = {"label": RecoveryStatus.label_of(code), "count": count, "amount": yuan(int(amount or 0))}
    total = sum(int(a or 0) for _, _, a in sums)
    return {"rows": rows[:size], "next_before": rows[size - 1].id if len(rows) > size else None,
            "by_status": by_status, "count": sum(c for _, c, _ in sums), "amount": yuan(total)}


def export_rows(ctx: Context, institution: str | None = None, status: str | None = None) -> list[list[str]]:
    """The report as table rows for a CSV file (names masked, as on the page); the export is audited."""
    from core.people.identity import mask_name

    benefits.check_desk(ctx.actor)
    check_filters(institution, status)
    rows = db.session.scalars(_filtered(ctx.actor, institution, status).order_by(BenefitRecovery.id)).unique().all()
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({r.person_id for r in rows})))} if rows else {}
    out = [["追回编号", "结算编号", "参保人", "就诊日期", "待遇停止日", "定点医疗机构", "病种", "基金支付(元)", "原因", "处理状态", "处理说明"]]
    for r in rows:
        out.append([str(r.id), str(r.settlement_id), mask_name(people[r.person_id].name), r.visit_date.isoformat(),
                    r.stop_date.isoformat(), ctx.regions.institution_name(r.region_code, r.institution_code),
                    r.disease_name, yuan(r.amount_fen), CAUSES.get(r.cause, r.cause), RecoveryStatus.label_of(status_of(r)),
                    _cell((r.outcome.reason or "") if r.outcome else "")])
    audit(ctx, "benefit.recovery_export", ("benefit_recoveries", None),
          detail=f"rows={len(rows)} institution={institution or '*'} status={status or '*'}")
    return out


def _cell(text: str) -> str:
    """Staff-typed text in a CSV opened by a spreadsheet: never read as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def get(ctx: Context, case_id) -> BenefitRecovery:
    """A case the actor may see (anything else: not found, no hint that it exists)."""
    return get_visible(ctx.actor, BenefitRecovery, case_id)


def for_person(person: User, limit: int = 100) -> list[BenefitRecovery]:
    """A person's own cases (我的待遇), newest first."""
    return list(db.session.scalars(select(BenefitRecovery).where(BenefitRecovery.person_id == person.id)
                                   .order_by(BenefitRecovery.id.desc()).limit(limit)))


# --- outcomes -------------------------------------------------------------------------------------
def recover(ctx: Context, case: BenefitRecovery, note: str = "") -> RecoveryOutcome:
    """Take the payment back: the settlement is cancelled by the ledger's reversal (never an edit),
    the case records that reversal. Done once: a repeat answers with the first outcome."""
    note = clean_text(note, "追回说明", field="note", multiline=True)
    if len(note) > MAX_NOTE:  # it joins the reversal's reason, which holds 500
        raise Invalid(f"追回说明最多 {MAX_NOTE} 字。", fields={"note": f"最多 {MAX_NOTE} 字"})
    first = _start(ctx, case, RecoveryStatus.RECOVERED)
    if first is not None:
        return first
    settlement = db.session.get(BenefitSettlement, case.settlement_id)
    # Reversed by hand since the case opened: that reversal is the recovery (never a second one).
    reversal = db.session.scalar(select(BenefitSettlement).where(BenefitSettlement.reversal_of_id == settlement.id))
    if reversal is None:
        why = (f"{CAUSES.get(case.cause, '续办未通过')},门特待遇自 {case.stop_date.isoformat()} 起停止,"
               f"追回第 {settlement.id} 号结算的基金支付" + (f"。{note}" if note else ""))
        reversal = benefits.reverse(ctx, settlement, why)
    return _record_outcome(ctx, case, RecoveryStatus.RECOVERED, reason=note or None, reversal=reversal)


def waive(ctx: Context, case: BenefitRecovery, reason: str) -> RecoveryOutcome:
    """Waive the recovery, with the reason staff give (required). Done once."""
    reason = clean_text(reason, "免予追回原因", field="reason", multiline=True)
    if not reason:
        raise Invalid("请填写免予追回的原因。", fields={"reason": "必填"})
    if len(reason) > MAX_REASON:
        raise Invalid(f"免予追回原因最多 {MAX_REASON} 字。", fields={"reason": f"最多 {MAX_REASON} 字"})
    first = _start(ctx, case, RecoveryStatus.WAIVED)
    if first is not None:
        return first
    return _record_outcome(ctx, case, RecoveryStatus.WAIVED, reason=reason)


def _start(ctx: Context, case: BenefitRecovery, outcome: str) -> RecoveryOutcome | None:
    """Check who acts and what the region allows, then serialise on the person (as settling does)
    and look again: the first outcome stands (returned for the same one, 409 for another)."""
    benefits.check_desk(ctx.actor)
    get_visible(ctx.actor, BenefitRecovery, case.id)
    if outcome not in case.allowed.split(","):
        raise Invalid(f"本地区规定不能{RECOVERY_OUTCOMES[outcome]}。", fields={"outcome": "不允许"})
    lock_people([case.person_id])
    first = db.session.scalar(select(RecoveryOutcome).where(RecoveryOutcome.recovery_id == case.id))
    if first is None:
        return None
    if first.outcome != outcome:
        raise Conflict(f"该笔追回已处理({RecoveryStatus.label_of(first.outcome)}),不能再改为{RECOVERY_OUTCOMES[outcome]}。")
    return first


def _record_outcome(ctx: Context, case: BenefitRecovery, outcome: str, reason: str | None = None,
                    reversal: BenefitSettlement | None = None, by_rule: bool = False) -> RecoveryOutcome:
    row = RecoveryOutcome(recovery_id=case.id, outcome=outcome, reason=reason,
                          reversal_id=reversal.id if reversal else None,
                          decided_by_id=None if by_rule else ctx.actor_id, decided_at=ctx.now())
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent outcome won the unique index
        db.session.rollback()
        raise Conflict("该笔追回已由他人处理,请刷新页面查看。") from None
    action = "benefit.recovery_recover" if outcome == RecoveryStatus.RECOVERED else "benefit.recovery_waive"
    detail = f"settlement={case.settlement_id} amount={yuan(case.amount_fen)}"
    detail += f" reversal={reversal.id}" if reversal else f" reason={(reason or '')[:100]}" + (" (地区规则)" if by_rule else "")
    audit(ctx, action, case, user=None if by_rule else ctx.actor, detail=detail)
    db.session.expire(case, ["outcome"])
    return row


def status_by_settlement(rows) -> dict[int, str]:
    """{settlement id: case status} for the ledger rows that have a recovery case (the ledger tables say so)."""
    ids = [r.id for r in rows]
    if not ids:
        return {}
    cases = db.session.scalars(select(BenefitRecovery).where(BenefitRecovery.settlement_id.in_(ids)))
    return {case.settlement_id: status_of(case) for case in cases}


def of_settlement(settlement_id: int) -> BenefitRecovery | None:
    """The case opened for a settlement, if any (the settlement page names it)."""
    return db.session.scalar(select(BenefitRecovery).where(BenefitRecovery.settlement_id == settlement_id))

