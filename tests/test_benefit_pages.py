"""Benefit pages: the person's balances, and 医保科/agency recording, estimating and reversing,
each within its own scope."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import AuditLog, BenefitSettlement, InpatientStay, InsuredCategoryChange
from core.benefits import service as ben
from core.benefits import stays
from core.benefits.inputs import Visit
from tests.conftest import login
from tests.test_benefits import FCG_HOSPITAL, on, recognise
from tests.conftest import as_


@pytest.fixture
def scene(make, fcg_staff):
    person = make.person(region="450600", division="450602", category="employed", name="韦小红")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001", "FCG002"], date(2026, 1, 5))
    on(date(2026, 11, 23))
    hospital = make.staff("fcg_yibao", "hospital_office", region="450600", division="450602", hospital=FCG_HOSPITAL)
    other = make.staff("zy_yibao", "hospital_office", region="450600", division="450603", hospital="H450603001")
    return dict(person=person, hospital=hospital, other=other, agency=fcg_staff["reviewer"],
                dx=fcg_staff["dx_reviewer"])


def look_up(client, person):
    return client.post("/staff/benefits", data={"id_number": person.id_number})


def visit_form(**changes):
    # Each call is a freshly drawn form: its own one-time key (the settlement form requires one).
    data = {"disease": "FCG001", "visit_date": "2026-11-20", "eligible": "1000.00", "items": "", "note": "",
            "idempotency_key": uuid.uuid4().hex}
    data.update(changes)
    return data


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_person_sees_this_years_deductible_and_limits_with_bars(app, client, scene):
    s = scene
    ben.settle(as_(s["hospital"]), Visit(s["person"], FCG_HOSPITAL, "FCG001", date(2026, 3, 1), Decimal("1000")))
    db.session.commit()
    login(client, s["person"].username)
    html = client.get("/benefits").get_data(as_text=True)
    assert "我的门特待遇(2026 年)" in html
    assert "已用 <strong>200.00</strong> / 200.00 元" in html  # the deductible, paid in full
    # 高血压's 年度支付限额: what the fund has paid (800 × 70%) and what it may still pay.
    assert "年度支付限额(基金一年内最多支付)" in html and "可报销费用" not in html
    assert "基金已支付 <strong>560.00</strong> / 2000.00 元" in html and "<strong>1440.00</strong> 元" in html
    assert "基金已支付 <strong>0.00</strong> / 2500.00 元" in html  # 糖尿病 untouched
    assert html.count("<progress") == 3 and "示例" in html
    assert "560.00" in html  # the settlement row
    assert "我的待遇" in html  # in the navigation


def test_hospital_looks_up_estimates_records_and_reverses(app, client, scene):
    s = scene
    login(client, "fcg_yibao")
    r = look_up(client, s["person"])
    assert r.status_code == 302
    page = client.get(r.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and s["person"].id_number not in html and "4506" in html  # masked
    assert db.session.scalar(select(func.count()).where(AuditLog.action == "benefit.view_person")) == 1
    url = f"/staff/benefits/people/{s['person'].id}"
    # 试算 (htmx): the steps, nothing saved.
    est = client.post(f"{url}/estimate", data=visit_form(eligible="3000"), headers={"HX-Request": "true"})
    text = est.get_data(as_text=True)
    assert est.status_code == 200 and 'id="estimate-result"' in text and "<html" not in text
    # (3000 − 200) × 70% = 1960, within the 2000 the fund pays at most; the steps in words, no formula.
    assert "报销 <strong>1960.00</strong> 元" in text and "起付标准" in text and "70%" in text and "min(" not in text
    assert count(BenefitSettlement) == 0
    # Without JavaScript the same button posts the form and gets the whole page with the result.
    full = client.post(f"{url}/estimate", data=visit_form(eligible="3000")).get_data(as_text=True)
    assert "<html" in full and "报销 <strong>1960.00</strong> 元" in full
    # 结算并登记 at another hospital is refused, as in the API (it used to be silently recorded at the
    # clerk's own hospital); the form leaves the institution out: the clerk's own hospital.
    r = client.post(f"{url}/visits", data=visit_form(institution="H450603001"))
    assert r.status_code == 403 and "医院医保科只能登记本院的就诊" in r.get_data(as_text=True)
    assert count(BenefitSettlement) == 0
    r = client.post(f"{url}/visits", data=visit_form())
    assert r.status_code == 302
    row = db.session.scalars(select(BenefitSettlement)).one()
    assert (row.institution_code, row.reimbursed_fen, row.recorded_by_id) == (FCG_HOSPITAL, 56000, s["hospital"].id)
    detail = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "560.00 元" in detail and row.policy_version in detail
    assert db.session.scalar(select(func.count()).where(AuditLog.action == "benefit.settle")) == 1
    # 冲销: a reason is required; then a reversal row, audited.
    refused = client.post(f"/staff/benefits/settlements/{row.id}/reverse", data={"reason": ""})
    assert refused.status_code == 422 and "请填写冲销原因" in refused.get_data(as_text=True)
    assert count(BenefitSettlement) == 1
    client.post(f"/staff/benefits/settlements/{row.id}/reverse", data={"reason": "金额录入错误"})
    assert count(BenefitSettlement) == 2
    assert db.session.scalar(select(func.count()).where(AuditLog.action == "benefit.reverse")) == 1
    assert "已被冲销" in client.get(f"/benefits/settlements/{row.id}").get_data(as_text=True)


def test_bad_visit_input_is_refused_with_a_message_and_saves_nothing(app, client, scene):
    login(client, "fcg_yibao")
    look_up(client, scene["person"])
    url = f"/staff/benefits/people/{scene['person'].id}"
    r = client.post(f"{url}/visits", data=visit_form(eligible="12.345", visit_date="2026-12-01"))
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "两位小数" in html and "不能晚于今天" in html
    assert 'value="12.345"' in html  # what was typed is kept
    r = client.post(f"{url}/estimate", data=visit_form(eligible="abc"), headers={"HX-Request": "true"})
    assert r.status_code == 422 and "不是有效的金额" in r.get_data(as_text=True)
    assert count(BenefitSettlement) == 0


def test_staff_reach_only_their_scope(app, client, scene, make):
    s = scene
    row = ben.settle(as_(s["hospital"]), Visit(s["person"], FCG_HOSPITAL, "FCG001", date(2026, 3, 1), Decimal("500")))
    db.session.commit()
    url = f"/staff/benefits/people/{s['person'].id}"
    # Another hospital: cannot see this hospital's settlement, and sees none of it on the person page.
    login(client, "zy_yibao")
    assert client.get(f"/benefits/settlements/{row.id}").status_code == 404
    r = client.get(url)  # not looked up in this session: sent to the look-up, nothing of the person shown
    assert r.status_code == 302 and r.headers["Location"].endswith("/staff/benefits")
    look_up(client, s["person"])
    html = client.get(url).get_data(as_text=True)
    assert f"第 {row.id} 号" not in html
    assert client.post(f"/staff/benefits/settlements/{row.id}/reverse", data={"reason": "x"}).status_code == 404
    recent = client.get("/staff/benefits").get_data(as_text=True)
    assert "最近的结算(本院)" in recent and f"第 {row.id} 号" not in recent
    own = app.test_client()
    login(own, "fcg_yibao")
    assert f"第 {row.id} 号" in own.get("/staff/benefits").get_data(as_text=True)
    # A district reviewer of 东兴市 cannot find a 港口区 person.
    dx = app.test_client()
    login(dx, "dx_review")
    assert look_up(dx, s["person"]).status_code == 404
    # Inner Mongolia staff cannot find a Fangchenggang person.
    make.staff("nmg_yibao", "hospital_office", hospital="H150100001", division="150100")
    nmg = app.test_client()
    login(nmg, "nmg_yibao")
    assert look_up(nmg, s["person"]).status_code == 404
    # The person sees their own settlement; another person does not.
    me = app.test_client()
    login(me, s["person"].username)
    assert me.get(f"/benefits/settlements/{row.id}").status_code == 200
    assert me.get("/staff/benefits").status_code == 403
    someone = make.person(region="450600", division="450602", name="李四")
    other = app.test_client()
    login(other, someone.username)
    assert other.get(f"/benefits/settlements/{row.id}").status_code == 404
    assert "第 " + str(row.id) + " 号" not in other.get("/benefits").get_data(as_text=True)
    # Physicians do not record settlements.
    make.staff("fcg_doc", "physician", region="450600", hospital=FCG_HOSPITAL, title="主任医师")
    doc = app.test_client()
    login(doc, "fcg_doc")
    assert doc.post("/staff/benefits", data={"id_number": s["person"].id_number}).status_code == 403


def test_agency_records_a_stay_and_is_told_of_settlements_inside_it(app, client, scene):
    s = scene
    row = ben.settle(as_(s["hospital"]), Visit(s["person"], FCG_HOSPITAL, "FCG001", date(2026, 11, 2), Decimal("300")))
    db.session.commit()
    login(client, "fcg_review")
    look_up(client, s["person"])
    url = f"/staff/benefits/people/{s['person'].id}"
    r = client.post(f"{url}/stays", data={"institution": FCG_HOSPITAL, "admitted_on": "2026-11-01", "discharged_on": "2026-11-05",
                                          "idempotency_key": uuid.uuid4().hex},
                    follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "已登记住院" in html and f"第 {row.id} 号" in html and "请核实后冲销" in html
    bad = client.post(f"{url}/stays", data={"institution": FCG_HOSPITAL, "admitted_on": "2026-11-10", "discharged_on": "2026-11-03",
                                            "idempotency_key": uuid.uuid4().hex})
    assert bad.status_code == 422 and "出院日期应在入院日期之后" in bad.get_data(as_text=True)
    assert count(InpatientStay) == 1
    est = client.post(f"{url}/estimate", data=visit_form(institution=FCG_HOSPITAL, visit_date="2026-11-03"),
                      headers={"HX-Request": "true"})
    assert "不予支付" in est.get_data(as_text=True) and "住院期间" in est.get_data(as_text=True)


def test_a_resident_registers_with_the_scheme_and_gets_the_resident_ratio(app, client):
    from tests.test_pages import register

    r = register(client, "11010519491231002X", region="450600", division="450602", insured_scheme="resident")
    assert r.status_code == 302
    from core.models import User

    person = db.session.scalar(select(User).where(User.id_number_is("11010519491231002X")))
    assert person.insured_scheme == "resident"
    assert ben.balances(as_(), person, 2026)["category_name"] == "城乡居民"
    bad = register(app.test_client(), "440524188001010014", region="450600", division="450602", insured_scheme="student")
    assert bad.status_code == 400 and db.session.scalar(select(func.count()).select_from(User).where(User.id_number_is("440524188001010014"))) == 0


def test_hospital_records_a_discharge_on_an_open_stay(app, client, scene):
    s = scene
    login(client, "fcg_yibao")
    look_up(client, s["person"])
    url = f"/staff/benefits/people/{s['person'].id}"
    client.post(f"{url}/stays", data={"admitted_on": "2026-11-01", "idempotency_key": uuid.uuid4().hex})
    stay = db.session.scalars(select(InpatientStay)).one()
    assert stay.institution_code == FCG_HOSPITAL and stay.discharged_on is None
    assert "登记出院" in client.get(url).get_data(as_text=True)
    early = client.post(f"/staff/benefits/stays/{stay.id}/discharge", data={"discharged_on": "2026-10-30"})
    assert early.status_code == 422 and "出院日期应在入院日期之后" in early.get_data(as_text=True)
    assert count(InpatientStay) == 1
    client.post(f"/staff/benefits/stays/{stay.id}/discharge", data={"discharged_on": "2026-11-08"})
    rows = db.session.scalars(select(InpatientStay).order_by(InpatientStay.id)).all()
    assert [(r.reversal_of_id, r.discharged_on) for r in rows] == [(None, None), (stay.id, None), (None, date(2026, 11, 8))]
    # Another hospital cannot touch this hospital's stay.
    other = app.test_client()
    login(other, "zy_yibao")
    look_up(other, s["person"])
    assert other.post(f"/staff/benefits/stays/{rows[2].id}/reverse", data={"reason": "x"}).status_code == 404


def test_agency_records_a_retirement_with_its_date_and_visits_use_the_category_of_their_day(app, client, scene):
    s = scene
    first = ben.settle(as_(s["hospital"]), Visit(s["person"], FCG_HOSPITAL, "FCG001", date(2026, 3, 1), Decimal("1200")))
    db.session.commit()
    login(client, "fcg_review")
    look_up(client, s["person"])
    url = f"/staff/benefits/people/{s['person'].id}"
    bad = client.post(f"{url}/category", data={"scheme": "employee", "category": "pensioner", "effective_from": "2026-07-01"})
    assert bad.status_code == 422 and "请选择人员类别" in bad.get_data(as_text=True)
    late = client.post(f"{url}/category", data={"scheme": "employee", "category": "retired", "effective_from": "2026-12-01"})
    assert late.status_code == 422 and "不能晚于今天" in late.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(InsuredCategoryChange)) == 1  # as registered; nothing added
    client.post(f"{url}/category", data={"scheme": "employee", "category": "retired", "effective_from": "2026-07-01",
                                         "reason": "办理退休"})
    db.session.expire_all()
    assert s["person"].insured_category == "retired"
    assert db.session.scalar(select(func.count()).where(AuditLog.action == "person.category")) == 1
    page = client.get(url).get_data(as_text=True)
    assert "2026-07-01 起" in page and "办理退休" in page and "注册时起" in page  # the history, both rows
    june = ben.settle(as_(s["hospital"]), Visit(s["person"], FCG_HOSPITAL, "FCG001", date(2026, 6, 20), Decimal("100")))
    later = ben.settle(as_(s["hospital"]), Visit(s["person"], FCG_HOSPITAL, "FCG001", date(2026, 9, 1), Decimal("100")))
    assert [(r.category, r.ratio) for r in (first, june, later)] == [("employed", "0.70"), ("employed", "0.70"), ("retired", "0.75")]
    db.session.commit()
    detail = client.get(f"/benefits/settlements/{later.id}").get_data(as_text=True)
    assert "职工退休" in detail and "75%" in detail and "0.75" not in detail
    hospital = app.test_client()  # 医保科 sees the history but cannot change it
    login(hospital, "fcg_yibao")
    look_up(hospital, s["person"])
    assert "2026-07-01 起" in hospital.get(url).get_data(as_text=True)
    assert hospital.post(f"{url}/category", data={"scheme": "resident", "effective_from": "2026-08-01"}).status_code == 403


def test_the_ledger_pages_through_a_busy_year(app, client, scene):
    from core.benefits.ledger import PAGE_ROWS

    s = scene
    visits = [Visit(s["person"], FCG_HOSPITAL, "FCG001", date(2026, 6, 1), Decimal("1.00")) for _ in range(PAGE_ROWS + 5)]
    rows = ben.settle_many(as_(s["hospital"]), visits)
    db.session.commit()
    login(client, s["person"].username)
    first = client.get("/benefits").get_data(as_text=True)
    assert f"第 {rows[-1].id} 号" in first and f"第 {rows[4].id} 号" not in first and "更早的结算记录" in first
    older = client.get(f"/benefits?year=2026&before={rows[5].id}").get_data(as_text=True)
    assert f"第 {rows[4].id} 号" in older and f"第 {rows[0].id} 号" in older and "更早的结算记录" not in older


def test_results_ratios_and_stays_read_the_same_on_every_page(app, client, scene):
    """A reversal says what it reverses; a 0.00 settlement because the limit is used up says so; the
    ratio reads 70%; a stay reads 入院 … 出院 on the person page, the estimate and the settlement."""
    s = scene
    person, hospital = s["person"], s["hospital"]
    full = ben.settle(as_(hospital), Visit(person, FCG_HOSPITAL, "FCG001", date(2026, 3, 1), Decimal("3100")))
    nothing = ben.settle(as_(hospital), Visit(person, FCG_HOSPITAL, "FCG001", date(2026, 3, 2), Decimal("100")))
    wrong = ben.settle(as_(hospital), Visit(person, FCG_HOSPITAL, "FCG002", date(2026, 3, 3), Decimal("100")))
    back = ben.reverse(as_(hospital), wrong, "重复登记")
    stays.record_stay(as_(hospital), person, institution_code=FCG_HOSPITAL, admitted_on="2026-08-23", discharged_on="2026-08-31")
    during = ben.settle(as_(hospital), Visit(person, FCG_HOSPITAL, "FCG001", date(2026, 8, 25), Decimal("100")))
    db.session.commit()
    assert (full.reimbursed_fen, nothing.reimbursed_fen) == (200000, 0)  # 2900 × 70% = 2030, capped at 2000
    login(client, "fcg_yibao")
    look_up(client, person)
    url = f"/staff/benefits/people/{person.id}"
    page = client.get(url).get_data(as_text=True)
    stay_text = "2026-08-23 入院,2026-08-31 出院"
    assert page.count(stay_text) == 2  # the stay list and the refused visit's reason in the ledger
    assert f"冲销(冲正)<a href=\"/benefits/settlements/{wrong.id}\">第 {wrong.id} 号结算</a>" in page
    assert page.count("部分支付") == 1  # the visit that reached the limit; the next one paid nothing:
    assert "限额已用完</span> 高血压年度支付限额 2000.00 元已用完,本次不予支付" in page
    reversal = client.get(f"/benefits/settlements/{back.id}").get_data(as_text=True)
    assert "冲销记录</span> 冲销(冲正)" in reversal and "按规定支付" not in reversal
    empty = client.get(f"/benefits/settlements/{nothing.id}").get_data(as_text=True)
    assert "年度支付限额已用完,本次不予支付" in empty and "部分支付" not in empty
    assert "<td>70%</td>" in empty and "0.70" not in empty
    assert stay_text in client.get(f"/benefits/settlements/{during.id}").get_data(as_text=True)
    est = client.post(f"{url}/estimate", data=visit_form(visit_date="2026-08-24"), headers={"HX-Request": "true"})
    assert stay_text in est.get_data(as_text=True)
    # The person sees the same words.
    me = app.test_client()
    login(me, person.username)
    mine = me.get("/benefits").get_data(as_text=True)
    assert "限额已用完</span> 高血压年度支付限额 2000.00 元已用完,本次不予支付" in mine and stay_text in mine
