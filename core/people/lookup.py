"""Finding an insured person by full ID number: the one look-up behind 代办, 门特结算 and the API.

Staff never step through record ids: they name a person by the full ID number, as at the window.
One rule for who may look up whom (window and hospital 医保科 staff, ``DESK_ROLES``, within
``scope.can_view_person``: a district's staff find only their district's people), one audit row per
look-up, found or not, and one answer for nobody and for somebody out of scope, so the look-up
cannot tell anyone who is insured elsewhere.
"""
from __future__ import annotations

from sqlalchemy import select

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import Forbidden, Invalid, NotFound
from core.kernel.roles import DESK_ROLES, Role
from core.models import User
from core.people.identity import id_number_problem, normalise_id
from core.people.scope import can_view_person

NOT_FOUND = "未找到该身份证号码的本地区(本辖区)参保人。"


def check_desk(actor: User | None) -> None:
    """Only window and hospital 医保科 staff name people by ID number (代办, 门特结算)."""
    if actor is None or actor.role not in DESK_ROLES:
        raise Forbidden("只有医保经办人员和医院医保科可以按身份证号码查找参保人。")


def find_person(ctx: Context, id_number: str | None, *, purpose: str) -> User:
    """The insured person with ``id_number`` whom the acting staff member may see.

    The look-up is recorded even when it finds nobody, so this commits its audit row (call it
    before changing anything in the same unit of work). ``purpose`` says why ("apply", "benefits").
    Raises Forbidden (wrong role), Invalid (not a valid ID number) or NotFound.
    """
    actor = ctx.actor
    check_desk(actor)
    problem = id_number_problem(id_number, ctx.today(actor.region_code))
    if problem:
        raise Invalid(problem, fields={"id_number": problem})
    person = db.session.scalar(select(User).where(User.id_number_is(normalise_id(id_number)), User.role == Role.INSURED))
    if person is not None and not can_view_person(actor, person):
        person = None  # another region's or district's person: the same answer as nobody
    audit(ctx, "person.lookup", ("users", getattr(person, "id", None)), result="ok" if person else "not_found",
          detail=purpose)
    db.session.commit()
    if person is None:
        raise NotFound(NOT_FOUND, fields={"id_number": "未找到"})
    return person
