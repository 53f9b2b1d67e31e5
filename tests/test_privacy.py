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
