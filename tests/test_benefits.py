"""The 门特 ledger from worked examples: FACTS.md's Fangchenggang table, one deductible for several
diseases, a rejected renewal, an inpatient stay, a reversal, the year boundary, chosen institutions."""
from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from flask import current_app
from sqlalchemy import select

from core.applications import review
from core.extensions import db
from core.models import BenefitSettlement, Recognition
from core.web.context import regions
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.applications import service as apps
from core.benefits import service as ben
from core.benefits.inputs import Visit, make_visit
from core.benefits import stays
from tests.conftest import as_

FCG_HOSPITAL = "H450602001"  # 防城港市第一人民医院 (港口区)


def on(day: date):
    current_app.config["MTKIT_TODAY"] = day


def finish_fcg(app, staff, result="approved", reason=None):
    for action, fields in (
        ("accept", {}),
        ("decide", {"results": {ad.disease_code: result for ad in app.diseases}, "reason_code": reason}),
        ("record", {}),
    ):
        review.act(as_(staff), app, action, app.version, **fields)
    db.session.commit()


def recognise(make, staff, person, diseases, day):
    on(day)
    finish_fcg(make.application(person, diseases), staff)
    return db.session.scalars(select(Recognition).where(Recognition.person_id == person.id)).all()


def visit(person, amount, day, disease="FCG001", institution=FCG_HOSPITAL):
    return Visit(person, institution, disease, day, Decimal(amount))


def settle(person, actor, amount, day, **kw):
    row = ben.settle(as_(actor), visit(person, amount, day, **kw))
    db.session.commit()
    return row


@pytest.fixture
def fcg(make, fcg_staff):
    """An in-service (在职) employee in 港口区 recognised for 高血压 (FCG001) from 2025-01-10."""
    person = make.person(region="450600", division="450602", category="employed")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001"], date(2025, 1, 10))
    on(date(2026, 11, 23))
    return person, fcg_staff["reviewer"]


def test_policy_comes_from_the_region_data_files(app):
    policy = regions().benefit_policy("450600", 2026)
    # FACTS.md's table, via diseases.csv (employees) ...
    assert policy.rate("FCG001", "employed") == dataclasses.replace(policy.rate("FCG001", "employed"), annual_limit=Decimal("2000"), ratio=Decimal("0.70"))
    assert policy.rate("FCG001", "retired").ratio == Decimal("0.75")
    assert policy.rate("FCG003", "retired").annual_limit == Decimal("100000")
    assert policy.rate("FCG003", "retired").ratio == Decimal("0.80")
    assert policy.rate("FCG004", "employed").annual_limit == Decimal("4000")
    # ... residents from benefit_rates.csv ("*" row, and a specific row that wins).
    assert policy.rate("FCG002", "resident").ratio == Decimal("0.60")
    assert policy.rate("FCG003", "resident").ratio == Decimal("0.70")
    assert policy.one_deductible_across_diseases and policy.inpatient_excluded
    assert policy.sample and policy.version.startswith("2025/")
    assert set(policy.deductible) == {"employed", "retired", "resident"}
    assert regions().benefit_policy("150000", 2026).chosen_institution_required
    assert not regions().benefit_policy("450600", 2024).configured  # before the data's first year


