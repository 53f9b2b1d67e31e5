"""CSRF protection: every POST needs the token from a rendered page (form field or htmx header).

conftest builds apps with WTF_CSRF_ENABLED=False; these tests switch it on before any request.
"""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import (
    UserSession,
    Application,
    ApplicationEvent,
    AuditLog,
    BenefitSettlement,
    Decision,
    InpatientStay,
    Material,
    Notice,
    Recognition,
    User,
)
from tests.conftest import PASSWORD, PDF
from tests.test_access import make_recognition

CSRF_MESSAGE = "页面已过期或请求来源无效"


@pytest.fixture(autouse=True)
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True

    yield app
    app.config["WTF_CSRF_ENABLED"] = False


def form_token(html: str) -> str:
    """The csrf_token hidden input of a rendered form."""
    for tag in re.findall(r"<input[^>]*>", html):
        if re.search(r'name="csrf_token"', tag):
            return re.search(r'value="([^"]+)"', tag).group(1)
    raise AssertionError("no csrf_token input on the page")


def header_token(html: str) -> str:
    """The token the page gives htmx (hx-headers='{"X-CSRFToken": "..."}')."""
    m = re.search(r'X-CSRFToken(?:"|&#34;|&quot;)\s*:\s*(?:"|&#34;|&quot;)([^"&]+)', html)
    assert m, "no X-CSRFToken for htmx on the page"
    return m.group(1)


