"""待遇追回: a renewal that fails after benefits continued during its review. Seed 001: benefits stop
from the day after the original end; visits on or after that day already paid become recovery cases
(recovered by a reversal, or waived with a reason, as the region decides), the person is told, and
staff of the hospital that settled them and of the agency see and resolve them."""
from __future__ import annotations

import re

from datetime import date
from decimal import Decimal

import pytest
from flask import current_app
from sqlalchemy import func, select

from core.applications import review
from core.applications import service as apps
from core.benefits import service as ben
from core.benefits.inputs import Visit
from core.extensions import db
from core.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import AuditLog, BenefitRecovery, BenefitSettlement, Notice, Recognition, RecoveryOutcome
from core.recoveries import service as recoveries
from core.web.context import regions
from tests.conftest import as_, login

FCG_HOSPITAL = "H450602001"  # 防城港市第一人民医院 (港口区)
OTHER_HOSPITAL = "H450603001"  # 防城港市中医医院
END, STOP = date(2027, 1, 9), date(2027, 1, 10)


def on(day: date):
    current_app.config["MTKIT_TODAY"] = day


def finish(app, staff, result):
    for action, fields in (
        ("accept", {}),
        ("decide", {"results": {ad.disease_code: result for ad in app.diseases}, "reason_code": "R03" if result == "rejected" else None}),
        ("record", {}),
    ):
        review.act(as_(staff), app, action, app.version, **fields)
    db.session.commit()


def settle(person, actor, amount, day, institution=FCG_HOSPITAL):
    row = ben.settle(as_(actor), Visit(person, institution, "FCG001", day, Decimal(amount)))
    db.session.commit()
    return row


@pytest.fixture
def case(make, fcg_staff):
    """高血压 recognised 2025-01-10 (valid to 2027-01-09) for an in-service employee of 港口区; a renewal
    submitted on 2026-12-01 (timely); visits settled at 防城港市第一人民医院 during its review."""
    reviewer = fcg_staff["reviewer"]
    person = make.person(region="450600", division="450602", category="employed", name="韦小红")
    on(date(2025, 1, 10))
    finish(make.application(person, ["FCG001"]), reviewer, "approved")
    rec = db.session.scalars(select(Recognition).where(Recognition.person_id == person.id)).one()
    assert (rec.end_date, rec.stop_date) == (END, None)
    on(date(2026, 12, 1))
    renewal = apps.start_renewal(as_(person), rec, channel="online")
    make.upload_required(renewal, person)
    apps.submit(as_(person), renewal, renewal.version)
    db.session.commit()
    hospital = make.staff("fcg_yibao", "hospital_office", region="450600", division="450602", hospital=FCG_HOSPITAL)
    on(date(2027, 1, 15))
    # 2027's deductible 200 (在职, sample), 70%: 300 -> 100 x 70% = 70.00; 300 -> 210.00; 123.45 -> 86.415 -> 86.42.
    visits = [settle(person, hospital, "300.00", END), settle(person, hospital, "300.00", STOP),
              settle(person, hospital, "123.45", date(2027, 1, 14))]
    assert [v.reimbursed_fen for v in visits] == [7000, 21000, 8642] and all(v.covered for v in visits)
    return dict(person=person, rec=rec, renewal=renewal, reviewer=reviewer, hospital=hospital, visits=visits)


def cases_of(person) -> list[BenefitRecovery]:
    return list(db.session.scalars(select(BenefitRecovery).where(BenefitRecovery.person_id == person.id).order_by(BenefitRecovery.id)))


def test_rejection_opens_a_case_for_each_visit_paid_from_the_day_after_the_original_end(case):
    person, (kept, first, second) = case["person"], case["visits"]
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    assert case["rec"].stop_date == STOP
    found = cases_of(person)
    # The visit ON the original end date was covered: kept. End + 1 and later: to recover.
    assert [(c.settlement_id, c.visit_date, c.amount_fen, c.cause) for c in found] == [
        (first.id, STOP, 21000, "rejected"), (second.id, date(2027, 1, 14), 8642, "rejected")]
    assert all(c.institution_code == FCG_HOSPITAL and c.application_id == case["renewal"].id for c in found)
    assert [recoveries.status_of(c) for c in found] == ["open", "open"]  # 防城港: no automatic waiver
    assert kept.id not in {c.settlement_id for c in found}
    notice = db.session.scalars(select(Notice).where(Notice.user_id == person.id, Notice.kind == "recovery")).one()
    assert "2027-01-10" in notice.body and "2027-01-14" in notice.body and "续办申请未通过" in notice.body
    assert "210.00" in notice.body and "86.42" in notice.body and "需追回合计 296.42 元" in notice.body
    assert "2027-01-09 " not in notice.body  # the covered visit is not named
    assert db.session.scalar(select(func.count()).where(AuditLog.action == "benefit.recovery_open")) == 2


