"""Record-level scope for every role, over HTTP: who may see, list and act on which application.

Scope rules (core/people/scope.py): an insured person sees their own records; physicians and
hospital 医保科 see their hospital's; agency reviewers and experts see their region (and division,
when they have one); administrators see their region, or everything when they have no region.
Anything out of scope is "not found" (404), never a hint that the record exists.
"""
from __future__ import annotations

import io
import re
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from dateutil.relativedelta import relativedelta
from flask import template_rendered
from sqlalchemy import func, select

from core.applications import review
from core.extensions import db
from core.models import Application, ApplicationEvent, AuditLog, Decision, Material, Recognition
from core.people.identity import mask_id
from tests.conftest import PDF, TODAY, STORED_PDF, login
from tests.conftest import as_

# --------------------------------------------------------------------------------------------
# helpers


@contextmanager
def rendered(app):
    """Record (template name, context) of every template rendered inside the block."""
    seen = []

    def record(sender, template, context, **extra):
        seen.append((template.name, context))

    template_rendered.connect(record, app)
    try:
        yield seen
    finally:
        template_rendered.disconnect(record, app)


def client_for(app, username):
    c = app.test_client()
    r = login(c, username)
    assert r.status_code == 302, f"log-in of {username} failed: {r.status_code}"
    return c


def fresh(app_id):
    db.session.expire_all()
    return db.session.get(Application, app_id)


def count(model, *where):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def make_recognition(person, *, region="150000", division="150100", institution="H150100001",
                     disease="M03900", name="高血压病", months_left=2):
    """An earlier approval whose validity ends in ``months_left`` months (history made directly)."""
    end = TODAY + relativedelta(months=months_left)
    start = end + timedelta(days=1) - relativedelta(months=24)
    old = Application(person_id=person.id, region_code=region, division_code=division, institution_code=institution,
                      channel="window", kind="new", status="approved", steps=[], step_index=0)
    db.session.add(old)
    db.session.flush()
    rec = Recognition(person_id=person.id, region_code=region, division_code=division, institution_code=institution,
                      disease_code=disease, national_code=disease, disease_name=name, application_id=old.id,
                      start_date=start, end_date=end)
    db.session.add(rec)
    db.session.commit()
    return rec


def queue_ids(app, client, **args):
    """Ids of the applications the queue page lists (from the view's context), and the page."""
    with rendered(app) as seen:
        r = client.get("/staff/queue", query_string=args)
    assert r.status_code == 200, r.status_code
    ctx = next(c for name, c in seen if name == "staff/queue.html")
    return {a.id for a in ctx["apps"]}, r.get_data(as_text=True)


# --------------------------------------------------------------------------------------------
# insured persons: their own records only


@pytest.fixture
def two_people(make):
    a = make.person(name="甲参保人", phone="13800000001")
    b = make.person(name="乙参保人", phone="13800000002")
    app_a = make.application(a, ["M03900"])
    app_b = make.application(b, ["M03900"])
    draft_b = make.application(b, ["M01600"], submit=False)
    rec_a = make_recognition(a, disease="M04600", name="冠心病")
    rec_b = make_recognition(b, disease="M04600", name="冠心病")
    return dict(a=a, b=b, app_a=app_a, app_b=app_b, draft_b=draft_b, rec_a=rec_a, rec_b=rec_b)


def test_insured_cannot_reach_another_persons_records(app, client, two_people):
    w = two_people
    login(client, w["a"].username)
    material_b = w["app_b"].materials[0].id
    assert client.get(f"/applications/{w['app_b'].id}").status_code == 404
    assert client.get(f"/materials/{material_b}").status_code == 404
    assert client.get(f"/recognitions/{w['rec_b'].id}/renew").status_code == 404
    before = count(Application)
    r = client.post(f"/recognitions/{w['rec_b'].id}/renew", data={"channel": "online"})
    assert r.status_code == 404
    assert count(Application) == before
    assert count(AuditLog, AuditLog.action == "material.download") == 0
    # The 404 page gives nothing of B away.
    page = r.get_data(as_text=True)
    assert w["b"].name not in page and mask_id(w["b"].id_number) not in page


