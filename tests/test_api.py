"""The JSON API, driven only over HTTP: register, apply, upload, submit, review, decide, renew."""
from __future__ import annotations

import io
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from core.extensions import db
from core.models import ApiToken, Application, AuditLog
from tests.conftest import PASSWORD
from tests.files import make_jpeg, make_pdf


class Api:
    """A channel app's view of mtkit: JSON in, JSON out, a bearer token."""

    def __init__(self, client):
        self.client = client
        self.token = None

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path, **kw):
        return self.client.get(f"/api/v1{path}", headers=self.headers(), **kw)

    def post(self, path, json=None, **kw):
        return self.client.post(f"/api/v1{path}", json=json, headers=self.headers(), **kw)

    def login(self, username, password=PASSWORD):
        r = self.post("/auth/token", {"username": username, "password": password})
        assert r.status_code == 201, r.get_json()
        self.token = r.get_json()["token"]
        return self

    def upload_all(self, app_id):
        """Upload every required material the application still lacks."""
        app = self.get(f"/applications/{app_id}").get_json()
        for item in app["materials"]:
            if item["required"] and not item["files"]:
                r = self.client.post(
                    f"/api/v1/applications/{app_id}/materials", headers=self.headers(),
                    data={"disease": item["disease"], "material": item["code"],
                          "file": [(io.BytesIO(make_pdf(1)), "扫描件.pdf")]},
                    content_type="multipart/form-data")
                assert r.status_code == 201, r.get_json()
        return self.get(f"/applications/{app_id}").get_json()

    def act(self, app_id, action, **fields):
        version = self.get(f"/applications/{app_id}").get_json()["version"]
        return self.post(f"/applications/{app_id}/actions", {"action": action, "version": version, **fields})


def api(client):
    return Api(client)


def register(client, name, id_number, region, division, phone="13800001234"):
    r = api(client).post("/persons", {"name": name, "id_number": id_number, "phone": phone, "password": PASSWORD,
                                      "region": region, "division": division, "insured_category": "employed"})
    assert r.status_code == 202, r.get_json()  # the same answer for a registered ID number (issue 12)
    return api(client).login(id_number).get("/me").get_json()


def test_inner_mongolia_end_to_end(app, client, nmg_staff):
    person = register(client, "包银花", "150102195001010029", "150000", "150100")
    assert person["id_number"] == "150102********0029" and person["role"] == "insured"
    me = api(client).login("150102195001010029")
    assert me.get("/me").get_json()["name"] == "包银花"
    diseases = me.get("/regions/150000/diseases").get_json()["items"]
    assert any(d["code"] == "M03900" for d in diseases)
    r = me.post("/applications", {"region": "150000", "division": "150100", "kind": "new", "diseases": ["M03900"],
                                  "hospital": "H150100001", "channel": "online"})
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    app_id = created["id"]
    assert created["status"] == "draft" and created["missing_materials"]
    assert {a["action"] for a in created["allowed_actions"]} == {"upload_material", "submit", "withdraw"}
    r = me.post(f"/applications/{app_id}/submit", {"version": created["version"]})
    assert r.status_code == 422 and r.get_json()["error"]["fields"]["missing"]
    assert r.get_json()["error"]["code"] == "missing_materials"  # clients branch on it
    detail = me.upload_all(app_id)
    r = me.post(f"/applications/{app_id}/submit", {"version": detail["version"]})
    assert r.status_code == 200 and r.get_json()["status"] == "submitted"
    # 医保科 受理, 责任医师 decides, 医保科 records: each through /actions.
    office = api(client).login("yibao")
    queue = office.get("/applications?queue=1").get_json()["items"]
    assert [a["id"] for a in queue] == [app_id]
    assert queue[0]["person"]["id_number"] == "150102********0029"
    actions = {a["action"] for a in office.get(f"/applications/{app_id}").get_json()["allowed_actions"]}
    assert actions == {"accept", "forward", "return"}
    assert office.act(app_id, "accept").status_code == 200
    doctor = api(client).login("doctor")
    r = doctor.act(app_id, "approve")
    assert r.status_code == 200 and r.get_json()["current_step"]["role"] == "hospital_office"
    r = office.act(app_id, "record")
    assert r.status_code == 200 and r.get_json()["status"] == "approved"
    recs = me.get("/recognitions").get_json()["items"]
    assert [(x["disease"], x["start_date"], x["end_date"]) for x in recs] == [("M03900", "2026-11-23", "2028-11-22")]
    notices = me.get("/notices").get_json()["items"]
    assert any("审核结果" in n["title"] for n in notices)
    timeline = me.get(f"/applications/{app_id}").get_json()["timeline"]
    assert [e["action"] for e in timeline] == ["create", "submit", "accept", "decide", "record"]


