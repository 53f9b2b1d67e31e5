"""Notices to people: saved to the inbox, then handed to every notification plugin."""
from __future__ import annotations

from flask import current_app

from core.extensions import db
from core.models import Notice


def notify(user_id: int, kind: str, title: str, body: str, application_id: int | None = None) -> Notice:
    notice = Notice(user_id=user_id, kind=kind, title=title, body=body, application_id=application_id)
    db.session.add(notice)
    db.session.flush()  # plugins get a notice with an id
    delivered = current_app.extensions["mtkit_pm"].hook.mtkit_notify(notice=notice)
    notice.channels = ",".join(sorted({c for c in delivered if c}))
    return notice