def test_insured_cannot_change_another_persons_application(app, client, two_people):
    w = two_people
    login(client, w["a"].username)
    draft = w["draft_b"]
    mat = draft.materials[0]
    version, n_materials = draft.version, count(Material)
    responses = [
        client.post(f"/applications/{draft.id}/submit", data={"version": version}),
        client.post(f"/applications/{draft.id}/withdraw", data={"version": version, "reason": "x"}),
        client.post(f"/applications/{draft.id}/materials", data={
            "disease_code": "*", "material_code": "id_copy", "file": (io.BytesIO(PDF), "a.pdf")},
            content_type="multipart/form-data"),
        client.post(f"/applications/{draft.id}/materials/{mat.id}/remove"),
    ]
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    after = fresh(draft.id)
    assert (after.status, after.version) == ("draft", version)
    assert count(Material) == n_materials
    assert db.session.get(Material, mat.id).replaced_by_id is None


def test_insured_sees_own_records(app, client, two_people):
    w = two_people
    login(client, w["a"].username)
    assert client.get(f"/applications/{w['app_a'].id}").status_code == 200
    r = client.get(f"/materials/{w['app_a'].materials[0].id}")
    assert r.status_code == 200 and r.data == STORED_PDF
    assert client.get(f"/recognitions/{w['rec_a'].id}/renew").status_code == 200
    # /applications lists A's own applications, never B's.
    with rendered(app) as seen:
        assert client.get("/applications").status_code == 200
    ctx = next(c for name, c in seen if name == "applications/mine.html")
    assert {a.id for a in ctx["apps"]} == {w["app_a"].id, w["rec_a"].application_id}


def test_insured_gets_403_on_staff_pages(app, client, make):
    p = make.person()
    login(client, p.username)
    for url in ("/staff/queue", "/staff/queue?view=all", "/staff/overview", "/staff/file"):
        assert client.get(url).status_code == 403, url


# --------------------------------------------------------------------------------------------
# staff: queue and detail scope for every role

@pytest.fixture
def world(make):
    """Applications in both regions: hospitals of Inner Mongolia, districts of Fangchenggang."""
    # An application's division is its applicant's: one person per division.
    nmg = make.person(name="内蒙参保人", phone="13800000011")
    bt = make.person(division="150200", name="包头参保人", phone="13800000012")
    fcg = make.person(region="450600", division="450602", name="防城参保人", phone="13800000022")
    dx = make.person(region="450600", division="450681", name="东兴参保人", phone="13800000023")
    fc = make.person(region="450600", division="450603", name="防城区参保人", phone="13800000024")
    apps = {
        "X": make.application(nmg, ["M03900"], institution="H150100001"),  # 呼和浩特, hospital X
        "Y_same": make.application(nmg, ["M01600"], institution="H150100002"),  # same prefecture, hospital Y
        "Y_other": make.application(bt, ["M04600"], institution="H150200001"),  # 包头
        "F_city": make.application(fcg, ["FCG001"], institution="O450600001"),
        "F_dx": make.application(dx, ["FCG002"], institution="O450681001"),  # 东兴
        "F_fc": make.application(fc, ["FCG009"], institution="O450603001"),  # 防城区
    }
    return {k: a.id for k, a in apps.items()}


