"""Work handed to the worker when a transaction commits: SMS deliveries that ``notify_many`` queued
go out within seconds instead of at the next minute's sweep.

One listener on the app's session, installed once per process (``install``): after a commit it
takes the ids the transaction noted and enqueues ``send_sms``; a rollback forgets them, so a
rolled-back action sends nothing. If the queue cannot be reached the commit has already succeeded:
the failure is logged and the per-minute sweep sends the rows (they stay pending). Background
tasks a user asked for (core/queue/results.py) and the page images of uploaded PDFs
(core/applications/previews.py) are handed over the same way.
"""
from __future__ import annotations

import logging

from flask import current_app, has_app_context
from sqlalchemy import event

from core.extensions import db
from core.applications import previews
from core.notices.delivery import take_queued
from core.queue import results

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
    ids, task_ids, pdf_ids = take_queued(session), results.take_queued(session), previews.take_ahead(session)
    if not (ids or task_ids or pdf_ids) or not has_app_context():
        return
    queue = current_app.extensions.get("mtkit_queue")
    if queue is None:
        return
    if ids and queue.send_at_commit:
        try:
            queue.send_sms(None if len(ids) > LARGE else ids)
        except Exception:  # the queue is down: the sweep sends them; never fail a committed action
            log.exception("could not hand %d SMS to the queue; the per-minute sweep will send them", len(ids))
    for task_id in task_ids:
        try:
            queue.run_task(task_id)
        except Exception:  # the row stays queued (its page says so); the user can ask again later
            log.exception("could not hand background task %s to the queue", task_id)
    if pdf_ids:
        try:
            queue.render_previews(pdf_ids)
        except Exception:  # the pages render when a reviewer first opens them
            log.exception("could not hand the previews of materials %s to the queue", pdf_ids)


def _after_rollback(session) -> None:
    take_queued(session)
    results.take_queued(session)
    previews.take_ahead(session)
