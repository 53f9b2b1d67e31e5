"""The signed-in person's inbox and profile."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.extensions import db
from core.forms import ProfileForm
from core.models import Notice
from core.models.base import utcnow
from core.services.audit import audit
from core.services import ServiceError
from core.services.accounts import change_password
from core.services.identity import phone_problem

bp = Blueprint("account", __name__)


@bp.get("/inbox")
@login_required
def inbox():
    notices = db.session.scalars(
        select(Notice).where(Notice.user_id == current_user.id).order_by(Notice.id.desc()).limit(200)
        .options(selectinload(Notice.deliveries))
    ).all()
    return render_template("account/inbox.html", notices=notices)


@bp.post("/inbox/<id:notice_id>/read")
@login_required
def mark_read(notice_id):
    notice = db.session.get(Notice, notice_id)
    if notice is not None and notice.user_id == current_user.id and notice.read_at is None:
        notice.read_at = utcnow()
        db.session.commit()
    return redirect(url_for("account.inbox"))


@bp.post("/inbox/read-all")
@login_required
def mark_all_read():
    now = utcnow()
    for notice in db.session.scalars(
        select(Notice).where(Notice.user_id == current_user.id, Notice.read_at.is_(None))
    ):
        notice.read_at = now
    db.session.commit()
    return redirect(url_for("account.inbox"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ProfileForm(obj=current_user)
    if request.method == "POST":
        # The page never shows the full phone number, so a blank phone field means "unchanged".
        new_phone = (form.phone.data or "").strip() or current_user.phone
        problem = phone_problem(new_phone)
        if not form.validate_on_submit() or problem:
            if problem:
                flash(problem, "error")
            return render_template("account/profile.html", form=form, full=None), 400
        user = current_user._get_current_object()
        changed = [f for f in ("address", "remote_address") if getattr(user, f) != (getattr(form, f).data or None)]
        if new_phone != user.phone:
            changed.append("phone")
        user.phone = new_phone
        user.address = (form.address.data or "").strip() or None
        user.remote_address = (form.remote_address.data or "").strip() or None
        audit("user.update_contact", user, detail=",".join(changed))
        db.session.commit()
        flash("联系方式已更新。", "success")
        return redirect(url_for("account.profile"))
    return render_template("account/profile.html", form=form, full=None)


@bp.post("/profile/reveal")
@login_required
def reveal():
    """Show the person's own full ID and phone numbers; the view is audited."""
    user = current_user._get_current_object()
    audit("person.view_full", user, detail="self")
    db.session.commit()
    form = ProfileForm(obj=user)
    return render_template("account/profile.html", form=form, full=user)


@bp.post("/profile/password")
@login_required
def password():
    user = current_user._get_current_object()
    try:
        change_password(user, request.form.get("current", ""), request.form.get("new", ""), request.form.get("repeat", ""))
    except ServiceError as e:
        failures, locked_until = user.failed_logins, user.locked_until  # kept across the rollback
        db.session.rollback()
        user.failed_logins, user.locked_until = failures, locked_until
        audit("user.change_password", user, result="fail", user=user)  # a guessed password is worth knowing
        db.session.commit()
        flash(e.message, "error")
        if user.locked_until:
            logout_user()
            session.clear()
            return redirect(url_for("auth.login"))
        return render_template("account/profile.html", form=_blank_phone_form(user), full=None, problems=e.problems), e.status
    db.session.commit()
    login_user(user)  # this session continues under the new password; every other one has ended
    flash("密码已修改,其他设备上的登录已失效。", "success")
    return redirect(url_for("account.profile"))


def _blank_phone_form(user):
    """The profile form never carries the full phone number (it is shown masked unless revealed)."""
    form = ProfileForm(formdata=None, obj=user)
    form.phone.data = ""
    return form


@bp.post("/profile/notices")
@login_required
def notice_prefs():
    """The channels a person wants notices through (the in-app inbox is always on)."""
    user = current_user._get_current_object()
    sms, letter = request.form.get("sms") == "1", request.form.get("letter") == "1"
    problems = []
    if sms and not user.phone:
        problems.append("选择短信通知须先登记手机号码。")
    if letter and not (user.address or user.remote_address):
        problems.append("选择纸质信件须先填写联系地址(异地居住的填写异地居住地址),信件寄往该地址。")
    if problems:
        flash("通知方式未保存:", "error")
        return render_template("account/profile.html", form=_blank_phone_form(user), full=None, problems=problems), 422
    user.notice_sms, user.notice_letter = sms, letter
    audit("user.update_notice_prefs", user, detail=f"sms={int(sms)} letter={int(letter)}")
    db.session.commit()
    flash("通知方式已保存。", "success")
    return redirect(url_for("account.profile"))