ALL = {"X", "Y_same", "Y_other", "F_city", "F_dx", "F_fc"}
NMG = {"X", "Y_same", "Y_other"}
FCG = {"F_city", "F_dx", "F_fc"}
# username, role, region, division, hospital, office, title -> keys of `world` in scope
STAFF_SCOPES = [
    (("doc_x", "physician", "150000", "150100", "H150100001", None, "副主任医师"), {"X"}),
    (("office_x", "hospital_office", "150000", "150100", "H150100001", None, None), {"X"}),
    (("doc_bt", "physician", "150000", "150200", "H150200001", None, "主任医师"), {"Y_other"}),
    (("office_y", "hospital_office", "150000", "150100", "H150100002", None, None), {"Y_same"}),
    (("nmg_agency", "agency_reviewer", "150000", "150100", None, "O150100001", None), {"X", "Y_same"}),
    (("fcg_review", "agency_reviewer", "450600", None, None, "O450600001", None), FCG),
    (("dx_review", "agency_reviewer", "450600", "450681", None, "O450681001", None), {"F_dx"}),
    (("fcg_expert", "expert", "450600", None, None, None, None), set()),  # experts: only referred cases
    (("nmg_admin", "admin", "150000", None, None, None, None), NMG),
    (("fcg_admin", "admin", "450600", None, None, None, None), FCG),
    (("root", "admin", None, None, None, None, None), ALL),
]
SCOPE_IDS = [spec[0] for spec, _ in STAFF_SCOPES]


def make_staff(make, spec):
    username, role, region, division, hospital, office, title = spec
    return make.staff(username, role, region=region, division=division, hospital=hospital, office=office,
                      title=title, name=f"工作人员{username}")


@pytest.mark.parametrize("spec,visible", STAFF_SCOPES, ids=SCOPE_IDS)
def test_staff_scope_queue_overview_detail_download(app, client, make, world, spec, visible):
    """One role per case: the queue, the overview counts, detail pages and downloads all agree."""
    make_staff(make, spec)
    login(client, spec[0])
    wanted = {world[k] for k in visible}
    hidden = {world[k] for k in ALL - visible}

    ids, page = queue_ids(app, client, view="all")
    assert ids == wanted, "queue (view=all)"
    linked = {int(n) for n in re.findall(r"/applications/(\d+)\b", page)}
    assert wanted <= linked, "queue links every application in scope"
    assert not linked & hidden, "queue links an application out of scope"

    with rendered(app) as seen:
        assert client.get("/staff/overview").status_code == 200
    ctx = next(c for name, c in seen if name == "staff/overview.html")
    assert sum(ctx["overview"].counts.values()) == ctx["overview"].total == len(visible), "overview counts"

    got, expected = {}, {}
    for key, app_id in world.items():
        material = db.session.get(Application, app_id).materials[0]
        got[key] = client.get(f"/applications/{app_id}").status_code
        got[key + "/material"] = client.get(f"/materials/{material.id}").status_code
        expected[key] = expected[key + "/material"] = 200 if key in visible else 404
    assert got == expected, "detail / download status codes"


def test_default_queue_shows_only_what_waits_for_my_role(app, make, nmg_staff, world):
    """A fresh submission waits for the hospital 医保科 (受理), not for the physician."""
    office = client_for(app, "yibao")
    doctor = client_for(app, "doctor")
    assert queue_ids(app, office)[0] == {world["X"]}
    assert queue_ids(app, doctor)[0] == set()
    review.act(as_(nmg_staff["office"]), db.session.get(Application, world["X"]), "accept",
                 db.session.get(Application, world["X"]).version)
    db.session.commit()
    assert queue_ids(app, office)[0] == set()
    assert queue_ids(app, doctor)[0] == {world["X"]}


def test_queue_filters_cannot_widen_the_scope(app, client, make, world):
    """?division= of another district and ?status= never show more than the user's scope."""
    make.staff("dx", "agency_reviewer", region="450600", division="450681", office="O450681001")
    login(client, "dx")
    assert queue_ids(app, client, view="all", division="450602")[0] == set()
    assert queue_ids(app, client, view="all", status="submitted")[0] == {world["F_dx"]}
    assert queue_ids(app, client, view="all", before=str(max(world.values()) + 1))[0] == {world["F_dx"]}


# --------------------------------------------------------------------------------------------
# acting: scope, role, step and title