def test_in_service_hypertension_3000_against_a_2000_limit_at_70_percent(fcg):
    """FACTS.md: 高血压 年度支付限额 2000 元 (what the fund pays), 70% 在职; sample deductible 200.
    3000 元 eligible over the year → min((3000 − 200) × 70%, 2000) = 1960 (not 1400)."""
    person, staff = fcg
    assert regions().benefit_policy("450600", 2026).deductible["employed"] == Decimal("200")
    a = settle(person, staff, "1000.00", date(2026, 3, 2))
    b = settle(person, staff, "1000.00", date(2026, 5, 6))
    c = settle(person, staff, "1000.00", date(2026, 9, 9))
    # 1: 200 deductible, 800 × 70% = 560. 2 and 3: 1000 × 70% = 700 each (the fund has paid 1960 of 2000).
    assert [(r.deductible_fen, r.limit_used_fen, r.reimbursed_fen, r.own_fen) for r in (a, b, c)] == [
        (20000, 56000, 56000, 44000), (0, 70000, 70000, 30000), (0, 70000, 70000, 30000),
    ]
    assert sum(r.reimbursed_fen for r in (a, b, c)) == 196000 and c.reason is None
    assert c.limit_left_fen == 4000 and c.ratio == "0.70" and c.annual_limit_fen == 200000
    assert c.policy_version == regions().benefit_policy("450600", 2026).version
    # 4: 100 × 70% = 70 but only 40 is left: paid 40, the limit reached to the fen.
    d = settle(person, staff, "100.00", date(2026, 10, 1))
    assert (d.reimbursed_fen, d.limit_used_fen, d.own_fen, d.limit_left_fen) == (4000, 4000, 6000, 0)
    assert "年度支付限额 2000.00 元本次用完" in d.reason and "70.00" in d.reason and "30.00" in d.reason
    bal = ben.balances(as_(), person, 2026)
    assert bal["deductible"] == {"amount": "200.00", "used": "200.00", "left": "0.00", "percent": 100}
    [row] = bal["diseases"]
    assert (row["limit"], row["used"], row["left"], row["reimbursed"], row["ratio"], row["basis"]) == (
        "2000.00", "2000.00", "0.00", "2000.00", "70%", "fund")
    # Once the limit is used up, a further visit is covered but pays nothing: all of it is the person's.
    e = settle(person, staff, "50.00", date(2026, 10, 2))
    assert e.covered and e.reimbursed_fen == 0 and e.own_fen == 5000
    assert "年度支付限额 2000.00 元已用完,本次不予支付" in e.reason


def test_retired_ratio_and_the_steps_shown(make, fcg_staff):
    person = make.person(region="450600", division="450602", category="retired")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001"], date(2026, 1, 5))
    on(date(2026, 11, 23))
    est = ben.estimate(as_(fcg_staff["reviewer"]), visit(person, "3000", date(2026, 6, 1)))
    # Deductible 100 (退休, sample), 2900 above it × 75% = 2175, capped at the 2000 the fund pays at most.
    assert (est["deductible_paid"], est["limit_used"], est["reimbursed"], est["own"]) == ("100.00", "2000.00", "2000.00", "1000.00")
    labels = [s["label"] for s in est["steps"]]
    assert labels[:3] == ["费用", "待遇年度", "认定"] and "起付标准" in labels and labels[-1] == "限额余额"
    assert any("75%" in s["detail"] for s in est["steps"])
    assert db.session.scalar(select(BenefitSettlement.id)) is None  # an estimate saves nothing


def test_two_diseases_share_one_deductible(make, fcg_staff):
    person = make.person(region="450600", division="450602", category="employed")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001", "FCG002"], date(2026, 1, 5))
    on(date(2026, 11, 23))
    staff = fcg_staff["reviewer"]
    a = settle(person, staff, "150.00", date(2026, 2, 1), disease="FCG001")
    b = settle(person, staff, "500.00", date(2026, 2, 3), disease="FCG002")
    assert (a.deductible_fen, a.reimbursed_fen) == (15000, 0)
    # Only 50 of the 200 deductible is left for 糖尿病: 450 × 70% = 315 paid by the fund.
    assert (b.deductible_fen, b.limit_used_fen, b.reimbursed_fen) == (5000, 31500, 31500)
    bal = ben.balances(as_(), person, 2026)
    assert bal["deductible"]["used"] == "200.00"
    # Each disease has its own limit: 糖尿病's 2500 less the 315 paid.
    assert {d["code"]: d["left"] for d in bal["diseases"]} == {"FCG001": "2000.00", "FCG002": "2185.00"}


