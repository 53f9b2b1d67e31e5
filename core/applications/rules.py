"""The review state machine, in one place: statuses and actions (``core.kernel.status``), the guards
beside each transition, and the bookkeeping every transition ends with. Pure: nothing here reads
or writes the database, so pages, the API, jobs and tests ask the same questions of loaded records.

    draft --submit--> submitted --accept--> in_review(step k) --decide / refer_expert--> ...
      ... --record--> approved | partial | rejected            (the last step: makes it final)
    submitted / in_review --return(applicant)--> returned --submit(resubmit)--> in_review (same step)
    in_review --return(hospital)--> in_review (the earlier review step, results cleared)
    draft / submitted / in_review / returned --withdraw--> withdrawn
    returned --(supplement deadline passed: expiry sweep)--> lapsed

The steps come from the region (``mtkit_review_steps``) and are copied onto the application when it
is submitted. Step kinds: accept (受理), review (decide per disease), expert (专家评审, only when a
reviewer refers it), record (备案 / 结果通知). Guards: the record is in the actor's scope, the page's
version is current, the step is waiting for the actor's role (and title), the action fits the step.
"""
from __future__ import annotations

from core.kernel.errors import Conflict, Forbidden, Invalid, NotFound, NOT_FOUND
from core.kernel.roles import DESK_ROLES, Role
from core.kernel.status import EDITABLE, Action, Result, ReturnTarget, Status, StepKind
from core.kernel.types import PHYSICIAN_TITLES, ReviewStep, title_rank
from core.models import Application, ApplicationEvent, User
from core.people.scope import can_see

STALE = "该申请刚刚被他人处理,您的操作未保存。请刷新页面查看最新状态。"
OUTDATED = "该申请已被他人处理或已更新,您看到的页面已过期。请刷新页面查看最新状态后再操作。"


def step_dict(step: ReviewStep) -> dict:
    """A region's step as copied onto an application at submission."""
    return {"code": step.code, "name": step.name, "role": step.role, "kind": step.kind,
            "sla": step.sla_working_days, "optional": step.optional, "min_title": step.min_title}


# --- where the flow goes ----------------------------------------------------------------------------
def next_required(app: Application, start: int) -> int | None:
    return next((i for i in range(start, len(app.steps)) if not app.steps[i].get("optional")), None)


def next_optional_expert(app: Application) -> int | None:
    nxt = app.step_index + 1
    if nxt < len(app.steps) and app.steps[nxt].get("optional") and app.steps[nxt]["kind"] == StepKind.EXPERT:
        return nxt
    return None


def previous_review(app: Application) -> int | None:
    return next((i for i in range(app.step_index - 1, -1, -1) if app.steps[i]["kind"] == StepKind.REVIEW), None)


def return_targets(app: Application) -> dict[str, str]:
    """Where ``app`` can be returned from its current step (back to review only if there was one)."""
    if previous_review(app) is None:
        return {ReturnTarget.APPLICANT: ReturnTarget.APPLICANT.label}
    return ReturnTarget.labels()


def final_status(app: Application) -> Status:
    """The application's status once every disease is decided."""
    results = [ad.result for ad in app.diseases]
    if all(r == Result.APPROVED for r in results):
        return Status.APPROVED
    if all(r == Result.REJECTED for r in results):
        return Status.REJECTED
    return Status.PARTIAL


def latest_explanation(app: Application, disease_code: str) -> str | None:
    """The explanation of the decision that stands for a disease (the last one made)."""
    return next((d.note for d in reversed(app.decisions) if d.disease_code == disease_code), None)


# --- guards --------------------------------------------------------------------------------------------
def check_version(app: Application, version) -> None:
    """The page (or API client) acted on the version it saw; anything else is a conflict."""
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise Invalid("页面缺少版本信息,请刷新后重试。") from None
    if version != app.version:
        raise Conflict(OUTDATED)


def titles_at_most(title: str | None) -> tuple[str, ...]:
    """The minimum titles a holder of ``title`` meets (none for an unknown title)."""
    rank = title_rank(title)
    return PHYSICIAN_TITLES[:rank + 1] if rank >= 0 else ()


def below_title(step: dict | None, user: User) -> bool:
    """The step waits for the user's role but needs a higher title than the user holds."""
    return bool(step and step.get("min_title") and user.role == step["role"]
                and title_rank(user.title) < title_rank(step["min_title"]))


