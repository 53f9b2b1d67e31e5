"""Security headers (CSP, HSTS, framing, Permissions-Policy), the client address behind trusted
proxies (ProxyFix, MTKIT_PROXY_COUNT) as the audit trail records it, and gunicorn's Server header."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import g, request_started
from sqlalchemy import select

from app import create_app
from core.extensions import db
from core.models import AuditLog
from tests.conftest import base_config

ROOT = Path(__file__).resolve().parents[1]


def _csp(response) -> dict[str, str]:
    parts = [(d.strip().split(" ", 1) + [""])[:2] for d in response.headers["Content-Security-Policy"].split(";") if d.strip()]
    return {k: v for k, v in parts}


@pytest.fixture
def make_app(db_url, tmp_path):
    """An app with extra settings, on the test's database, its own app context."""
    made = []

    def build(**settings):
        a = create_app({**base_config(db_url, tmp_path), **settings})

        def fresh_g(sender, **extra):
            for name in list(g):
                g.pop(name)

        request_started.connect(fresh_g, a)
        ctx = a.app_context()
        ctx.push()
        made.append((a, ctx))
        return a

    yield build
    for a, ctx in reversed(made):
        db.session.remove()
        ctx.pop()


def test_csp_names_base_uri_form_action_objects_and_framing(client):
    for url in ("/login", "/api/v1/regions", "/does-not-exist"):
        r = client.get(url)
        csp = _csp(r)
        assert csp["base-uri"] in ("'none'", "'self'"), url
        assert csp["form-action"] == "'self'", url
        assert csp["object-src"] == "'none'", url
        assert csp["frame-ancestors"] == "'none'", url
        assert "'unsafe-inline'" not in csp.get("script-src", csp["default-src"]), url
        assert r.headers["X-Frame-Options"] == "DENY", url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert r.headers["Referrer-Policy"] == "same-origin", url
        assert "camera=()" in r.headers["Permissions-Policy"], url


def test_no_hsts_by_default_even_over_https(client):
    r = client.get("/login", base_url="https://mt.example.gov.cn")
    assert "Strict-Transport-Security" not in r.headers


def test_hsts_when_configured_only_over_https(make_app):
    a = make_app(MTKIT_HSTS_SECONDS=31536000)
    c = a.test_client()
    assert c.get("/login", base_url="https://mt.example.gov.cn").headers["Strict-Transport-Security"] == \
        "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in c.get("/login").headers  # plain HTTP: never


def test_hsts_behind_a_tls_proxy_needs_the_proxy_to_be_trusted(make_app):
    """nginx terminates TLS and says so in X-Forwarded-Proto: believed only with MTKIT_PROXY_COUNT."""
    trusted = make_app(MTKIT_HSTS_SECONDS=600, MTKIT_PROXY_COUNT=1).test_client()
    r = trusted.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
    assert r.headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    direct = make_app(MTKIT_HSTS_SECONDS=600, MTKIT_PROXY_COUNT=0).test_client()
    r = direct.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in r.headers


def _failed_login_ip(c, username="nobody", **headers) -> str:
    c.post("/login", data={"username": username, "password": "wrong-password"}, headers=headers)
    return db.session.scalars(select(AuditLog.ip).where(AuditLog.action == "login").order_by(AuditLog.id.desc())).first()


def test_audit_rows_record_the_client_behind_one_trusted_proxy(make_app):
    a = make_app(MTKIT_PROXY_COUNT=1)
    c = a.test_client()
    # nginx appends the address it saw; with one trusted proxy the last entry is the client.
    ip = _failed_login_ip(c, environ_base={"REMOTE_ADDR": "10.0.0.2"},
                          **{"X-Forwarded-For": "198.51.100.9, 203.0.113.5"})
    assert ip == "203.0.113.5"


def test_a_forged_forwarded_for_is_ignored_without_a_trusted_proxy(make_app):
    c = make_app(MTKIT_PROXY_COUNT=0).test_client()
    c.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    ip = _failed_login_ip(c, **{"X-Forwarded-For": "203.0.113.5"})
    assert ip == "192.0.2.44"


def test_the_proxy_count_comes_from_the_environment(monkeypatch, tmp_path):
    from core.config import default_config

    monkeypatch.setenv("MTKIT_PROXY_COUNT", "2")
    monkeypatch.setenv("MTKIT_HSTS_SECONDS", "63072000")
    monkeypatch.setenv("MTKIT_SECRET_KEY", "x")
    monkeypatch.setenv("MTKIT_VERIFICATION_KEY", "y")
    cfg = default_config(tmp_path)
    assert cfg["MTKIT_PROXY_COUNT"] == 2 and cfg["MTKIT_HSTS_SECONDS"] == 63072000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_does_not_name_itself_in_the_server_header(db_url, tmp_path):
    """The served app, started the way `make run` starts it (gunicorn -c gunicorn.conf.py)."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "MTKIT_SECRET_KEY": "t", "MTKIT_VERIFICATION_KEY": "t",
           "MTKIT_UPLOAD_DIR": str(tmp_path / "u"), "MTKIT_SMS_LOG": str(tmp_path / "sms.log")}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py", "-w", "1", "-b", f"127.0.0.1:{port}",
                             "app:create_app()"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    headers = dict(r.headers.items())
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stderr.read().decode() if proc.poll() is not None else "gunicorn did not answer")
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()
    assert headers["Server"] == "mtkit"
    assert not any("gunicorn" in v.lower() for v in headers.values())
    assert "base-uri" in headers["Content-Security-Policy"]