def test_a_region_with_one_deductible_per_disease(make, fcg_staff, monkeypatch):
    person = make.person(region="450600", division="450602")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001", "FCG002"], date(2026, 1, 5))
    on(date(2026, 11, 23))
    patch_policy(monkeypatch, one_deductible_across_diseases=False)
    settle(person, fcg_staff["reviewer"], "150.00", date(2026, 2, 1), disease="FCG001")
    b = settle(person, fcg_staff["reviewer"], "500.00", date(2026, 2, 3), disease="FCG002")
    assert b.deductible_fen == 20000


def test_visit_the_day_after_a_rejected_renewals_original_end(make, fcg):
    person, staff = fcg
    rec = db.session.scalars(select(Recognition).where(Recognition.person_id == person.id)).one()
    assert rec.end_date == date(2027, 1, 9)
    on(date(2026, 12, 1))
    renewal = apps.start_renewal(as_(person), rec, channel="online")
    make.upload_required(renewal, person)
    apps.submit(as_(person), renewal, renewal.version)
    db.session.commit()
    on(date(2027, 1, 20))
    finish_fcg(renewal, staff, result="rejected", reason="R03")
    last_day = settle(person, staff, "300.00", date(2027, 1, 9))
    day_after = settle(person, staff, "300.00", date(2027, 1, 10))
    assert last_day.covered and last_day.recognition_id == rec.id
    assert not day_after.covered and day_after.reimbursed_fen == 0 and day_after.own_fen == 30000
    assert "续办未通过" in day_after.reason and "2027-01-10" in day_after.reason
    assert day_after.deductible_fen == 0 and day_after.limit_used_fen == 0


def test_visit_during_an_inpatient_stay_is_not_covered(fcg):
    person, staff = fcg
    stays.record_stay(as_(staff), person, institution_code=FCG_HOSPITAL, admitted_on="2026-03-01", discharged_on="2026-03-10")
    db.session.commit()
    admitted = settle(person, staff, "100", date(2026, 3, 1))
    discharged = settle(person, staff, "100", date(2026, 3, 10))
    after = settle(person, staff, "300", date(2026, 3, 11))
    assert not admitted.covered and not discharged.covered and after.covered
    assert "住院期间" in discharged.reason and "2026-03-01" in discharged.reason
    assert after.deductible_fen == 20000  # the refused visits used no deductible
    # Overlapping stays are refused; a reversed stay no longer blocks benefits.
    with pytest.raises(Invalid):
        stays.record_stay(as_(staff), person, institution_code=FCG_HOSPITAL, admitted_on="2026-03-05", discharged_on="2026-03-20")
    db.session.rollback()


def test_a_stay_recorded_later_lists_the_settlements_to_check(fcg):
    person, staff = fcg
    early = settle(person, staff, "300", date(2026, 4, 2))
    stay = stays.record_stay(as_(staff), person, institution_code=FCG_HOSPITAL, admitted_on="2026-04-01", discharged_on="2026-04-05")
    assert [r.id for r in stays.settled_during(stay)] == [early.id]
    ben.reverse(as_(staff), early, "住院期间的门特结算")
    assert stays.settled_during(stay) == []
    stays.reverse_stay(as_(staff), stay, "入院日期登记错误")
    db.session.commit()
    assert settle(person, staff, "300", date(2026, 4, 3)).covered


def test_still_in_hospital_blocks_every_day_from_admission_until_the_discharge(fcg):
    person, staff = fcg
    stay = stays.record_stay(as_(staff), person, institution_code=FCG_HOSPITAL, admitted_on="2026-11-01")
    assert not settle(person, staff, "80", date(2026, 11, 20)).covered
    with pytest.raises(Invalid):
        stays.record_discharge(as_(staff), stay, "2026-10-31")
    closed = stays.record_discharge(as_(staff), stay, "2026-11-10")
    db.session.commit()
    assert (closed.admitted_on, closed.discharged_on) == (date(2026, 11, 1), date(2026, 11, 10))
    assert settle(person, staff, "80", date(2026, 11, 11)).covered
    assert not settle(person, staff, "80", date(2026, 11, 10)).covered
    with pytest.raises(Conflict):  # the open row is reversed: it cannot be discharged twice
        stays.record_discharge(as_(staff), stay, "2026-11-12")


