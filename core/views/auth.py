"""Log-in, log-out and self-registration."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from wtforms.fields.choices import SelectChoice

from core.extensions import db
from core.forms import LoginForm, RegisterForm
from core.regions import regions
from core.services import ServiceError
from core.services.accounts import authenticate, register_insured
from core.services.audit import audit

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user, message = authenticate(form.username.data, form.password.data)
        db.session.commit()  # failed attempts and audit rows are kept either way
        if user is None:
            flash(message, "error")
            return render_template("login.html", form=form), 401
        _fresh_session()
        login_user(user)
        return redirect(_safe_next() or url_for("public.home"))
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    audit("logout", current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash("您已安全退出。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm()
    _region_choices(form)
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("register.html", form=form), 400
        if form.password.data != form.password2.data:
            flash("两次输入的密码不一致。", "error")
            return render_template("register.html", form=form), 400
        try:
            user = register_insured(
                name=form.name.data,
                id_number=form.id_number.data,
                phone=form.phone.data,
                password=form.password.data,
                region=form.region.data,
                division=form.division.data,
                insured_category=form.insured_category.data,
                insured_scheme=form.insured_scheme.data,
            )
        except ServiceError as e:
            db.session.rollback()
            flash(e.message, "error")
            return render_template("register.html", form=form, problems=e.problems), e.status
        db.session.commit()
        _fresh_session()
        login_user(user)
        flash("注册成功,欢迎使用。", "success")
        return redirect(url_for("applications.mine"))
    return render_template("register.html", form=form)


def _region_choices(form):
    form.region.choices = [SelectChoice(r.code, r.name) for r in regions().all()]
    form.division.choices = [
        SelectChoice(d.code, d.name, optgroup=r.short_name) for r in regions().all() for d in r.divisions
    ]


def _fresh_session():
    """A new session at log-in (no fixation), permanent so the idle timeout is refreshed per request."""
    session.clear()
    session.permanent = True


def _safe_next():
    """Only a plain local path: never send a user to another site (or a broken URL) after log-in."""
    target = request.args.get("next", "")
    if not target.startswith("/") or any(c.isspace() or ord(c) < 32 or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target
