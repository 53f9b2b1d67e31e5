"""Pages anyone may see: home, channel comparison, the served htmx file, health check."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, redirect, render_template, send_from_directory, url_for
from flask_login import current_user

from core.kernel.roles import Role
from core.web.context import regions

bp = Blueprint("public", __name__)
HTMX_DIR = Path(__file__).resolve().parents[2] / "node_modules" / "htmx.org" / "dist"


@bp.get("/")
def home():
    if current_user.is_authenticated:
        if current_user.role == Role.INSURED:
            return redirect(url_for("applications.mine"))
        if current_user.role == Role.ADMIN:
            return redirect(url_for("staff.overview"))
        return redirect(url_for("staff.queue"))
    return render_template("home.html", regions=regions().all())


@bp.get("/regions/<code>/channels")
def channels(code):
    info = regions().get(code)
    if info is None:
        abort(404)
    return render_template("channels.html", info=info, channels=regions().channels(code))


@bp.get("/vendor/htmx.min.js")
def htmx_js():
    # Served by the app itself (installed from npm at set-up): hospitals run on intranets, no CDN.
    if not (HTMX_DIR / "htmx.min.js").exists():
        abort(404)
    return send_from_directory(HTMX_DIR, "htmx.min.js", mimetype="text/javascript", max_age=86400)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}
