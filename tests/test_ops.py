"""Operations endpoints: /readyz says whether this host can serve (and which check failed, nothing
more), /metrics gives Prometheus request latency by URL rule (never a path with ids), failed
deliveries and job runs, only to allowed networks or the bearer token."""
from __future__ import annotations

import time

import flask_migrate
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from app import create_app
from core.extensions import db
from core.models import AuditLog
from core.notices.service import notify
from tests.conftest import as_, base_config, login, serving
from tests.test_notices import BrokenGateway, deliver

CHECKS = {"database", "migrations", "storage", "keys"}


def audit_rows():
    return db.session.scalar(select(func.count()).select_from(AuditLog))


def samples(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    return {(s.name, frozenset(s.labels.items())): s.value for fam in text_string_to_metric_families(text) for s in fam.samples}


def other_app(tmp_path, url, **config):
    app = create_app({**base_config(url, tmp_path), **config})
    return app


# --------------------------------------------------------------------------------------------
# /readyz


def test_readyz_is_ok_on_a_migrated_database_without_login_or_audit(app, client):
    before = audit_rows()
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "checks": {name: "ok" for name in CHECKS}}
    assert r.headers["Cache-Control"] == "no-store"
    assert audit_rows() == before
    assert client.get("/healthz").get_json() == {"status": "ok"}  # liveness unchanged
    # A load balancer's probes get no session cookie (nor does the static htmx file); pages do.
    for url in ("/readyz", "/healthz", "/vendor/htmx.min.js"):
        assert "Set-Cookie" not in app.test_client().get(url).headers, url
    assert "Set-Cookie" in app.test_client().get("/login").headers


def test_readyz_fails_naming_migrations_when_the_database_is_behind_head(tmp_path):
    """A temporary SQLite database migrated to the revision before head: 503, "migrations" failed;
    upgraded to head, the same host is ready."""
    url = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    app = other_app(tmp_path, url)
    scripts = ScriptDirectory(app.extensions["migrate"].directory)
    [head] = scripts.get_heads()
    older = scripts.get_revision(head).down_revision
    assert isinstance(older, str)
    with app.app_context():
        flask_migrate.upgrade(revision=older)
        client = app.test_client()
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.get_json() == {"status": "fail", "checks": {"database": "ok", "migrations": "fail", "storage": "ok", "keys": "ok"}}
        assert older not in r.get_data(as_text=True) and head not in r.get_data(as_text=True)  # no details leak
        flask_migrate.upgrade()
        assert client.get("/readyz").status_code == 200
        db.engine.dispose()


