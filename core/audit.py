"""Write audit rows. They join the caller's transaction, so an action and its audit row commit together.

Who and from where come from the context (the acting user, the client's address behind the
proxies ProxyFix trusts; see ``MTKIT_PROXY_COUNT``); a system action (a job) has no user.
The row is chained (id, time, keyed hash) when its transaction commits: ``core/audit_chain/seal.py``;
until then it is not in the database, so it is not visible to queries in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, and_, cast, or_, select, true

from core.audit_chain import seal
from core.context import Context
from core.extensions import db
from core.models import Application, AuditLog, User
from core.audit_labels import object_type_label
from core.kernel.roles import Role
from core.people.identity import mask_id, mask_name, normalise_id

_ACTOR = object()  # "the context's actor" (None is a real answer: nobody, e.g. an anonymous log-in attempt)


def audit(ctx: Context, action: str, obj=None, *, result: str = "ok", detail: str | None = None,
          user=_ACTOR) -> AuditLog:
    """Add an audit row for ``action`` on ``obj`` (a model instance or an ("type", id) pair).

    ``user`` overrides the context's actor (a failed log-in names the account tried, not the visitor).
    """
    who = ctx.actor if user is _ACTOR else user
    if obj is None:
        object_type, object_id = None, None
    elif isinstance(obj, tuple):
        object_type, object_id = obj
    else:
        object_type, object_id = obj.__tablename__, getattr(obj, "id", None)
    row = AuditLog(
        user_id=getattr(who, "id", None),
        username=getattr(who, "username", None),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        result=result,
        ip=ctx.ip,
        detail=detail,
    )
    seal.hold(db.session(), row)
    return row


PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilter:
    """What the administrator asks for; every part is optional."""

    action: str = ""
    username: str = ""  # a staff member's user name, or (older links) an ID number
    person_id: int | None = None  # an insured person: rows by them and rows about them or their applications
    object_id: str = ""
    since: datetime | None = None  # UTC bounds of the local dates chosen
    until: datetime | None = None


def _names_of(typed: str) -> list[str]:
    """The user names an administrator means: an insured person's ID number also finds their rows
    under the pseudonymous username they have had since ID numbers are encrypted."""
    idn = normalise_id(typed)
    if len(idn) != 18 or not idn[:17].isdigit():
        return [typed]
    pseudonym = db.session.scalar(select(User.username).where(User.id_number_is(idn)))
    return [typed, idn] + ([pseudonym] if pseudonym else [])


def _about_person(person_id: int):
    """Rows by the person, about their account, or about one of their applications."""
    apps = select(cast(Application.id, String)).where(Application.person_id == person_id)
    return or_(AuditLog.user_id == person_id,
               and_(AuditLog.object_type == "users", AuditLog.object_id == str(person_id)),
               and_(AuditLog.object_type == "applications", AuditLog.object_id.in_(apps)))


def page(f: AuditFilter, before: int | None = None):
    """One page of the trail, newest first, and the cursor of the next (for the instance administrator)."""
    conds = []
    if f.action:
        conds.append(AuditLog.action == f.action)
    if f.username:
        conds.append(AuditLog.username.in_(_names_of(f.username)))
    if f.person_id:
        conds.append(_about_person(f.person_id))
    if f.object_id:
        conds.append(AuditLog.object_id == f.object_id)
    if f.since:
        conds.append(AuditLog.at >= f.since)
    if f.until:
        conds.append(AuditLog.at < f.until)
    if before:
        conds.append(AuditLog.id < before)
    rows = db.session.scalars(
        select(AuditLog).where(and_(true(), *conds)).order_by(AuditLog.id.desc()).limit(PAGE_SIZE + 1)
    ).all()
    return rows[:PAGE_SIZE], (rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None)


@dataclass(frozen=True)
class Described:
    """How a row reads on the audit page: who acted and on what, in words, and what may be opened."""

    actor: str
    object: str
    link: tuple[str, int] | None  # ("application" | "settlement" | "recovery", id): the page links it


def _user_label(user: User | None, fallback: str | None) -> str:
    if user is None:  # a job, an anonymous visitor, or an account name that was only typed
        return (mask_id(fallback) if len(fallback) == 18 and fallback[:17].isdigit() else fallback) if fallback else "—"
    if user.role == Role.INSURED:  # staff screens mask insured people's names
        return f"{mask_name(user.name)}(参保人)"
    return f"{user.name}({Role.label_of(user.role)})"


def describe(rows) -> dict[int, Described]:
    """Readable actors and objects for a page of rows, with the users they name loaded at once."""
    ids = {r.user_id for r in rows if r.user_id}
    ids |= {int(r.object_id) for r in rows if r.object_type == "users" and (r.object_id or "").isdigit()}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    out = {}
    for r in rows:
        kind, oid = r.object_type, r.object_id
        link = None
        if kind is None:
            obj = ""
        elif kind == "users" and (oid or "").isdigit():
            obj = f"{object_type_label(kind)} {_user_label(users.get(int(oid)), None)}"
        else:
            obj = object_type_label(kind) + (f" #{oid}" if oid else "")
            if oid and oid.isdigit() and kind in _LINKED:
                link = (_LINKED[kind], int(oid))
        out[r.id] = Described(actor=_user_label(users.get(r.user_id), r.username), object=obj, link=link)
    return out


_LINKED = {"applications": "application", "benefit_settlements": "settlement", "benefit_recoveries": "recovery"}


def staff_choices() -> list[User]:
    """Staff accounts, for the page's 工作人员 filter."""
    return list(db.session.scalars(select(User).where(User.role != Role.INSURED).order_by(User.username).limit(1000)))


def insured_person(person_id: int | None = None, id_number: str = "") -> User | None:
    """The insured person the person filter names, by account id (the page's address) or ID number (typed)."""
    if person_id:
        user = db.session.get(User, person_id)
    elif id_number:
        user = db.session.scalar(select(User).where(User.id_number_is(normalise_id(id_number))))
    else:
        return None
    return user if user is not None and user.role == Role.INSURED else None
