"""A background task's page: its status (polled every 2 s by htmx while it runs) and its file."""
from __future__ import annotations

from flask import Blueprint, redirect, send_file
from flask_login import login_required

from core.extensions import db
from core.queue import results
from core.web.context import ctx
from core.web.helpers import render

bp = Blueprint("tasks", __name__)
TITLES = {"letters": "打印信件", "nhsa_export": "导出国家平台报文"}
BACK = {"letters": "notices.letters_page", "nhsa_export": "nhsa.index"}


@bp.get("/tasks/<id:task_id>")
@login_required
def status(task_id):
    task = results.visible(ctx(), task_id)
    return render("tasks/status.html", block="status", task=task, title=TITLES.get(task.kind, "后台任务"),
                  back=BACK.get(task.kind))


@bp.get("/tasks/<id:task_id>/download")
@login_required
def download(task_id):
    opened = results.open_result(ctx(), task_id)
    db.session.commit()  # the audit row
    if opened.url:  # MTKIT_S3_PRESIGN_SECONDS: the browser fetches it from the bucket itself
        response = redirect(opened.url, 302)
    else:
        response = send_file(opened.body, mimetype=opened.task.content_type, as_attachment=True,
                             download_name=opened.task.filename, conditional=False, etag=False)
    response.headers["Cache-Control"] = "no-store"
    return response
