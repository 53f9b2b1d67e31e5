"""The /api/v1 blueprint: bearer tokens only, never cookies, which is why it needs no CSRF token.

Channel apps (provincial APP, mini programs) and bureau scripts call the same service functions as
the pages; feature modules (``core/<feature>/api.py``) attach their handlers to ``bp``, which only
parse JSON, call a service with the request's context and render JSON. Every error is
``{"error": {"code", "message", "fields"}}`` with a 4xx status (``errors.py``).
"""
from __future__ import annotations

from flask import Blueprint, g, request
from flask_login import AnonymousUserMixin

from core.api.errors import ApiError, register
from core.extensions import csrf, db
from core.people import tokens

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
register(bp)  # JSON errors for everything the API's handlers raise

# Endpoints that answer without a token.
PUBLIC = {
    "api.token", "api.register", "api.regions", "api.region", "api.diseases", "api.materials",
    "api.channels", "api.openapi", "api.docs",
}


@bp.before_request
def _authenticate():
    g.api_token = None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    found = tokens.resolve(token.strip()) if scheme.lower() == "bearer" else None
    if found is not None:
        user, row = found
        g.api_token = row
        g._login_user = user  # Flask-Login's current_user for this request only; no session is written
    elif request.endpoint not in PUBLIC:
        if header:
            raise ApiError(401, "unauthorized", "登录已失效或令牌无效,请重新登录。")
        raise ApiError(401, "unauthorized", "请先登录(在 Authorization 头中提供 Bearer 令牌)。")
    else:  # public endpoints answer anyone; a stale token must not stop a fresh log-in
        g._login_user = AnonymousUserMixin()


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def commit():
    db.session.commit()
