"""账号管理 for administrators: find an account, see whether it is blocked and how many sessions it
has open, unlock it, end its sessions (强制下线), disable or enable it. A regional administrator
manages the accounts of their region; the instance administrator (no region) manages every one."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select

from core.context import Context
from core.extensions import db
from core.kernel.errors import Forbidden, Invalid, NotFound
from core.kernel.roles import Role
from core.kernel.time import utcnow
from core.models import LoginThrottle, User
from core.people import accounts, login, sessions

LIST_LIMIT = 200


@dataclass
class Row:
    user: User
    blocked: bool
    open_sessions: int


def check_admin(actor: User | None) -> None:
    if actor is None or actor.role != Role.ADMIN:
        raise Forbidden("只有管理员可以管理账号。")


def _in_scope(actor: User, user: User | None) -> bool:
    return user is not None and (actor.region_code is None or user.region_code == actor.region_code)


def account(ctx: Context, user_id: int) -> User:
    """An account the acting administrator manages (another region's is a 404, as if absent)."""
    check_admin(ctx.actor)
    user = db.session.get(User, user_id)
    if not _in_scope(ctx.actor, user):
        raise NotFound("账号不存在,或不属于您管理的地区。")
    return user


def overview(ctx: Context, query: str = "") -> list[Row]:
    """The account typed (user name or ID number, exact), else the blocked accounts and the staff
    accounts of the administrator's scope."""
    actor = ctx.actor
    check_admin(actor)
    if query.strip():
        found = accounts.by_username(accounts.login_name(query))
        users = [found] if _in_scope(actor, found) else []
    else:
        now = utcnow()
        blocked = select(LoginThrottle.user_id).where(LoginThrottle.blocked_until > now)
        q = select(User).where(or_(User.role != Role.INSURED, User.locked_until > now, User.id.in_(blocked)))
        if actor.region_code:
            q = q.where(User.region_code == actor.region_code)
        users = list(db.session.scalars(q.order_by(User.role, User.username).limit(LIST_LIMIT)))
    ids = [u.id for u in users]
    locked, counts = login.locked_ids(ids), sessions.open_counts(ids)
    return [Row(u, u.id in locked, counts.get(u.id, 0)) for u in users]


def act(ctx: Context, user: User, action: str, *, reason: str = "") -> str:
    """One of unlock, logout (强制下线), disable, enable on an account in scope; returns what to say."""
    check_admin(ctx.actor)
    reason = (reason or "").strip()[:200]
    detail = f"by={ctx.actor.username} {reason}".strip()
    if action in ("disable", "logout") and user.id == ctx.actor.id:
        raise Invalid("不能对自己的账号执行此操作。")
    if action == "unlock":
        login.unlock(ctx, user, detail=detail)
        return "账号已解锁,可以立即登录。"
    if action == "logout":
        accounts.force_logout(ctx, user, detail=detail)
        return "已强制下线:该账号的所有登录和接口令牌均已失效。"
    if action in ("disable", "enable"):
        accounts.set_enabled(ctx, user, action == "enable", detail=detail)
        return "账号已启用。" if action == "enable" else "账号已停用,所有登录均已失效。"
    raise Invalid("不支持的操作。")
