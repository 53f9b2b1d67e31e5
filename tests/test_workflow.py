"""The review state machine in both regions: steps, roles, returns, expert review, locking."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.applications import review, rules
from core.extensions import db
from core.models import Application, AuditLog, Decision, Material, Notice, Recognition
from core.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from core.applications import materials
from core.applications import service as apps
from tests.conftest import as_


def act(app, user, action, **fields):
    review.act(as_(user), app, action, app.version, **fields)
    db.session.commit()
    return app


def statuses(app):
    return [e.action for e in app.events]


def test_neimenggu_normal_track(make, nmg_staff):
    person = make.person()
    app = make.application(person, ["M03900", "M01600"])
    assert (app.status, app.current_role, app.fast_track) == ("submitted", "hospital_office", False)
    assert app.step_due == date(2026, 11, 25)  # 2 working days after Monday 2026-11-23
    act(app, nmg_staff["office"], "accept")
    assert (app.status, app.current_role) == ("in_review", "physician")
    act(app, nmg_staff["doctor"], "decide", results={"M03900": "approved", "M01600": "rejected"}, reason_code="R01")
    assert app.current_role == "hospital_office" and app.current_step["kind"] == "record"
    assert db.session.scalar(select(func.count()).select_from(Recognition)) == 0  # nothing final before 备案
    act(app, nmg_staff["office"], "record")
    assert app.status == "partial" and app.current_role is None
    rec = db.session.scalars(select(Recognition)).one()
    assert (rec.disease_code, rec.start_date, rec.end_date) == ("M03900", date(2026, 11, 23), date(2028, 11, 22))
    assert statuses(app) == ["create", "submit", "accept", "decide", "record"]
    decision = db.session.scalars(select(Decision).where(Decision.disease_code == "M01600")).one()
    assert (decision.result, decision.reason_code, decision.decided_by_id) == ("rejected", "R01", nmg_staff["doctor"].id)
    notice = db.session.scalars(select(Notice).where(Notice.kind == "decision")).one()
    assert notice.user_id == person.id and "高血压病:通过" in notice.body and "糖尿病:不通过" in notice.body
    assert notice.channels == "inbox,sms"  # a phone on file and SMS on by default
    actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.object_id == str(app.id))))
    assert {"application.create", "application.submit", "application.accept", "application.decide", "application.record"} <= actions


def test_neimenggu_fast_track_is_physician_then_record(make, nmg_staff):
    app = make.application(make.person(), ["M00503"])  # tumour radio/chemotherapy
    assert app.fast_track and [s["role"] for s in app.steps] == ["physician", "hospital_office"]
    assert app.current_role == "physician"
    act(app, nmg_staff["doctor"], "decide", results={"M00503": "approved"})
    act(app, nmg_staff["office"], "record")
    rec = db.session.scalars(select(Recognition)).one()
    assert rec.end_date == date(2027, 11, 22)  # 12-month validity from the catalogue


def test_mixed_fast_and_normal_diseases_take_the_normal_track(make, nmg_staff):
    app = make.application(make.person(), ["M00503", "M03900"])
    assert not app.fast_track and app.current_role == "hospital_office"


def test_physician_title_is_enforced(make, nmg_staff):
    app = make.application(make.person(), ["M00503"])
    with pytest.raises(Forbidden, match="副主任医师"):
        review.act(as_(nmg_staff["junior"]), app, "decide", app.version, results={"M00503": "approved"})
    assert app.current_role == "physician"
    assert rules.allowed_actions(app, nmg_staff["junior"]) == []
    assert "decide" in rules.allowed_actions(app, nmg_staff["doctor"])


def test_wrong_role_and_wrong_scope_are_refused(make, nmg_staff):
    app = make.application(make.person(), ["M03900"])
    with pytest.raises(Forbidden):
        review.act(as_(nmg_staff["doctor"]), app, "accept", app.version)  # 医保科's step
    with pytest.raises(NotFound):
        review.act(as_(nmg_staff["other_office"]), app, "accept", app.version)  # another hospital
    assert app.status == "submitted"


def test_decision_needs_every_disease_and_a_reason(make, nmg_staff):
    app = make.application(make.person(), ["M00503", "M07803"])
    with pytest.raises(Invalid) as e:
        review.act(as_(nmg_staff["doctor"]), app, "decide", app.version, results={"M00503": "approved"})
    assert any("慢性肾功能不全" in p for p in e.value.problems)
    with pytest.raises(Invalid) as e:
        review.act(as_(nmg_staff["doctor"]), app, "decide", app.version, results={"M00503": "approved", "M07803": "rejected"})
    assert any("原因" in p for p in e.value.problems)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Decision)) == 0


def test_stale_version_gets_a_conflict_and_changes_nothing(make, nmg_staff):
    app = make.application(make.person(), ["M03900"])
    stale = app.version
    act(app, nmg_staff["office"], "accept")
    with pytest.raises(Conflict, match="刷新"):
        review.act(as_(nmg_staff["office"]), app, "return", stale, to="applicant", note="x")
    db.session.rollback()
    db.session.refresh(app)
    assert (app.status, app.current_role) == ("in_review", "physician")


def test_concurrent_update_is_caught_by_the_version_column(app, make, nmg_staff):
    """Two sessions load the same version; the second writer loses at the database."""
    application = make.application(make.person(), ["M03900"])
    app_id, version = application.id, application.version
    # Another reviewer's request commits first, through its own connection.
    with db.engine.begin() as conn:
        conn.execute(Application.__table__.update().where(Application.id == app_id).values(version=version + 1))
    with pytest.raises(Conflict):
        review.act(as_(nmg_staff["office"]), application, "accept", version)


def test_return_for_supplement_pauses_and_resumes(make, nmg_staff):
    person = make.person()
    app = make.application(person, ["M03900"])
    act(app, nmg_staff["office"], "accept")
    with pytest.raises(Invalid):
        review.act(as_(nmg_staff["doctor"]), app, "return", app.version, to="applicant", note="  ")
    db.session.rollback()
    act(app, nmg_staff["doctor"], "return", to="applicant", note="诊断书缺少公章", reason_code="R02")
    assert (app.status, app.return_deadline, app.step_due, app.current_role) == ("returned", date(2026, 12, 23), None, None)
    notice = db.session.scalars(select(Notice).where(Notice.kind == "return")).one()
    assert "诊断书缺少公章" in notice.body and "2026-12-23" in notice.body
    with pytest.raises(Forbidden):
        apps.submit(as_(nmg_staff["office"]), app, app.version)  # only the applicant (or the 代办 filer)
    apps.submit(as_(person), app, app.version)
    db.session.commit()
    assert (app.status, app.current_role, app.step_index) == ("in_review", "physician", 1)
    assert statuses(app)[-2:] == ["return", "resubmit"]


def test_return_to_hospital_sends_it_back_to_the_physician(make, nmg_staff):
    app = make.application(make.person(), ["M00503"])
    act(app, nmg_staff["doctor"], "decide", results={"M00503": "approved"})
    act(app, nmg_staff["office"], "return", to="hospital", note="诊断与病理报告不一致,请复核")
    assert (app.status, app.current_role) == ("in_review", "physician")
    assert app.diseases[0].result == "pending"


def test_fangchenggang_with_expert_review(make, fcg_staff):
    person = make.person(region="450600", division="450681")
    app = make.application(person, ["FCG001"], institution="O450681001")
    assert [s["kind"] for s in app.steps] == ["accept", "review", "expert", "record"]
    act(app, fcg_staff["dx_reviewer"], "accept")
    assert app.step_due == date(2026, 11, 30)  # 初审: 5 working days from Monday 11-23
    assert set(rules.allowed_actions(app, fcg_staff["dx_reviewer"])) == {"decide", "refer_expert", "return"}
    act(app, fcg_staff["dx_reviewer"], "refer_expert", note="病情需复评")
    assert app.current_role == "expert"
    act(app, fcg_staff["expert"], "decide", results={"FCG001": "approved"})
    assert app.current_role == "agency_reviewer" and app.current_step["name"]
    assert app.step_due == date(2026, 11, 26)  # 结果通知: 3 working days
    act(app, fcg_staff["reviewer"], "record")  # the city-level reviewer may finish it too
    assert app.status == "approved"


def test_fangchenggang_without_expert_skips_the_optional_step(make, fcg_staff):
    app = make.application(make.person(region="450600", division="450602"), ["FCG002"])
    act(app, fcg_staff["reviewer"], "accept")
    act(app, fcg_staff["reviewer"], "decide", results={"FCG002": "rejected"}, reason_code="R02")
    assert app.current_step["kind"] == "record"
    act(app, fcg_staff["reviewer"], "record")
    assert app.status == "rejected"
    assert db.session.scalar(select(func.count()).select_from(Recognition)) == 0


def test_withdraw(make, nmg_staff):
    person = make.person()
    app = make.application(person, ["M03900"])
    with pytest.raises(Forbidden):
        apps.withdraw(as_(nmg_staff["office"]), app, app.version)
    apps.withdraw(as_(person), app, app.version, "不需要了")
    db.session.commit()
    assert app.status == "withdrawn" and not app.diseases[0].is_open
    with pytest.raises(Invalid):
        review.act(as_(nmg_staff["office"]), app, "accept", app.version)
    # The disease is free again for a new application.
    assert make.application(person, ["M03900"]).status == "submitted"


def test_proxy_filing_by_window_staff(make, fcg_staff):
    person = make.person(region="450600", division="450602")
    app = make.application(person, ["FCG001"], channel="window", actor=fcg_staff["reviewer"])
    assert app.proxy and app.filed_by_id == fcg_staff["reviewer"].id
    assert app.events[0].note == "代办"
    with pytest.raises(Invalid):
        make.application(make.person(region="450600", division="450602"), ["FCG002"], channel="online", actor=fcg_staff["reviewer"])


def test_district_staff_cannot_file_for_another_district(make, fcg_staff):
    person = make.person(region="450600", division="450602")
    with pytest.raises(Forbidden):
        make.application(person, ["FCG001"], channel="window", actor=fcg_staff["dx_reviewer"])


def test_only_intake_staff_handle_materials_and_submission_for_a_person(make, fcg_staff):
    from tests.conftest import pdf_file

    person = make.person(region="450600", division="450602")
    app = make.application(person, ["FCG001"], channel="window", actor=fcg_staff["reviewer"], upload=False, submit=False)
    item = next(i for i in materials.checklist(as_(), app) if i.rule.required)
    with pytest.raises(Forbidden):  # an expert reviews; it does not scan paper for the applicant
        materials.add(as_(fcg_staff["expert"]), app, disease_code=item.disease_code, material_code=item.rule.code,
                          files=[pdf_file()])
    with pytest.raises(Forbidden):
        apps.submit(as_(fcg_staff["expert"]), app, app.version)
    make.upload_required(app, fcg_staff["reviewer"])  # the window scans the paper materials
    apps.submit(as_(fcg_staff["reviewer"]), app, app.version)
    assert app.status == "submitted"


def test_city_level_office_takes_applications_from_every_district(app, client, make, fcg_staff):
    """防城港: people may apply at 市本级 or their own district's 医保中心, not another district's."""
    from tests.conftest import login

    person = make.person(region="450600", division="450681")  # 东兴市
    assert make.application(person, ["FCG001"], institution="O450600001").status == "submitted"
    with pytest.raises(Invalid, match="申请信息有误") as e:
        make.application(person, ["FCG002"], institution="O450602001")  # 港口区's own centre
    assert any("不在所选区县" in p for p in e.value.problems)
    login(client, person.username)
    html = client.get("/applications/institutions", query_string={"division": "450681"}).get_data(as_text=True)
    assert "O450600001" in html and "O450681001" in html and "O450602001" not in html


def test_staff_do_not_edit_a_persons_own_online_application(make, nmg_staff):
    from tests.conftest import pdf_file

    person = make.person()
    app = make.application(person, ["M03900"], upload=False, submit=False)
    item = next(i for i in materials.checklist(as_(), app) if i.rule.required)
    with pytest.raises(Forbidden):
        materials.add(as_(nmg_staff["office"]), app, disease_code=item.disease_code, material_code=item.rule.code,
                          files=[pdf_file()])


def test_a_material_change_conflicts_with_a_submit_made_meanwhile(app, make):
    """Upload on a page loaded before another tab submitted: refused, the submitted record is untouched."""
    from tests.conftest import pdf_file

    person = make.person()
    application = make.application(person, ["M03900"], submit=False)
    version = application.version
    with db.engine.begin() as conn:  # the other tab's submit commits first
        conn.execute(Application.__table__.update().where(Application.id == application.id)
                     .values(version=version + 1, status="submitted"))
    item = next(i for i in materials.checklist(as_(), application) if i.rule.required)
    with pytest.raises(Conflict):
        materials.add(as_(person), application, disease_code=item.disease_code, material_code=item.rule.code,
                          files=[pdf_file()])
    assert db.session.scalar(select(func.count()).select_from(Material).where(Material.replaced_by_id.is_(None))) == len(
        [i for i in materials.checklist(as_(), application) if i.rule.required]
    )


def test_return_to_an_earlier_review_is_offered_only_where_one_exists(make, fcg_staff):
    app = make.application(make.person(region="450600", division="450602"), ["FCG001"])
    assert set(rules.return_targets(app)) == {"applicant"}  # at 受理 there is nothing earlier
    act(app, fcg_staff["reviewer"], "accept")
    act(app, fcg_staff["reviewer"], "refer_expert")
    assert set(rules.return_targets(app)) == {"applicant", "hospital"}
    act(app, fcg_staff["expert"], "return", to="hospital", note="请补充复评意见")
    assert app.current_step["kind"] == "review" and app.current_step["name"].startswith("初审")
    assert f"「{app.current_step['name']}」" in app.events[-1].note


def test_an_application_belongs_to_the_applicants_own_division(make):
    person = make.person(division="150100")
    with pytest.raises(Invalid) as e:
        make.application(person, ["M03900"], institution="H150200001", division="150200")
    assert any("呼和浩特市" in p for p in e.value.problems)


def test_each_disease_has_its_own_reason_and_explanation(make, nmg_staff):
    person = make.person()
    app = make.application(person, ["M00503", "M07803"])
    with pytest.raises(Invalid) as e:
        review.act(as_(nmg_staff["doctor"]), app, "decide", app.version,
                     results={"M00503": "rejected", "M07803": "rejected"}, reasons={"M00503": "R01", "M07803": "R09"})
    assert any("慢性肾功能不全" in p and "说明" in p for p in e.value.problems)
    db.session.rollback()
    act(app, nmg_staff["doctor"], "decide", results={"M00503": "rejected", "M07803": "rejected"},
        reasons={"M00503": "R01", "M07803": "R09"}, explanations={"M07803": "透析记录不足三个月"}, note="内部:建议复查")
    act(app, nmg_staff["office"], "record")
    assert {ad.disease_code: ad.reason_code for ad in app.diseases} == {"M00503": "R01", "M07803": "R09"}
    notice = db.session.scalars(select(Notice).where(Notice.kind == "decision")).one()
    assert "透析记录不足三个月" in notice.body and "内部" not in notice.body


def test_the_page_says_where_a_return_went_and_the_timeline_names_it_once(app, client, make, nmg_staff):
    """One name per action (Action.RETURN is 退回 on the timeline); the page says where it went."""
    from tests.conftest import login

    app_ = make.application(make.person(), ["M03900"])
    act(app_, nmg_staff["office"], "accept")
    act(app_, nmg_staff["doctor"], "decide", results={"M03900": "approved"})
    login(client, "yibao")
    r = client.post(f"/staff/applications/{app_.id}/act", data={"action": "return", "to": "hospital",
                                                                "note": "诊断依据需复核", "version": app_.version},
                    follow_redirects=True)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "已退回「责任医师审核认定」重新审核。" in page and "已退回补正" not in page
    assert "<strong>退回</strong>" in page
