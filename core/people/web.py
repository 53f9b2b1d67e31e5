"""Log-in, log-out, self-registration (blueprint ``auth``) and the signed-in person's profile
(``account``): contact details, notice channels, password, their own full numbers."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from wtforms.fields.choices import SelectChoice

from core.applications.intake import no_intake_notice
from core.audit import audit
from core.extensions import db, login_manager
from core.kernel.errors import ServiceError
from core.people import accounts, admin, login as throttle, sessions
from core.people import export as my_data
from core.people.forms import LoginForm, ProfileForm, RegisterForm
from core.web.context import ctx, regions
from core.web.helpers import fragment, refused

bp = Blueprint("auth", __name__)
account = Blueprint("account", __name__)
users = Blueprint("users", __name__, url_prefix="/staff/users")
SESSION_KEY = "sid"  # the server-side session's id, in Flask's signed cookie
DEVICE_COOKIE = "mtkit_device"  # browsers that signed in to an account before (core/people/login.py)


def _load_user(user_id):
    """Flask-Login's loader: the user of this browser's open server-side session, or nobody.
    The signed cookie is re-sent (its expiry moved on) only when the session's last use was
    written, at most once a minute, not on every response (SESSION_REFRESH_EACH_REQUEST is off)."""
    return sessions.resolve(current_app.config, session.get(SESSION_KEY), user_id,
                            user_agent=request.headers.get("User-Agent"), ip=request.remote_addr,
                            on_touch=_renew_cookie)


def _renew_cookie():
    session.modified = True


bp.record_once(lambda state: login_manager.user_loader(_load_user))


@bp.before_app_request
def _session_first():
    """Check (and, if it must, end or touch) the browser's session before any view works, so its
    bookkeeping commit never carries a view's half-done changes."""
    if not request.path.startswith("/api/"):  # the API has bearer tokens, no session
        current_user._get_current_object()


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user, message = accounts.authenticate(ctx(), form.username.data, form.password.data,
                                              device=request.cookies.get(DEVICE_COOKIE))
        db.session.commit()  # failed attempts and audit rows are kept either way
        if user is None:
            flash(message, "error")
            return render_template("login.html", form=form), 401
        _begin_session(user)
        response = redirect(_safe_next() or url_for("public.home"))
        response.set_cookie(DEVICE_COOKIE, throttle.remember_device(current_app.config, request.cookies.get(DEVICE_COOKIE), user),
                            max_age=int(timedelta(days=365).total_seconds()), httponly=True, samesite="Lax",
                            secure=current_app.config["SESSION_COOKIE_SECURE"])
        return response
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    sessions.end(ctx(), session.get(SESSION_KEY))
    audit(ctx(), "logout", current_user._get_current_object())
    db.session.commit()
    _forget_session()
    flash("您已安全退出。", "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    form, page = _register_form(RegisterForm())
    if request.method == "GET" or request.form.get("refresh"):  # "refresh": no-JS reload of the region's divisions
        return render_template("register.html", form=form, **page)
    if not form.validate_on_submit():
        return render_template("register.html", form=form, **page), 400
    try:
        accounts.register_insured(
            ctx(), name=form.name.data, id_number=form.id_number.data, phone=form.phone.data,
            password=form.password.data, password_repeat=form.password2.data, region=form.region.data,
            division=form.division.data, insured_category=form.insured_category.data,
            insured_scheme=form.insured_scheme.data, public=True,
        )
    except ServiceError as e:
        return refused(e, "register.html", form=form, **page)
    db.session.commit()
    # The same answer whether the ID number was new or already registered (its owner is told).
    return redirect(url_for("auth.registered"))


@bp.get("/register/fields")
def register_fields():
    """htmx: the division select of the chosen region, its no-hospital notice and (职工 only) 人员类别."""
    form, page = _register_form(RegisterForm(formdata=request.args, meta={"csrf": False}))
    return fragment("register.html", "dependent", form=form, **page)


def _register_form(form: RegisterForm):
    """Couple the form's division to its region: only the chosen region's divisions (a division of
    another region is dropped, so the select asks again), labelled as the region calls them."""
    every = regions().all()
    form.region.choices = [SelectChoice(r.code, r.name) for r in every]
    info = regions().get(form.region.data) or every[0]
    form.region.data = info.code
    form.division.choices = [SelectChoice("", "请选择")] + [SelectChoice(d.code, d.name) for d in info.divisions]
    form.division.label.text = f"所在{info.division_label}"
    employee = form.insured_scheme.data != "resident"
    swap = {"hx-get": url_for("auth.register_fields"), "hx-trigger": "change", "hx-target": "#register-dependent",
            "hx-swap": "outerHTML", "hx-include": "[name=region],[name=insured_scheme],[name=division],[name=insured_category]"}
    return form, {"info": info, "employee": employee, "swap": swap, "no_intake": no_intake_notice(info, form.division.data)}


@bp.get("/register/done")
def registered():
    return render_template("register_done.html", message=accounts.REGISTRATION_ACCEPTED)


def _begin_session(user):
    """A new server-side session at log-in (never the old cookie's: no fixation), permanent so the
    cookie lives as long as the idle timeout; committed before the answer."""
    session.clear()
    session.permanent = True
    raw = sessions.start(ctx(), user, user_agent=request.headers.get("User-Agent"))
    db.session.commit()
    login_user(user)
    session[SESSION_KEY] = raw


def _forget_session():
    logout_user()
    session.clear()


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
        return render_template("account/profile.html", form=form, full=None, **_sessions_of(current_user))
    if not form.validate_on_submit():
        return render_template("account/profile.html", form=form, full=None, **_sessions_of(current_user)), 400
    try:
        accounts.update_contact(ctx(), current_user._get_current_object(), phone=form.phone.data,
                                address=form.address.data, remote_address=form.remote_address.data)
    except ServiceError as e:
        return refused(e, "account/profile.html", form=form, full=None, **_sessions_of(current_user))
    db.session.commit()
    flash("联系方式已更新。", "success")
    return redirect(url_for("account.profile"))


@account.post("/profile/reveal")
@login_required
def reveal():
    """Show the person's own full ID and phone numbers; the view is audited."""
    user = accounts.reveal_own(ctx(), current_user._get_current_object())
    db.session.commit()
    return render_template("account/profile.html", form=ProfileForm(obj=user), full=user, **_sessions_of(user))


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
                                 request.form.get("repeat", ""), session_id=session.get(SESSION_KEY),
                                 device=request.cookies.get(DEVICE_COOKIE))
    except ServiceError as e:
        db.session.rollback()  # counted failures were committed by the service
        accounts.record_failed_password_change(ctx(), user)
        if e.status == 403:  # guessed too often: this session ends too
            sessions.end(ctx(), session.get(SESSION_KEY), "password")
        db.session.commit()
        flash(e.message, "error")
        if e.status == 403:
            _forget_session()
            return redirect(url_for("auth.login"))
        return render_template("account/profile.html", form=_blank_phone_form(user), full=None,
                               problems=e.problems, **_sessions_of(user)), e.status
    db.session.commit()
    login_user(user)  # this session continues under the new password; every other one has ended
    flash("密码已修改,其他设备上的登录已失效。", "success")
    return redirect(url_for("account.profile"))


