"""Fixtures: a migrated database per test (SQLite by default, PostgreSQL with MTKIT_TEST_DATABASE_URL).

The schema is built once per run by the real Alembic migrations, so the tests also prove the
migrations. SQLite tests copy a migrated template file; PostgreSQL tests truncate every table.
"""
from __future__ import annotations

import io
import os
import shutil
from datetime import date

import pytest
from flask import g, request_started
from sqlalchemy import create_engine, text
from werkzeug.datastructures import FileStorage

from app import create_app
from core.applications import pdfclean
from core.context import Context, for_app
from core.extensions import db
from tests.files import make_pdf, make_png

PG_URL = os.environ.get("MTKIT_TEST_DATABASE_URL")
PASSWORD = "Passw0rd!"
PDF = make_pdf()  # a real one-page PDF: uploads open every file they accept
STORED_PDF = pdfclean.rewrite("x.pdf", PDF, 200).data  # what is stored and served for it (qpdf's rewrite)
PNG = make_png()
# A fixed "today" for date-dependent tests: the Monday this project started.
TODAY = date(2026, 11, 23)


def pytest_configure(config):
    config.addinivalue_line("markers", "multihost: several app hosts, a load balancer, worker, PostgreSQL, Redis and S3 "
                                       "as real processes (tests/test_two_hosts.py; the PostgreSQL pass only)")


def base_config(url: str, tmp_path) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret",
        "MTKIT_VERIFICATION_KEY": "test-verification",
        "WTF_CSRF_ENABLED": False,
        "MTKIT_UPLOAD_DIR": str(tmp_path / "uploads"),
        "MTKIT_SMS_LOG": str(tmp_path / "sms.log"),
        "MTKIT_PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        "MTKIT_RESULT_DIR": str(tmp_path / "results"),
        "MTKIT_PREVIEW_DIR": str(tmp_path / "previews"),
        "MTKIT_LOCK_DIR": str(tmp_path / "locks"),
        # Background tasks run at once in the test's process (Huey immediate mode, in memory).
        "MTKIT_QUEUE_IMMEDIATE": True,
        "MTKIT_QUEUE_URL": f"sqlite:///{tmp_path / 'queue.sqlite3'}",
        # SMS wait for the sweep (the deliver_notices job) as tests of sending expect; the hand-over
        # at commit is tested with it on (tests/test_queue_commit.py).
        "MTKIT_SMS_AT_COMMIT": False,
        # Uploaded PDFs' pages render on first view, as most tests expect (tests/test_uploads.py
        # turns the worker's rendering ahead on).
        "MTKIT_PREVIEWS_AHEAD": False,
        "MTKIT_TODAY": TODAY,
        "SERVER_NAME": None,
        # Per-client request limits stay on in production; tests that check them turn them on
        # (tests/test_abuse_limits.py), the rest would trip them by logging in many times.
        "RATELIMIT_ENABLED": False,
    }


@pytest.fixture(autouse=True, scope="session")
def _cheaper_scrypt():
    """Tests hash many passwords: keep scrypt but with a small work factor (production uses the default)."""
    import werkzeug.security

    from core.models import people

    real = werkzeug.security.generate_password_hash
    people.generate_password_hash = lambda password: real(password, method="scrypt:1024:8:1")
    yield
    people.generate_password_hash = real