def title_refusal(app: Application, user: User) -> str | None:
    """Why the user's role may not act on ``app``'s current step, said where the actions would be."""
    step = app.current_step
    if not below_title(step, user) or not can_see(user, app):
        return None
    held = f"您的职称为{user.title}" if user.title else "您的账号没有登记职称"
    return f"{held},不能作出认定。「{step['name']}」须由{step['min_title']}及以上职称的责任医师办理。"


def allowed_actions(app: Application, user: User) -> list[Action]:
    """Review actions ``user`` may take on ``app`` now (the page shows exactly these)."""
    step = app.current_step
    if step is None or not can_see(user, app) or user.role != step["role"] or below_title(step, user):
        return []
    kind = step["kind"]
    actions = []
    if kind == StepKind.ACCEPT:
        actions.append(Action.ACCEPT)
    if kind in (StepKind.REVIEW, StepKind.EXPERT):
        actions.append(Action.DECIDE)
    if kind == StepKind.REVIEW and next_optional_expert(app) is not None:
        actions.append(Action.REFER_EXPERT)
    if kind == StepKind.RECORD:
        actions.append(Action.RECORD)
    actions.append(Action.RETURN)
    return actions


def check_review(app: Application, user: User, action: str, version) -> dict:
    """Guard of every review action; returns the current step. A stale page is reported first: the
    reviewer must see that something changed, not a role error."""
    if user.role == Role.INSURED:
        raise Forbidden("参保人不能进行审核操作。")
    if not can_see(user, app):
        raise NotFound(NOT_FOUND)
    check_version(app, version)
    step = app.current_step
    if step is None:
        raise Invalid(f"申请当前状态为「{app.status_name}」,不在审核中。")
    if user.role != step["role"]:
        raise Forbidden(f"当前环节「{step['name']}」不由您的角色办理。")
    if below_title(step, user):
        raise Forbidden(f"「{step['name']}」须由{step['min_title']}及以上职称的责任医师办理。")
    if action not in allowed_actions(app, user):
        raise Invalid(f"当前环节不能进行「{Action.label_of(action)}」操作。")
    return step


def is_intake_staff(user: User, app: Application) -> bool:
    """Window or hospital 医保科 staff on a 代办 application (they scan the paper materials).

    A person's own online application is theirs alone: staff review it, they do not edit it.
    """
    return app.filed_by_id is not None and user.role in DESK_ROLES and can_see(user, app)


def can_edit_materials(app: Application, user: User) -> bool:
    return app.status in EDITABLE and (user.id == app.person_id or is_intake_staff(user, app))


def check_submit(app: Application, user: User, version) -> None:
    if user.id != app.person_id and not is_intake_staff(user, app):
        raise Forbidden("只有申请人或代办人员可以提交。")
    check_version(app, version)
    if app.status not in EDITABLE:
        raise Invalid(f"申请当前状态为「{app.status_name}」,不能提交。")


def can_withdraw(app: Application, user: User) -> bool:
    return app.is_open and user.id in (app.person_id, app.filed_by_id)


def check_withdraw(app: Application, user: User, version) -> None:
    if user.id not in (app.person_id, app.filed_by_id):
        raise Forbidden("只有申请人本人或代办人员可以撤回申请。")
    check_version(app, version)
    if not app.is_open:
        raise Invalid("申请已办结,不能撤回。")


# --- transitions -----------------------------------------------------------------------------------
def move_to_step(app: Application, index: int | None) -> None:
    """In review at step ``index`` (the step clock is started by the caller)."""
    if index is None or index >= len(app.steps):
        raise Invalid("审核流程配置有误:没有下一个环节。")
    app.step_index = index
    app.status = Status.IN_REVIEW


def close(app: Application, status: Status) -> None:
    """The one way an application ends (decided, withdrawn, lapsed): no clock runs on it any more and
    its diseases are free for a new application."""
    app.status = status
    app.step_due = app.sla_remaining = None
    for ad in app.diseases:
        ad.is_open = False


def transition(app: Application, actor: User | None, action: Action, from_status: str | None, at,
               note: str | None = None) -> None:
    """What every transition ends with: whose turn it is now (for the indexed queues) and a timeline
    entry stamped ``at`` (the context's clock, so a pinned date shows on the timeline and the forms)."""
    step = app.current_step
    app.current_role = step["role"] if step else None
    app.current_min_title = (step or {}).get("min_title")
    app.events.append(ApplicationEvent(
        at=at, actor_id=getattr(actor, "id", None), action=action, from_status=from_status, to_status=app.status,
        step_name=step["name"] if step else None, note=note,
    ))