def test_a_reversal_restores_deductible_and_limit_and_is_never_an_edit(fcg):
    person, staff = fcg
    first = settle(person, staff, "1000.00", date(2026, 3, 2))
    back = ben.reverse(as_(staff), first, "金额录入错误")
    db.session.commit()
    assert back.reversal_of_id == first.id
    assert (back.eligible_fen, back.deductible_fen, back.reimbursed_fen) == (-100000, -20000, -56000)
    assert first.reimbursed_fen == 56000  # the original row is untouched
    bal = ben.balances(as_(), person, 2026)
    assert bal["deductible"]["used"] == "0.00" and bal["diseases"][0]["used"] == "0.00"
    again = settle(person, staff, "100.00", date(2026, 3, 3))
    assert again.deductible_fen == 10000  # the deductible is owed again
    with pytest.raises(Conflict):
        ben.reverse(as_(staff), first, "再次冲销")
    db.session.rollback()
    with pytest.raises(Invalid):
        ben.reverse(as_(staff), back, "冲销冲销记录")
    db.session.rollback()
    with pytest.raises(Invalid):
        ben.reverse(as_(staff), again, "  ")
    db.session.rollback()
    with pytest.raises(PermissionError):
        again.reimbursed_fen = 1
        db.session.flush()
    db.session.rollback()


def test_year_boundary(fcg):
    person, staff = fcg
    on(date(2027, 1, 5))
    dec = settle(person, staff, "2500", date(2026, 12, 31))
    jan = settle(person, staff, "2500", date(2027, 1, 2))
    assert (dec.benefit_year, jan.benefit_year) == (2026, 2027)
    # Each year owes its own deductible and has its own limit.
    assert dec.deductible_fen == jan.deductible_fen == 20000
    assert dec.reimbursed_fen == jan.reimbursed_fen == 161000  # (2500 − 200) × 70%, under the 2000 limit
    jan2 = settle(person, staff, "1000", date(2027, 1, 3))  # 700 computed, 390 left of 2027's limit
    assert jan2.reimbursed_fen == 39000
    assert ben.balances(as_(), person, 2027)["diseases"][0]["left"] == "0.00"
    assert dec.settled_on == date(2027, 1, 5)
    # Reversed in 2027, the December visit gives back 2026's deductible and limit, not 2027's.
    back = ben.reverse(as_(staff), dec, "重复登记")
    assert back.benefit_year == 2026
    assert ben.balances(as_(), person, 2026)["deductible"]["used"] == "0.00"
    assert ben.balances(as_(), person, 2027)["deductible"]["used"] == "200.00"


def test_year_rule_by_settlement_date(fcg, monkeypatch):
    person, staff = fcg
    patch_policy(monkeypatch, year_rule="settlement")
    on(date(2027, 1, 5))
    dec = settle(person, staff, "1000", date(2026, 12, 31))
    assert dec.benefit_year == 2027
    assert ben.balances(as_(), person, 2026)["deductible"]["used"] == "0.00"


def test_a_region_whose_limit_caps_the_eligible_cost(fcg, monkeypatch):
    """limit_basis = "eligible" (a region whose policy sets a 年度费用限额): only the cost within
    the limit is reimbursed at the ratio. 3000 in the year, 200 deductible: 2000 counted × 70% = 1400."""
    person, staff = fcg
    patch_policy(monkeypatch, limit_basis="eligible")
    a = settle(person, staff, "3000", date(2026, 3, 1))
    assert (a.limit_used_fen, a.reimbursed_fen) == (200000, 140000)
    assert "年度费用限额 2000.00 元本次用完,超出限额的 800.00 元" in a.reason
    b = settle(person, staff, "100", date(2026, 4, 1))
    assert b.reimbursed_fen == 0 and "年度费用限额 2000.00 元已用完,本次不予支付" in b.reason


