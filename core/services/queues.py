"""Work queues: what a staff member sees, filtered, newest first, in keyset pages.

Keyset pagination on id (``before`` = the last id of the previous page) walks an index instead of
counting past OFFSET rows, so page 500 costs what page 1 costs. The indexes behind it are on
Application (``ix_applications_queue_*`` for "waiting for my role", ``ix_applications_all_*`` for
"everything in my scope").
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import selectinload

from core.extensions import db
from core.models import STATUSES, Application, ApplicationDisease, User
from core.services.access import application_scope

PAGE_SIZE = 20


@dataclass(frozen=True)
class QueueFilter:
    view: str = "mine"  # "mine": waiting for the user's role; "all": everything in scope
    status: str = ""
    disease: str = ""
    division: str = ""


def statement(user: User, f: QueueFilter, before: int | None = None, size: int = PAGE_SIZE) -> Select:
    conds = [application_scope(user)]
    if f.view == "mine":
        conds.append(Application.current_role == user.role)
    if f.status in STATUSES:
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
    if before:
        conds.append(Application.id < before)
    return select(Application).where(and_(*conds)).order_by(Application.id.desc()).limit(size + 1)


def page(user: User, f: QueueFilter, before: int | None = None, size: int = PAGE_SIZE):
    """One page of the queue and the ``before`` value of the next page (None on the last page)."""
    rows = db.session.scalars(
        statement(user, f, before, size).options(selectinload(Application.person), selectinload(Application.diseases))
    ).all()
    next_before = rows[size - 1].id if len(rows) > size else None
    return rows[:size], next_before
