"""The generic review state machine, driven by the step list a region supplies.

Statuses: draft -> submitted -> in_review (step k) -> returned -> (resubmitted) in_review ...
-> approved | partial | rejected; withdrawn by the applicant. Each action checks role, scope,
step and version, writes an event, an audit row and (where the person should know) a notice.

Step kinds: accept (受理), review (decide per disease), expert (专家评审, only when referred),
record (备案 / 结果通知: makes the decision final and creates recognitions).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm.exc import StaleDataError

from core.extensions import db
from core.models import Application, Decision, User
from core.models.base import utcnow
from core.regions import regions
from core.services import Conflict, Forbidden, Invalid, NotFound
from core.services import recognitions as recs
from core.services import verification
from core.services.access import can_see
from core.services.applications import STALE_MESSAGE, check_version, flush_or_conflict, pause_step_clock, record_event, start_step_clock
from core.services.audit import audit
from core.services.clock import today
from core.services.notices import notify
from core.types import title_rank

ACTION_NAMES = {
    "accept": "受理",
    "decide": "审核决定",
    "refer_expert": "提交专家评审",
    "record": "确认办结",
    "return": "退回补正",
}
RETURN_TARGETS = {"applicant": "退回申请人补正材料", "hospital": "退回上一审核环节重新审核"}


def return_targets(app: Application) -> dict[str, str]:
    """Where ``app`` can be returned from its current step (back to review only if there was one)."""
    if _previous_review(app) is None:
        return {"applicant": RETURN_TARGETS["applicant"]}
    return dict(RETURN_TARGETS)


def allowed_actions(app: Application, user: User) -> list[str]:
    """Actions ``user`` may take on ``app`` now (the page shows exactly these)."""
    step = app.current_step
    if step is None or not can_see(user, app) or user.role != step["role"]:
        return []
    if step.get("min_title") and title_rank(user.title) < title_rank(step["min_title"]):
        return []
    kind = step["kind"]
    actions = []
    if kind == "accept":
        actions.append("accept")
    if kind in ("review", "expert"):
        actions.append("decide")
    if kind == "review" and _next_optional_expert(app) is not None:
        actions.append("refer_expert")
    if kind == "record":
        actions.append("record")
    actions.append("return")
    return actions


def act(app: Application, user: User, action: str, version, **fields) -> Application:
    """Apply ``action`` to ``app`` as ``user``. Raises a ServiceError with a Chinese message."""
    if not can_see(user, app):
        raise NotFound("记录不存在或您无权查看。")
    # A stale page is reported as such first: the reviewer must see what changed, not a role error.
    check_version(app, version)
    step = app.current_step
    if step is None:
        raise Invalid(f"申请当前状态为「{app.status_name}」,不在审核中。")
    if user.role != step["role"]:
        raise Forbidden(f"当前环节「{step['name']}」不由您的角色办理。")
    if step.get("min_title") and title_rank(user.title) < title_rank(step["min_title"]):
        raise Forbidden(f"「{step['name']}」须由{step['min_title']}及以上职称的责任医师办理。")
    if action not in allowed_actions(app, user):
        raise Invalid(f"当前环节不能进行「{ACTION_NAMES.get(action, action)}」操作。")
    handler = {
        "accept": _accept,
        "decide": _decide,
        "refer_expert": _refer_expert,
        "record": _record,
        "return": _return,
    }[action]
    from_status = app.status
    try:
        note = handler(app, user, step, **fields)
        record_event(app, user, action, from_status, note)
        audit(f"application.{action}", app, user=user, detail=note)
        flush_or_conflict()
    except StaleDataError:  # an autoflush inside the handler met a newer version
        db.session.rollback()
        raise Conflict(STALE_MESSAGE)
    return app


def _accept(app, user, step, **_):
    _advance(app, app.step_index + 1)
    return None


def _decide(app, user, step, results=None, reason_code=None, note=None, reasons=None, explanations=None, **_):
    """Decide every disease. Per disease: a result, for a rejection a coded reason (``reasons`` or the
    shared ``reason_code``) and an explanation the applicant will read (``explanations``); ``note``
    is the reviewer's internal comment, kept in the timeline for staff."""
    results, reasons, explanations = results or {}, reasons or {}, explanations or {}
    codes = {r.code for r in regions().reason_codes(app.region_code)}
    problems, decided = [], []
    for ad in app.diseases:
        result = results.get(ad.disease_code)
        reason = (reasons.get(ad.disease_code) or reason_code) if result == "rejected" else None
        explanation = (explanations.get(ad.disease_code) or "").strip()[:1000] or None
        if result not in ("approved", "rejected"):
            problems.append(f"请为「{ad.disease_name}」选择通过或不通过。")
        elif result == "rejected" and reason not in codes:
            problems.append(f"「{ad.disease_name}」不通过时须选择不通过原因。")
        elif reason == "R09" and not explanation:
            problems.append(f"「{ad.disease_name}」选择「其他原因」时须填写给申请人的说明。")
        decided.append((ad, result, reason, explanation))
    if problems:
        raise Invalid("审核决定不完整:", problems)
    for ad, result, reason, explanation in decided:
        ad.result, ad.reason_code = result, reason
        app.decisions.append(
            Decision(
                disease_code=ad.disease_code,
                step_code=step["code"],
                result=result,
                reason_code=reason,
                note=explanation,
                decided_by_id=user.id,
            )
        )
    _advance(app, _next_required(app, app.step_index + 1))
    summary = "; ".join(f"{ad.disease_name}:{ad.result_name}" for ad in app.diseases)
    comment = (note or "").strip()[:1000]
    return f"{summary}。审核意见:{comment}" if comment else summary


