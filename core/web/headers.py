"""Security headers on every response (pages, the JSON API, files).

- ``Content-Security-Policy``: scripts, styles, images and form targets from this app only; no
  plugins (``object-src``), no ``<base>`` that would re-point relative URLs, never framed. A route
  that sets its own policy (material previews: ``sandbox``) keeps it.
- ``Strict-Transport-Security`` when ``MTKIT_HSTS_SECONDS`` > 0, and only on HTTPS requests
  (``request.is_secure``: behind a proxy that terminates TLS this needs ``MTKIT_PROXY_COUNT`` so
  ProxyFix takes the scheme from ``X-Forwarded-Proto``). Browsers ignore it over plain HTTP anyway.
- ``Cache-Control: no-store`` on everything a signed-in user gets: personal data is never cached.

The ``Server`` header is gunicorn's own (see ``gunicorn.conf.py``), not set here.
"""
from __future__ import annotations

from flask import Flask, current_app, request
from flask_login import current_user

CSP = "; ".join((
    "default-src 'self'",
    "img-src 'self' data:",
    "style-src 'self' 'unsafe-inline'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
# Features no page of mtkit uses (file inputs still open the phone's camera: that is not getUserMedia).
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def init_app(app: Flask) -> None:
    app.after_request(add_headers)


def add_headers(response):
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")  # older browsers' frame-ancestors
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Permissions-Policy", PERMISSIONS)
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    seconds = current_app.config.get("MTKIT_HSTS_SECONDS") or 0
    if seconds > 0 and request.is_secure:
        h.setdefault("Strict-Transport-Security", f"max-age={seconds}; includeSubDomains")
    if current_user.is_authenticated:
        h.setdefault("Cache-Control", "no-store")  # personal data: never cached
    response.vary.add("HX-Request")  # pages and their fragments share URLs
    return response
