"""Privacy (issue 12): views of an application are audited, experts see only what was referred to
them, names are masked on staff screens unless a reason is given, and a person downloads a copy of
their own data (PIPL art. 45)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.applications import review
from core.extensions import db
from core.models import AuditLog
from tests.conftest import as_, login
from tests.test_api import api


def audits(action, **where):
    db.session.expire_all()
    q = select(AuditLog).where(AuditLog.action == action)
    for k, v in where.items():
        q = q.where(getattr(AuditLog, k) == v)
    return db.session.scalars(q.order_by(AuditLog.id)).all()


def signed_in(app, username):
    c = app.test_client()
    assert login(c, username).status_code == 302
    return c


def act(application, actor, action, **fields):
    review.act(as_(actor), application, action, application.version, **fields)
    db.session.commit()


# --------------------------------------------------------------------------------------------
# views are audited


def test_a_staff_view_of_an_application_page_is_audited_once_per_page(app, make, nmg_staff):
    person = make.person(name="王小明")
    a = make.application(person, ["M03900"])
    staff = signed_in(app, "yibao")
    assert staff.get(f"/applications/{a.id}").status_code == 200
    rows = audits("application.view")
    assert [(r.username, r.object_type, r.object_id, r.detail) for r in rows] == [
        ("yibao", "applications", str(a.id), "via=web")]
    assert rows[0].ip == "127.0.0.1"
    # An htmx fragment of the page already open adds nothing; the person's own views are not recorded.
    assert staff.get(f"/applications/{a.id}", headers={"HX-Request": "true"}).status_code == 200
    own = signed_in(app, person.username)
    assert own.get(f"/applications/{a.id}").status_code == 200
    assert len(audits("application.view")) == 1


def test_a_staff_view_through_the_api_is_audited(app, client, make, nmg_staff):
    person = make.person()
    a = make.application(person, ["M03900"])
    assert api(client).login("yibao").get(f"/applications/{a.id}").status_code == 200
    assert [(r.username, r.detail) for r in audits("application.view", object_id=str(a.id))] == [("yibao", "via=api")]
    api(app.test_client()).login(person.username).get(f"/applications/{a.id}")
    assert len(audits("application.view")) == 1


def test_a_view_out_of_scope_is_a_404_and_not_recorded_as_a_view(app, make, nmg_staff):
    a = make.application(make.person(), ["M03900"])
    other = signed_in(app, "bt_yibao")  # another hospital
    assert other.get(f"/applications/{a.id}").status_code == 404
    assert audits("application.view") == []


# --------------------------------------------------------------------------------------------
# experts: only what was referred to them


@pytest.fixture
def expert_world(app, make, fcg_staff):
    """Two applications in 防城港: one referred to expert review, one not; two experts."""
    second = make.staff("fcg_expert2", "expert", region="450600")
    p1 = make.person(region="450600", division="450602", name="韦referred")
    p2 = make.person(region="450600", division="450602", name="黄plain")
    referred = make.application(p1, ["FCG001"])
    plain = make.application(p2, ["FCG001"])
    for a in (referred, plain):
        act(a, fcg_staff["reviewer"], "accept")
    act(referred, fcg_staff["reviewer"], "refer_expert", note="需专家评审")
    return {"referred": referred, "plain": plain, "expert": fcg_staff["expert"], "second": second,
            "reviewer": fcg_staff["reviewer"]}


def _queue_ids(client, **args):
    html = client.get("/staff/queue", query_string=args).get_data(as_text=True)
    return {int(n) for n in re.findall(r'href="/applications/(\d+)"', html)}


def test_an_expert_sees_only_applications_referred_to_expert_review(app, expert_world):
    referred, plain = expert_world["referred"], expert_world["plain"]
    c = signed_in(app, "fcg_expert")
    assert _queue_ids(c) == {referred.id}
    assert _queue_ids(c, view="all") == {referred.id}
    assert c.get(f"/applications/{referred.id}").status_code == 200
    material = plain.current_materials()[0]
    for url in (f"/applications/{plain.id}", f"/materials/{material.id}", f"/materials/{material.id}/preview",
                f"/applications/{plain.id}/forms/application.pdf"):
        r = c.get(url)
        assert r.status_code == 404, url
        assert "记录不存在" in r.get_data(as_text=True), url
    # The overview counts only what the expert may open.
    assert "黄plain" not in c.get("/staff/overview").get_data(as_text=True)
    # The API says the same.
    e = api(app.test_client()).login("fcg_expert")
    assert {x["id"] for x in e.get("/applications?queue=1&view=all").get_json()["items"]} == {referred.id}
    r = e.get(f"/applications/{plain.id}")
    assert r.status_code == 404 and r.get_json()["error"]["message"]
    assert e.get(f"/applications/{referred.id}").status_code == 200
    r = e.post(f"/applications/{plain.id}/actions", {"action": "approve", "version": plain.version})
    assert r.status_code == 404


def test_an_expert_keeps_read_only_access_to_cases_they_reviewed(app, expert_world):
    referred = expert_world["referred"]
    material = referred.current_materials()[0]
    act(referred, expert_world["expert"], "decide", results={"FCG001": "approved"})
    mine = signed_in(app, "fcg_expert")
    assert mine.get(f"/applications/{referred.id}").status_code == 200
    assert mine.get(f"/materials/{material.id}").status_code == 200
    page = mine.get(f"/applications/{referred.id}").get_data(as_text=True)
    assert 'name="action"' not in page  # nothing left for an expert to do: read-only
    assert _queue_ids(mine) == set() and _queue_ids(mine, view="all") == {referred.id}
    # The other expert of the region was never asked: once the expert step is over, it is gone.
    other = signed_in(app, "fcg_expert2")
    assert other.get(f"/applications/{referred.id}").status_code == 404
    assert other.get(f"/materials/{material.id}").status_code == 404
    assert _queue_ids(other, view="all") == set()


def test_experts_reach_no_people_recognitions_or_benefit_records(app, expert_world):
    """What a decided case leaves behind (the recognition, the person) is not the expert's business."""
    from core.kernel.errors import NotFound
    from core.models import Recognition
    from core.people.scope import can_view_person, get_visible, record_scope

    referred, expert = expert_world["referred"], expert_world["expert"]
    act(referred, expert, "decide", results={"FCG001": "approved"})
    act(referred, expert_world["reviewer"], "record")
    rec = db.session.scalars(select(Recognition).where(Recognition.application_id == referred.id)).one()
    with pytest.raises(NotFound):
        get_visible(expert, Recognition, rec.id)
    assert db.session.scalars(select(Recognition).where(record_scope(expert, Recognition))).all() == []
    assert not can_view_person(expert, referred.person)
    assert can_view_person(expert_world["reviewer"], referred.person)  # the reviewer's scope is as before