def _refer_expert(app, user, step, note=None, **_):
    _advance(app, _next_optional_expert(app))
    return (note or "").strip()[:1000] or None


def _record(app, user, step, **_):
    on = today(regions().get(app.region_code).timezone)
    if any(ad.result == "pending" for ad in app.diseases):
        raise Invalid("还有病种未作出审核决定,不能办结。")
    created = recs.create_from_application(app, on)
    results = [ad.result for ad in app.diseases]
    app.status = "approved" if all(r == "approved" for r in results) else "rejected" if all(r == "rejected" for r in results) else "partial"
    app.decided_at = utcnow()
    app.step_due = app.sla_remaining = None
    for ad in app.diseases:
        ad.is_open = False
    db.session.flush()
    for rec in created:
        audit("recognition.create", rec, user=user, detail=f"{rec.disease_code} {rec.start_date}~{rec.end_date}")
    # The result notice's verification code certifies the decision as it stands now.
    verification.issue(app)
    lines = []
    for ad in app.diseases:
        if ad.result == "approved":
            rec = next(r for r in created if r.disease_code == ad.disease_code)
            lines.append(f"{ad.disease_name}:通过,有效期 {rec.start_date.isoformat()} 至 {rec.end_date.isoformat()}")
        else:
            line = f"{ad.disease_name}:不通过,原因:{regions().reason_text(app.region_code, ad.reason_code)}"
            explanation = latest_explanation(app, ad.disease_code)
            lines.append(f"{line}。说明:{explanation}" if explanation else line)
    if app.kind == "renewal" and not created and app.renewal_of is not None:
        lines.append(f"原认定待遇自 {app.renewal_of.stop_date.isoformat()} 起停止。")
    notify(app.person_id, "decision", f"门特{app.kind_name}审核结果:{app.status_name}", "\n".join(lines), app.id)
    return "; ".join(lines)


def latest_explanation(app: Application, disease_code: str) -> str | None:
    """The explanation of the decision that stands for a disease (the last one made)."""
    return next((d.note for d in reversed(app.decisions) if d.disease_code == disease_code), None)


def _return(app, user, step, to="applicant", reason_code=None, note=None, **_):
    note = (note or "").strip()
    problems = []
    if to not in RETURN_TARGETS:
        problems.append("请选择退回对象。")
    if to == "hospital" and _previous_review(app) is None:
        problems.append("当前环节之前没有医院审核环节,只能退回申请人。")
    if not note:
        problems.append("请填写退回原因,告诉申请人需要补充什么。")
    if reason_code and reason_code not in {r.code for r in regions().reason_codes(app.region_code)}:
        problems.append("退回原因代码无效。")
    if problems:
        raise Invalid("退回信息不完整:", problems)
    app.return_reason = note[:1000]
    app.return_reason_code = reason_code
    app.return_to = to
    if to == "hospital":
        # Back to the earlier review step (the physician, or 初审); the applicant has nothing to do.
        for ad in app.diseases:
            ad.result = "pending"
            ad.reason_code = None
        _advance(app, _previous_review(app))
        return f"退回「{app.current_step['name']}」重新审核:{note}"
    policy = regions().renewal_policy(app.region_code, app.diseases[0].disease_code)
    on = today(regions().get(app.region_code).timezone)
    app.status = "returned"
    app.return_deadline = on + timedelta(days=policy.return_deadline_days)
    pause_step_clock(app, on)  # the clock pauses while the applicant supplies materials
    notify(
        app.person_id,
        "return",
        "申请被退回,请补正材料",
        f"您的门特申请(编号 {app.id})需要补正:{note}。请于 {app.return_deadline.isoformat()} 前补充后重新提交。",
        app.id,
    )
    return f"退回申请人:{note}"


def _advance(app: Application, index: int | None) -> None:
    if index is None or index >= len(app.steps):
        raise Invalid("审核流程配置有误:没有下一个环节。")
    app.step_index = index
    app.status = "in_review"
    start_step_clock(app, today(regions().get(app.region_code).timezone))


def _next_required(app: Application, start: int) -> int | None:
    return next((i for i in range(start, len(app.steps)) if not app.steps[i].get("optional")), None)


def _next_optional_expert(app: Application) -> int | None:
    nxt = app.step_index + 1
    if nxt < len(app.steps) and app.steps[nxt].get("optional") and app.steps[nxt]["kind"] == "expert":
        return nxt
    return None


def _previous_review(app: Application) -> int | None:
    return next((i for i in range(app.step_index - 1, -1, -1) if app.steps[i]["kind"] == "review"), None)
