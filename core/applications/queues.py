"""Work queues: what a staff member sees, filtered, in keyset pages.

Keyset pagination on id (``before`` = the last id of the previous page) walks an index instead of
counting past OFFSET rows, so page 500 costs what page 1 costs. The indexes behind it are on
Application (``ix_applications_queue_*`` for "waiting for my role", ``ix_applications_all_*`` for
"everything in my scope"). The SLA filters (overdue, due soon) list the most urgent first and page
on (step_due, id) over ``ix_applications_due_*``: step_due is set only while a step with a time
limit is open, so those indexes hold only open work.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import selectinload

from core.applications.rules import titles_at_most
from core.calendar.service import DueWindow
from core.extensions import db
from core.kernel.status import Status
from core.models import Application, ApplicationDisease, User
from core.models.people import sealed_deferred
from core.people.scope import application_scope

PAGE_SIZE = 20
DUE_FILTERS = {"overdue": "已超时", "soon": "即将到期(下一个工作日内)"}
_CURSOR = re.compile(r"^(\d{4}-\d{2}-\d{2})_(\d{1,10})$")


@dataclass(frozen=True)
class QueueFilter:
    view: str = "mine"  # "mine": waiting for the user's role; "all": everything in scope
    status: str = ""
    disease: str = ""
    division: str = ""
    due: str = ""  # "", "overdue" or "soon"


def parse_cursor(value: str | None) -> tuple[date, int] | None:
    m = _CURSOR.match(value or "")
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1)), int(m.group(2))
    except ValueError:
        return None


def statement(user: User, f: QueueFilter, before: int | None = None, size: int = PAGE_SIZE,
              window: DueWindow | None = None, after: tuple[date, int] | None = None) -> Select:
    conds = [application_scope(user)]
    if f.view == "mine":
        conds.append(Application.current_role == user.role)
        # Steps that need a higher title than the user's wait for someone else (see rules.below_title).
        conds.append(or_(Application.current_min_title.is_(None),
                         Application.current_min_title.in_(titles_at_most(user.title))))
    if f.status in Status.labels():
        conds.append(Application.status == f.status)
    if f.division:
        conds.append(Application.division_code == f.division)
    if f.disease:
        # EXISTS, checked row by row while walking the index in id order: a page needs only a few
        # matches, where IN would first collect every application with the disease.
        conds.append(
            select(ApplicationDisease.id)
            .where(ApplicationDisease.application_id == Application.id, ApplicationDisease.disease_code == f.disease)
            .exists()
        )
    if f.due in DUE_FILTERS and window is not None:
        if f.due == "overdue":
            conds.append(Application.step_due < window.today)
        else:
            conds.append(and_(Application.step_due >= window.today, Application.step_due <= window.soon))
        if after:
            conds.append(tuple_(Application.step_due, Application.id) > tuple_(after[0], after[1]))
        order = (Application.step_due, Application.id)
    else:
        if before:
            conds.append(Application.id < before)
        order = (Application.id.desc(),)
    return select(Application).where(and_(*conds)).order_by(*order).limit(size + 1)


def page(user: User, f: QueueFilter, before: int | None = None, size: int = PAGE_SIZE,
         window: DueWindow | None = None, after: tuple[date, int] | None = None):
    """One page and the cursor of the next (None on the last page): an id, or "date_id" for SLA views."""
    rows = db.session.scalars(
        statement(user, f, before, size, window, after).options(selectinload(Application.person).options(*sealed_deferred()), selectinload(Application.diseases))
    ).all()
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    if f.due in DUE_FILTERS and window is not None:
        return rows[:size], f"{last.step_due.isoformat()}_{last.id}"
    return rows[:size], last.id


def own_page(user: User, before: int | None, size: int = PAGE_SIZE):
    """A person's own applications, newest first, and the cursor of the next page."""
    query = select(Application).where(Application.person_id == user.id)
    if before:
        query = query.where(Application.id < before)
    rows = db.session.scalars(query.order_by(Application.id.desc()).limit(size + 1)).all()
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)


@dataclass(frozen=True)
class Overview:
    """Applications in a staff member's area by status; every status listed, the rows sum to ``total``."""

    counts: dict[str, int]
    own_drafts: int  # drafts people keep for themselves: counted, but not before staff yet
    total: int


def overview(user: User) -> Overview:
    """The overview page's numbers: every application in ``user``'s area, drafts included."""
    counts = dict.fromkeys(Status.labels(), 0)
    counts.update(db.session.execute(
        select(Application.status, func.count()).where(application_scope(user, with_own_drafts=True))
        .group_by(Application.status)
    ).all())
    own_drafts = db.session.scalar(select(func.count()).select_from(Application).where(
        application_scope(user, with_own_drafts=True), Application.status == Status.DRAFT,
        Application.filed_by_id.is_(None)))
    return Overview(counts, own_drafts, sum(counts.values()))
