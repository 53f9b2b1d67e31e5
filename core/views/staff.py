"""Staff pages: queues, review actions, filing on a person's behalf (代办), full identity views."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, func, select, true

from core import workflow
from core.extensions import db
from core.models import STATUSES, STAFF_ROLES, Application, AuditLog, NoticeDelivery, User
from core.regions import regions
from core.services import ServiceError, letters, queues, supervision
from core.services import notices as notices_svc
from core.services.access import application_scope, get_visible
from core.services.accounts import register_insured
from core.services.audit import audit
from core.services import workdays
from core.services.calendar import official_data_covers
from core.services.clock import today
from core.services.identity import id_number_problem, normalise_id
from core.views import arg_id, form_version, remember_looked_up
from core.views.applications import change_application

bp = Blueprint("staff", __name__, url_prefix="/staff")
PROXY_ROLES = ("agency_reviewer", "hospital_office")


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
    window = due_window(current_user)
    rows, next_cursor = queues.page(current_user, f, arg_id("before"), window=window,
                                    after=queues.parse_cursor(request.args.get("after")))
    return render_template(
        "staff/queue.html",
        apps=rows,
        next_cursor=next_cursor,
        view=f.view,
        status=f.status,
        disease=f.disease,
        division=f.division,
        due=f.due,
        due_filters=queues.DUE_FILTERS,
        window=window,
        info=regions().get(current_user.region_code),
        statuses=STATUSES,
        catalogue=regions().catalogue(current_user.region_code, today().year) if current_user.region_code else (),
    )


@bp.post("/applications/<id:app_id>/act")
def act(app_id):
    action = request.form.get("action", "")

    def review(app):
        def per_disease(prefix):
            return {ad.disease_code: request.form.get(f"{prefix}_{ad.disease_code}", "") for ad in app.diseases}

        workflow.act(
            app,
            current_user,
            action,
            form_version(),
            results=per_disease("result"),
            reasons={k: v for k, v in per_disease("reason").items() if v},
            explanations=per_disease("explain"),
            reason_code=request.form.get("reason_code") or None,
            note=request.form.get("note", ""),
            to=request.form.get("to", "applicant"),
        )

    return change_application(app_id, review, f"已{workflow.ACTION_NAMES.get(action, action)}。")


@bp.post("/applications/<id:app_id>/reveal")
def reveal(app_id):
    """Full ID and phone number of the applicant, for staff handling the record. Audited."""
    app = get_visible(current_user, Application, app_id)
    audit("person.view_full", ("users", app.person_id), detail=f"application={app.id}")
    db.session.commit()
    return render_template("staff/_identity.html", person=app.person)


@bp.route("/file", methods=["GET", "POST"])
def file_for_person():
    """代办: find the insured person by ID number, then open the application form for them."""
    if current_user.role not in PROXY_ROLES:
        abort(403)
    person = None
    if request.method == "POST":
        idn = normalise_id(request.form.get("id_number"))
        problem = id_number_problem(idn)
        if problem:
            flash(problem, "error")
            return render_template("staff/file.html", person=None), 422
        person = db.session.scalar(
            select(User).where(User.id_number == idn, User.role == "insured", User.region_code == current_user.region_code)
        )
        audit("person.lookup", ("users", getattr(person, "id", None)), result="ok" if person else "not_found")
        db.session.commit()
        if person is None:
            flash("未找到该身份证号码的本地区参保人,请先为其办理注册。", "error")
            return render_template("staff/file.html", person=None), 404
        remember_looked_up(person.id)
        return redirect(url_for("applications.new", person_id=person.id))
    return render_template("staff/file.html", person=None)


@bp.post("/register-person")
def register_person():
    """Window registration for a person without an account; the person types their own password."""
    if current_user.role not in PROXY_ROLES:
        abort(403)
    form = request.form
    division = form.get("division", "")
    if current_user.division_code and division != current_user.division_code:
        flash("只能为本辖区的参保人办理注册。", "error")
        return render_template("staff/file.html", person=None, problems=[]), 403
    if form.get("password") != form.get("password2"):
        flash("两次输入的密码不一致。", "error")
        return render_template("staff/file.html", person=None, problems=[]), 422
    try:
        person = register_insured(
            name=form.get("name"), id_number=form.get("id_number"), phone=form.get("phone"),
            password=form.get("password"), region=current_user.region_code, division=division,
            insured_category=form.get("insured_category", ""), insured_scheme=form.get("insured_scheme", "employee"),
            created_by=current_user._get_current_object(),
        )
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return render_template("staff/file.html", person=None, problems=e.problems), e.status
    db.session.commit()
    remember_looked_up(person.id)
    flash(f"已为{person.name}办理注册,请继续为其建立申请。", "success")
    return redirect(url_for("applications.new", person_id=person.id))


@bp.get("/overview")
def overview():
    """Counts by status within the user's scope (administrators' landing page)."""
    rows = db.session.execute(
        select(Application.status, func.count()).where(application_scope(current_user)).group_by(Application.status)
    ).all()
    return render_template("staff/overview.html", counts=dict(rows), statuses=STATUSES)


@bp.get("/audit")
def audit_log():
    """The audit trail, newest first, for the instance administrator (rows are never edited)."""
    if current_user.role != "admin" or current_user.region_code:
        abort(403)
    action = request.args.get("action", "").strip()[:40]
    username = request.args.get("username", "").strip()[:64]
    object_id = request.args.get("object_id", "").strip()[:40]
    before = arg_id("before")
    conds = []
    if action:
        conds.append(AuditLog.action == action)
    if username:
        conds.append(AuditLog.username == username)
    if object_id:
        conds.append(AuditLog.object_id == object_id)
    if before:
        conds.append(AuditLog.id < before)
    page_size = 50
    rows = db.session.scalars(
        select(AuditLog).where(and_(true(), *conds)).order_by(AuditLog.id.desc()).limit(page_size + 1)
    ).all()
    next_before = rows[page_size - 1].id if len(rows) > page_size else None
    return render_template(
        "staff/audit.html", rows=rows[:page_size], next_before=next_before,
        action=action, username=username, object_id=object_id,
    )


# --- working-day calendar (administrators) ------------------------------------------------------
def _admin_only():
    if current_user.role != "admin":
        abort(403)


def _calendar_context(region: str, year: int, problems=None):
    plugin_days = sorted(regions().extra_days(region, year).items())
    return dict(
        region=region, year=year, regions_=[regions().get(c) for c in workdays.manageable_regions(current_user)],
        official=official_data_covers(year), plugin_days=plugin_days, admin_days=workdays.days_of(region, year),
        years=list(range(today().year - 1, today().year + 3)), problems=problems or [],
    )


@bp.get("/calendar")
def calendar():
    """Which years have official holiday data, and the days a region or an administrator added."""
    _admin_only()
    allowed = workdays.manageable_regions(current_user)
    region = request.args.get("region") or (allowed[0] if allowed else "")
    if region not in allowed:
        abort(404)
    missing = workdays.missing_official_years(today())
    year = request.args.get("year", type=int) or (missing[0] if missing else today().year)
    if not today().year - 1 <= year <= today().year + 2:
        abort(404)
    return render_template("staff/calendar.html", **_calendar_context(region, year))


@bp.post("/calendar")
def calendar_add():
    _admin_only()
    region = request.form.get("region", "")
    try:
        row = workdays.add_day(current_user, region, request.form.get("day", ""), request.form.get("kind", ""), request.form.get("note", ""))
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        year = request.form.get("year", type=int) or today().year
        if region not in workdays.manageable_regions(current_user) or not today().year - 1 <= year <= today().year + 2:
            abort(e.status if e.status in (403, 404) else 400)
        return render_template("staff/calendar.html", **_calendar_context(region, year, e.problems)), e.status
    db.session.commit()
    flash(f"已设置 {row.day.isoformat()} 为{'调休上班日' if row.is_working else '放假日'}。之后计算的办理时限按新日历。", "success")
    return redirect(url_for("staff.calendar", region=region, year=row.day.year))


@bp.post("/calendar/<id:day_id>/revoke")
def calendar_revoke(day_id):
    _admin_only()
    row = workdays.revoke_day(current_user, day_id)
    db.session.commit()
    flash(f"已撤销 {row.day.isoformat()} 的设置。", "success")
    return redirect(url_for("staff.calendar", region=row.region_code, year=row.day.year))


def due_window(user) -> queues.DueWindow:
    """Today and the next working day in the user's region (the first region for the instance admin)."""
    region = user.region_code or regions().codes()[0]
    on = workdays.region_today(region)
    return queues.DueWindow(on, workdays.due_date(region, on, 1))


