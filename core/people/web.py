"""Log-in, log-out, self-registration (blueprint ``auth``) and the signed-in person's profile
(``account``): contact details, notice channels, password, their own full numbers."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from wtforms.fields.choices import SelectChoice

from core.audit import audit
from core.extensions import db
from core.kernel.errors import ServiceError
from core.people import accounts
from core.people import export as my_data
from core.people.forms import LoginForm, ProfileForm, RegisterForm
from core.web.context import ctx, regions
from core.web.helpers import refused

bp = Blueprint("auth", __name__)
account = Blueprint("account", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user, message = accounts.authenticate(ctx(), form.username.data, form.password.data)
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
    audit(ctx(), "logout", current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash("您已安全退出。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm()
    form.region.choices = [SelectChoice(r.code, r.name) for r in regions().all()]
    form.division.choices = [
        SelectChoice(d.code, d.name, optgroup=r.short_name) for r in regions().all() for d in r.divisions
    ]
    if request.method == "GET":
        return render_template("register.html", form=form)
    if not form.validate_on_submit():
        return render_template("register.html", form=form), 400
    try:
        user = accounts.register_insured(
            ctx(), name=form.name.data, id_number=form.id_number.data, phone=form.phone.data,
            password=form.password.data, password_repeat=form.password2.data, region=form.region.data,
            division=form.division.data, insured_category=form.insured_category.data,
            insured_scheme=form.insured_scheme.data,
        )
    except ServiceError as e:
        return refused(e, "register.html", form=form)
    db.session.commit()
    _fresh_session()
    login_user(user)
    flash("注册成功,欢迎使用。", "success")
    return redirect(url_for("applications.mine"))


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


# --- the signed-in person's profile ------------------------------------------------------------
@account.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ProfileForm(obj=current_user)
    if request.method == "GET":
        return render_template("account/profile.html", form=form, full=None)
    if not form.validate_on_submit():
        return render_template("account/profile.html", form=form, full=None), 400
    try:
        accounts.update_contact(ctx(), current_user._get_current_object(), phone=form.phone.data,
                                address=form.address.data, remote_address=form.remote_address.data)
    except ServiceError as e:
        return refused(e, "account/profile.html", form=form, full=None)
    db.session.commit()
    flash("联系方式已更新。", "success")
    return redirect(url_for("account.profile"))


@account.post("/profile/reveal")
@login_required
def reveal():
    """Show the person's own full ID and phone numbers; the view is audited."""
    user = accounts.reveal_own(ctx(), current_user._get_current_object())
    db.session.commit()
    return render_template("account/profile.html", form=ProfileForm(obj=user), full=user)


@account.get("/profile/export.json")
@login_required
def export_json():
    """A copy of all one's own data (PIPL art. 45), complete, as JSON. Audited (person.export)."""
    return _export("json")


@account.get("/profile/export.pdf")
@login_required
def export_pdf():
    """The same as a printable PDF summary. Audited (person.export)."""
    return _export("pdf")


def _export(fmt: str):
    c = ctx()
    body = my_data.my_data_pdf(c) if fmt == "pdf" else my_data.as_json(my_data.my_data(c))
    db.session.commit()
    return Response(body, mimetype="application/pdf" if fmt == "pdf" else "application/json",
                    headers={"Content-Disposition": f'attachment; filename="{my_data.file_name(c, fmt)}"',
                             "Cache-Control": "no-store"})


@account.post("/profile/password")
@login_required
def password():
    user = current_user._get_current_object()
    try:
        accounts.change_password(ctx(), user, request.form.get("current", ""), request.form.get("new", ""),
                                 request.form.get("repeat", ""))
    except ServiceError as e:
        failures, locked_until = user.failed_logins, user.locked_until  # kept across the rollback
        db.session.rollback()
        accounts.record_failed_password_change(ctx(), user, failures, locked_until)
        db.session.commit()
        flash(e.message, "error")
        if user.locked_until:
            logout_user()
            session.clear()
            return redirect(url_for("auth.login"))
        return render_template("account/profile.html", form=_blank_phone_form(user), full=None,
                               problems=e.problems), e.status
    db.session.commit()
    login_user(user)  # this session continues under the new password; every other one has ended
    flash("密码已修改,其他设备上的登录已失效。", "success")
    return redirect(url_for("account.profile"))


def _blank_phone_form(user):
    """The profile form never carries the full phone number (it is shown masked unless revealed)."""
    form = ProfileForm(formdata=None, obj=user)
    form.phone.data = ""
    return form


@account.post("/profile/notices")
@login_required
def notice_prefs():
    """The channels a person wants notices through (the in-app inbox is always on)."""
    user = current_user._get_current_object()
    try:
        accounts.set_notice_channels(ctx(), user, sms=request.form.get("sms") == "1",
                                     letter=request.form.get("letter") == "1")
    except ServiceError as e:
        return refused(e, "account/profile.html", form=_blank_phone_form(user), full=None)
    db.session.commit()
    flash("通知方式已保存。", "success")
    return redirect(url_for("account.profile"))