def test_readyz_fails_naming_storage_when_the_upload_dir_cannot_be_written(db_url, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # a file where the folder's parent should be: nothing can be created below
    for app in serving(other_app(tmp_path, db_url, MTKIT_UPLOAD_DIR=str(blocker / "uploads"))):
        r = app.test_client().get("/readyz")
        assert r.status_code == 503
        assert r.get_json()["checks"] == {"database": "ok", "migrations": "ok", "storage": "fail", "keys": "ok"}
        assert str(tmp_path) not in r.get_data(as_text=True)


def test_readyz_is_not_rate_limited(db_url, tmp_path):
    for app in serving(other_app(tmp_path, db_url, RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2/minute")):
        client = app.test_client()
        assert [client.get("/readyz").status_code for _ in range(4)] == [200] * 4


# --------------------------------------------------------------------------------------------
# /metrics


def test_metrics_labels_requests_by_url_rule_never_by_path_or_person(app, client, make):
    person = make.person(name="王秀英", phone="13912345678")
    a = make.application(person, ["M03900"])
    login(client, person.username)
    assert client.get(f"/applications/{a.id}").status_code == 200
    assert client.get(f"/applications/{a.id + 1000}").status_code == 404
    assert client.get("/no/such/page/13912345678").status_code == 404
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.get_data(as_text=True)
    found = samples(text)
    key = ("mtkit_http_request_duration_seconds_count",
           frozenset({"route": "/applications/<id:app_id>", "method": "GET", "status": "2xx"}.items()))
    assert found[key] >= 1
    four = ("mtkit_http_request_duration_seconds_count",
            frozenset({"route": "/applications/<id:app_id>", "method": "GET", "status": "4xx"}.items()))
    assert found[four] >= 1
    rules = {rule.rule for rule in app.url_map.iter_rules()} | {"<unmatched>"}
    routes = {dict(labels)["route"] for (name, labels) in found if name.startswith("mtkit_http_request_duration")}
    assert routes <= rules  # every route label is a URL rule, so no id, number or name can be in it
    assert f"/applications/{a.id}" not in text
    for personal in ("王秀英", "13912345678", "139****5678", person.username):
        assert personal not in text
    assert found[("mtkit_http_requests_in_flight", frozenset())] >= 1  # this scrape itself


def test_metrics_report_failed_sms_and_job_runs_from_the_records(app, client, make):
    app.extensions["mtkit_pm"].register(BrokenGateway())
    for i, phone in enumerate(("13800000001", "13800000002")):
        notify(as_(), make.person(name=f"李{i}", phone=phone).id, "test", "续办提醒", "请续办")
    db.session.commit()
    started = time.time()
    assert deliver() == "done"
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert found[("mtkit_notice_deliveries_failed", frozenset({"channel": "sms", "status": "failed"}.items()))] == 2
    assert found[("mtkit_notice_deliveries_failed", frozenset({"channel": "sms", "status": "gave_up"}.items()))] == 0
    job = frozenset({"job": "deliver_notices"}.items())
    assert started - 2 <= found[("mtkit_job_last_success_timestamp_seconds", job)] <= time.time() + 1
    assert 0 <= found[("mtkit_job_last_duration_seconds", job)] < 60
    assert found[("mtkit_job_last_run_failed", job)] == 0
    assert found[("mtkit_metrics_database_up", frozenset())] == 1
    assert found[("mtkit_queue_depth", frozenset())] == 0  # the background queue registers its depth


def test_metrics_refuse_other_addresses_and_accept_the_token(app, client):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=outside).status_code == 404
    # Relayed by a proxy the app was not told about: loopback is the proxy, not the client.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    app.config["MTKIT_METRICS_TOKEN"] = "s3cret-scrape-token"
    assert client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer wrong"}).status_code == 404
    r = client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer s3cret-scrape-token"})
    assert r.status_code == 200 and "mtkit_http_request_duration_seconds" in r.get_data(as_text=True)


def test_metrics_allow_configured_networks(db_url, tmp_path):
    for app in serving(other_app(tmp_path, db_url, MTKIT_METRICS_ALLOW="10.20.0.0/16")):
        client = app.test_client()
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.3.4"}).status_code == 200
        assert client.get("/metrics").status_code == 404  # loopback is no longer in the list


def test_registered_gauges_appear_and_a_failing_one_is_skipped(app, client):
    from core.ops import metrics

    metrics.register_gauge("mtkit_test_queue_depth", "Tasks waiting.", lambda: {"default": 3, "slow": 0}, label="queue")
    metrics.register_gauge("mtkit_test_broken", "Raises.", lambda: 1 / 0)
    try:
        r = client.get("/metrics")
        found = samples(r.get_data(as_text=True))
        assert found[("mtkit_test_queue_depth", frozenset({"queue": "default"}.items()))] == 3
        assert not any(name == "mtkit_test_broken" for name, _ in found)
    finally:
        metrics._GAUGES.pop("mtkit_test_queue_depth")
        metrics._GAUGES.pop("mtkit_test_broken")


MULTIPROCESS_SCRIPT = """
import json, sys
from app import create_app
from tests.conftest import base_config
from pathlib import Path
app = create_app(base_config(sys.argv[1], Path(sys.argv[2])))
with app.app_context():
    client = app.test_client()
    for i in (1, 2, 3):
        client.get(f"/applications/{i}")
    print(json.dumps(client.get("/metrics").get_data(as_text=True)))
"""


def test_metrics_in_multiprocess_mode_add_up_every_process(db_url, tmp_path):
    """Under gunicorn -w N with PROMETHEUS_MULTIPROC_DIR each worker writes its counts to that
    folder and any worker's /metrics reports the sum: two processes, three requests each -> 6."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = []
    for n in (1, 2):
        (tmp_path / f"p{n}").mkdir()
        done = subprocess.run([sys.executable, "-c", MULTIPROCESS_SCRIPT, db_url, str(tmp_path / f"p{n}")], env=env,
                              capture_output=True, text=True, timeout=120, check=True)
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    key = ("mtkit_http_request_duration_seconds_count",
           frozenset({"route": "/applications/<id:app_id>", "method": "GET", "status": "3xx"}.items()))
    assert samples(out[0])[key] == 3
    assert samples(out[1])[key] == 6  # the first process's counts are still in the folder
    assert any(p.name.startswith("histogram_") for p in folder.iterdir())


def test_pgbouncer_transaction_mode_turns_prepared_statements_off(monkeypatch, tmp_path, db_url):
    from core.config import default_config

    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example/mtkit")
    assert "connect_args" not in default_config(tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]
    monkeypatch.setenv("MTKIT_PGBOUNCER", "transaction")
    assert default_config(tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"prepare_threshold": None}
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.sqlite3")  # sqlite3.connect knows no such argument
    assert "connect_args" not in default_config(tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]
    if db_url.startswith("postgresql"):  # the real driver takes the option: a statement run often is never prepared
        monkeypatch.setenv("DATABASE_URL", db_url)
        options = default_config(tmp_path)["SQLALCHEMY_ENGINE_OPTIONS"]
        for app in serving(other_app(tmp_path, db_url, SQLALCHEMY_ENGINE_OPTIONS=options)):
            with db.engine.connect() as conn:
                for _ in range(10):
                    assert conn.execute(select(func.count()).select_from(AuditLog)).scalar() >= 0
                assert conn.connection.dbapi_connection.prepare_threshold is None
                prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()
                assert prepared == 0