def test_other_roles_scope_is_unchanged(app, expert_world):
    """The 防城港 reviewer still sees both applications, referred or not."""
    c = signed_in(app, "fcg_review")
    assert _queue_ids(c, view="all") >= {expert_world["referred"].id, expert_world["plain"].id}


# --------------------------------------------------------------------------------------------
# names masked on staff screens; reveal with a reason


@pytest.fixture
def named(make, nmg_staff):
    person = make.person(name="欧阳秀英", phone="13912345678")
    return person, make.application(person, ["M03900"])


def test_staff_screens_and_the_staff_api_mask_the_applicants_name(app, named):
    person, a = named
    staff = signed_in(app, "yibao")
    for url in ("/staff/queue", "/staff/queue?view=all", f"/applications/{a.id}"):
        html = staff.get(url).get_data(as_text=True)
        assert person.name not in html, url
        assert "欧***" in html, url
    page = staff.get(f"/applications/{a.id}").get_data(as_text=True)
    assert all(label in page for label in ("审核需要核对身份", "电话联系参保人", "窗口办理", "其他(请说明)"))
    body = api(app.test_client()).login("yibao").get(f"/applications/{a.id}").get_json()
    assert body["person"]["name"] == "欧***"
    items = api(app.test_client()).login("yibao").get("/applications?queue=1&view=all").get_json()["items"]
    assert [x["person"]["name"] for x in items] == ["欧***"]


def test_the_person_sees_their_own_name(app, named):
    person, a = named
    own = signed_in(app, person.username)
    assert person.name in own.get(f"/applications/{a.id}").get_data(as_text=True)
    assert api(app.test_client()).login(person.username).get(f"/applications/{a.id}").get_json()["person"]["name"] == person.name


def test_the_staff_timeline_does_not_name_the_applicant(app, named):
    """The applicant submitted it: staff read 申请人本人, not the name the screen masks."""
    person, a = named
    html = signed_in(app, "yibao").get(f"/applications/{a.id}").get_data(as_text=True)
    assert "申请人本人" in html and person.name not in html


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_reveal_needs_a_reason_and_records_it(app, named, htmx):
    person, a = named
    staff = signed_in(app, "yibao")
    headers = {"HX-Request": "true"} if htmx else {}
    url = f"/staff/applications/{a.id}/reveal"
    for data, message in (({}, "请选择查看完整身份信息的事由。"), ({"reason": "curious"}, "请选择查看完整身份信息的事由。"),
                          ({"reason": "other", "note": "  "}, "选择「其他」时请写明查看事由。"),
                          ({"reason": "other", "note": "查" * 201}, "事由说明不能超过200字。")):
        r = staff.post(url, data=data, headers=headers)
        html = r.get_data(as_text=True)
        assert r.status_code == 422, data
        assert message in html, data
        assert person.name not in html and person.id_number not in html and person.phone not in html
        assert 'data-fragment="identity"' in html  # htmx swaps the refusal in place
    assert audits("person.view_full") == []
    r = staff.post(url, data={"reason": "phone_contact"}, headers=headers)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert person.name in html and person.id_number in html and person.phone in html
    assert "电话联系参保人" in html and "此次查看已记录" in html
    r = staff.post(url, data={"reason": "other", "note": "参保人来电 核对地址"}, headers=headers)
    assert r.status_code == 200
    rows = audits("person.view_full")
    assert [(x.username, x.object_id, x.detail) for x in rows] == [
        ("yibao", str(person.id), f"application={a.id} 事由:电话联系参保人"),
        ("yibao", str(person.id), f"application={a.id} 事由:其他(参保人来电 核对地址)"),
    ]
    # Opening the page again shows the name masked: a reveal is for that one view.
    assert person.name not in staff.get(f"/applications/{a.id}").get_data(as_text=True)


