"""The inbox (消息), and for staff: failed SMS and retries (通知发送), printed letters (打印信件)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from core.extensions import db
from core.jobs.runner import recent_runs
from core.jobs.schedule import JOBS, title_of
from core.kernel.roles import Role
from core.notices import delivery, letters, service
from core.queue import results
from core.queue import service as queue_service
from core.queue import tasks as queue_tasks
from core.web.context import ctx
from core.web.helpers import arg_id

bp = Blueprint("notices", __name__)


@bp.get("/inbox")
@login_required
def inbox():
    return render_template("account/inbox.html", notices=service.inbox(current_user))


@bp.post("/inbox/<id:notice_id>/read")
@login_required
def mark_read(notice_id):
    service.mark_read(ctx(), current_user, notice_id)
    db.session.commit()
    return redirect(url_for("notices.inbox"))


@bp.post("/inbox/read-all")
@login_required
def mark_all_read():
    service.mark_read(ctx(), current_user)
    db.session.commit()
    return redirect(url_for("notices.inbox"))


def _admin_only():
    if current_user.role != Role.ADMIN:
        abort(403)


@bp.get("/staff/deliveries")
@login_required
def deliveries():
    """SMS and letters that failed (and the retries still to come), for the administrator's region."""
    _admin_only()
    rows, next_before = delivery.failed_page(current_user, arg_id("before"))
    return render_template("staff/deliveries.html", rows=rows, next_before=next_before,
                           pending_letters=delivery.pending_letters(current_user), runs=recent_runs(15),
                           jobs=JOBS.values(), job_title=title_of, task_title=queue_service.task_title,
                           failures=queue_service.open_failures(),
                           retries=queue_tasks.RETRIES, retry_minutes=queue_tasks.RETRY_DELAY // 60)


@bp.post("/staff/deliveries/<id:delivery_id>/retry")
@login_required
def delivery_retry(delivery_id):
    _admin_only()
    delivery.retry_now(ctx(), delivery_id)
    db.session.commit()
    flash("已安排立即重新发送(由定时任务 deliver_notices 发送)。", "success")
    return redirect(url_for("notices.deliveries"))


@bp.post("/staff/deliveries/tasks/<id:failure_id>/retry")
@login_required
def task_retry(failure_id):
    """Send a background task that failed on its last retry back to the queue (dead-letter list)."""
    _admin_only()
    failure = queue_service.retry(ctx(), failure_id)
    db.session.commit()
    current_app.extensions["mtkit_queue"].enqueue_job(failure.job)  # after the commit: the mark and audit row stand
    flash(f"已重新排队:{title_of(failure.job)}(由后台任务进程运行)。", "success")
    return redirect(url_for("notices.deliveries"))


@bp.get("/staff/letters")
@login_required
def letters_page():
    c = ctx()
    return render_template("staff/letters.html", rows=letters.pending(c), limit=letters.BATCH_LIMIT,
                           tasks=results.recent(c, "letters"), STATUS=results.STATUS)


@bp.post("/staff/letters/print")
@login_required
def letters_print():
    """Ask the worker to render the waiting letters as one PDF and mark them printed (sent,
    awaiting posting); the task's page shows when it is ready to download."""
    task = letters.request_print(ctx())
    db.session.commit()
    return redirect(url_for("tasks.status", task_id=task.id))


@bp.get("/staff/letters/<batch>.pdf")
@login_required
def letters_reprint(batch):
    pdf = letters.reprint(ctx(), batch)
    db.session.commit()  # the audit row of the reprint
    return _pdf_download(pdf, f"letters-{batch}.pdf")


def _pdf_download(pdf: bytes, filename: str):
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
