"""/readyz (readiness) and /metrics (Prometheus), and the request timing behind the metrics.

Both are exempt from log-in and rate limits, write no audit rows and answer no-store. /healthz
(core/web/public.py) stays the liveness probe: the process answers, nothing else is touched.

/metrics is answered only to clients in ``MTKIT_METRICS_ALLOW`` (networks, comma separated;
default loopback) or presenting ``Authorization: Bearer <MTKIT_METRICS_TOKEN>``; anyone else gets
the ordinary 404 page. Behind a reverse proxy the client address is only believed when
``MTKIT_PROXY_COUNT`` is set (else every relayed request would look like loopback).
"""
from __future__ import annotations

import hmac
import time
from ipaddress import ip_address, ip_network

from flask import Blueprint, Flask, abort, current_app, g, jsonify, request

from core.extensions import db
from core.ops import metrics, readiness

bp = Blueprint("ops", __name__)


@bp.get("/readyz")
def readyz():
    parts = {
        "engine": db.engine,
        "settings": current_app.config,
        "keys": current_app.extensions.get("mtkit_keys"),
        "migrations_dir": current_app.extensions["migrate"].directory,
    }
    results = readiness.run_checks(parts)
    ready = all(results.values())
    # Names and ok/fail only: reasons (paths, errors) are in the log, not for anonymous callers.
    body = {"status": "ok" if ready else "fail", "checks": {k: "ok" if v else "fail" for k, v in results.items()}}
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics_page():
    if not _may_scrape():
        abort(404)
    data, content_type = metrics.render(db.engine)
    return data, 200, {"Content-Type": content_type, "Cache-Control": "no-store"}


def _may_scrape() -> bool:
    token = current_app.config.get("MTKIT_METRICS_TOKEN") or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    if "X-Forwarded-For" in request.headers and not current_app.config.get("MTKIT_PROXY_COUNT"):
        return False  # relayed by a proxy the app was not told about: the address is the proxy's
    try:
        addr = ip_address(request.remote_addr or "")
    except ValueError:
        return False
    addr = getattr(addr, "ipv4_mapped", None) or addr
    return any(addr in net for net in current_app.extensions["mtkit_metrics_allow"])


def parse_networks(value: str) -> tuple:
    """``MTKIT_METRICS_ALLOW``: "127.0.0.1/32, ::1/128, 10.0.5.0/24" (a bad entry stops start-up)."""
    return tuple(ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


def _start():
    g.mtkit_started = time.perf_counter()
    metrics.IN_FLIGHT.inc()


def _status(response):
    g.mtkit_status = response.status_code
    return response


def _finish(exc):
    started = g.pop("mtkit_started", None)
    if started is None:
        return
    metrics.IN_FLIGHT.dec()
    rule = request.url_rule.rule if request.url_rule is not None else None
    metrics.observe(rule, request.method, g.pop("mtkit_status", 500), time.perf_counter() - started)


def init_app(app: Flask) -> None:
    """Call after every route and the rate limiter are set up."""
    app.extensions["mtkit_metrics_allow"] = parse_networks(app.config["MTKIT_METRICS_ALLOW"])
    # First before-request hook, so a request another hook answers early is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_status)
    app.teardown_request(_finish)
    limiter = app.extensions.get("mtkit_limiter")
    if limiter is not None:  # probes and scrapes never count against, nor are refused by, limits
        for endpoint in ("ops.readyz", "ops.metrics_page"):
            limiter.exempt(app.view_functions[endpoint])
