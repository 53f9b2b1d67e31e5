"""Which account a browser session belongs to (Flask-Login's user loader calls this)."""
from __future__ import annotations

import hmac

from core.extensions import db
from core.models import User
from core.models.base import MAX_ID


def user_for_session(session_id: str) -> User | None:
    """The session id is ``<user id>:<stamp of the password hash>``: an unknown or disabled account,
    or a password changed since the session began, ends the session."""
    user_id, _, stamp = str(session_id).partition(":")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() and int(user_id) <= MAX_ID else None
    if user is None or not user.is_active or not hmac.compare_digest(stamp, user.session_stamp()):
        return None
    return user