def test_after_the_decision_visits_from_the_stop_date_are_refused_and_open_nothing(case):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    late = settle(case["person"], case["hospital"], "300.00", date(2027, 1, 12))
    assert not late.covered and late.reimbursed_fen == 0 and "2027-01-10" in late.reason
    still = settle(case["person"], case["hospital"], "300.00", END)
    assert still.covered and still.reimbursed_fen == 21000  # the end date itself is still covered
    assert len(cases_of(case["person"])) == 2


def test_an_approved_renewal_opens_nothing(case):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "approved")
    assert cases_of(case["person"]) == [] and case["rec"].stop_date is None
    assert db.session.scalar(select(Notice.id).where(Notice.kind == "recovery")) is None


def test_withdrawing_the_renewal_after_the_end_opens_the_cases_too(case):
    on(date(2027, 1, 20))
    apps.withdraw(as_(case["person"]), case["renewal"], case["renewal"].version, "不再办理")
    db.session.commit()
    assert [(c.amount_fen, c.cause) for c in cases_of(case["person"])] == [(21000, "withdrawn"), (8642, "withdrawn")]


def test_a_renewal_not_submitted_before_the_end_paid_nothing_after_it(make, fcg_staff):
    """Not timely: benefits stop at the end, so a visit the day after was never paid and nothing is recovered."""
    reviewer = fcg_staff["reviewer"]
    person = make.person(region="450600", division="450602")
    on(date(2025, 1, 10))
    finish(make.application(person, ["FCG001"]), reviewer, "approved")
    rec = db.session.scalars(select(Recognition).where(Recognition.person_id == person.id)).one()
    on(date(2026, 12, 1))
    draft = apps.start_renewal(as_(person), rec, channel="online")  # a draft, never submitted
    db.session.commit()
    on(date(2027, 1, 15))
    day_after = settle(person, reviewer, "300.00", STOP)
    assert not day_after.covered and day_after.reimbursed_fen == 0
    apps.withdraw(as_(person), draft, draft.version, "")
    db.session.commit()
    assert cases_of(person) == [] and db.session.scalar(select(Notice.id).where(Notice.kind == "recovery")) is None


def test_a_renewal_submitted_on_the_end_date_is_timely_and_its_paid_visits_are_recovered(make, fcg_staff):
    reviewer = fcg_staff["reviewer"]
    person = make.person(region="450600", division="450602")
    on(date(2025, 1, 10))
    finish(make.application(person, ["FCG001"]), reviewer, "approved")
    rec = db.session.scalars(select(Recognition).where(Recognition.person_id == person.id)).one()
    on(END)
    renewal = apps.start_renewal(as_(person), rec, channel="online")
    make.upload_required(renewal, person)
    apps.submit(as_(person), renewal, renewal.version)
    db.session.commit()
    on(date(2027, 1, 11))
    paid = settle(person, reviewer, "1000.00", STOP)
    assert paid.covered and paid.reimbursed_fen == 56000  # (1000 - 200) x 70%
    finish(renewal, reviewer, "rejected")
    assert [(c.settlement_id, c.amount_fen) for c in cases_of(person)] == [(paid.id, 56000)]


def test_recover_reverses_the_settlement_once_and_links_the_reversal(case):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    first = cases_of(case["person"])[0]
    outcome = recoveries.recover(as_(case["reviewer"]), first)
    db.session.commit()
    again = recoveries.recover(as_(case["hospital"]), first)  # a double click, or the other office
    db.session.commit()
    assert again.id == outcome.id and outcome.outcome == "recovered"
    reversal = db.session.get(BenefitSettlement, outcome.reversal_id)
    assert reversal.reversal_of_id == first.settlement_id and reversal.reimbursed_fen == -21000
    assert db.session.scalar(select(func.count()).where(BenefitSettlement.reversal_of_id == first.settlement_id)) == 1
    assert db.session.scalar(select(func.count()).select_from(RecoveryOutcome)) == 1
    with pytest.raises(Conflict, match="已处理"):
        recoveries.waive(as_(case["reviewer"]), first, "误操作")
    db.session.rollback()
    assert [a.action for a in db.session.scalars(select(AuditLog).where(AuditLog.action.in_(
        ("benefit.reverse", "benefit.recovery_recover"))).order_by(AuditLog.id))] == ["benefit.reverse", "benefit.recovery_recover"]
    # The year's balance no longer counts the recovered payment: 70.00 + 86.42 paid.
    assert ben.balances(as_(), case["person"], 2027)["diseases"][0]["reimbursed"] == "156.42"