@account.post("/profile/sessions/<id:session_id>/end")
@login_required
def end_session(session_id):
    """退出 one of the person's other sessions (the list under 个人信息)."""
    if sessions.end_one(ctx(), current_user._get_current_object(), session_id):
        flash("该设备上的登录已退出。", "success")
    db.session.commit()
    return redirect(url_for("account.profile") + "#sessions")


def _sessions_of(user) -> dict:
    """The person's open sessions for the profile page, and which one is this browser's."""
    mine = sessions.current(session.get(SESSION_KEY))
    return {"open_sessions": sessions.active(current_app.config, user), "this_session": getattr(mine, "id", None),
            "end_reasons": sessions.REASONS}


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
        return refused(e, "account/profile.html", form=_blank_phone_form(user), full=None, **_sessions_of(user))
    db.session.commit()
    flash("通知方式已保存。", "success")
    return redirect(url_for("account.profile"))


# --- 账号管理: administrators unlock, end sessions (强制下线), disable and enable accounts ----------
@users.before_request
@login_required
def _admins_only():
    admin.check_admin(current_user)


@users.route("", methods=["GET", "POST"])
def index():
    """The list, or (POST, so an ID number stays out of URLs and logs) the account typed."""
    query = request.form.get("q", "").strip()[:64] if request.method == "POST" else ""
    return render_template("staff/users.html", rows=admin.overview(ctx(), query), q=query)


@users.post("/<id:user_id>/<any(unlock, logout, disable, enable):action>")
def act(user_id, action):
    c = ctx()
    user = admin.account(c, user_id)
    message = admin.act(c, user, action, reason=request.form.get("reason", ""))
    db.session.commit()
    flash(f"{message}({user.name})", "success")
    return redirect(url_for("users.index"))
