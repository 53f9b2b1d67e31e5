"""Write audit rows. They join the caller's transaction, so an action and its audit row commit together."""
from __future__ import annotations

from flask import has_request_context, request
from flask_login import current_user

from core.extensions import db
from core.models import AuditLog


def audit(action: str, obj=None, *, result: str = "ok", detail: str | None = None, user=None) -> AuditLog:
    """Add an audit row for ``action`` on ``obj`` (a model instance or an ("type", id) pair)."""
    if user is None and has_request_context() and current_user and current_user.is_authenticated:
        user = current_user
    if obj is None:
        object_type, object_id = None, None
    elif isinstance(obj, tuple):
        object_type, object_id = obj
    else:
        object_type, object_id = obj.__tablename__, getattr(obj, "id", None)
    row = AuditLog(
        user_id=getattr(user, "id", None),
        username=getattr(user, "username", None),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        result=result,
        ip=_client_ip(),
        detail=detail,
    )
    db.session.add(row)
    return row


def _client_ip() -> str | None:
    if not has_request_context():
        return None
    # ProxyFix (configured in create_app when behind a proxy) already rewrote remote_addr.
    return request.remote_addr