def test_rounding_is_half_up_to_the_fen(make, fcg_staff):
    person = make.person(region="450600", division="450602", category="retired")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001"], date(2026, 1, 5))
    on(date(2026, 11, 23))
    settle(person, fcg_staff["reviewer"], "100.00", date(2026, 2, 1))  # the 100 deductible
    row = settle(person, fcg_staff["reviewer"], "0.30", date(2026, 2, 2))
    assert row.reimbursed_fen == 23 and row.own_fen == 7  # 0.30 × 75% = 0.225 -> 0.23 (half-even would give 0.22)


def test_not_recognised_or_not_started(fcg):
    person, staff = fcg
    with pytest.raises(Invalid) as e:  # an unknown code is a typing error, not a visit
        ben.settle(as_(staff), visit(person, "100", date(2026, 5, 1), disease="FCG999"))
    assert "FCG999" in e.value.message
    db.session.rollback()
    row = settle(person, staff, "100", date(2026, 5, 1), disease="FCG002")
    assert not row.covered and "没有该病种" in row.reason and row.policy_version
    early = settle(person, staff, "100", date(2025, 1, 9))
    assert not early.covered and "2025-01-10" in early.reason


def test_resident_ratio(make, fcg_staff):
    from core.people.accounts import register_insured
    from core.demo import make_id_number

    person = register_insured(as_(), name="居民甲", id_number=make_id_number("450602", "19500101", 901), phone="13800009999",
                              password="Passw0rd!", region="450600", division="450602", insured_category="retired",
                              insured_scheme="resident")
    db.session.commit()
    recognise(make, fcg_staff["reviewer"], person, ["FCG001"], date(2026, 1, 5))
    on(date(2026, 11, 23))
    row = settle(person, fcg_staff["reviewer"], "1300", date(2026, 2, 2))
    assert (row.category, row.deductible_fen, row.reimbursed_fen) == ("resident", 30000, 60000)  # (1300-300) × 60%


def test_chosen_institution_required_in_inner_mongolia(make, nmg_staff):
    on(date(2026, 1, 5))
    person = make.person()
    app = make.application(person, ["M03900"])  # at 内蒙古医科大学附属医院 H150100001
    review.act(as_(nmg_staff["office"]), app, "accept", app.version)
    review.act(as_(nmg_staff["doctor"]), app, "decide", app.version, results={"M03900": "approved"})
    review.act(as_(nmg_staff["office"]), app, "record", app.version)
    db.session.commit()
    on(date(2026, 11, 23))
    agency = make.staff("nmg_agency", "agency_reviewer", division="150100", office="O150100001")
    home = settle(person, nmg_staff["office"], "500", date(2026, 3, 1), disease="M03900", institution="H150100001")
    assert home.covered  # the recognising hospital counts as chosen
    away = settle(person, agency, "500", date(2026, 3, 2), disease="M03900", institution="H150100002")
    assert not away.covered and "不是参保人选定" in away.reason and "内蒙古医科大学附属医院" in away.reason
    stays.choose_institution(as_(agency), person, institution_code="H150100002", start_date="2026-03-05")
    db.session.commit()
    assert not settle(person, agency, "500", date(2026, 3, 4), disease="M03900", institution="H150100002").covered
    assert settle(person, agency, "500", date(2026, 3, 5), disease="M03900", institution="H150100002").covered