ACT_OUT_OF_SCOPE = [
    # actor spec, target application: same request must be refused as "not found"
    (("office_x", "hospital_office", "150000", "150100", "H150100001", None, None), "F_city"),  # other region
    (("office_x", "hospital_office", "150000", "150100", "H150100001", None, None), "Y_same"),  # other hospital
    (("office_x", "hospital_office", "150000", "150100", "H150100001", None, None), "Y_other"),
    (("fcg_review", "agency_reviewer", "450600", None, None, "O450600001", None), "X"),  # other region
    (("dx_review", "agency_reviewer", "450600", "450681", None, "O450681001", None), "F_city"),  # other district
    (("nmg_admin", "admin", "150000", None, None, None, None), "F_city"),
]


@pytest.mark.parametrize("spec,target", ACT_OUT_OF_SCOPE, ids=[f"{s[0]}->{t}" for s, t in ACT_OUT_OF_SCOPE])
def test_acting_out_of_scope_is_not_found_and_changes_nothing(app, client, make, world, spec, target):
    make_staff(make, spec)
    login(client, spec[0])
    before = fresh(world[target])
    status, version, step = before.status, before.version, before.step_index
    events, audits = count(ApplicationEvent), count(AuditLog, AuditLog.action.like("application.%"))
    r = client.post(f"/staff/applications/{world[target]}/act", data={"action": "accept", "version": version})
    assert r.status_code == 404
    after = fresh(world[target])
    assert (after.status, after.version, after.step_index) == (status, version, step)
    assert count(ApplicationEvent) == events
    assert count(AuditLog, AuditLog.action.like("application.%")) == audits


@pytest.fixture
def at_physician_step(make, nmg_staff):
    """An Inner Mongolia application accepted by hospital X's 医保科: the physician's turn."""
    p = make.person(name="待审参保人")
    a = make.application(p, ["M03900"], institution="H150100001")
    review.act(as_(nmg_staff["office"]), a, "accept", a.version)
    db.session.commit()
    return a


def test_physician_below_deputy_chief_cannot_decide(app, client, nmg_staff, at_physician_step):
    a = at_physician_step
    version, step = a.version, a.step_index
    login(client, "junior")  # 主治医师
    r = client.post(f"/staff/applications/{a.id}/act",
                    data={"action": "decide", "version": version, "result_M03900": "approved"})
    assert r.status_code == 403
    assert "副主任医师" in r.get_data(as_text=True)
    assert count(Decision) == 0
    after = fresh(a.id)
    assert (after.version, after.step_index, after.diseases[0].result) == (version, step, "pending")


def test_deputy_chief_physician_can_decide(app, client, nmg_staff, at_physician_step):
    a = at_physician_step
    login(client, "doctor")  # 副主任医师
    r = client.post(f"/staff/applications/{a.id}/act",
                    data={"action": "decide", "version": a.version, "result_M03900": "approved"})
    assert r.status_code == 302
    rows = db.session.scalars(select(Decision).where(Decision.application_id == a.id)).all()
    assert [(d.disease_code, d.result, d.decided_by_id) for d in rows] == [("M03900", "approved", nmg_staff["doctor"].id)]
    assert fresh(a.id).current_step["kind"] == "record"


def test_other_hospitals_senior_physician_cannot_decide(app, client, nmg_staff, at_physician_step):
    """A 主任医师 of another hospital: the application is simply not found."""
    a = at_physician_step
    login(client, "bt_doctor")
    r = client.post(f"/staff/applications/{a.id}/act",
                    data={"action": "decide", "version": a.version, "result_M03900": "approved"})
    assert r.status_code == 404
    assert count(Decision) == 0