def test_a_settlement_reversed_by_hand_meanwhile_is_recovered_by_that_reversal(case):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    first = cases_of(case["person"])[0]
    by_hand = ben.reverse(as_(case["hospital"]), db.session.get(BenefitSettlement, first.settlement_id), "退费")
    db.session.commit()
    outcome = recoveries.recover(as_(case["reviewer"]), first)
    db.session.commit()
    assert outcome.reversal_id == by_hand.id
    assert db.session.scalar(select(func.count()).where(BenefitSettlement.reversal_of_id == first.settlement_id)) == 1


def test_waive_needs_a_reason_and_writes_nothing_without_one(case):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    second = cases_of(case["person"])[1]
    for bad in ("", "   ", "x" * 501):
        with pytest.raises(Invalid, match="免予追回"):
            recoveries.waive(as_(case["reviewer"]), second, bad)
        db.session.rollback()
    assert db.session.scalar(select(RecoveryOutcome.id)) is None
    outcome = recoveries.waive(as_(case["hospital"]), second, "经办机构批准,防医保〔2027〕3号")
    db.session.commit()
    assert (outcome.outcome, outcome.reason, outcome.decided_by_id, outcome.reversal_id) == (
        "waived", "经办机构批准,防医保〔2027〕3号", case["hospital"].id, None)
    assert db.session.scalar(select(BenefitSettlement.id).where(BenefitSettlement.reversal_of_id == second.settlement_id)) is None
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "benefit.recovery_waive")).one()
    assert audit.user_id == case["hospital"].id and audit.object_id == str(second.id)


def test_only_staff_in_scope_may_see_or_resolve_a_case(case, make, fcg_staff):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    first = cases_of(case["person"])[0]
    other_hospital = make.staff("zy_yibao", "hospital_office", region="450600", division="450603", hospital=OTHER_HOSPITAL)
    for outsider in (other_hospital, fcg_staff["dx_reviewer"]):
        with pytest.raises(NotFound):
            recoveries.recover(as_(outsider), first)
        db.session.rollback()
        assert recoveries.report(as_(outsider))["rows"] == []
    with pytest.raises(Forbidden):
        recoveries.waive(as_(case["person"]), first, "本人申请")
    db.session.rollback()
    assert db.session.scalar(select(RecoveryOutcome.id)) is None
    assert [r.id for r in recoveries.report(as_(case["hospital"]))["rows"]] == [c.id for c in reversed(cases_of(case["person"]))]


def test_the_report_filters_and_totals_to_the_fen(case):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    first, second = cases_of(case["person"])
    recoveries.recover(as_(case["reviewer"]), first)
    db.session.commit()
    data = recoveries.report(as_(case["reviewer"]))
    assert (data["count"], data["amount"]) == (2, "296.42")
    assert data["by_status"]["open"] == {"label": "待处理", "count": 1, "amount": "86.42"}
    assert data["by_status"]["recovered"]["amount"] == "210.00" and data["by_status"]["waived"]["count"] == 0
    assert [r.id for r in recoveries.report(as_(case["reviewer"]), status="open")["rows"]] == [second.id]
    assert recoveries.report(as_(case["reviewer"]), institution=OTHER_HOSPITAL)["rows"] == []
    with pytest.raises(Invalid, match="处理状态无效"):
        recoveries.report(as_(case["reviewer"]), status="paid")


def test_a_region_rule_waives_small_sums_when_the_case_opens(case, monkeypatch):
    """The plugin decides from its data (recoveries.toml's waive_below); the service writes."""
    from regions._recovery import RecoveryRules

    plugin = next(p for p in regions().pm.get_plugins() if getattr(p, "code", None) == "450600")
    monkeypatch.setattr(plugin, "recovery", RecoveryRules(("recovered", "waived"), "recovered", 10000, "金额较小,免予追回", True))
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    big, small = cases_of(case["person"])
    assert (recoveries.status_of(big), recoveries.status_of(small)) == ("open", "waived")  # 210.00 >= 100; 86.42 < 100
    assert small.outcome.reason == "金额较小,免予追回" and small.outcome.decided_by_id is None
    notice = db.session.scalars(select(Notice).where(Notice.kind == "recovery")).one()
    assert "免予追回" in notice.body and "需追回合计 210.00 元" in notice.body


def test_both_regions_answer_the_recovery_hook_from_their_data(app):
    nmg = regions().recovery_policy("150000", "M03900", 999)
    assert nmg.waive_now and nmg.default == "waived" and "10 元" in nmg.reason and nmg.sample
    assert not regions().recovery_policy("150000", "M03900", 1000).waive_now  # 10.00 元 is not below 10 元
    fcg = regions().recovery_policy("450600", "FCG001", 1)
    assert (fcg.allowed, fcg.default, fcg.waive_now) == (("recovered", "waived"), "recovered", False)


