"""A person's recognitions and renewal."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from core.extensions import db
from core.models import Recognition
from core.regions import regions
from core.services import ServiceError
from core.services import applications as svc
from core.services import dates
from core.services import recognitions as recs
from core.services.access import get_visible
from core.services.clock import today
from core.views import was_looked_up

bp = Blueprint("recognitions", __name__)


@bp.get("/recognitions")
@login_required
def mine():
    rows = db.session.scalars(
        select(Recognition).where(Recognition.person_id == current_user.id).order_by(Recognition.id.desc())
    ).all()
    on = today()
    items = []
    for r in rows:
        policy = regions().renewal_policy(r.region_code, r.disease_code)
        opens, closes = dates.renewal_window(r.end_date, policy.window_months)
        items.append(
            dict(rec=r, state=recs.state(r, on), opens=opens, closes=closes, renewal_problem=recs.renewal_problem(r, on))
        )
    return render_template("recognitions/mine.html", items=items, today=on)


@bp.route("/recognitions/<id:rec_id>/renew", methods=["GET", "POST"])
@login_required
def renew(rec_id):
    rec = get_visible(current_user, Recognition, rec_id)
    if current_user.is_staff and not (current_user.role in svc.PROXY_ROLES and was_looked_up(rec.person_id)):
        abort(404)  # staff renew for a person only after looking them up by ID number (代办)
    info = regions().get(rec.region_code)
    on = today(info.timezone)
    problem = recs.renewal_problem(rec, on)
    channels = regions().channels(rec.region_code)
    if request.method == "POST":
        try:
            app = svc.start_renewal(
                rec, current_user, channel=request.form.get("channel", ""), institution=request.form.get("institution") or None
            )
        except ServiceError as e:
            db.session.rollback()
            flash(e.message, "error")
            return render_template("recognitions/renew.html", rec=rec, info=info, channels=channels, problem=problem, problems=e.problems), e.status
        db.session.commit()
        flash("续办申请已建立(已按上次认定预填),请上传续办材料后提交。", "success")
        return redirect(url_for("applications.detail", app_id=app.id))
    return render_template("recognitions/renew.html", rec=rec, info=info, channels=channels, problem=problem, problems=[])