def test_fangchenggang_with_expert_and_renewal(app, client, fcg_staff):
    register(client, "黄丽娟", "450602196203150022", "450600", "450602")
    me = api(client).login("450602196203150022")
    r = me.post("/applications", {"region": "450600", "division": "450602", "diseases": ["FCG001"],
                                  "office": "O450600001", "channel": "online"})
    app_id = r.get_json()["id"]
    version = me.upload_all(app_id)["version"]
    assert me.post(f"/applications/{app_id}/submit", {"version": version}).status_code == 200
    reviewer = api(client).login("fcg_review")
    assert reviewer.act(app_id, "accept").status_code == 200
    assert reviewer.act(app_id, "refer_expert", note="需专家评审").status_code == 200
    expert = api(client).login("fcg_expert")
    assert expert.act(app_id, "decide", results={"FCG001": "approved"}).status_code == 200
    r = reviewer.act(app_id, "record")
    assert r.get_json()["status"] == "approved"
    rec = me.get("/recognitions").get_json()["items"][0]
    # In the renewal window (3 months before the end) the person renews through the API.
    current_app.config["MTKIT_TODAY"] = __import__("datetime").date.fromisoformat(rec["end_date"]) - timedelta(days=30)
    r = me.post(f"/recognitions/{rec['id']}/renewals", {"channel": "online"})
    assert r.status_code == 201, r.get_json()
    renewal = r.get_json()
    assert renewal["kind"] == "renewal" and renewal["renewal_of"] == rec["id"]
    version = me.upload_all(renewal["id"])["version"]
    assert me.post(f"/applications/{renewal['id']}/submit", {"version": version}).status_code == 200
    assert reviewer.act(renewal["id"], "accept").status_code == 200
    r = reviewer.act(renewal["id"], "reject", reason_code="R03", explanations={"FCG001": "病情已稳定"})
    assert r.status_code == 200
    r = reviewer.act(renewal["id"], "record")
    body = r.get_json()
    assert body["status"] == "rejected" and body["diseases"][0]["reason_code"] == "R03"