def test_an_insured_person_cannot_reveal(app, named, make):
    person, a = named
    assert signed_in(app, person.username).post(f"/staff/applications/{a.id}/reveal",
                                                data={"reason": "window"}).status_code == 403
    assert audits("person.view_full") == []


# --------------------------------------------------------------------------------------------
# a copy of one's own data (PIPL art. 45)


@pytest.fixture
def two_records(make, nmg_staff):
    """Two people, each with a decided application; the first one's record was opened by staff."""
    mine = make.person(name="刘建华", phone="13912340001")
    other = make.person(name="马秀兰", phone="13912340002")
    a = make.application(mine, ["M03900"])
    b = make.application(other, ["M01600"])
    for x in (a, b):
        act(x, nmg_staff["office"], "accept")
    staff = signed_in(make.app, "yibao")
    staff.get(f"/applications/{a.id}")
    staff.post(f"/staff/applications/{a.id}/reveal", data={"reason": "verify_identity"})
    return mine, other, a, b


def test_a_person_downloads_all_their_own_data_and_nobody_elses(app, two_records):
    import json

    mine, other, a, b = two_records
    c = signed_in(app, mine.username)
    r = c.get("/profile/export.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert "attachment" in r.headers["Content-Disposition"] and mine.id_number not in r.headers["Content-Disposition"]
    assert "no-store" in r.headers["Cache-Control"]
    d = json.loads(r.data)
    assert d["person"]["name"] == mine.name
    assert d["exported_at"].endswith("+08:00")  # moments in the person's region's time zone
    assert d["person"]["id_number"] == mine.id_number and d["person"]["phone"] == mine.phone  # theirs: in full
    assert [x["id"] for x in d["applications"]] == [a.id]
    assert d["applications"][0]["materials"] and "file_name" in d["applications"][0]["materials"][0]
    assert d["applications"][0]["timeline"][0]["action"] == "create"
    # Who opened their record: the 医保科 view and the full reveal, by role, without staff user names.
    seen = [(x["action"], x["by_role"]) for x in d["accesses_by_others"]]
    assert ("application.view", "医院医保科") in seen and ("person.view_full", "医院医保科") in seen
    text = r.get_data(as_text=True)
    for leaked in (other.name, other.id_number, other.phone, "yibao", b.reference):
        assert leaked not in text, leaked
    rows = audits("person.export")
    assert [(x.user_id, x.object_id, x.detail) for x in rows] == [(mine.id, str(mine.id), "format=json")]


def test_the_pdf_summary_is_a_pdf_with_their_data(app, two_records):
    mine, other, a, b = two_records
    c = signed_in(app, mine.username)
    r = c.get("/profile/export.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    assert [x.detail for x in audits("person.export")] == ["format=pdf"]
    pypdf = pytest.importorskip("pypdf")
    import io

    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(r.data)).pages)
    assert mine.id_number in text and a.reference in text
    assert other.id_number not in text


def test_the_api_gives_the_same_copy(app, client, two_records):
    mine, other, a, b = two_records
    r = api(client).login(mine.username).get("/me/export")
    assert r.status_code == 200
    body = r.get_json()
    assert body["person"]["id_number"] == mine.id_number and [x["id"] for x in body["applications"]] == [a.id]
    assert [x.detail for x in audits("person.export")] == ["format=json"]


def test_staff_cannot_export_anybody(app, client, two_records):
    """Only the person's own record ever comes out: staff get a refusal, not someone's data."""
    mine = two_records[0]
    c = signed_in(app, "yibao")
    for url in ("/profile/export.json", f"/profile/export.json?person_id={mine.id}", "/profile/export.pdf"):
        r = c.get(url)
        assert r.status_code == 403, url
        assert "只有参保人本人可以下载自己的数据" in r.get_data(as_text=True)
    r = api(app.test_client()).login("yibao").get("/me/export")
    assert r.status_code == 403 and "只有参保人本人" in r.get_json()["error"]["message"]
    assert audits("person.export") == []


def test_nobody_signed_in_gets_nothing(app, client, two_records):
    r = client.get("/profile/export.json")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/api/v1/me/export").status_code == 401
    assert audits("person.export") == []


def test_the_profile_page_links_to_the_download(app, two_records):
    html = signed_in(app, two_records[0].username).get("/profile").get_data(as_text=True)
    assert "/profile/export.pdf" in html and "/profile/export.json" in html
