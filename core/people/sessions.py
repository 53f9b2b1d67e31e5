"""Server-side browser sessions: begun at log-in, checked on every request, ended for good.

The session cookie (Flask's signed cookie) carries a random session id; the ``user_sessions``
row holds only its sha256. A session is open while it has not been ended, has been used within
the idle timeout (``PERMANENT_SESSION_LIFETIME``), has not reached its absolute lifetime
(``MTKIT_SESSION_ABSOLUTE_HOURS_STAFF`` / ``_INSURED``) and is presented by the browser it began in
(the User-Agent it was created with: a copy of the cookie replayed from another browser ends it).
Ending is permanent: a cookie saved before log-out opens nothing afterwards.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import cache

from sqlalchemy import bindparam, func, select, update

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.roles import Role
from core.kernel.time import utcnow
from core.models import User, UserSession
from core.models.base import MAX_ID
from core.models.people import sealed_deferred

# last_seen_at is written at most this often (not a write per request).
TOUCH_EVERY = timedelta(seconds=60)
REASONS = {
    "logout": "退出登录", "password": "修改密码", "disabled": "账号停用", "admin": "管理员强制下线",
    "idle": "长时间未操作", "expired": "超过最长登录时间", "client": "在其他浏览器上使用", "self": "本人退出",
}


@cache
def _session_and_user():
    """The session row and its user, in one query run before every page. Built once (on first use,
    when the mappers are ready): SQLAlchemy then reuses the statement's cache key instead of working
    it out again on every request."""
    return (
        select(UserSession, User).outerjoin(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == bindparam("token_hash")).options(*sealed_deferred())
    )


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def lifetime(settings, user: User) -> timedelta:
    key = "MTKIT_SESSION_ABSOLUTE_HOURS_INSURED" if user.role == Role.INSURED else "MTKIT_SESSION_ABSOLUTE_HOURS_STAFF"
    return timedelta(hours=float(settings[key]))


def start(ctx: Context, user: User, *, user_agent: str | None) -> str:
    """A new session for ``user`` (after a successful log-in); returns the id for the cookie."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    agent = (user_agent or "")[:500]
    db.session.add(UserSession(
        token_hash=_hash(raw), user_id=user.id, created_at=now, last_seen_at=now,
        expires_at=now + lifetime(ctx.settings, user), ip=ctx.ip, last_ip=ctx.ip, user_agent=agent[:200] or None,
        agent_hash=_hash(agent),
    ))
    return raw


def current(raw: str | None) -> UserSession | None:
    if not raw or not isinstance(raw, str) or len(raw) > 100:
        return None
    return db.session.scalar(select(UserSession).where(UserSession.token_hash == _hash(raw)))


def resolve(settings, raw: str | None, user_id: str | None, *, user_agent: str | None, ip: str | None,
            on_touch=None) -> User | None:
    """The user whose open session ``raw`` is, or None. Ends (and commits) a session found idle, past
    its lifetime or presented by another browser; records the last use at most once a minute.
    ``user_id`` is Flask-Login's id (``<user id>:<password stamp>``): it must match the session's.
    The session row and its user come in one query: this runs before every page. ``on_touch()`` is
    called when the last use was written (the page then renews the browser's cookie)."""
    if not raw or not isinstance(raw, str) or len(raw) > 100:
        return None
    uid, _, stamp = str(user_id or "").partition(":")
    if not uid.isdigit() or int(uid) > MAX_ID:
        return None
    found = db.session.execute(_session_and_user(), {"token_hash": _hash(raw)}).first()
    if found is None:
        return None
    row, user = found
    if row.ended_at is not None or int(uid) != row.user_id:
        return None
    now = utcnow()
    reason = None
    if now >= row.expires_at:
        reason = "expired"
    elif now - row.last_seen_at > settings["PERMANENT_SESSION_LIFETIME"]:
        reason = "idle"
    elif not hmac.compare_digest(row.agent_hash, _hash((user_agent or "")[:500])):
        reason = "client"
    if reason is None and (user is None or not user.is_active):
        reason = "disabled"
    if reason is None and not hmac.compare_digest(stamp, user.session_stamp()):
        reason = "password"
    if reason:
        _end_rows(update(UserSession).where(UserSession.id == row.id), reason, now)
        db.session.commit()
        return None
    if now - row.last_seen_at >= TOUCH_EVERY or row.last_ip != ip:
        row.last_seen_at, row.last_ip = now, ip
        db.session.commit()
        if on_touch is not None:
            on_touch()
    return user


def _end_rows(query, reason: str, now) -> int:
    return db.session.execute(
        query.where(UserSession.ended_at.is_(None)).values(ended_at=now, end_reason=reason),
        execution_options={"synchronize_session": False},
    ).rowcount


def end(ctx: Context, raw: str | None, reason: str = "logout") -> None:
    """End the session whose id is ``raw`` (log-out)."""
    row = current(raw)
    if row is not None:
        _end_rows(update(UserSession).where(UserSession.id == row.id), reason, utcnow())


def end_all(ctx: Context, user: User, reason: str, *, keep: str | None = None) -> int:
    """End every open session of ``user`` (but the one whose id is ``keep``); returns how many."""
    query = update(UserSession).where(UserSession.user_id == user.id)
    if keep:
        query = query.where(UserSession.token_hash != _hash(keep))
    return _end_rows(query, reason, utcnow())


def end_one(ctx: Context, user: User, session_id: int) -> bool:
    """A person ends one of their own sessions (退出 on the list of their sessions)."""
    ended = _end_rows(update(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id),
                      "self", utcnow())
    if ended:
        audit(ctx, "session.end", user, detail=f"session={session_id}")
    return bool(ended)


def active(settings, user: User) -> list[UserSession]:
    """The open sessions of ``user``, newest first (idle or expired ones not counted)."""
    now = utcnow()
    rows = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
                                  UserSession.expires_at > now,
                                  UserSession.last_seen_at > now - settings["PERMANENT_SESSION_LIFETIME"])
        .order_by(UserSession.id.desc()).limit(50)
    ).all()
    return list(rows)


def open_counts(user_ids) -> dict[int, int]:
    """How many open sessions each of these accounts has (for the administrators' account list)."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(UserSession.user_id, func.count()).where(UserSession.user_id.in_(ids), UserSession.ended_at.is_(None),
                                                        UserSession.expires_at > utcnow())
        .group_by(UserSession.user_id)
    ).all()
    return dict(rows)