def test_wrong_role_at_a_step_is_forbidden(app, make, nmg_staff, fcg_staff):
    nmg_p = make.person(name="内蒙参保人")
    fcg_p = make.person(region="450600", division="450602", name="防城参保人")
    submitted = make.application(nmg_p, ["M03900"], institution="H150100001")  # 材料受理: 医保科
    reviewed = make.application(nmg_p, ["M01600"], institution="H150100001")
    review.act(as_(nmg_staff["office"]), reviewed, "accept", reviewed.version)  # 责任医师审核: physician
    fcg_new = make.application(fcg_p, ["FCG001"], institution="O450600001", division="450602")  # 受理: reviewer
    fcg_expert = make.application(fcg_p, ["FCG002"], institution="O450600001", division="450602")
    review.act(as_(fcg_staff["reviewer"]), fcg_expert, "accept", fcg_expert.version)
    review.act(as_(fcg_staff["reviewer"]), fcg_expert, "refer_expert", fcg_expert.version)  # 专家评审: expert
    db.session.commit()
    cases = [
        ("doctor", submitted, {"action": "accept"}),
        ("doctor", submitted, {"action": "return", "to": "applicant", "note": "缺材料"}),
        ("yibao", reviewed, {"action": "decide", "result_M01600": "approved"}),
        ("fcg_expert", fcg_new, {"action": "accept"}),
        ("fcg_review", fcg_expert, {"action": "decide", "result_FCG002": "approved"}),
    ]
    for username, target, data in cases:
        c = client_for(app, username)
        before = fresh(target.id)
        version, step, status = before.version, before.step_index, before.status
        r = c.post(f"/staff/applications/{target.id}/act", data={**data, "version": version})
        # An expert does not even see a case nobody referred to expert review (tests/test_privacy.py).
        assert r.status_code == (404 if username == "fcg_expert" else 403), (username, data)
        after = fresh(target.id)
        assert (after.version, after.step_index, after.status) == (version, step, status), (username, data)
    assert count(Decision) == 0


# --------------------------------------------------------------------------------------------
# anonymous users

PUBLIC = {"static", "public.home", "public.channels", "public.htmx_js", "public.healthz", "auth.login", "auth.register",
          "ops.readyz", "ops.metrics_page",  # probes: readiness, and metrics for allowed networks only (tests/test_ops.py)
          "auth.registered",  # what a registration answers, new or already registered (issue 12)
          "auth.register_fields",  # the registration form's division list for the chosen region (issue 13)
          # Blank forms and the notice check are for everyone (tests/test_documents.py).
          "documents.blank_index", "documents.blank", "documents.verify_form", "documents.verify"}


def test_anonymous_is_sent_to_login_for_every_protected_page(app, client, make):
    p = make.person()
    a = make.application(p, ["M03900"])
    args = {"app_id": a.id, "material_id": a.materials[0].id, "rec_id": 1, "notice_id": 1, "form": "application", "page": 1,
            "day_id": 1, "delivery_id": 1, "failure_id": 1, "batch": "x", "person_id": p.id, "row_id": 1, "stay_id": 1,
            "session_id": 1, "user_id": p.id, "action": "unlock", "case_id": 1, "task_id": 1}
    adapter = app.url_map.bind("localhost")
    checked, wrong = [], []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint.startswith("api."):  # the API answers 401 (tests/test_api.py)
            continue
        url = adapter.build(rule.endpoint, {k: args[k] for k in rule.arguments})
        for method in sorted(rule.methods & {"GET", "POST"}):
            r = client.open(url, method=method)
            checked.append((method, url))
            if r.status_code != 302 or urlparse(r.headers["Location"]).path != "/login":
                wrong.append((method, url, r.status_code, r.headers.get("Location")))
    assert len(checked) >= 20
    assert wrong == []
    assert fresh(a.id).status == "submitted"


# --------------------------------------------------------------------------------------------
# 代办: staff filing for a person

