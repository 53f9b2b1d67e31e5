"""我的认定 (a person's recognitions, with their renewal windows) and the renewal page."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from core.applications import online
from core.applications import service as applications
from core.extensions import db
from core.kernel.errors import ServiceError
from core.kernel.roles import DESK_ROLES
from core.models import Recognition
from core.people.scope import get_visible
from core.recognitions import service
from core.web.context import ctx, regions
from core.web.helpers import form_key, refused, was_looked_up

bp = Blueprint("recognitions", __name__)


@bp.get("/recognitions")
@login_required
def mine():
    c = ctx()
    on = c.today(current_user.region_code)
    items = service.summaries(c, service.person_recognitions(current_user.id), on)
    return render_template("recognitions/mine.html", items=items, today=on)


@bp.route("/recognitions/<id:rec_id>/renew", methods=["GET", "POST"])
@login_required
def renew(rec_id):
    rec = get_visible(current_user, Recognition, rec_id)
    if current_user.is_staff and not (current_user.role in DESK_ROLES and was_looked_up(rec.person_id)):
        abort(404)  # staff renew for a person only after looking them up by ID number (代办)
    c = ctx()
    channels, default_channel = online.channel_choices(c, rec.region_code, current_user.role, current_user.is_staff)
    context = dict(rec=rec, info=regions().get(rec.region_code), channels=channels, default_channel=default_channel,
                   declaration_needed=_declaration_needed(c, rec),
                   problem=service.renewal_problem(c, rec, c.today(rec.region_code)))
    if request.method == "GET":
        return render_template("recognitions/renew.html", problems=[], **context)
    try:
        app = applications.start_renewal(c, rec, channel=request.form.get("channel", ""),
                                         institution=request.form.get("institution") or None, key=form_key(),
                                         declared=bool(request.form.get("agree")))
    except ServiceError as e:
        return refused(e, "recognitions/renew.html", **context)
    db.session.commit()
    flash("续办申请已建立(已按上次认定预填),请上传续办材料后提交。", "success")
    return redirect(url_for("applications.detail", app_id=app.id))


def _declaration_needed(c, rec) -> bool:
    """Whether an online renewal of ``rec`` takes the electronic declaration (region data)."""
    return any(rule.online == "declaration" for _, rule in c.regions.checklist(rec.region_code, [rec.disease_code], "renewal"))
