"""The reviewers' actions on an application: 受理, decide per disease, refer to experts, 办结 (record),
return. One entry point, ``act``, for the pages, the API and the demo: the guard (``rules.check_review``),
the change, a timeline entry, an audit row and, where the person should know, a notice.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm.exc import StaleDataError

from core.applications import rules, verification
from core.applications.sla import pause_step_clock, start_step_clock
from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import Conflict, Invalid
from core.kernel.status import Action, Kind, Result, ReturnTarget, Status
from core.kernel.text import clean_text, sentence
from core.models import Application, Decision
from core.models.base import flush_or_conflict
from core.notices.service import notify
from core.recognitions import service as recs
from core.recoveries import service as recoveries

MAX_NOTE = 1000


def act(ctx: Context, app: Application, action: str, version, **fields) -> Application:
    """Apply review ``action`` to ``app`` as the context's actor. Raises a ServiceError with a
    Chinese message; on any refusal nothing is changed."""
    step = rules.check_review(app, ctx.actor, action, version)
    _check_texts(fields)
    handler = {
        Action.ACCEPT: _accept,
        Action.DECIDE: _decide,
        Action.REFER_EXPERT: _refer_expert,
        Action.RECORD: _record,
        Action.RETURN: _return,
    }[Action(action)]
    from_status = app.status
    try:
        note = handler(ctx, app, step, **fields)
        rules.transition(app, ctx.actor, Action(action), from_status, ctx.now(), note)
        audit(ctx, f"application.{action}", app, detail=note)
        flush_or_conflict(rules.STALE)
    except StaleDataError:  # an autoflush inside the handler met a newer version
        db.session.rollback()
        raise Conflict(rules.STALE) from None
    return app


def _check_texts(fields: dict) -> None:
    """The reviewer's comment and the explanations an applicant will read may hide nothing
    (bidi overrides, zero-width or control characters)."""
    clean_text(fields.get("note"), "审核意见", field="note", multiline=True)
    for text in (fields.get("explanations") or {}).values():
        clean_text(text, "给申请人的说明", field="explanations", multiline=True)


def _advance(ctx: Context, app: Application, index: int | None) -> None:
    rules.move_to_step(app, index)
    start_step_clock(ctx, app, ctx.today(app.region_code))


def _accept(ctx, app, step, **_):
    _advance(ctx, app, app.step_index + 1)
    return None


def _decide(ctx, app, step, results=None, reason_code=None, note=None, reasons=None, explanations=None, **_):
    """Decide every disease. Per disease: a result, for a rejection a coded reason (``reasons`` or the
    shared ``reason_code``) and an explanation the applicant will read (``explanations``); ``note``
    is the reviewer's internal comment, kept in the timeline for staff."""
    results, reasons, explanations = results or {}, reasons or {}, explanations or {}
    codes = {r.code for r in ctx.regions.reason_codes(app.region_code)}
    problems, decided = [], []
    for ad in app.diseases:
        result = results.get(ad.disease_code)
        reason = (reasons.get(ad.disease_code) or reason_code) if result == Result.REJECTED else None
        explanation = (explanations.get(ad.disease_code) or "").strip()[:MAX_NOTE] or None
        if result not in (Result.APPROVED, Result.REJECTED):
            problems.append(f"请为「{ad.disease_name}」选择通过或不通过。")
        elif result == Result.REJECTED and reason not in codes:
            problems.append(f"「{ad.disease_name}」不通过时须选择不通过原因。")
        elif reason == "R09" and not explanation:
            problems.append(f"「{ad.disease_name}」选择「其他原因」时须填写给申请人的说明。")
        decided.append((ad, result, reason, explanation))
    if problems:
        raise Invalid("审核决定不完整:", problems)
    for ad, result, reason, explanation in decided:
        ad.result, ad.reason_code = result, reason
        app.decisions.append(Decision(disease_code=ad.disease_code, step_code=step["code"], result=result,
                                      reason_code=reason, note=explanation, decided_by_id=ctx.actor.id,
                                      decided_at=ctx.now()))
    _advance(ctx, app, rules.next_required(app, app.step_index + 1))
    summary = "; ".join(f"{ad.disease_name}:{ad.result_name}" for ad in app.diseases)
    comment = (note or "").strip()[:MAX_NOTE]
    return f"{summary}。审核意见:{comment}" if comment else summary


