"""Work handed to the worker when a transaction commits: SMS deliveries that ``notify_many`` queued
go out within seconds instead of at the next minute's sweep.

One listener on the app's session, installed once per process (``install``): after a commit it
takes the ids the transaction noted and enqueues ``send_sms``; a rollback forgets them, so a
rolled-back action sends nothing. If the queue cannot be reached the commit has already succeeded:
the failure is logged and the per-minute sweep sends the rows (they stay pending).
"""
from __future__ import annotations

import logging

from flask import current_app, has_app_context
from sqlalchemy import event

from core.extensions import db
from core.notices.delivery import take_queued

log = logging.getLogger("mtkit.queue")
LARGE = 500  # more ids than this in one commit (a daily job's batch): the task sends whatever is due

_installed = False


def install() -> None:
    global _installed
    if _installed:  # db.session is shared by every app the process builds (the tests build many)
        return
    event.listen(db.session, "after_commit", _after_commit)
    event.listen(db.session, "after_rollback", _after_rollback)
    _installed = True


def _after_commit(session) -> None:
    ids = take_queued(session)
    if not ids or not has_app_context():
        return
    queue = current_app.extensions.get("mtkit_queue")
    if queue is None or not queue.send_at_commit:
        return
    try:
        queue.send_sms(None if len(ids) > LARGE else ids)
    except Exception:  # the queue is down: the sweep sends them; never fail a committed action
        log.exception("could not hand %d SMS to the queue; the per-minute sweep will send them", len(ids))


def _after_rollback(session) -> None:
    take_queued(session)