def test_who_may_record(make, fcg, nmg_staff):
    person, _ = fcg
    hospital = make.staff("fcg_yibao", "hospital_office", region="450600", division="450602", hospital=FCG_HOSPITAL)
    assert settle(person, hospital, "100", date(2026, 3, 1)).institution_code == FCG_HOSPITAL
    with pytest.raises(Forbidden):  # not at another hospital
        ben.settle(as_(hospital), visit(person, "100", date(2026, 3, 1), institution="H450603001"))
    with pytest.raises(Forbidden):  # not for another region's person
        ben.settle(as_(nmg_staff["office"]), visit(person, "100", date(2026, 3, 1), institution="H150100001"))
    dx = make.staff("dx_only", "agency_reviewer", region="450600", division="450681", office="O450681001")
    with pytest.raises(Forbidden):  # a district's agency staff: only their district's people
        ben.settle(as_(dx), visit(person, "100", date(2026, 3, 1)))
    with pytest.raises(Forbidden):
        ben.settle(as_(make.staff("doc", "physician", region="450600", hospital=FCG_HOSPITAL, title="主任医师")), visit(person, "100", date(2026, 3, 1)))
    with pytest.raises(Invalid):  # an office is not a place of treatment
        ben.settle(as_(make.staff("fcg2", "agency_reviewer", region="450600")), visit(person, "100", date(2026, 3, 1), institution="O450600001"))
    db.session.rollback()
    assert db.session.scalar(select(BenefitSettlement.id).where(BenefitSettlement.institution_code != FCG_HOSPITAL)) is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"eligible": "abc"}, "不是有效的金额"),
        ({"eligible": "12.345"}, "两位小数"),
        ({"eligible": "-5"}, "应大于 0"),
        ({"eligible": "9999999"}, "上限"),
        ({"visit_date": "2026-13-01"}, "年-月-日"),
        ({"visit_date": "2026-11-24"}, "不能晚于今天"),
        ({"disease_code": ""}, "请选择病种"),
        ({"eligible": "100", "items_text": "药品 60\n检查 30"}, "不一致"),
        ({"eligible": "", "items_text": "60"}, "项目名称"),
    ],
)
def test_bad_visit_input_gets_a_clear_message(fcg, fields, message):
    person, _ = fcg
    data = {"institution_code": FCG_HOSPITAL, "disease_code": "FCG001", "visit_date": "2026-11-20", "eligible": "100"}
    data.update(fields)
    with pytest.raises(Invalid) as e:
        make_visit(person, as_().today(person.region_code), **data)
    assert message in " ".join([e.value.message, *e.value.problems])


def test_items_make_the_amount(fcg):
    person, staff = fcg
    v = make_visit(person, as_().today(person.region_code), institution_code=FCG_HOSPITAL, disease_code="FCG001", visit_date="2026-11-20",
                       eligible="", items_text="硝苯地平控释片 36.50\n血压监测,12")
    assert v.eligible == Decimal("48.50")
    big = make_visit(person, as_().today(person.region_code), institution_code=FCG_HOSPITAL, disease_code="FCG001", visit_date="2026-11-20",
                         eligible="1230.00", items_text="透析治疗 1,200.00\n维生素B12\t30元")
    assert [(i["name"], i["amount"]) for i in big.items] == [("透析治疗", Decimal("1200.00")), ("维生素B12", Decimal("30.00"))]
    row = ben.settle(as_(staff), v)
    assert row.items == [{"name": "硝苯地平控释片", "amount": "36.50"}, {"name": "血压监测", "amount": "12.00"}]


def test_batch_settles_in_order_against_one_deductible(make, fcg_staff):
    staff = fcg_staff["reviewer"]
    people = [make.person(region="450600", division="450602") for _ in range(3)]
    for p in people:
        recognise(make, staff, p, ["FCG001"], date(2026, 1, 5))
    on(date(2026, 11, 23))
    visits = [visit(p, "150", date(2026, 6, 1)) for p in people] + [visit(p, "150", date(2026, 6, 1)) for p in people]
    rows = ben.settle_many(as_(staff), visits)
    db.session.commit()
    assert [r.deductible_fen for r in rows] == [15000] * 3 + [5000] * 3
    assert [r.reimbursed_fen for r in rows] == [0] * 3 + [7000] * 3


def patch_policy(monkeypatch, **changes):
    real = regions().benefit_policy

    def patched(region, year):
        policy = real(region, year)
        return dataclasses.replace(policy, **changes) if policy.configured else policy

    monkeypatch.setattr(regions(), "benefit_policy", patched)