def test_errors_are_json_with_the_right_status(app, client, make, nmg_staff):
    person = make.person()
    app_row = make.application(person, ["M03900"])
    anon = api(client)
    r = anon.get("/me")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    assert anon.get("/nowhere").status_code == 404 and anon.get("/nowhere").get_json()["error"]["code"] == "not_found"
    r = client.delete("/api/v1/regions")
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"
    r = client.post("/api/v1/auth/token", data="username=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    r = client.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert r.status_code == 400
    r = client.post("/api/v1/auth/token", json=["a"])
    assert r.status_code == 422
    r = client.post("/api/v1/auth/token", json={"username": 5})
    body = r.get_json()["error"]
    assert r.status_code == 422 and set(body["fields"]) == {"username", "password"}
    assert anon.get("/regions/999999").status_code == 404
    assert anon.get("/regions/150000/diseases?year=abc").status_code == 400
    assert anon.get("/regions/150000/materials?kind=x").status_code == 400
    me = api(client).login(person.username)
    assert me.get("/applications/99999999999").status_code == 404
    # Stale version: 409, nothing changes.
    office = api(client).login("yibao")
    r = office.post(f"/applications/{app_row.id}/actions", {"action": "accept", "version": app_row.version - 1 or 99})
    assert r.status_code == 409
    # Outside the role: the insured person cannot accept; a physician cannot accept 医保科's step.
    r = me.post(f"/applications/{app_row.id}/actions", {"action": "accept", "version": app_row.version})
    assert r.status_code == 403
    doctor = api(client).login("doctor")
    r = doctor.post(f"/applications/{app_row.id}/actions", {"action": "accept", "version": app_row.version})
    assert r.status_code == 403
    # Outside the scope: another hospital does not even see it.
    other = api(client).login("bt_yibao")
    assert other.get(f"/applications/{app_row.id}").status_code == 404
    r = other.post(f"/applications/{app_row.id}/actions", {"action": "accept", "version": app_row.version})
    assert r.status_code == 404
    # Missing field: 422 naming it.
    r = office.post(f"/applications/{app_row.id}/actions", {"action": "return", "version": app_row.version})
    assert r.status_code == 422
    db.session.expire_all()
    assert db.session.get(Application, app_row.id).status == "submitted"


def test_tokens_expire_and_are_revoked(app, client, make):
    person = make.person()
    me = api(client).login(person.username)
    assert me.get("/me").status_code == 200
    assert me.post("/auth/logout").status_code == 204
    assert me.get("/me").status_code == 401
    me.login(person.username)
    row = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
    person.set_password("N3w-Passw0rd!")  # changing the password revokes every token
    db.session.commit()
    assert me.get("/me").status_code == 401
    me.login(person.username, "N3w-Passw0rd!")
    row = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
    row.expires_at = row.created_at - timedelta(seconds=1)
    db.session.commit()
    assert me.get("/me").status_code == 401


def test_failed_token_requests_lock_the_account(app, client, make):
    person = make.person()
    for _ in range(app.config["MTKIT_LOCKOUT_ATTEMPTS"]):
        r = client.post("/api/v1/auth/token", json={"username": person.username, "password": "wrong"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/token", json={"username": person.username, "password": PASSWORD})
    assert r.status_code == 401  # blocked even with the right password, and the answer does not say so
    assert r.get_json()["error"]["message"] == "用户名或密码错误,或账号暂时不能登录。"
    assert "Retry-After" not in r.headers


def test_a_browser_session_is_not_accepted_by_the_api(app, client, make):
    """The API has no CSRF token, so it must never act on a cookie alone."""
    from tests.conftest import login

    person = make.person()
    login(client, person.username)
    assert client.get("/applications").status_code == 200  # logged in in the browser sense
    assert client.get("/api/v1/me").status_code == 401
    r = client.post("/api/v1/applications", json={"region": "150000", "division": "150100", "diseases": ["M03900"],
                                                  "hospital": "H150100001", "channel": "online"})
    assert r.status_code == 401 and db.session.scalar(select(func.count()).select_from(Application)) == 0


def test_staff_file_for_a_person_by_id_number_and_upload_scans(app, client, make, fcg_staff):
    person = make.person(region="450600", division="450602", name="黄秀英")
    reviewer = api(client).login("fcg_review")
    r = reviewer.post("/applications", {"region": "450600", "division": "450602", "diseases": ["FCG001"],
                                        "office": "O450600001", "channel": "window"})
    assert r.status_code == 422  # no person_id_number
    r = reviewer.post("/applications", {"region": "450600", "division": "450602", "diseases": ["FCG001"],
                                        "office": "O450600001", "channel": "window",
                                        "person_id_number": "450602199001010017"})
    assert r.status_code in (404, 422)
    r = reviewer.post("/applications", {"region": "450600", "division": "450602", "diseases": ["FCG001"],
                                        "office": "O450600001", "channel": "window",
                                        "person_id_number": person.id_number})
    assert r.status_code == 201, r.get_json()
    app_id = r.get_json()["id"]
    r = client.post(f"/api/v1/applications/{app_id}/materials", headers=reviewer.headers(),
                    data={"disease": "*", "material": "id_card",
                          "file": [(io.BytesIO(make_jpeg(30, 20)), "身份证.jpg"), (io.BytesIO(b"MZ" * 50), "x.pdf")]},
                    content_type="multipart/form-data")
    assert r.status_code == 415 and r.get_json()["error"]["code"] == "unsupported_media_type"
    lookups = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "person.lookup"))
    assert lookups == 2


def test_openapi_matches_the_routes(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint not in ("api.openapi", "api.docs"):
            path = rule.rule[len("/api/v1"):]
            for name in rule.arguments:
                path = path.replace(f"<id:{name}>", "{id}").replace(f"<{name}>", "{" + name + "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method.lower()))
    assert documented == served
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "POST /api/v1/applications/{id}/actions" in page.get_data(as_text=True)


def test_every_private_endpoint_answers_401_to_anonymous(app, client):
    from core.api.blueprint import PUBLIC

    adapter = app.url_map.bind("localhost")
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in PUBLIC:
            continue
        url = adapter.build(rule.endpoint, {k: 1 for k in rule.arguments})
        for method in sorted(rule.methods & {"GET", "POST"}):
            r = client.open(url, method=method, json={})
            assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized", (method, url)
            checked += 1
    assert checked >= 10


def test_registration_is_self_registration_unless_window_staff_ask(app, client, make, fcg_staff):
    """Who is signed in never turns a public registration into a window one: an administrator's token
    registers the person as themselves registering; window staff's token registers at the window."""
    from core.demo import make_id_number
    from core.models import User
    from tests.conftest import login

    make.staff("boss", "admin")
    body = {"name": "王五", "phone": "13900001234", "password": PASSWORD, "region": "450600", "division": "450602"}
    r = api(app.test_client()).login("boss").post("/persons", {**body, "id_number": make_id_number("450602", "19600101", 91)})
    assert r.status_code == 202, r.get_json()
    assert db.session.scalar(select(User).where(User.id_number_is(make_id_number("450602", "19600101", 91)))).created_by_id is None
    r = api(app.test_client()).login("fcg_review").post("/persons", {**body, "id_number": make_id_number("450602", "19600101", 92)})
    assert r.status_code == 201 and db.session.get(User, r.get_json()["id"]).created_by_id == fcg_staff["reviewer"].id
    login(client, "boss")  # the public page, with an administrator signed in: still a self-registration
    r = client.post("/register", data={**body, "id_number": make_id_number("450602", "19600101", 93), "password2": PASSWORD,
                                       "insured_category": "employed", "insured_scheme": "employee"})
    assert r.status_code == 302 and r.headers["Location"] == "/register/done"
    assert db.session.scalar(select(User).where(User.name == "王五", User.created_by_id.is_(None), User.id > 3)) is not None