def test_agency_reviewer_files_for_a_person_of_own_region(app, client, make, fcg_staff):
    local = make.person(region="450600", division="450602", name="防城参保人", phone="13800000033")
    login(client, "fcg_review")
    r = client.get(f"/applications/new?person_id={local.id}")  # not looked up yet: to the look-up, saying why
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/file")
    client.post("/staff/file", data={"id_number": local.id_number})
    r = client.get(f"/applications/new?person_id={local.id}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert local.name in page and mask_id(local.id_number) in page
    assert local.id_number not in page


def test_agency_reviewer_cannot_file_for_another_regions_person(app, client, make, fcg_staff):
    other = make.person(name="内蒙参保人")
    login(client, "fcg_review")
    r = client.get(f"/applications/new?person_id={other.id}", follow_redirects=True)
    assert r.request.path == "/staff/file" and "请先查询参保人" in r.get_data(as_text=True)
    assert other.name not in r.get_data(as_text=True)
    before = count(Application)
    r = client.post("/applications/new", data={
        "person_id": other.id, "division": "150100", "institution": "H150100001", "channel": "window",
        "diseases": "M03900"})
    assert r.status_code == 404
    assert count(Application) == before


def test_proxy_filing_creates_the_application_for_the_person(app, client, make, fcg_staff):
    local = make.person(region="450600", division="450602", name="防城参保人")
    login(client, "fcg_review")
    client.post("/staff/file", data={"id_number": local.id_number})
    r = client.post("/applications/new", data={
        "person_id": local.id, "division": "450602", "institution": "O450600001", "channel": "window",
        "diseases": "FCG001"})
    assert r.status_code == 302
    a = db.session.scalars(select(Application)).one()
    assert (a.person_id, a.filed_by_id) == (local.id, fcg_staff["reviewer"].id)


def test_division_reviewer_cannot_file_into_another_district(app, client, make, fcg_staff):
    local = make.person(region="450600", division="450602", name="防城参保人")
    login(client, "dx_review")  # 东兴市 only
    # Another district's person is not found at all (the one look-up, as on 门特结算), so no form opens.
    r = client.post("/staff/file", data={"id_number": local.id_number})
    assert r.status_code == 404 and local.name not in r.get_data(as_text=True)
    r = client.post("/applications/new", data={
        "person_id": local.id, "division": "450602", "institution": "O450600001", "channel": "window",
        "diseases": "FCG001"})
    assert r.status_code in (403, 404)
    assert count(Application) == 0


@pytest.mark.parametrize("spec", [
    ("doc_x", "physician", "150000", "150100", "H150100001", None, "副主任医师"),
    ("nmg_expert", "expert", "150000", None, None, None, None),
    ("nmg_admin", "admin", "150000", None, None, None, None),
], ids=lambda s: s[1])
def test_roles_that_cannot_file_do_not_get_a_persons_form(app, client, make, spec):
    """Only 医保经办 and 医院医保科 file on a person's behalf (as /staff/file says). Other staff must not
    open the form for an arbitrary person_id: it shows the person's name and ID to anyone in the region."""
    person = make.person(name="内蒙参保人")
    make_staff(make, spec)
    login(client, spec[0])
    r = client.get(f"/applications/new?person_id={person.id}")
    assert r.status_code in (403, 404)
    assert person.name not in r.get_data(as_text=True)


def test_insured_person_id_parameter_is_ignored(app, client, make):
    a = make.person(name="甲参保人", phone="13800000001")
    b = make.person(name="乙参保人", phone="13800000002")
    login(client, a.username)
    r = client.get(f"/applications/new?person_id={b.id}")
    assert r.status_code in (200, 404)
    page = r.get_data(as_text=True)
    assert b.name not in page and mask_id(b.id_number) not in page
    r = client.post("/applications/new", data={
        "person_id": b.id, "division": "150100", "institution": "H150100001", "channel": "online",
        "diseases": "M03900"})
    created = db.session.scalars(select(Application)).all()
    assert all(x.person_id == a.id for x in created)
    assert all(x.filed_by_id is None for x in created)
    if r.status_code == 302:
        assert len(created) == 1


def test_staff_file_lookup_only_finds_own_region(app, client, make, fcg_staff):
    other = make.person(name="内蒙参保人")
    local = make.person(region="450600", division="450602", name="防城参保人")
    login(client, "fcg_review")
    r = client.post("/staff/file", data={"id_number": other.id_number})
    assert r.status_code == 404
    r = client.post("/staff/file", data={"id_number": local.id_number})
    assert r.status_code == 302 and f"person_id={local.id}" in r.headers["Location"]
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "person.lookup")).all()
    assert [x.result for x in rows] == ["not_found", "ok"]


def test_roles_without_proxy_rights_cannot_use_staff_file(app, client, make, fcg_staff):
    login(client, "fcg_expert")
    assert client.get("/staff/file").status_code == 403
    assert client.post("/staff/file", data={"id_number": "x"}).status_code == 403