def test_two_settlements_at_once_do_not_both_use_the_deductible(app, fcg, monkeypatch):
    """Two 医保科 clerks settle for the same person at the same moment: the second waits for the
    first and sees its deductible and limit use (the person's row is locked first)."""
    import threading
    import time

    person, staff = fcg
    person_id, staff_id = person.id, staff.id
    real_load = ben.load_ledgers

    def slow_load(*args):
        ledgers = real_load(*args)
        time.sleep(0.3)  # widen the window in which an unlocked second settlement would read stale totals
        return ledgers

    monkeypatch.setattr(ben, "load_ledgers", slow_load)
    db.session.commit()
    db.session.remove()
    barrier = threading.Barrier(2)
    errors = []

    def clerk():
        with app.app_context():
            try:
                from core.models import User

                p, s = db.session.get(User, person_id), db.session.get(User, staff_id)
                barrier.wait()
                ben.settle(as_(s), Visit(p, FCG_HOSPITAL, "FCG001", date(2026, 6, 1), Decimal("1500")))
                db.session.commit()
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=clerk) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    rows = db.session.scalars(select(BenefitSettlement).order_by(BenefitSettlement.id)).all()
    assert len(rows) == 2
    assert sum(r.deductible_fen for r in rows) == 20000  # one deductible, not two
    # (1500 − 200) × 70% = 910 and 1500 × 70% = 1050: 1960; both paying the deductible would give 1820.
    assert sum(r.limit_used_fen for r in rows) == 196000
    assert sum(r.reimbursed_fen for r in rows) == 196000


def test_import_a_days_visits_from_csv(app, runner, fcg, tmp_path):
    person, staff = fcg
    good = tmp_path / "day.csv"
    good.write_text(
        "\ufeffid_number,institution,disease,visit_date,eligible,note\n"
        "# 防城港市第一人民医院 2026-11-20 门特结算\n"
        f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-20,1000.00,\n"
        f"{person.id_number.lower()},{FCG_HOSPITAL},FCG001,2026-11-20,\"1,000.00\",复诊\n"
        f"{person.id_number},{FCG_HOSPITAL},FCG002,2026-11-20,80,未认定病种\n",
        encoding="utf-8",
    )
    dry = runner.invoke(args=["benefits", "import", str(good), "--by", staff.username, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "试算(未保存): 3 笔" in dry.output and db.session.scalar(select(BenefitSettlement.id)) is None
    result = runner.invoke(args=["benefits", "import", str(good), "--by", staff.username])
    assert result.exit_code == 0, result.output
    assert "已导入: 3 笔,支付 2 笔,不予支付 1 笔" in result.output and "报销 1260.00 元" in result.output
    rows = db.session.scalars(select(BenefitSettlement).order_by(BenefitSettlement.id)).all()
    assert [r.reimbursed_fen for r in rows] == [56000, 70000, 0] and rows[1].note == "复诊"


def test_import_with_a_bad_row_saves_nothing_and_names_the_lines(app, runner, fcg, tmp_path):
    person, staff = fcg
    bad = tmp_path / "day.csv"
    bad.write_text(
        "id_number,institution,disease,visit_date,eligible\n"
        f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-20,100\n"
        f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-31,100\n"
        "11010519491231002X,H450602001,FCG001,2026-11-20,100\n"
        f"{person.id_number},{FCG_HOSPITAL},FCG999,2026-11-20,100\n"
        f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-20,12.345\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["benefits", "import", str(bad), "--by", staff.username])
    assert result.exit_code != 0
    assert "第 3 行" in result.output and "第 4 行: 找不到" in result.output and "第 5 行" in result.output
    assert "第 6 行" in result.output and "FCG999" in result.output
    assert "第 2 行" not in result.output
    assert db.session.scalar(select(BenefitSettlement.id)) is None
    physician_run = runner.invoke(args=["benefits", "import", str(bad), "--by", "nobody"])
    assert physician_run.exit_code != 0 and "不存在" in physician_run.output