def login_with_token(client, username):
    token = form_token(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.status_code
    return r


def snapshot():
    db.session.expire_all()
    counts = {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
        for m in (Application, ApplicationEvent, AuditLog, BenefitSettlement, Decision, InpatientStay, Material, Notice, Recognition, User)
    }
    states = {
        "apps": sorted(db.session.execute(select(Application.id, Application.status, Application.version,
                                                 Application.step_index)).all()),
        "materials": sorted(db.session.execute(select(Material.id, Material.replaced_by_id)).all()),
        "notices": sorted(db.session.execute(select(Notice.id, Notice.read_at)).all()),
        "users": sorted(db.session.execute(select(User.id, User.phone, User.failed_logins, User.locked_until)).all()),
        "recognitions": sorted(db.session.execute(select(Recognition.id, Recognition.status)).all()),
        "sessions": sorted(db.session.execute(select(UserSession.id, UserSession.ended_at)).all()),
    }
    return counts, states


@pytest.fixture
def scene(make):
    person = make.person(name="甲参保人", phone="13800000001")
    draft = make.application(person, ["M03900"], submit=False)
    submitted = make.application(person, ["M01600"])
    rec = make_recognition(person, disease="M04600", name="冠心病")
    staff = make.staff("yibao", "hospital_office", hospital="H150100001", division="150100")
    notice = db.session.scalars(select(Notice).where(Notice.user_id == person.id)).first()
    return dict(person=person, draft=draft, submitted=submitted, rec=rec, staff=staff, notice=notice)


def post_routes(app):
    """Every POST of the pages. The JSON API (/api/v1) takes no cookies, only bearer tokens, so it has
    no CSRF token; tests/test_api.py proves a browser session cannot act through it."""
    return [r for r in app.url_map.iter_rules() if "POST" in r.methods and not r.endpoint.startswith("api.")]


def test_every_post_route_is_listed(app):
    """Guard: when a new POST route appears, it is covered by the loop below automatically."""
    endpoints = {r.endpoint for r in post_routes(app)}
    assert {"auth.login", "auth.logout", "auth.register", "applications.new", "applications.upload",
            "applications.act", "applications.reveal", "account.reveal", "recognitions.renew",
            "benefits.record_visit", "benefits.estimate", "benefits.reverse", "benefits.record_stay",
            "benefits.discharge", "benefits.category"} <= endpoints


def test_post_without_token_is_refused_everywhere_and_changes_nothing(app, scene):
    s = scene
    insured, staff, anon = app.test_client(), app.test_client(), app.test_client()
    login_with_token(insured, s["person"].username)
    login_with_token(staff, "yibao")
    material = s["draft"].materials[0]
    values = {
        "app_id": None,  # per endpoint below
        "material_id": material.id,
        "notice_id": s["notice"].id,
        "rec_id": s["rec"].id,
        "day_id": 1,  # CSRF is checked before the record is looked up
        "delivery_id": 1,
        "failure_id": 1,
        "batch": "x",
        "person_id": s["person"].id,
        "row_id": 1,
        "stay_id": 1,
        "case_id": 1,
        "session_id": 1,
        "user_id": s["person"].id,
        "action": "logout",
    }
    adapter = app.url_map.bind("localhost")
    before = snapshot()
    refused, wrong = 0, []
    for rule in post_routes(app):
        app_id = s["submitted"].id if rule.rule.startswith("/staff/") else s["draft"].id
        url = adapter.build(rule.endpoint, {k: (app_id if k == "app_id" else values[k]) for k in rule.arguments},
                            method="POST")
        for who, client in (("insured", insured), ("staff", staff), ("anonymous", anon)):
            # Everything a real form of any of these routes would send, except the token.
            data = {
                "username": s["person"].username, "password": PASSWORD, "password2": PASSWORD,
                "name": "新用户", "id_number": "11010519491231002X", "phone": "13900009999",
                "region": "150000", "division": "150100", "insured_category": "employed",
                "institution": "H150100001", "channel": "online", "diseases": "M04301",
                "action": "accept", "version": str(db.session.get(Application, app_id).version),
                "disease_code": "*", "material_code": "id_copy", "reason": "x", "note": "x",
                "file": (io.BytesIO(PDF), "a.pdf"),
            }
            r = client.post(url, data=data, content_type="multipart/form-data")
            if r.status_code != 400 or CSRF_MESSAGE not in r.get_data(as_text=True):
                wrong.append((who, rule.endpoint, r.status_code))
            else:
                refused += 1
    assert wrong == []
    assert refused == 3 * len(post_routes(app))
    assert snapshot() == before
    # Log-out without a token did not log anyone out.
    assert insured.get("/applications").status_code == 200
    assert staff.get("/staff/queue").status_code == 200


def test_login_with_token_from_the_page_works(app, client, make):
    make.staff("yibao", "hospital_office", hospital="H150100001", division="150100")
    token = form_token(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"username": "yibao", "password": PASSWORD})
    assert r.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "login")) == 0
    r = client.post("/login", data={"username": "yibao", "password": PASSWORD, "csrf_token": "forged" + token})
    assert r.status_code == 400
    r = client.post("/login", data={"username": "yibao", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    assert client.get("/staff/queue").status_code == 200


def test_form_post_with_page_token_works_and_logout_needs_it(app, client, make):
    p = make.person()
    login_with_token(client, p.username)
    page = client.get("/applications").get_data(as_text=True)
    assert client.post("/logout").status_code == 400
    assert client.get("/applications").status_code == 200  # still logged in
    r = client.post("/logout", data={"csrf_token": form_token(page)})
    assert r.status_code == 302
    assert client.get("/applications").status_code == 302  # logged out


def test_htmx_post_needs_the_header_token(app, client, make):
    p = make.person()
    draft = make.application(p, ["M03900"], upload=False, submit=False)
    login_with_token(client, p.username)
    token = header_token(client.get(f"/applications/{draft.id}").get_data(as_text=True))

    def upload(headers):
        return client.post(
            f"/applications/{draft.id}/materials",
            data={"disease_code": "*", "material_code": "id_copy", "file": (io.BytesIO(PDF), "身份证.pdf")},
            headers=headers, content_type="multipart/form-data",
        )

    def materials():
        db.session.expire_all()
        return db.session.scalar(select(func.count()).select_from(Material))

    assert upload({"HX-Request": "true"}).status_code == 400
    assert upload({"HX-Request": "true", "X-CSRFToken": "not-a-token"}).status_code == 400
    assert materials() == 0
    r = upload({"HX-Request": "true", "X-CSRFToken": token})
    assert r.status_code == 200
    assert "身份证.pdf" in r.get_data(as_text=True)  # the checklist fragment, updated
    assert materials() == 1


def test_token_of_another_session_is_refused(app, make):
    a, b = make.person(name="甲参保人"), make.person(name="乙参保人", phone="13800000002")
    ca, cb = app.test_client(), app.test_client()
    login_with_token(ca, a.username)
    login_with_token(cb, b.username)
    token_a = form_token(ca.get("/applications").get_data(as_text=True))
    draft_b = make.application(b, ["M03900"], upload=False, submit=False)
    r = cb.post(f"/applications/{draft_b.id}/withdraw", data={"version": draft_b.version, "csrf_token": token_a})
    assert r.status_code == 400
    db.session.expire_all()
    assert db.session.get(Application, draft_b.id).status == "draft"