def test_window_registers_a_person_and_files_for_them(app, client, make, fcg_staff):
    from core.demo import make_id_number
    from core.models import User

    login(client, "dx_review")  # 东兴市 window
    idn = make_id_number("450681", "19500505", 31)
    data = {"name": "窗口参保人", "id_number": idn, "phone": "13900000099", "division": "450681",
            "insured_category": "retired", "password": "Window123", "password2": "Window123"}
    # Another district is outside this window's scope: refused, nobody created.
    assert client.post("/staff/register-person", data={**data, "division": "450602"}).status_code == 403
    assert client.post("/staff/register-person", data={**data, "id_number": idn[:-1] + "0"}).status_code == 422
    assert db.session.scalar(select(func.count()).select_from(User).where(User.role == "insured")) == 0
    r = client.post("/staff/register-person", data=data)
    assert r.status_code == 302
    person = db.session.scalars(select(User).where(User.id_number_is(idn))).one()
    assert (person.created_by_id, person.region_code, person.insured_category) == (fcg_staff["dx_reviewer"].id, "450600", "retired")
    assert client.get(r.headers["Location"]).status_code == 200  # the proxy form opens for them
    assert client.post("/staff/register-person", data=data).status_code == 422  # registered once only


def test_staff_renew_for_a_person_only_after_looking_them_up(app, client, make, fcg_staff):
    person = make.person(region="450600", division="450602", name="续办参保人")
    old = Application(person_id=person.id, region_code="450600", division_code="450602", institution_code="O450600001",
                      channel="window", kind="new", status="approved", steps=[], step_index=0)
    db.session.add(old)
    db.session.flush()
    rec = Recognition(person_id=person.id, region_code="450600", division_code="450602", institution_code="O450600001",
                      disease_code="FCG001", national_code="M03900", disease_name="高血压", application_id=old.id,
                      start_date=TODAY - relativedelta(months=22), end_date=TODAY + relativedelta(months=2))
    db.session.add(rec)
    db.session.commit()
    login(client, "fcg_review")
    assert client.get(f"/recognitions/{rec.id}/renew").status_code == 404
    client.post("/staff/file", data={"id_number": person.id_number})
    assert client.get(f"/recognitions/{rec.id}/renew").status_code == 200


def test_staff_do_not_see_a_persons_unsubmitted_draft(app, client, make, nmg_staff):
    person = make.person()
    draft = make.application(person, ["M03900"], submit=False)
    login(client, "yibao")
    assert client.get(f"/applications/{draft.id}").status_code == 404
    material = draft.current_materials()[0]
    assert client.get(f"/materials/{material.id}").status_code == 404
    assert draft.id not in queue_ids(app, client, view="all")[0]


def test_a_district_reviewer_finds_another_districts_person_nowhere(app, client, make, fcg_staff):
    """Drift fixed: one look-up, one scope rule. A 东兴市 reviewer naming a 港口区 person got the
    person's name on the 代办 page but 404 on 门特结算; now every way in answers 'not found'."""
    from tests.test_api import api

    other = make.person(region="450600", division="450602", name="港口参保人")
    login(client, "dx_review")
    for url in ("/staff/file", "/staff/benefits"):
        r = client.post(url, data={"id_number": other.id_number})
        assert r.status_code == 404 and other.name not in r.get_data(as_text=True), url
    dx = api(app.test_client()).login("dx_review")
    r = dx.post("/applications", {"region": "450600", "division": "450602", "diseases": ["FCG001"],
                                  "office": "O450600001", "channel": "window", "person_id_number": other.id_number})
    assert r.status_code == 404 and other.name not in r.get_data(as_text=True)
    r = dx.client.get("/api/v1/benefits/balances", headers={**dx.headers(), "X-Person-Id-Number": other.id_number})
    assert r.status_code == 404
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "person.lookup")).all()
    assert [(x.result, x.object_id) for x in rows] == [("not_found", None)] * 4
    assert count(Application) == 0
