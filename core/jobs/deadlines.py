"""Deadline digests: each reviewer gets one notice a day listing the overdue and due-soon work
waiting for their role in their scope; each region's administrators are told which 结果通知/备案
steps reached their time limit. Dedup keys ``sla:<user>:<date>`` and ``result-due:<user>:<date>``."""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from sqlalchemy import select

from core.applications.rules import below_title
from core.calendar.service import due_date
from core.context import Context
from core.extensions import db
from core.jobs.runner import Progress
from core.kernel.roles import STAFF_ROLES, Role
from core.kernel.status import UNDER_REVIEW, StepKind
from core.models import Application, User
from core.notices.service import existing_keys, from_template, notify
from core.people.scope import can_see

MAX_LINES = 10  # applications listed in one digest notice
REVIEWER_ROLES = tuple(r for r in STAFF_ROLES if r != Role.ADMIN)


def sla_reminders(ctx: Context, run: Progress) -> None:
    for region in ctx.regions.codes():
        on = ctx.today(region)
        due = _open_due(region, due_date(ctx, region, on, 1))
        run.processed += len(due)
        staff = db.session.scalars(select(User).where(User.region_code == region, User.is_enabled.is_(True),
                                                      User.role.in_(REVIEWER_ROLES))).all()
        for user in staff:
            mine = [a for a in due if a.current_role == user.role and not below_title(a.step, user) and can_see(user, a)]
            key = f"sla:{user.id}:{on.isoformat()}"
            if not mine or existing_keys([key]):
                continue
            overdue = [a for a in mine if a.step_due < on]
            lines = "\n".join(f"第 {a.id} 号,时限 {a.step_due.isoformat()}{'(已超时)' if a.step_due < on else ''}" for a in mine[:MAX_LINES])
            if len(mine) > MAX_LINES:
                lines += f"\n……共 {len(mine)} 件,请在「待办」中按「已超时」「即将到期」筛选查看。"
            title, body = from_template(ctx, region, "sla_digest", name=user.name, overdue=len(overdue),
                                        due_soon=len(mine) - len(overdue), lines=lines)
            notify(ctx, user.id, "sla_digest", title, body, dedup_key=key)
            run.changed += 1
        db.session.commit()
        run.progress(f"(审核时限 {region})")


def result_notice_deadline(ctx: Context, run: Progress) -> None:
    for region in ctx.regions.codes():
        on = ctx.today(region)
        late = [a for a in _open_due(region, on) if (a.step or {}).get("kind") == StepKind.RECORD]
        run.processed += len(late)
        if not late:
            continue
        admins = db.session.scalars(select(User).where(User.role == Role.ADMIN, User.region_code == region,
                                                       User.is_enabled.is_(True))).all()
        lines = "\n".join(f"第 {a.id} 号,{(a.step or {}).get('name', '')}时限 {a.step_due.isoformat()}" for a in late[:MAX_LINES])
        if len(late) > MAX_LINES:
            lines += f"\n……共 {len(late)} 件,详见「超时督办」。"
        for admin in admins:
            key = f"result-due:{admin.id}:{on.isoformat()}"
            if existing_keys([key]):
                continue
            title, body = from_template(ctx, region, "result_due", name=admin.name, count=len(late), lines=lines)
            notify(ctx, admin.id, "result_due", title, body, dedup_key=key)
            run.changed += 1
        db.session.commit()
        run.progress(f"(结果通知 {region})")


def _open_due(region: str, until: date) -> list:
    """Open applications of ``region`` whose current step is due on or before ``until`` (light rows
    that ``can_see`` accepts)."""
    rows = db.session.execute(
        select(Application.id, Application.region_code, Application.division_code, Application.institution_code,
               Application.current_role, Application.step_due, Application.steps, Application.step_index)
        .where(Application.region_code == region, Application.step_due <= until, Application.status.in_(UNDER_REVIEW))
        .order_by(Application.step_due, Application.id)
    ).all()
    out = []
    for r in rows:
        step = r.steps[r.step_index] if r.steps and 0 <= r.step_index < len(r.steps) else None
        out.append(SimpleNamespace(id=r.id, region_code=r.region_code, division_code=r.division_code,
                                   institution_code=r.institution_code, current_role=r.current_role,
                                   step_due=r.step_due, step=step, person_id=None))
    return out