def test_pages_report_case_actions_csv_and_my_benefits(case, app, make):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    first, second = cases_of(case["person"])
    staff = app.test_client()
    login(staff, "fcg_yibao")
    page = staff.get("/staff/recoveries").get_data(as_text=True)
    assert "待遇追回" in page and "296.42" in page and "韦*" in page and "韦小红" not in page
    assert staff.get(f"/staff/recoveries/{first.id}").status_code == 200
    r = staff.post(f"/staff/recoveries/{second.id}/waive", data={"reason": ""})
    assert r.status_code == 422 and "请填写免予追回的原因" in r.get_data(as_text=True)
    assert staff.post(f"/staff/recoveries/{first.id}/recover", data={}).status_code == 302
    assert staff.post(f"/staff/recoveries/{first.id}/recover", data={}).status_code == 302  # double click
    assert db.session.scalar(select(func.count()).where(BenefitSettlement.reversal_of_id == first.settlement_id)) == 1
    csv = staff.get("/staff/recoveries.csv?status=open")
    text = csv.get_data(as_text=True)
    assert csv.mimetype == "text/csv" and "86.42" in text and "210.00" not in text and "韦*" in text
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "benefit.recovery_export")) is not None
    recoveries.waive(as_(case["reviewer"]), second, "=HYPERLINK(\"http://x\")")
    db.session.commit()
    assert "'=HYPERLINK" in staff.get("/staff/recoveries.csv").get_data(as_text=True)  # never a formula
    other = app.test_client()
    make.staff("zy_yibao", "hospital_office", region="450600", division="450603", hospital=OTHER_HOSPITAL)
    login(other, "zy_yibao")
    assert other.get(f"/staff/recoveries/{first.id}").status_code == 404
    assert other.post(f"/staff/recoveries/{second.id}/waive", data={"reason": "x"}).status_code == 404
    assert "296.42" not in other.get("/staff/recoveries").get_data(as_text=True)
    mine = app.test_client()
    login(mine, case["person"].username)
    assert mine.get("/staff/recoveries").status_code == 403
    page = mine.get("/benefits?year=2027").get_data(as_text=True)
    assert "待遇追回" in page and "已冲销追回" in page and "免予追回" in page and "86.42" in page
    assert "已列入待遇追回:已冲销追回" in mine.get(f"/benefits/settlements/{first.settlement_id}").get_data(as_text=True)
    stranger = make.person(region="450600", division="450602", name="李四", phone="13800002222")
    nosy = app.test_client()
    login(nosy, stranger.username)
    assert "待遇追回" not in nosy.get("/benefits?year=2027").get_data(as_text=True)
    assert nosy.get(f"/benefits/settlements/{second.settlement_id}").status_code == 404


def test_the_ledger_tables_say_which_visits_are_being_recovered(case, app):
    on(date(2027, 1, 20))
    finish(case["renewal"], case["reviewer"], "rejected")
    kept, first, second = case["visits"]
    recoveries.waive(as_(case["reviewer"]), cases_of(case["person"])[1], "金额较小,经审批免予追回")
    db.session.commit()

    def row_of(page: str, settlement_id: int) -> str:
        return re.search(rf'第 {settlement_id} 号</a></td>.*?</tr>', page, re.S).group(0)

    mine = app.test_client()
    login(mine, case["person"].username)
    page = mine.get("/benefits?year=2027").get_data(as_text=True)
    assert "待追回" in row_of(page, first.id) and "按规定支付" not in row_of(page, first.id)
    assert "免予追回" in row_of(page, second.id)
    assert "按规定支付" in row_of(page, kept.id) and "追回" not in row_of(page, kept.id)  # the end date stays paid
    staff = app.test_client()
    login(staff, "fcg_yibao")
    assert staff.post("/staff/benefits", data={"id_number": case["person"].id_number}).status_code == 302
    page = staff.get(f"/staff/benefits/people/{case['person'].id}?year=2027").get_data(as_text=True)
    assert "待追回" in row_of(page, first.id) and "待追回" not in row_of(page, kept.id)


@pytest.mark.parametrize("text, message", [
    ('allowed = ["refund"]', "allowed"),
    ('allowed = ["recovered"]\ndefault = "waived"', "默认处理方式"),
    ('waive_below = "abc"', "不是数字"),
    ('waive_below = "10.00"', "waive_reason"),
    ('allowed = ["recovered"]\nwaive_below = "10.00"\nwaive_reason = "小额"', "waived"),
])
def test_a_bad_recoveries_file_stops_start_up_with_a_clear_message(tmp_path, text, message):
    from regions._loader import DataError
    from regions._recovery import load_recovery_rules

    path = tmp_path / "recoveries.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_recovery_rules(path)
    assert load_recovery_rules(tmp_path / "absent.toml") is None  # no file: the core default answers
