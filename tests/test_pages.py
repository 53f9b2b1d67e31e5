"""Pages: personal data masked (full views audited), log-in and registration, no CDN, security headers,
channel comparison, and bad input that never becomes a 500."""
from __future__ import annotations

import io
import re

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from app import create_app
from core.extensions import db
from core.models import Application, AuditLog, Material, User
from core.people.identity import mask_id, mask_name, mask_phone
from tests.conftest import PASSWORD, PDF, PNG, STORED_PDF, login
from tests.conftest import as_

EXTERNAL_URL = re.compile(r"https?://[^\s\"'<>)]*")


def count(model, *where):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def audits(action):
    db.session.expire_all()
    return db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


@pytest.fixture
def case(make, nmg_staff):
    """A submitted application at hospital X (H150100001) by a person with a known ID and phone."""
    person = make.person(name="王秀英", phone="13912345678")
    application = make.application(person, ["M03900"], institution="H150100001")
    return dict(person=person, app=application, **nmg_staff)


# --------------------------------------------------------------------------------------------
# masked personal data; full views are audited

def test_staff_detail_and_queue_show_masked_numbers_only(app, client, case):
    p = case["person"]
    login(client, "yibao")
    r = client.get(f"/applications/{case['app'].id}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    # Names too are masked on staff screens (issue 12; reveal with a reason: tests/test_privacy.py).
    assert p.name not in html and mask_name(p.name) in html
    assert mask_id(p.id_number) in html and mask_phone(p.phone) in html
    assert p.id_number not in html, "full ID number on the detail page"
    assert p.phone not in html, "full phone number on the detail page"
    for url in ("/staff/queue", "/staff/queue?view=all"):
        html = client.get(url).get_data(as_text=True)
        assert p.name not in html and mask_name(p.name) in html, url
        assert p.id_number not in html and p.phone not in html, url
    assert audits("person.view_full") == []  # looking at masked data is not a full view


def test_applicant_sees_own_numbers_masked(app, client, case):
    p = case["person"]
    login(client, p.username)
    for url in (f"/applications/{case['app'].id}", "/applications"):
        html = client.get(url).get_data(as_text=True)
        assert p.id_number not in html and p.phone not in html, url


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_staff_reveal_shows_full_number_and_is_audited(app, client, case, htmx):
    p, a = case["person"], case["app"]
    login(client, "yibao")
    headers = {"HX-Request": "true"} if htmx else {}
    r = client.post(f"/staff/applications/{a.id}/reveal", headers=headers, data={"reason": "verify_identity"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert p.id_number in html and p.phone in html and p.name in html
    rows = audits("person.view_full")
    assert [(x.user_id, x.object_type, x.object_id, x.result) for x in rows] == [
        (case["office"].id, "users", str(p.id), "ok")
    ]
    assert str(a.id) in (rows[0].detail or "")
    assert r.headers.get("Cache-Control") == "no-store"


@pytest.mark.parametrize("username", ["bt_yibao", "bt_doctor"])
def test_reveal_out_of_scope_is_not_found_and_not_audited(app, client, case, username):
    p = case["person"]
    login(client, username)
    r = client.post(f"/staff/applications/{case['app'].id}/reveal")
    assert r.status_code == 404
    assert p.id_number not in r.get_data(as_text=True)
    assert audits("person.view_full") == []


def test_insured_cannot_use_staff_reveal(app, client, case, make):
    other = make.person(name="李四", phone="13900000002")
    login(client, other.username)
    r = client.post(f"/staff/applications/{case['app'].id}/reveal")
    assert r.status_code == 403
    assert case["person"].id_number not in r.get_data(as_text=True)
    assert audits("person.view_full") == []


def test_profile_masks_then_reveals_own_numbers_with_audit(app, client, make):
    p = make.person(name="王秀英", phone="13912345678")
    login(client, p.username)
    html = client.get("/profile").get_data(as_text=True)
    assert mask_id(p.id_number) in html and p.id_number not in html
    assert audits("person.view_full") == []
    r = client.post("/profile/reveal")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert p.id_number in html and p.phone in html
    rows = audits("person.view_full")
    assert [(x.user_id, x.object_type, x.object_id, x.detail) for x in rows] == [(p.id, "users", str(p.id), "self")]


def test_profile_page_does_not_show_the_full_phone_unaudited(app, client, make):
    """The profile masks the phone and offers an audited 显示完整号码; the edit form below must not
    pre-fill the full number, or the audited reveal is pointless."""
    p = make.person(name="王秀英", phone="13912345678")
    login(client, p.username)
    html = client.get("/profile").get_data(as_text=True)
    assert mask_phone(p.phone) in html
    assert p.phone not in html


# --------------------------------------------------------------------------------------------
# log-in: audit and lockout

def test_login_is_audited(app, client, make):
    u = make.staff("yibao", "hospital_office", hospital="H150100001", division="150100")
    assert login(client, "yibao", "wrong-password1").status_code == 401
    assert login(client, "nobody").status_code == 401
    assert login(client, "yibao").status_code == 302
    rows = audits("login")
    assert [(x.user_id, x.result) for x in rows] == [(u.id, "fail"), (None, "fail"), (u.id, "ok")]
    assert "wrong-password1" not in " ".join(x.detail or "" for x in rows)


def test_five_wrong_passwords_lock_the_account(app, client, make):
    """Five wrong passwords from one client stop that client, even with the right password next; the
    answer never says so (issue 12: the same answer as an unknown user), the inbox does."""
    from core.models import LoginThrottle, Notice

    u = make.staff("yibao", "hospital_office", hospital="H150100001", division="150100")
    answers = set()
    for i in range(5):
        r = login(client, "yibao", f"wrong-{i}a")
        assert r.status_code == 401
        answers.add(re.sub(r'"X-CSRFToken": "[^"]*"', "", r.get_data(as_text=True)))
    r = login(client, "yibao")  # right password, but this client is blocked
    assert r.status_code == 401
    answers.add(re.sub(r'"X-CSRFToken": "[^"]*"', "", r.get_data(as_text=True)))
    assert len(answers) == 1 and "用户名或密码错误,或账号暂时不能登录。" in answers.pop()
    assert client.get("/staff/queue").status_code == 302  # not logged in
    db.session.expire_all()
    assert db.session.scalar(select(LoginThrottle.blocked_until).where(LoginThrottle.user_id == u.id)) is not None
    assert [x.result for x in audits("login")] == ["fail"] * 5 + ["locked"]
    assert db.session.scalars(select(Notice.kind).where(Notice.user_id == u.id)).all() == ["login_blocked"]


def test_successful_login_resets_failed_attempts(app, client, make):
    u = make.staff("yibao", "hospital_office", hospital="H150100001", division="150100")
    for i in range(4):
        login(client, "yibao", f"wrong-{i}a")
    assert login(client, "yibao").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, u.id).failed_logins == 0


# --------------------------------------------------------------------------------------------
# registration

def register(client, id_number, **over):
    data = {"name": "新参保人", "id_number": id_number, "phone": "13900009999", "region": "150000",
            "division": "150100", "insured_category": "employed", "password": PASSWORD, "password2": PASSWORD}
    data.update(over)
    return client.post("/register", data=data)


@pytest.mark.parametrize("id_number,words", [
    ("110105194912310021", "校验位"),  # wrong check digit
    ("11010519491231002Y", "身份证号码"),  # a letter other than X
    ("110105194902300021", "出生日期"),  # 30 February
])
def test_registration_rejects_bad_id_numbers(app, client, id_number, words):
    users = count(User)
    r = register(client, id_number)
    assert r.status_code in (400, 422)
    assert words in r.get_data(as_text=True)
    assert count(User) == users


def test_registration_rejects_a_division_of_another_region(app, client):
    r = register(client, "11010519491231002X", division="450602")
    assert r.status_code in (400, 422)
    assert count(User) == 0


def test_registration_creates_an_insured_person(app, client):
    r = register(client, "11010519491231002x")  # lower-case x is normalised
    assert r.status_code == 302 and r.headers["Location"] == "/register/done"
    user = db.session.scalars(select(User)).one()
    assert (user.role, user.id_number, user.region_code) == ("insured", "11010519491231002X", "150000")
    assert user.username.startswith("p") and "11010519491231002X" not in user.username  # a pseudonym (encryption at rest)
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash
    assert [x.user_id for x in audits("user.register")] == [user.id]
    # Not signed in by registering (a registered ID number gets the same answer: issue 12).
    assert client.get("/applications").status_code == 302
    assert login(client, "11010519491231002X").status_code == 302
    assert client.get("/applications").status_code == 200
    # The same ID cannot register twice: the same answer, nothing created.
    other = app.test_client()
    r = register(other, "11010519491231002X", name="冒名者")
    assert r.status_code == 302 and r.headers["Location"] == "/register/done"
    assert count(User) == 1


# --------------------------------------------------------------------------------------------
# assets, external URLs, headers

def test_htmx_is_served_by_the_app(app, client):
    r = client.get("/vendor/htmx.min.js")
    assert r.status_code == 200
    assert "javascript" in r.mimetype
    assert b"htmx" in r.data[:2000]


def test_pages_load_nothing_from_other_hosts(app, client, case):
    """Hospitals run on intranets: no CDN, no external links in the HTML."""
    pages = {}
    for url in ("/", "/login", "/register", "/regions/150000/channels", "/regions/450600/channels"):
        pages[url] = client.get(url)
    login(client, "yibao")
    pages["staff detail"] = client.get(f"/applications/{case['app'].id}")
    pages["queue"] = client.get("/staff/queue?view=all")
    applicant = app.test_client()
    login(applicant, case["person"].username)
    pages["applicant detail"] = applicant.get(f"/applications/{case['app'].id}")
    pages["new"] = applicant.get("/applications/new")
    found = {}
    for name, r in pages.items():
        assert r.status_code == 200, name
        html = r.get_data(as_text=True)
        assert re.search(r"<script[^>]+/vendor/htmx\.min\.js", html), f"{name}: htmx not from the app"
        urls = EXTERNAL_URL.findall(html)
        if urls:
            found[name] = urls
    assert found == {}


def test_security_headers(app, client, make):
    r = client.get("/login")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    csp = dict((d.strip().split(" ", 1) + [""])[:2] for d in r.headers["Content-Security-Policy"].split(";") if d.strip())
    assert csp["default-src"] == "'self'"
    scripts = csp.get("script-src", csp["default-src"])
    assert "'unsafe-inline'" not in scripts and "http" not in scripts  # scripts: this app only
    assert "frame-ancestors" in csp
    p = make.person()
    login(client, p.username)
    for url in ("/applications", "/applications/new", "/profile", "/inbox", "/recognitions"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "no-store" in r.headers.get("Cache-Control", ""), url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url


def test_material_downloads_are_not_cached(app, client, case):
    """Medical records are personal data: the download must be no-store, like the pages."""
    login(client, "yibao")
    material = case["app"].materials[0]
    r = client.get(f"/materials/{material.id}")
    assert r.status_code == 200 and r.data == STORED_PDF
    assert "no-store" in r.headers.get("Cache-Control", "")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = audits("material.download")
    assert [(x.user_id, x.object_id) for x in rows] == [(case["office"].id, str(case["app"].id))]


# --------------------------------------------------------------------------------------------
# channel comparison

@pytest.mark.parametrize("code", ["150000", "450600"])
def test_channel_comparison_shows_every_channel(app, client, code):
    channels = app.extensions["mtkit_regions"].channels(code)
    assert len(channels) >= 2
    r = client.get(f"/regions/{code}/channels")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for c in channels:
        for text in (c.name, c.strengths, c.weaknesses, c.suits):
            assert str(escape(text)) in html, (c.code, text)


@pytest.mark.parametrize("code", ["999999", "abc", "150100"])
def test_channel_comparison_of_unknown_region_is_404(app, client, code):
    assert client.get(f"/regions/{code}/channels").status_code == 404


# --------------------------------------------------------------------------------------------
# bad input never becomes a 500

@pytest.mark.parametrize("url", [
    "/applications/99999999", "/applications/abc", "/applications/-1", "/materials/99999999",
    "/recognitions/99999999/renew",
    "/applications/2147483648",  # 2**31: does not fit a PostgreSQL INTEGER
    "/recognitions/2147483648/renew",
    "/applications/9223372036854775808",  # 2**63: does not fit SQLite's integer either
    "/materials/99999999999999999999",
])
def test_unknown_or_odd_ids_are_404(app, client, make, url):
    p = make.person()
    login(client, p.username)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("query", [
    "before=abc", "before=-5", "before=0", "status=nonsense", "view=whatever", "division=%27%3B--",
    "disease=" + "x" * 500,
    "before=2147483648",  # does not fit a PostgreSQL INTEGER
    "before=99999999999999999999",  # nor SQLite's
])
def test_queue_survives_odd_parameters(app, client, case, query):
    login(client, "yibao")
    r = client.get(f"/staff/queue?{query}")
    assert r.status_code == 200


@pytest.mark.parametrize("person_id", ["abc", "0", "-3", "99999999", "2147483648", "99999999999999999999"])
def test_proxy_form_with_odd_person_id_goes_to_the_look_up(app, client, make, person_id):
    """Odd ids are never looked up in this session: the look-up page, not an error (nor a 500)."""
    make.staff("fcg_review", "agency_reviewer", region="450600", office="O450600001")
    login(client, "fcg_review")
    r = client.get(f"/applications/new?person_id={person_id}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/file")


def test_marking_an_unknown_notice_read_is_harmless(app, client, make):
    p = make.person()
    login(client, p.username)
    for notice_id in (99999999, 2147483648, 99999999999999999999):
        r = client.post(f"/inbox/{notice_id}/read")
        assert r.status_code in (302, 404), notice_id


def test_institution_options_for_unknown_region_is_404(app, client, make):
    p = make.person()
    login(client, p.username)
    assert client.get("/applications/institutions?region=999999&division=150100").status_code == 404
    r = client.get("/applications/institutions?division=zzz")
    assert r.status_code == 200


@pytest.mark.parametrize("data,words", [
    ({"division": "zzz", "institution": "<script>", "channel": "fax", "diseases": ["NOPE"]}, "申请信息有误"),
    ({}, "申请信息有误"),
    ({"division": "150100", "institution": "H150100004", "channel": "online", "diseases": ["M03900"]},
     "不具备门特审核资格"),
    ({"division": "150100", "institution": "H150200001", "channel": "online", "diseases": ["M03900"]},
     "不在所选"),
    ({"division": "150100", "institution": "O150100001", "channel": "online", "diseases": ["M03900"]},
     "定点医疗机构"),
])
def test_new_application_with_bad_fields_is_refused_with_a_message(app, client, make, data, words):
    p = make.person()
    login(client, p.username)
    r = client.post("/applications/new", data=data)
    assert 400 <= r.status_code < 500
    assert words in r.get_data(as_text=True)
    assert count(Application) == 0


@pytest.fixture
def draft(make):
    p = make.person()
    return p, make.application(p, ["M03900"], upload=False, submit=False)


def upload(client, application, data: bytes | None, name="病情诊断书.pdf", htmx=False, material="diagnosis_cert"):
    form = {"disease_code": "*", "material_code": material}
    if data is not None:
        form["file"] = (io.BytesIO(data), name)
    return client.post(f"/applications/{application.id}/materials", data=form, content_type="multipart/form-data",
                       headers={"HX-Request": "true"} if htmx else {})


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_upload_rejects_bad_files(app, client, draft, htmx):
    p, a = draft
    login(client, p.username)
    app.config["MTKIT_MAX_FILE_BYTES"] = 1024
    cases = [
        (b"this is not a pdf at all", "诊断书.pdf", 415),  # garbage with a .pdf name
        (b"MZ\x90\x00" + b"\x00" * 60, "诊断书.pdf", 415),  # an executable renamed
        (b"", "诊断书.pdf", 422),  # empty
        (None, None, 422),  # no file chosen
        (PDF + b"%" * 2048, "诊断书.pdf", 413),  # over MTKIT_MAX_FILE_BYTES
    ]
    for data, name, status in cases:
        r = upload(client, a, data, name or "x", htmx=htmx)
        assert r.status_code == status, (name, data[:8] if data else data)
        assert "上传" in r.get_data(as_text=True) or "文件" in r.get_data(as_text=True)
    r = upload(client, a, PDF, material="not_on_the_checklist", htmx=htmx)
    assert r.status_code == 422
    assert count(Material) == 0
    assert count(AuditLog, AuditLog.action == "material.upload") == 0


def test_upload_type_is_decided_by_content_not_name(app, client, draft):
    """A PNG photo named .pdf is stored as the PNG it is (the checklist accepts PNG)."""
    p, a = draft
    login(client, p.username)
    r = upload(client, a, PNG, "诊断书.pdf")
    assert r.status_code in (200, 302)
    m = db.session.scalars(select(Material)).one()
    assert m.content_type == "image/png"
    r = client.get(f"/materials/{m.id}")
    assert r.mimetype == "image/png"
    assert r.headers["Content-Disposition"].endswith(".png")


def test_request_over_the_size_limit_is_413(app, client, draft):
    p, a = draft
    login(client, p.username)
    app.config["MAX_CONTENT_LENGTH"] = 4096
    r = upload(client, a, PDF + b"%" * 8192)
    assert r.status_code == 413
    assert "过大" in r.get_data(as_text=True)
    assert count(Material) == 0


def test_act_with_bad_fields_is_refused(app, client, case):
    a = case["app"]
    login(client, "yibao")
    version = a.version
    for data, status in [
        ({"action": "accept", "version": "abc"}, 422),
        ({"action": "accept"}, 422),
        ({"action": "accept", "version": version + 7}, 409),
        ({"action": "explode", "version": version}, 422),
        ({"action": "return", "version": version, "to": "moon", "note": ""}, 422),
    ]:
        r = client.post(f"/staff/applications/{a.id}/act", data=data)
        assert r.status_code == status, data
    db.session.expire_all()
    after = db.session.get(Application, a.id)
    assert (after.status, after.version, after.step_index) == ("submitted", version, 0)


def test_audit_log_page_for_the_instance_administrator_only(app, client, make):
    make.staff("root", "admin", region=None)
    make.staff("nmg_admin", "admin", region="150000")
    login(client, "root", "wrong-password")
    login(client, "root")
    page = client.get("/staff/audit", query_string={"username": "root"}).get_data(as_text=True)
    assert "登录" in page and "失败" in page and "成功" in page
    client.post("/logout")
    login(client, "nmg_admin")
    assert client.get("/staff/audit").status_code == 403


@pytest.mark.parametrize("method, url, data", [
    ("post", "/login", {"username": "abc\x00", "password": "x"}),
    ("get", "/staff/queue?division=%00", None),
    ("post", "/register", {"name": "张\x00三", "id_number": "11010519491231002X"}),
])
def test_nul_bytes_are_refused_before_reaching_the_database(app, client, make, method, url, data):
    make.staff("yibao", "hospital_office", hospital="H150100001", division="150100")
    login(client, "yibao")
    before = db.session.scalar(select(func.count()).select_from(AuditLog))
    r = getattr(client, method)(url, data=data)
    assert r.status_code == 400 and "无效字符" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == before


def test_audit_trail_keeps_typed_id_numbers_masked(app, client, make):
    make.staff("root", "admin", region=None)
    person = make.person()
    login(client, "11010519491231002X", "whatever1")  # unknown user: someone's ID number typed
    login(client, person.username, "wrong-password1")
    login(client, "root")
    page = client.get("/staff/audit").get_data(as_text=True)
    assert "11010519491231002X" not in page and person.id_number not in page
    # The person's own rows name their pseudonymous username (encryption at rest: no ID number in it).
    assert person.username in page and "110105********002X" in page


def test_password_change(app, client, make):
    person = make.person()
    login(client, person.username)
    r = client.post("/profile/password", data={"current": "wrong", "new": "Newpass123", "repeat": "Newpass123"})
    assert r.status_code == 422 and "当前密码不正确" in r.get_data(as_text=True)
    r = client.post("/profile/password", data={"current": PASSWORD, "new": "short", "repeat": "short"})
    assert r.status_code == 422
    r = client.post("/profile/password", data={"current": PASSWORD, "new": "Newpass123", "repeat": "Newpass123"})
    assert r.status_code == 302
    results = db.session.scalars(select(AuditLog.result).where(AuditLog.action == "user.change_password")).all()
    assert results == ["fail", "fail", "ok"]
    client.post("/logout")
    assert login(client, person.username).status_code == 401
    assert login(client, person.username, "Newpass123").status_code == 302


def test_sessions_end_after_30_idle_minutes(app, client, make):
    from datetime import datetime, timedelta, timezone
    from email.utils import parsedate_to_datetime

    make.person()
    r = login(client, db.session.scalars(select(User.username)).first())
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("session="))
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    left = expires - datetime.now(timezone.utc)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("target", ["/%09/evil.com", "//evil.com", "/%0d%0aX:y", "https://evil.com", "/\\evil.com"])
def test_log_in_never_redirects_off_site(app, client, make, target):
    person = make.person()
    r = client.post(f"/login?next={target}", data={"username": person.username, "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"] in ("/", "/applications")


def test_log_in_follows_a_local_next(app, client, make):
    person = make.person()
    r = client.post("/login?next=/recognitions", data={"username": person.username, "password": PASSWORD})
    assert r.headers["Location"] == "/recognitions"


def test_failed_password_change_does_not_show_the_full_phone(app, client, make):
    person = make.person(phone="13912345678")
    login(client, person.username)
    r = client.post("/profile/password", data={"current": "wrong", "new": "Newpass123", "repeat": "Newpass123"})
    assert r.status_code == 422 and "13912345678" not in r.get_data(as_text=True)


def test_password_change_ends_other_sessions(app, make):
    person = make.person()
    phone, laptop = app.test_client(), app.test_client()
    login(phone, person.username)
    login(laptop, person.username)
    assert laptop.get("/applications").status_code == 200
    r = phone.post("/profile/password", data={"current": PASSWORD, "new": "Newpass123", "repeat": "Newpass123"})
    assert r.status_code == 302
    assert phone.get("/applications").status_code == 200  # the session that changed it goes on
    assert laptop.get("/applications").status_code == 302  # the other one is logged out


def test_guessing_the_current_password_locks_the_account(app, client, make):
    person = make.person()
    login(client, person.username)
    for _ in range(4):
        assert client.post("/profile/password", data={"current": "guess", "new": "Newpass123", "repeat": "Newpass123"}).status_code == 422
    r = client.post("/profile/password", data={"current": "guess", "new": "Newpass123", "repeat": "Newpass123"})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/applications").status_code == 302
    r = login(client, person.username)
    assert r.status_code == 401 and "用户名或密码错误,或账号暂时不能登录" in r.get_data(as_text=True)


def test_applicant_does_not_read_internal_notes_or_unconfirmed_results(app, client, make):
    from core.applications import review

    reviewer = make.staff("fcg_review", "agency_reviewer", region="450600", office="O450600001", name="黄海燕")
    expert = make.staff("fcg_expert", "expert", region="450600", name="梁教授")
    person = make.person(region="450600", division="450602")
    a = make.application(person, ["FCG001"])
    review.act(as_(reviewer), a, "accept", a.version)
    review.act(as_(reviewer), a, "refer_expert", a.version, note="疑似材料造假,请专家复核")
    review.act(as_(expert), a, "decide", a.version, results={"FCG001": "rejected"}, reason_code="R01", note="病历不可信")
    db.session.commit()
    login(client, person.username)
    page = client.get(f"/applications/{a.id}").get_data(as_text=True)
    for secret in ("疑似材料造假", "病历不可信", "梁教授", "黄海燕", "r-rejected"):
        assert secret not in page, secret
    assert "评审专家" in page  # staff appear by role
    client.post("/logout")
    login(client, "fcg_review")
    staff_page = client.get(f"/applications/{a.id}").get_data(as_text=True)
    assert "疑似材料造假" in staff_page and "病历不可信" in staff_page and "梁教授" in staff_page


def test_new_application_form_marks_diseases_that_cannot_be_chosen(app, client, make):
    person = make.person()
    pending = make.application(person, ["M01600"])
    login(client, person.username)
    page = client.get("/applications/new").get_data(as_text=True)
    checkbox = re.search(r'<input type="checkbox" name="diseases" value="M01600"[^>]*>', page).group(0)
    assert "disabled" in checkbox and f"已在申请中(第 {pending.id} 号)" in page
    other = re.search(r'<input type="checkbox" name="diseases" value="M03900"[^>]*>', page).group(0)
    assert "disabled" not in other


def test_unread_count_and_mark_all_read(app, client, make):
    person = make.person()
    make.application(person, ["M03900"])  # the submission writes a notice
    login(client, person.username)
    assert "消息(1条未读)" in client.get("/applications").get_data(as_text=True)
    assert client.post("/inbox/read-all").status_code == 302
    assert "条未读" not in client.get("/applications").get_data(as_text=True)


def test_window_look_up_explains_a_malformed_id_number(app, client, make):
    make.staff("fcg_review", "agency_reviewer", region="450600", office="O450600001")
    login(client, "fcg_review")
    r = client.post("/staff/file", data={"id_number": "110105194912310021"})
    assert r.status_code == 422 and "校验位" in r.get_data(as_text=True)


def test_applicant_reads_the_explanation_of_a_final_rejection(app, client, make):
    from core.applications import review

    reviewer = make.staff("fcg_review", "agency_reviewer", region="450600", office="O450600001")
    person = make.person(region="450600", division="450602")
    a = make.application(person, ["FCG001"])
    review.act(as_(reviewer), a, "accept", a.version)
    review.act(as_(reviewer), a, "decide", a.version, results={"FCG001": "rejected"}, reasons={"FCG001": "R03"},
                 explanations={"FCG001": "近半年血压控制平稳,暂不需长期门诊用药"}, note="内部备注")
    review.act(as_(reviewer), a, "record", a.version)
    db.session.commit()
    login(client, person.username)
    page = client.get(f"/applications/{a.id}").get_data(as_text=True)
    assert "近半年血压控制平稳" in page and "r-rejected" in page and "内部备注" not in page


def test_audit_rows_record_the_client_behind_a_trusted_proxy_only(tmp_path, db_url):
    """ProxyFix is configured by MTKIT_PROXY_COUNT: behind one trusted proxy the audit row keeps the
    client's address from X-Forwarded-For; without it, the header is ignored (anyone could forge it)."""
    from tests.conftest import base_config

    for hops, expected in ((1, "203.0.113.7"), (0, "127.0.0.1")):
        app = create_app({**base_config(db_url, tmp_path), "MTKIT_PROXY_COUNT": hops})
        with app.app_context():
            app.test_client().post("/login", data={"username": "nobody", "password": "x" * 8},
                                   headers={"X-Forwarded-For": "203.0.113.7"})
            row = db.session.scalars(select(AuditLog).where(AuditLog.action == "login").order_by(AuditLog.id.desc())).first()
            assert row.ip == expected, hops
            db.session.remove()
