"""Staff's pages: work queues (待办, 全部), the overview, late work (超时督办) and the audit trail."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from core import audit_labels
from core.audit import AuditFilter, describe, insured_person, staff_choices
from core.audit import page as audit_page
from core.audit_chain import anchors as audit_anchors
from core.applications import queues
from core.calendar.service import due_window
from core.kernel.roles import STAFF_ROLES, Role
from core.kernel.status import Status
from core.kernel.time import utcnow
from core.people.scope import divisions_in_scope
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
        divisions=divisions_in_scope(current_user, regions().get(current_user.region_code)),
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
    args = {k: request.args.get(k, "").strip()[:64] for k in ("action", "username", "staff", "person", "object_id",
                                                               "date_from", "date_to")}
    problems = []
    if args["action"] and args["action"] not in audit_labels.ACTIONS:
        problems.append("请从列表中选择操作。")
    person = None
    if args["person"]:
        person = insured_person(arg_id("person"))
        if person is None:
            problems.append("参保人无效,请重新输入身份证号码查询。")
    since, until = _date_range(args["date_from"], args["date_to"], problems)
    if problems:
        return _audit_page(args, [], None, problems, person=person, status=422)
    f = AuditFilter(action=args["action"], username=args["staff"] or args["username"], object_id=args["object_id"][:40],
                    person_id=person.id if person else None, since=since, until=until)
    rows, next_before = audit_page(f, arg_id("before"))
    return _audit_page(args, rows, next_before, [], person=person)


@bp.post("/audit")
def audit_find_person():
    """The person filter: the ID number is sent in the body and becomes the person's id in the address
    (no ID number in URLs and logs), together with the other filters."""
    _instance_admin_only()
    args = {k: request.form.get(k, "").strip()[:64] for k in ("action", "staff", "date_from", "date_to")}
    typed = request.form.get("id_number", "").strip()[:40]
    person = None if typed else insured_person(arg_id("person_keep"))
    if typed:
        person = insured_person(id_number=typed)
        if person is None:
            return _audit_page(args | {"person": ""}, [], None, ["没有找到该身份证号码的参保人,请核对后重新输入。"],
                               typed=typed, status=422)
    query = {k: v for k, v in args.items() if v} | ({"person": person.id} if person else {})
    return redirect(url_for("staff.audit_log", **query))


def _date_range(date_from: str, date_to: str, problems: list):
    """UTC bounds of the local days chosen (北京时间): from the first day's start to the last day's end."""
    tz = ZoneInfo(regions().default_timezone)
    days = []
    for text, label in ((date_from, "开始日期"), (date_to, "结束日期")):
        try:
            day = date.fromisoformat(text) if text else None
        except ValueError:
            problems.append(f"{label}格式应为 年-月-日,如 2026-11-23。")
            day = None
        if day and not 1900 <= day.year <= 2999:  # and the time-zone shift stays inside the calendar
            problems.append(f"{label}超出范围,请输入 1900 至 2999 年之间的日期。")
            day = None
        days.append(day)
    start, end = days
    if start and end and start > end:
        problems.append("开始日期不能晚于结束日期。")
    since = datetime.combine(start, time.min, tz) if start else None
    until = datetime.combine(end + timedelta(days=1), time.min, tz) if end else None
    return since, until


def _audit_page(args, rows, next_before, problems, person=None, typed="", status=200):
    return render_template(
        "staff/audit.html", args=args, problems=problems, person=person,
        # the filters in force, for the next page's link and for 「不限参保人」
        query={k: v for k, v in args.items() if v}, query_anyone={k: v for k, v in args.items() if v and k != "person"},
        rows=rows, described=describe(rows), next_before=next_before, typed=typed,
        actions=audit_labels.action_choices(), staff=staff_choices(),
        action_label=audit_labels.action_label, result_label=audit_labels.result_label,
        anchors=audit_anchors.listing(limit=7),
    ), status


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