def _refer_expert(ctx, app, step, note=None, **_):
    _advance(ctx, app, rules.next_optional_expert(app))
    return (note or "").strip()[:MAX_NOTE] or None


def _record(ctx, app, step, **_):
    """The last step: the decision becomes final, recognitions are created, the notice is issued."""
    if any(ad.result == Result.PENDING for ad in app.diseases):
        raise Invalid("还有病种未作出审核决定,不能办结。")
    created = recs.create_from_application(ctx, app, ctx.today(app.region_code))
    rules.close(app, rules.final_status(app))
    app.decided_at = ctx.now()
    db.session.flush()
    for rec in created:
        audit(ctx, "recognition.create", rec, detail=f"{rec.disease_code} {rec.start_date}~{rec.end_date}")
    # The result notice's verification code certifies the decision as it stands now.
    verification.issue(ctx, app)
    lines = []
    for ad in app.diseases:
        if ad.result == Result.APPROVED:
            rec = next(r for r in created if r.disease_code == ad.disease_code)
            lines.append(f"{ad.disease_name}:通过,有效期 {rec.start_date.isoformat()} 至 {rec.end_date.isoformat()}")
        else:
            line = f"{ad.disease_name}:不通过,原因:{ctx.regions.reason_text(app.region_code, ad.reason_code)}"
            explanation = rules.latest_explanation(app, ad.disease_code)
            lines.append(f"{line}。说明:{explanation}" if explanation else line)
    if app.kind == Kind.RENEWAL and not created and app.renewal_of is not None:
        lines.append(f"原认定待遇自 {app.renewal_of.stop_date.isoformat()} 起停止。")
        # Visits after the stop date already paid while the renewal was in review: one case each.
        recoveries.open_after_failed_renewal(ctx, app.renewal_of, app.id, "rejected")
    notify(ctx, app.person_id, "decision", f"门特{app.kind_name}审核结果:{app.status_name}", "\n".join(lines), app.id)
    return "; ".join(lines)


def _return(ctx, app, step, to=ReturnTarget.APPLICANT, reason_code=None, note=None, **_):
    note = (note or "").strip()
    problems = []
    if to not in ReturnTarget.labels():
        problems.append("请选择退回对象。")
    if to == ReturnTarget.HOSPITAL and rules.previous_review(app) is None:
        problems.append("当前环节之前没有医院审核环节,只能退回申请人。")
    if not note:
        problems.append("请填写退回原因,告诉申请人需要补充什么。")
    if reason_code and reason_code not in {r.code for r in ctx.regions.reason_codes(app.region_code)}:
        problems.append("退回原因代码无效。")
    if problems:
        raise Invalid("退回信息不完整:", problems)
    app.return_reason = note[:MAX_NOTE]
    app.return_reason_code = reason_code
    app.return_to = to
    if to == ReturnTarget.HOSPITAL:
        # Back to the earlier review step (the physician, or 初审); the applicant has nothing to do.
        for ad in app.diseases:
            ad.result = Result.PENDING
            ad.reason_code = None
        _advance(ctx, app, rules.previous_review(app))
        return f"退回「{app.current_step['name']}」重新审核:{note}"
    policy = ctx.regions.renewal_policy(app.region_code, app.diseases[0].disease_code)
    on = ctx.today(app.region_code)
    app.status = Status.RETURNED
    app.return_deadline = on + timedelta(days=policy.return_deadline_days)
    pause_step_clock(ctx, app, on)  # the clock pauses while the applicant supplies materials
    notify(ctx, app.person_id, "return", "申请被退回,请补正材料",
           f"您的门特申请(编号 {app.id})需要补正:{sentence(note)}请于 {app.return_deadline.isoformat()} 前补充后重新提交。", app.id)
    return f"退回申请人:{note}"
