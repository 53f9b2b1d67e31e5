"""The service context of the current request: the signed-in user (or the API token's), the app's
plugins and clock, the address QR codes point at, and the client's address for the audit trail."""
from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from core.context import Context, for_app


def ctx() -> Context:
    """Built on each call (cheap), so it always names whoever is signed in at that moment."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    app = current_app._get_current_object()
    return for_app(
        app, user, origin="api" if request.blueprint == "api" else "web", ip=request.remote_addr,
        public_url=app.config.get("MTKIT_PUBLIC_URL") or request.url_root.rstrip("/"),
    )


def regions():
    """The app's facade over the region plugins (for views and templates)."""
    return current_app.extensions["mtkit_regions"]
