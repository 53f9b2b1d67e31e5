"""代办 at a window or a hospital 医保科: find the insured person by ID number, or register them,
then go on to the application form for them (blueprint ``window``, under /staff)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from core.extensions import db
from core.kernel.errors import NotFound, ServiceError
from core.people import accounts
from core.people.lookup import check_desk, find_person
from core.web.context import ctx
from core.web.helpers import refused, remember_looked_up

bp = Blueprint("window", __name__, url_prefix="/staff")


@bp.before_request
@login_required
def _desk_staff_only():
    check_desk(current_user)  # the same refusal as the API's 代办


@bp.route("/file", methods=["GET", "POST"])
def file_for_person():
    """代办: find the insured person by ID number, then open the application form for them."""
    if request.method == "GET":
        return render_template("staff/file.html", person=None)
    try:
        person = find_person(ctx(), request.form.get("id_number"), purpose="apply")
    except NotFound as e:
        flash(e.message + "如尚未注册,请先为其办理注册。", "error")
        return render_template("staff/file.html", person=None), e.status
    except ServiceError as e:
        return refused(e, "staff/file.html", person=None)
    remember_looked_up(person.id)
    return redirect(url_for("applications.new", person_id=person.id))


@bp.post("/register-person")
def register_person():
    """Window registration for a person without an account; the person types their own password."""
    form = request.form
    try:
        person = accounts.register_insured(
            ctx(), name=form.get("name"), id_number=form.get("id_number"), phone=form.get("phone"),
            password=form.get("password"), password_repeat=form.get("password2"), region=current_user.region_code,
            division=form.get("division", ""), insured_category=form.get("insured_category", ""),
            insured_scheme=form.get("insured_scheme", "employee"), at_window=True,
        )
    except ServiceError as e:
        return refused(e, "staff/file.html", person=None)
    db.session.commit()
    remember_looked_up(person.id)
    flash(f"已为{person.name}办理注册,请继续为其建立申请。", "success")
    return redirect(url_for("applications.new", person_id=person.id))