# --- supervision and notice deliveries (administrators) -----------------------------------------
@bp.get("/overdue")
def overdue():
    """Late and nearly late work per office and per reviewer, in the administrator's scope."""
    _admin_only()
    window = due_window(current_user)
    return render_template("staff/overdue.html", report=supervision.report(current_user, window), window=window)


@bp.get("/deliveries")
def deliveries():
    """SMS and letters that failed (and the retries still to come), for the administrator's region."""
    _admin_only()
    before = arg_id("before")
    q = notices_svc.failed_query(current_user)
    if before:
        q = q.where(NoticeDelivery.id < before)
    rows = db.session.execute(q.limit(51)).all()
    next_before = rows[49][0].id if len(rows) > 50 else None
    pending_letters = db.session.scalar(notices_svc.pending_letters_count(current_user))
    from core.services import jobs

    return render_template("staff/deliveries.html", rows=rows[:50], next_before=next_before, pending_letters=pending_letters,
                           runs=jobs.recent_runs(15))


@bp.post("/deliveries/<id:delivery_id>/retry")
def delivery_retry(delivery_id):
    _admin_only()
    found = db.session.execute(notices_svc.failed_query(current_user).where(NoticeDelivery.id == delivery_id)).first()
    if found is None:
        abort(404)
    notices_svc.retry_now(found[0])
    audit("notice.retry", ("notice_deliveries", delivery_id))
    db.session.commit()
    flash("已安排立即重新发送(由定时任务 deliver_notices 发送)。", "success")
    return redirect(url_for("staff.deliveries"))


# --- printed letters (window staff, administrators) ---------------------------------------------
def _printers_only():
    if current_user.role not in letters.PRINTERS:
        abort(403)


@bp.get("/letters")
def letters_page():
    _printers_only()
    rows = letters.pending(current_user)
    return render_template("staff/letters.html", rows=rows, limit=letters.BATCH_LIMIT)


@bp.post("/letters/print")
def letters_print():
    """Render the waiting letters as one PDF and mark them printed (sent, awaiting posting)."""
    _printers_only()
    printed = letters.print_batch(current_user)
    if printed is None:
        flash("没有待打印的信件。", "info")
        return redirect(url_for("staff.letters_page"))
    batch, pdf = printed
    db.session.commit()
    return _pdf_download(pdf, f"letters-{batch}.pdf")


@bp.get("/letters/<batch>.pdf")
def letters_reprint(batch):
    _printers_only()
    if not re.fullmatch(r"\d{14}-\d{1,10}", batch):
        abort(404)
    pdf = letters.reprint(current_user, batch)
    db.session.commit()  # the audit row of the reprint
    return _pdf_download(pdf, f"letters-{batch}.pdf")


def _pdf_download(pdf: bytes, filename: str):
    from flask import Response

    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
