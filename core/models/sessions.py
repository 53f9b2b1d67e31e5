"""Server-side browser sessions and per-client log-in throttles."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.models.base import UTCDateTime, utcnow


class UserSession(db.Model):
    """One signed-in browser. The cookie carries a random id; only its sha256 is stored, so a copy of
    the table opens nothing. A session ends (``ended_at``, ``end_reason``) at log-out, a password
    change (the others), when the account is disabled, by an administrator (强制下线), after the idle
    timeout, at ``expires_at`` (absolute lifetime) and when another browser presents it."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_open", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    ended_at = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(20))
    ip: Mapped[str | None] = mapped_column(String(45))  # where it began
    last_ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))  # shown to the person, truncated
    agent_hash: Mapped[str] = mapped_column(String(64))  # the browser it is bound to


class LoginThrottle(db.Model):
    """Failed log-ins of one account from one client (an IP address, or a browser that signed in to
    the account before: ``device:<nonce>``). ``attempts`` is claimed before the password is
    checked, by one conditional UPDATE, so concurrent guesses cannot exceed the limit; a client at
    the limit waits until ``blocked_until``, twice as long after each block (``blocks``)."""

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("user_id", "client", name="uq_login_throttles_user_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client: Mapped[str] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    blocks: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    blocked_until = mapped_column(UTCDateTime, nullable=True)
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
