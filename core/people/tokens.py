"""API bearer tokens: issued at log-in, short-lived, revoked at log-out, by a password change, when the
account is disabled and by an administrator (强制下线)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import cache

from sqlalchemy import bindparam, select, update

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.time import utcnow
from core.models import ApiToken, User
from core.models.people import sealed_deferred


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(ctx: Context, user: User) -> tuple[str, ApiToken]:
    token = secrets.token_urlsafe(32)
    minutes = ctx.settings["MTKIT_API_TOKEN_MINUTES"]
    row = ApiToken(user_id=user.id, token_hash=_hash(token), stamp=user.session_stamp(),
                   expires_at=utcnow() + timedelta(minutes=minutes))
    db.session.add(row)
    db.session.flush()
    audit(ctx, "api.token", user, user=user, detail=f"token={row.id}")
    return token, row


@cache
def _token_and_user():
    """The token and its user in one query, run before every API call; built once (as in sessions.py)."""
    return (
        select(ApiToken, User).outerjoin(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == bindparam("token_hash")).options(*sealed_deferred())
    )


def resolve(token: str | None) -> tuple[User, ApiToken] | None:
    """The user a presented token belongs to, if it is valid now."""
    if not token or len(token) > 200:
        return None
    found = db.session.execute(_token_and_user(), {"token_hash": _hash(token)}).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    if user is None or not user.is_active or not hmac.compare_digest(row.stamp, user.session_stamp()):
        return None
    return user, row


def revoke(ctx: Context, row: ApiToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(ctx, "api.logout", row.user, user=row.user, detail=f"token={row.id}")


def revoke_all(ctx: Context, user: User, reason: str) -> int:
    """Revoke every live token of ``user``; returns how many (the caller audits the reason)."""
    return db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow())
        .values(revoked_at=utcnow()), execution_options={"synchronize_session": False},
    ).rowcount
