"""Staff pages: queues, review actions, filing on a person's behalf (代办), full identity views."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, func, select, true

from core import workflow
from core.extensions import db
from core.models import STATUSES, STAFF_ROLES, Application, AuditLog, User
from core.regions import regions
from core.services import ServiceError, queues
from core.services.access import application_scope, get_visible
from core.services.accounts import register_insured
from core.services.audit import audit
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
    )
    rows, next_before = queues.page(current_user, f, arg_id("before"))
    return render_template(
        "staff/queue.html",
        apps=rows,
        next_before=next_before,
        view=f.view,
        status=f.status,
        disease=f.disease,
        division=f.division,
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
