"""Write audit rows. They join the caller's transaction, so an action and its audit row commit together.

Who and from where come from the context (the acting user, the client's address behind the
proxies ProxyFix trusts; see ``MTKIT_PROXY_COUNT``); a system action (a job) has no user.
The row is chained (id, time, keyed hash) when its transaction commits: ``core/audit_chain/seal.py``;
until then it is not in the database, so it is not visible to queries in the same transaction.
"""
from __future__ import annotations

from sqlalchemy import and_, select, true

from core.audit_chain import seal
from core.context import Context
from core.extensions import db
from core.models import AuditLog, User
from core.people.identity import normalise_id

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


def _names_of(typed: str) -> list[str]:
    """The user names an administrator means: an insured person's ID number also finds their rows
    under the pseudonymous username they have had since ID numbers are encrypted."""
    idn = normalise_id(typed)
    if len(idn) != 18 or not idn[:17].isdigit():
        return [typed]
    pseudonym = db.session.scalar(select(User.username).where(User.id_number_is(idn)))
    return [typed, idn] + ([pseudonym] if pseudonym else [])


def page(action: str = "", username: str = "", object_id: str = "", before: int | None = None):
    """One page of the trail, newest first, and the cursor of the next (for the instance administrator)."""
    conds = []
    if action:
        conds.append(AuditLog.action == action)
    if username:
        conds.append(AuditLog.username.in_(_names_of(username)))
    if object_id:
        conds.append(AuditLog.object_id == object_id)
    if before:
        conds.append(AuditLog.id < before)
    rows = db.session.scalars(
        select(AuditLog).where(and_(true(), *conds)).order_by(AuditLog.id.desc()).limit(PAGE_SIZE + 1)
    ).all()
    return rows[:PAGE_SIZE], (rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None)
