"""Seed 001's rule, worked by hand: the 年度支付限额 is the most the fund pays for a disease in a
year, reimbursement = (cost above the year's single deductible) × the category's ratio, until the
disease's limit is reached, to the fen. Figures: FACTS.md §3's table (高血压 2000 70%/75%, 糖尿病 2500,
恶性肿瘤门诊治疗 100000 75%/80%, 肝硬化 4000) and the regions' sample deductibles (防城港 在职 200,
退休 100; 内蒙古 在职 300, 退休 200)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.benefits import service as ben
from core.web.context import regions
from tests.conftest import as_
from tests.test_benefits import on, recognise, settle

# (disease, category, the visits' eligible amounts in a year, what the fund pays for each), by hand:
WORKED = [
    # 高血压, 在职 70%, deductible 200: 800×.7=560; 700; 700; then 70 computed but 40 left; then nothing.
    ("FCG001", "employed", ["1000", "1000", "1000", "100", "50"], ["560.00", "700.00", "700.00", "40.00", "0.00"]),
    # 高血压, 退休 75%, deductible 100: 900×.75=675; 750; 750 computed, 575 left → exactly 2000.
    ("FCG001", "retired", ["1000", "1000", "1000"], ["675.00", "750.00", "575.00"]),
    # 糖尿病 2500, 在职 70%: 1000.33×.7=700.231→700.23; 1400; 700 computed, 399.77 left → 2500.00.
    ("FCG002", "employed", ["1200.33", "2000", "1000"], ["700.23", "1400.00", "399.77"]),
    # 糖尿病, 退休 75%: 2900.01×.75=2175.0075→2175.01 (half up); 450 computed, 324.99 left.
    ("FCG002", "retired", ["3000.01", "600"], ["2175.01", "324.99"]),
    # 恶性肿瘤门诊治疗 100000, 在职 75%: 49800×.75=37350; 67500 computed, 62650 left.
    ("FCG003", "employed", ["50000", "90000"], ["37350.00", "62650.00"]),
    # 恶性肿瘤门诊治疗, 退休 80%: 125000×.8 = 100000 exactly, nothing after.
    ("FCG003", "retired", ["125100", "10"], ["100000.00", "0.00"]),
    # 肝硬化 4000, 在职 70%: 4800×.7=3360; 700 computed, 640 left.
    ("FCG004", "employed", ["5000", "1000"], ["3360.00", "640.00"]),
    # 肝硬化, 退休 75%: 5333.33×.75=3999.9975→4000.00 (the limit, to the fen); 0.75 computed, nothing left.
    ("FCG004", "retired", ["5433.33", "1"], ["4000.00", "0.00"]),
]


@pytest.mark.parametrize("disease,category,amounts,paid", WORKED, ids=[f"{w[0]}-{w[1]}" for w in WORKED])
def test_seed_table_worked_examples(make, fcg_staff, disease, category, amounts, paid):
    staff = fcg_staff["reviewer"]
    person = make.person(region="450600", division="450602", category=category)
    recognise(make, staff, person, [disease], date(2026, 1, 5))
    on(date(2026, 12, 20))
    rate = regions().benefit_policy("450600", 2026).rate(disease, category)
    rows = [settle(person, staff, amount, date(2026, 2 + i, 10), disease=disease) for i, amount in enumerate(amounts)]
    assert [f"{r.reimbursed_fen / 100:.2f}" for r in rows] == paid
    # Every fen is accounted for: the fund's share plus the person's is the cost.
    assert all(r.reimbursed_fen + r.own_fen == r.eligible_fen for r in rows)
    total = sum(r.reimbursed_fen for r in rows)
    assert total <= int(rate.annual_limit * 100)
    bal = ben.balances(as_(), person, 2026)
    [d] = bal["diseases"]
    assert d["used"] == d["reimbursed"] == f"{total / 100:.2f}"
    assert d["left"] == f"{(int(rate.annual_limit * 100) - total) / 100:.2f}"
    # One deductible for the year, paid by the first visit.
    expected_deductible = {"employed": 20000, "retired": 10000}[category]
    assert [r.deductible_fen for r in rows] == [expected_deductible] + [0] * (len(rows) - 1)
    last = rows[-1]
    if last.reimbursed_fen == 0:
        assert "已用完,本次不予支付" in last.reason and last.covered


def test_the_limit_is_per_disease_and_the_deductible_once_across_diseases(make, fcg_staff):
    """退休, 高血压 and 肝硬化: the 100 deductible once; each disease has its own limit."""
    staff = fcg_staff["reviewer"]
    person = make.person(region="450600", division="450602", category="retired")
    recognise(make, staff, person, ["FCG001", "FCG004"], date(2026, 1, 5))
    on(date(2026, 12, 20))
    a = settle(person, staff, "3000", date(2026, 2, 1), disease="FCG001")  # 2900×.75=2175 → the 2000 limit
    b = settle(person, staff, "1000", date(2026, 2, 2), disease="FCG004")  # no deductible: 1000×.75=750
    c = settle(person, staff, "1000", date(2026, 2, 3), disease="FCG001")  # 高血压's limit is used up
    assert [(r.deductible_fen, r.reimbursed_fen) for r in (a, b, c)] == [(10000, 200000), (0, 75000), (0, 0)]
    left = {d["code"]: d["left"] for d in ben.balances(as_(), person, 2026)["diseases"]}
    assert left == {"FCG001": "0.00", "FCG004": "3250.00"}


def test_inner_mongolia_limit_is_also_what_the_fund_pays(make, nmg_staff):
    """内蒙古 高血压病 M03900: 2000, 退休 70%, sample deductible 200."""
    on(date(2026, 1, 5))
    person = make.person(category="retired")
    from core.applications import review
    from core.extensions import db

    app = make.application(person, ["M03900"])
    review.act(as_(nmg_staff["office"]), app, "accept", app.version)
    review.act(as_(nmg_staff["doctor"]), app, "decide", app.version, results={"M03900": "approved"})
    review.act(as_(nmg_staff["office"]), app, "record", app.version)
    db.session.commit()
    on(date(2026, 11, 23))
    policy = regions().benefit_policy("150000", 2026)
    assert policy.limit_basis == "fund" and regions().benefit_policy("450600", 2026).limit_basis == "fund"
    office = nmg_staff["office"]
    rows = [settle(person, office, amount, date(2026, m, 1), disease="M03900", institution="H150100001")
            for m, amount in ((3, "2000"), (4, "1000"), (5, "100"))]
    # 1800×.7=1260; 700 (1960 paid); 70 computed, 40 left → exactly 2000.
    assert [(r.deductible_fen, r.reimbursed_fen) for r in rows] == [(20000, 126000), (0, 70000), (0, 4000)]
    assert rows[-1].limit_left_fen == 0


def test_the_api_description_says_what_the_limit_is(client):
    import json

    text = json.dumps(client.get("/api/v1/openapi.json").get_json(), ensure_ascii=False)
    assert "年度支付限额" in text and "基金最多支付" in text


def test_an_estimate_explains_each_step_in_words(make, fcg_staff):
    staff = fcg_staff["reviewer"]
    person = make.person(region="450600", division="450602", category="employed")
    recognise(make, staff, person, ["FCG001"], date(2026, 1, 5))
    on(date(2026, 12, 20))
    settle(person, staff, "3000", date(2026, 2, 1))  # the fund has paid 1960 of 2000
    from core.benefits.inputs import Visit

    full = ben.estimate(as_(staff), Visit(person, "H450602001", "FCG001", date(2026, 3, 1), Decimal("1000")))
    steps = {s["label"]: s for s in full["steps"]}
    assert "尚余 40.00 元" in steps["年度支付限额"]["detail"]
    assert steps["按比例计算"]["amount"] == "700.00" and "1000.00 元 × 报销比例 70%" in steps["按比例计算"]["detail"]
    assert steps["限额封顶"]["amount"] == "40.00" and "超过限额尚余的 40.00 元" in steps["限额封顶"]["detail"]
    settle(person, staff, "1000", date(2026, 3, 1))
    none = ben.estimate(as_(staff), Visit(person, "H450602001", "FCG001", date(2026, 4, 1), Decimal("1000")))
    steps = {s["label"]: s for s in none["steps"]}
    assert steps["限额封顶"]["detail"] == "年度支付限额已用完,本次不予支付" and steps["限额封顶"]["amount"] == "0.00"
    assert not any("min(" in s["detail"] or "−" in s["detail"] for s in none["steps"])