@pytest.fixture(scope="session")
def migrated_url(tmp_path_factory):
    """Run the migrations once into a clean database and return its URL."""
    import flask_migrate

    if PG_URL:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        url = PG_URL
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'template.sqlite3'}"
    app = create_app(base_config(url, tmp_path_factory.mktemp("up")))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def db_url(migrated_url, tmp_path):
    if PG_URL:
        yield migrated_url
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            tables = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")
            ).scalars().all()
            # The audit tables refuse TRUNCATE (a statement trigger); the test database's superuser
            # switches triggers off for this one transaction. Rows stay append-only in every test.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
    else:
        path = tmp_path / "test.sqlite3"
        shutil.copy(migrated_url.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"


@pytest.fixture
def app(db_url, tmp_path):
    yield from serving(create_app(base_config(db_url, tmp_path)))


def serving(app):
    """Hold ``app``'s context for one test (a fixture body: ``yield from serving(app)``)."""
    # The test holds one app context and requests reuse it; start each request with an empty
    # flask.g (where Flask-Login caches current_user and Flask-WTF the CSRF token), as in
    # production, so every client is its own user.
    def fresh_g(sender, **extra):
        for name in list(g):
            g.pop(name)

    request_started.connect(fresh_g, app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    request_started.disconnect(fresh_g, app)


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on loopback for this test module (tests/s3.py)."""
    from tests.s3 import moto_server  # moto is imported only by the modules that use S3

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint):
    """A fresh bucket per test: (name, a boto3 client to look inside it)."""
    from tests.s3 import new_bucket

    return new_bucket(s3_endpoint)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def as_(user=None, origin: str = "test") -> Context:
    """The service context of ``user`` (None: the system, as a job runs) in the current app."""
    from flask import current_app

    return for_app(current_app, user, origin=origin)


class Factory:
    """Builds people and applications through the real services."""

    def __init__(self, app):
        self.app = app
        self._seq = 0

    def staff(self, username, role, region="150000", division=None, hospital=None, office=None, title=None, name=None):
        from core.people.accounts import create_staff

        user = create_staff(as_(), username=username, password=PASSWORD, role=role, name=name or username, region=region,
            division=division, hospital=hospital, office=office, title=title)
        db.session.commit()
        return user

    def person(self, region="150000", division="150100", category="employed", name="张三", phone="13800001111"):
        from core.demo import make_id_number
        from core.people.accounts import register_insured

        self._seq += 1
        user = register_insured(as_(), name=name, id_number=make_id_number(division, "19600101", self._seq), phone=phone, password=PASSWORD,
            region=region, division=division, insured_category=category)
        db.session.commit()
        return user

    def application(self, person, diseases, institution=None, division=None, upload=True, submit=True, channel="online", actor=None):
        from core.applications import service as apps

        region = person.region_code
        division = division or person.division_code
        institution = institution or ("H150100001" if region == "150000" else "O450600001")
        app = apps.start(as_(actor or person), person, region=region, division=division, institution=institution,
                         channel=channel, diseases=diseases)
        if upload:
            self.upload_required(app, actor or person)
        if submit:
            apps.submit(as_(actor or person), app, app.version)
        db.session.commit()
        return app

    def upload_required(self, app, actor):
        from core.applications import materials

        for item in materials.checklist(as_(), app):
            if item.rule.required and not item.files:
                materials.add(as_(actor), app, disease_code=item.disease_code, material_code=item.rule.code,
                                  files=[pdf_file()])


def pdf_file(name="诊断书.pdf", data=PDF):
    return FileStorage(io.BytesIO(data), filename=name)


@pytest.fixture
def make(app):
    return Factory(app)


@pytest.fixture
def nmg_staff(make):
    """Inner Mongolia staff at 内蒙古医科大学附属医院 (H150100001) and a hospital elsewhere."""
    return {
        "doctor": make.staff("doctor", "physician", hospital="H150100001", division="150100", title="副主任医师"),
        "junior": make.staff("junior", "physician", hospital="H150100001", division="150100", title="主治医师"),
        "office": make.staff("yibao", "hospital_office", hospital="H150100001", division="150100"),
        "other_doctor": make.staff("bt_doctor", "physician", hospital="H150200001", division="150200", title="主任医师"),
        "other_office": make.staff("bt_yibao", "hospital_office", hospital="H150200001", division="150200"),
    }


@pytest.fixture
def fcg_staff(make):
    return {
        "reviewer": make.staff("fcg_review", "agency_reviewer", region="450600", office="O450600001"),
        "dx_reviewer": make.staff("dx_review", "agency_reviewer", region="450600", division="450681", office="O450681001"),
        "expert": make.staff("fcg_expert", "expert", region="450600"),
    }


def login(client, username, password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password})
