"""JSON API under /api/v1 for channel apps (provincial APP, mini programs) and bureau scripts.

The same services as the pages do the work; this package only translates HTTP to service calls
and results to JSON. Authentication is by bearer token only (``POST /api/v1/auth/token``): a
browser's session cookie is never accepted here, which is why the blueprint needs no CSRF token.
Every error is ``{"error": {"code", "message", "fields"}}`` with a 4xx status (see errors.py).
"""
from __future__ import annotations

from flask import Blueprint, g, request

from core.extensions import csrf, db

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

# Endpoints that answer without a token.
PUBLIC = {
    "api.token", "api.register", "api.regions", "api.region", "api.diseases", "api.materials",
    "api.channels", "api.openapi", "api.docs",
}


@bp.before_request
def _authenticate():
    from core.api.errors import ApiError
    from core.services import tokens

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
        from flask_login import AnonymousUserMixin

        g._login_user = AnonymousUserMixin()


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)


def commit():
    db.session.commit()


# Routes and handlers attach to ``bp`` when their modules are imported (once per process).
from core.api import applications, benefits, errors, openapi, people, regions  # noqa: E402,F401

errors.register(bp)
