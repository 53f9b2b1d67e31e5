"""Per-client request limits (Flask-Limiter) on the doors an attacker hammers: log-in (page and API
token, one budget), registration (page and API), notice verification and uploads.

Limits are settings (``MTKIT_LIMIT_*``, Flask-Limiter's "N/minute;M/hour" strings), counted per
client IP (uploads: per signed-in account or API token). A refused request gets 429 with
``Retry-After`` and the Chinese message 请求过于频繁,请稍后再试 (a page, or JSON under /api/).
Storage is memory by default (per worker process); ``MTKIT_RATELIMIT_STORAGE_URI=redis://host:6379``
shares the counts between workers and hosts. ``MTKIT_RATELIMIT=0`` turns limits off (the test suite
does; the limit tests turn them on).
"""
from __future__ import annotations

import hashlib

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_login import current_user

from core.web.errors import error_page

TOO_MANY = "请求过于频繁,请稍后再试。"

# scope -> (setting, key, endpoints)
LIMITS = {
    "login": ("MTKIT_LIMIT_LOGIN", "ip", ("auth.login", "api.token")),
    "register": ("MTKIT_LIMIT_REGISTER", "ip", ("auth.register", "api.register")),
    "verify": ("MTKIT_LIMIT_VERIFY", "ip", ("documents.verify_form", "documents.verify")),
    "upload": ("MTKIT_LIMIT_UPLOAD", "caller", ("applications.upload", "api.material_upload")),
}
POST_ONLY = {"auth.login", "auth.register"}  # showing the form costs nothing


def client_ip() -> str:
    return f"ip:{request.remote_addr or '-'}"


def caller() -> str:
    """The signed-in account, else the API token presented, else the IP address."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()[:32]
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return client_ip()


def init_app(app: Flask) -> Limiter:
    """One limiter per app (tests build many apps); call after every route is registered."""
    limiter = Limiter(key_func=client_ip, app=app)
    app.extensions["mtkit_limiter"] = limiter
    for scope, (setting, key, endpoints) in LIMITS.items():
        shared = limiter.shared_limit(lambda s=setting: current_app.config[s], scope=scope,
                                      key_func=caller if key == "caller" else client_ip,
                                      exempt_when=lambda: request.method not in ("POST", "PUT")
                                      and request.endpoint in POST_ONLY)
        for endpoint in endpoints:
            app.view_functions[endpoint] = shared(app.view_functions[endpoint])  # KeyError: a renamed route

    @app.errorhandler(429)
    def _too_many(e):
        response = error_page(TOO_MANY, 429)
        response = response if not isinstance(response, tuple) else current_app.make_response(response)
        retry = getattr(e, "retry_after", None)
        if retry and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(int(retry))
        return response

    return limiter
