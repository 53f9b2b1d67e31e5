"""Printed forms (filled and blank) and the public check of a notice's verification code."""
from __future__ import annotations

from io import BytesIO

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from core.applications import verification
from core.documents import printed_forms
from core.extensions import db
from core.models import Application
from core.people.scope import get_visible
from core.web.context import ctx, regions

bp = Blueprint("documents", __name__)


@bp.get("/applications/<id:app_id>/forms/<form>.pdf")
@login_required
def filled(app_id, form):
    app = get_visible(current_user, Application, app_id)
    if form not in printed_forms.FORMS:
        abort(404)
    data = printed_forms.filled(ctx(), app, form)
    db.session.commit()  # the audit row of the download
    return _pdf(data, printed_forms.download_name(form, app))


@bp.get("/forms")
def blank_index():
    """Blank forms for window use: anyone may print them, no log-in needed."""
    return render_template("documents/forms.html", regions=regions().all(), forms=printed_forms.FORMS,
                           blank=printed_forms.BLANK_FORMS)


@bp.get("/forms/<region>/<form>.pdf")
def blank(region, form):
    return _pdf(printed_forms.blank(ctx(), region, form), printed_forms.download_name(form), private=False)


@bp.route("/verify", methods=["GET", "POST"])
def verify_form():
    """Type a code in (or arrive from the QR code below). POST only redirects, so it needs no session."""
    if request.method == "POST":
        code = verification.normalise(request.form.get("code"))
        if code is None:
            return render_template("documents/verify.html", outcome="malformed", typed=request.form.get("code", "")[:40]), 400
        return redirect(url_for("documents.verify", code=code))
    return render_template("documents/verify.html", outcome=None, typed="")


@bp.get("/verify/<code>")
def verify(code):
    outcome, payload = verification.check(ctx(), code)
    db.session.commit()  # a tampered record is audited
    status = {"genuine": 200, "malformed": 400, "unknown": 404, "tampered": 409}[outcome]
    return render_template("documents/verify.html", outcome=outcome, payload=payload, typed=code[:40]), status


def _pdf(data: bytes, name: str, private: bool = True):
    response = send_file(BytesIO(data), mimetype="application/pdf", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "no-store" if private else "public, max-age=3600"
    return response
