"""Staff's pages: work queues (待办, 全部), the overview, late work (超时督办) and the audit trail."""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user, login_required

from core.audit import page as audit_page
from core.audit_chain import anchors as audit_anchors
from core.applications import queues
from core.calendar.service import due_window
from core.kernel.roles import STAFF_ROLES, Role
from core.kernel.status import Status
from core.kernel.time import utcnow
from core.staff import supervision
from core.web.context import ctx, regions
from core.web.helpers import arg_id

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
@login_required
def _staff_only():
    if current_user.role not in STAFF_ROLES:
        abort(403)


@bp.get("/queue")
def queue():
    """Applications in the user's scope; by default those waiting for the user's role."""
    f = queues.QueueFilter(
        view=request.args.get("view", "mine"),
        status=request.args.get("status", ""),
        disease=request.args.get("disease", "").strip()[:30],
        division=request.args.get("division", "").strip()[:6],
        due=request.args.get("due", "") if request.args.get("due") in queues.DUE_FILTERS else "",
    )
    c = ctx()
    window = due_window(c, current_user.region_code)
    rows, next_cursor = queues.page(current_user, f, arg_id("before"), window=window,
                                    after=queues.parse_cursor(request.args.get("after")))
    return render_template(
        "staff/queue.html", apps=rows, next_cursor=next_cursor, view=f.view, status=f.status, disease=f.disease,
        division=f.division, due=f.due, due_filters=queues.DUE_FILTERS, window=window,
        info=regions().get(current_user.region_code), statuses=Status.labels(),
        catalogue=regions().catalogue(current_user.region_code, window.today.year) if current_user.region_code else (),
    )


@bp.get("/overview")
def overview():
    """Counts by status within the user's scope (administrators' landing page)."""
    return render_template("staff/overview.html", overview=queues.overview(current_user), statuses=Status.labels())


def _instance_admin_only():
    if current_user.role != Role.ADMIN or current_user.region_code:
        abort(403)


@bp.get("/audit")
def audit_log():
    """The audit trail, newest first, for the instance administrator (rows are never edited)."""
    _instance_admin_only()
    action = request.args.get("action", "").strip()[:40]
    username = request.args.get("username", "").strip()[:64]
    object_id = request.args.get("object_id", "").strip()[:40]
    rows, next_before = audit_page(action, username, object_id, arg_id("before"))
    return render_template("staff/audit.html", rows=rows, next_before=next_before, action=action, username=username,
                           object_id=object_id, anchors=audit_anchors.listing(limit=7))


@bp.get("/audit/anchors")
def audit_anchors_page():
    """The daily anchors of the audit chain: a page to print, or ?format=csv/json to export and keep."""
    _instance_admin_only()
    rows = audit_anchors.listing()
    fmt = request.args.get("format", "")
    if fmt in ("csv", "json"):
        body = audit_anchors.to_csv(rows) if fmt == "csv" else audit_anchors.to_json(rows)
        mimetype = "text/csv" if fmt == "csv" else "application/json"
        return Response(body, mimetype=mimetype,
                        headers={"Content-Disposition": f"attachment; filename=mtkit-audit-anchors.{fmt}"})
    return render_template("staff/audit_anchors.html", anchors=rows, now_utc=utcnow())


@bp.get("/overdue")
def overdue():
    """Late and nearly late work per office and per reviewer, in the administrator's scope."""
    if current_user.role != Role.ADMIN:
        abort(403)
    window = due_window(ctx(), current_user.region_code)
    return render_template("staff/overdue.html", report=supervision.report(current_user, window), window=window)
