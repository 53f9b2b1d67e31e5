"""Supervisors' view of late work: overdue and due-soon applications per office and per reviewer.

"Reviewer" is the staff member who last acted on the application (its handler); work nobody has
touched yet (waiting for 受理) is counted as unassigned. Only open applications with a running
clock are read, through the due-date indexes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, func, select

from core.calendar.service import DueWindow
from core.extensions import db
from core.kernel.roles import Role
from core.kernel.status import UNDER_REVIEW
from core.models import Application, ApplicationEvent, User
from core.people.scope import application_scope

MAX_ROWS = 20_000  # a ceiling on what one page reads; late work beyond this is a different problem


@dataclass
class Row:
    key: tuple
    overdue: int = 0
    due_soon: int = 0
    oldest_due: object = None


@dataclass
class Report:
    by_office: list[Row] = field(default_factory=list)
    by_reviewer: list[Row] = field(default_factory=list)
    total_overdue: int = 0
    total_soon: int = 0


def report(user: User, window: DueWindow) -> Report:
    late = db.session.execute(
        select(Application.id, Application.region_code, Application.division_code, Application.institution_code,
               Application.current_role, Application.step_due)
        .where(application_scope(user), Application.step_due <= window.soon, Application.status.in_(UNDER_REVIEW))
        .order_by(Application.step_due, Application.id)
        .limit(MAX_ROWS)
    ).all()
    handler = _last_staff_actor([a.id for a in late])
    offices: dict[tuple, Row] = {}
    reviewers: dict[tuple, Row] = {}
    out = Report()
    for a in late:
        overdue = a.step_due < window.today
        out.total_overdue += overdue
        out.total_soon += not overdue
        for table, key in (
            (offices, (a.region_code, a.division_code, a.institution_code, a.current_role)),
            (reviewers, (a.region_code, a.institution_code, handler.get(a.id))),
        ):
            row = table.setdefault(key, Row(key))
            row.overdue += overdue
            row.due_soon += not overdue
            row.oldest_due = a.step_due if row.oldest_due is None else min(row.oldest_due, a.step_due)
    order = lambda r: (-r.overdue, -r.due_soon, str(r.key))  # noqa: E731
    out.by_office = sorted(offices.values(), key=order)
    out.by_reviewer = sorted(reviewers.values(), key=order)
    return out


def _last_staff_actor(app_ids: list[int]) -> dict[int, User]:
    found: dict[int, User] = {}
    for i in range(0, len(app_ids), 500):
        chunk = app_ids[i:i + 500]
        latest = (
            select(ApplicationEvent.application_id, func.max(ApplicationEvent.id).label("event_id"))
            .join(User, User.id == ApplicationEvent.actor_id)
            .where(ApplicationEvent.application_id.in_(chunk), User.role != Role.INSURED)
            .group_by(ApplicationEvent.application_id)
            .subquery()
        )
        rows = db.session.execute(
            select(latest.c.application_id, User)
            .join(ApplicationEvent, ApplicationEvent.id == latest.c.event_id)
            .join(User, and_(User.id == ApplicationEvent.actor_id))
        ).all()
        found.update({app_id: user for app_id, user in rows})
    return found
