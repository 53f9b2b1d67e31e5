"""GET /api/v1/benefits/balances and POST /api/v1/benefits/estimate, driven over HTTP with worked
examples (FACTS.md's Fangchenggang table: 高血压 2000 元 limit, 70% for 在职, sample deductible 200)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import func, select

from core.extensions import db
from core.models import AuditLog, BenefitSettlement, InpatientStay
from core.benefits import service as ben
from core.benefits.inputs import Visit, make_visit
from core.benefits import stays
from tests.test_api import api
from tests.test_benefits import FCG_HOSPITAL, on, recognise
from tests.conftest import as_

OTHER_HOSPITAL = "H450603001"  # 防城港市中医医院 (防城区)
HEADER = "X-Person-Id-Number"


@pytest.fixture
def scene(make, fcg_staff):
    """An in-service employee in 港口区 recognised for 高血压 (FCG001) and 糖尿病 (FCG002) from 2026-01-05."""
    person = make.person(region="450600", division="450602", category="employed", name="韦小红")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001", "FCG002"], date(2026, 1, 5))
    on(date(2026, 11, 23))
    hospital = make.staff("fcg_yibao", "hospital_office", region="450600", division="450602", hospital=FCG_HOSPITAL)
    other = make.staff("zy_yibao", "hospital_office", region="450600", division="450603", hospital=OTHER_HOSPITAL)
    neighbour = make.person(region="450600", division="450602", category="employed", name="黄志明")
    return dict(person=person, hospital=hospital, other=other, agency=fcg_staff["reviewer"],
                dx=fcg_staff["dx_reviewer"], neighbour=neighbour)


def settle(person, actor, amount, day, disease="FCG001"):
    row = ben.settle(as_(actor), Visit(person, FCG_HOSPITAL, disease, day, Decimal(amount)))
    db.session.commit()
    return row


def balances(caller, id_number=None, year=None):
    headers = caller.headers() | ({HEADER: id_number} if id_number else {})
    return caller.client.get("/api/v1/benefits/balances" + (f"?year={year}" if year else ""), headers=headers)


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def figures(body):
    return {d["code"]: (d["limit"], d["used"], d["left"], d["reimbursed"]) for d in body["diseases"]}


def test_insured_person_sees_own_balances_with_exact_figures(app, client, scene):
    s = scene
    for day in (date(2026, 3, 2), date(2026, 5, 6), date(2026, 9, 9)):
        settle(s["person"], s["hospital"], "1000.00", day)
    me = api(client).login(s["person"].username)
    r = balances(me)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    # 560 + 700 + 700 = 1960 back, 40 of the 2000 年度支付限额 left; the shared 200 deductible paid in full.
    assert body["year"] == 2026 and body["configured"] and body["category"] == "employed" and body["sample"]
    assert body["deductible"] == {"amount": "200.00", "used": "200.00", "left": "0.00", "percent": 100}
    assert figures(body) == {"FCG001": ("2000.00", "1960.00", "40.00", "1960.00"),
                             "FCG002": ("2500.00", "0.00", "2500.00", "0.00")}
    assert {d["code"]: d["ratio"] for d in body["diseases"]} == {"FCG001": "70%", "FCG002": "70%"}
    assert body["person"]["name"] == "韦小红" and body["person"]["id_number"] == "450602********" + s["person"].id_number[-4:]
    assert s["person"].id_number not in r.get_data(as_text=True)
    # A reversal frees what the third visit used: its 700 back, and the limit with it.
    third = db.session.scalars(select(BenefitSettlement).order_by(BenefitSettlement.id.desc())).first()
    ben.reverse(as_(s["hospital"]), third, "金额录入错误")
    db.session.commit()
    assert figures(balances(me).get_json())["FCG001"] == ("2000.00", "1260.00", "740.00", "1260.00")
    # 2025: before the recognitions, nothing used; no policy before 2025 (nothing to show, no error).
    last_year = balances(me, year=2025).get_json()
    assert last_year["deductible"]["used"] == "0.00" and last_year["diseases"] == []
    none = balances(me, year=2024).get_json()
    assert not none["configured"] and none["deductible"] is None and none["diseases"] == []
    assert balances(me, year="26").status_code == 400


def test_staff_in_scope_see_a_persons_balances_and_others_are_refused(app, client, scene, make, nmg_staff):
    s = scene
    settle(s["person"], s["hospital"], "1000.00", date(2026, 3, 2))
    expected = {"FCG001": ("2000.00", "560.00", "1440.00", "560.00"), "FCG002": ("2500.00", "0.00", "2500.00", "0.00")}
    idn = s["person"].id_number
    for username in ("fcg_yibao", "zy_yibao", "fcg_review"):  # the 门特结算 page's scope: any hospital of the region, agency
        r = balances(api(client).login(username), idn.lower() if username == "fcg_review" else idn)
        assert r.status_code == 200, (username, r.get_json())
        assert figures(r.get_json()) == expected and r.get_json()["deductible"]["used"] == "200.00"
        assert idn not in r.get_data(as_text=True)
    assert count(AuditLog, AuditLog.action == "benefit.view_person") == 3
    assert count(AuditLog, AuditLog.action == "person.lookup", AuditLog.result == "ok") == 3
    # Staff have no balances of their own: the person is required, as a valid ID number.
    office = api(client).login("fcg_yibao")
    r = balances(office)
    assert r.status_code == 422 and HEADER in r.get_json()["error"]["fields"]
    r = balances(office, "4506021960")
    assert r.status_code == 422 and HEADER in r.get_json()["error"]["fields"]
    assert balances(office, "450602199001010017").status_code == 404  # valid, but nobody
    # Out of scope: 东兴市's reviewer (港口区 person), another region's hospital: as if nobody.
    for username in ("dx_review", "yibao"):
        r = balances(api(client).login(username), idn)
        assert r.status_code == 404 and r.get_json()["error"]["fields"] == {HEADER: "未找到"}, username
    # Roles that do not record settlements: refused outright.
    make.staff("fcg_admin", "admin", region="450600")
    for username in ("fcg_expert", "fcg_admin"):
        assert balances(api(client).login(username), idn).status_code == 403
    # Another insured person cannot name anyone else; without a name they get their own.
    neighbour = api(client).login(s["neighbour"].username)
    r = balances(neighbour, idn)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    own = balances(neighbour).get_json()
    assert own["person"]["name"] == "黄志明" and own["diseases"] == [] and own["deductible"]["used"] == "0.00"
    assert balances(api(client).login(s["person"].username), idn).status_code == 200  # naming oneself is fine


def estimate_body(**changes):
    body = {"institution": FCG_HOSPITAL, "disease": "FCG001", "visit_date": "2026-11-20", "eligible": "1500.00"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_estimate_matches_the_service_and_a_hand_computed_example_and_saves_nothing(app, client, scene):
    s = scene
    settle(s["person"], s["hospital"], "1000.00", date(2026, 3, 2))  # deductible paid, the fund paid 560
    me = api(client).login(s["person"].username)
    before = balances(me).get_json()
    rows, audits = count(BenefitSettlement), count(AuditLog)
    r = me.post("/benefits/estimate", estimate_body(eligible="2500.00"))
    assert r.status_code == 200, r.get_json()
    est = r.get_json()
    # By hand: deductible already paid (0 now); 2500 above it × 70% = 1750, but the fund pays at most
    # 2000 a year and has paid 560: 1440 from the fund; the person pays 2500 − 1440 = 1060; nothing left after.
    assert est["covered"] and "年度支付限额 2000.00 元本次用完" in est["reason"]
    assert (est["eligible"], est["deductible_paid"], est["limit_used"], est["reimbursed"], est["own"]) == (
        "2500.00", "0.00", "1440.00", "1440.00", "1060.00")
    assert (est["ratio"], est["annual_limit"], est["limit_left_after"]) == ("0.70", "2000.00", "0.00")
    steps = {st["label"]: st["amount"] for st in est["steps"]}
    assert steps["起付标准"] == "0.00" and steps["起付标准以上费用"] == "2500.00"
    assert steps["按比例计算"] == "1750.00" and steps["限额封顶"] == "1440.00"
    assert steps["报销金额"] == "1440.00" and steps["个人负担"] == "1060.00" and steps["限额余额"] == "0.00"
    assert not any("min(" in st["detail"] for st in est["steps"])
    assert [st["label"] for st in est["steps"]][:3] == ["费用", "待遇年度", "认定"]
    # The same as the service gives for the same visit.
    visit = make_visit(s["person"], as_().today(s["person"].region_code), institution_code=FCG_HOSPITAL, disease_code="FCG001",
                           visit_date="2026-11-20", eligible="2500.00")
    service = ben.estimate(as_(s["person"]), visit)
    assert {k: v for k, v in est.items() if k != "person"} == {k: v for k, v in service.items() if k != "person_id"}
    # Nothing written: no settlement, no audit row, the balances as before.
    assert count(BenefitSettlement) == rows and count(AuditLog) == audits
    assert balances(me).get_json() == before
    # Staff in scope get the same figures for the same visit (a hospital: its own hospital by default).
    office = api(client).login("fcg_yibao")
    body = estimate_body(institution=None, person_id_number=s["person"].id_number)
    body["eligible"] = "2500.00"
    r = office.post("/benefits/estimate", body)
    assert r.status_code == 200 and r.get_json() == est
    agency = api(client).login("fcg_review")
    assert agency.post("/benefits/estimate", estimate_body(eligible="2500.00", person_id_number=s["person"].id_number)).get_json() == est
    assert count(BenefitSettlement) == rows


def test_estimate_first_visit_of_the_year_and_items(app, client, scene):
    """No settlement yet: 200 deductible, 300 above it × 70% = 210; items add up to the amount."""
    s = scene
    me = api(client).login(s["person"].username)
    items = [{"name": "硝苯地平控释片", "amount": "36.50"}, {"name": "复查 血常规 2", "amount": "463.50"}]
    r = me.post("/benefits/estimate", estimate_body(eligible=None, items=items))
    est = r.get_json()
    assert r.status_code == 200, est
    assert (est["eligible"], est["deductible_paid"], est["limit_used"], est["reimbursed"], est["own"]) == (
        "500.00", "200.00", "210.00", "210.00", "290.00")
    assert est["reason"] is None and est["limit_left_after"] == "1790.00"
    for eligible in ("500.00", "500", " "):
        r = me.post("/benefits/estimate", estimate_body(eligible=eligible, items=items))
        assert r.status_code == 200 and r.get_json() == est
    r = me.post("/benefits/estimate", estimate_body(eligible="500.00", items=items))
    assert r.status_code == 200 and r.get_json() == est
    r = me.post("/benefits/estimate", estimate_body(eligible="480.00", items=items))
    assert r.status_code == 422 and "500.00" in r.get_json()["error"]["fields"]["items"]


def test_estimate_of_a_visit_that_is_not_covered_says_why(app, client, scene):
    s = scene
    me = api(client).login(s["person"].username)
    # Before the recognition started (2026-01-05): nothing paid, the whole amount the person's.
    est = me.post("/benefits/estimate", estimate_body(visit_date="2025-12-30", eligible="800")).get_json()
    assert not est["covered"] and "尚未开始" in est["reason"]
    assert (est["reimbursed"], est["own"], est["benefit_year"]) == ("0.00", "800.00", 2025)
    # During a recorded hospital stay.
    stays.record_stay(as_(s["agency"]), s["person"], institution_code=FCG_HOSPITAL, admitted_on="2026-11-01",
                      discharged_on="2026-11-10")
    db.session.commit()
    est = me.post("/benefits/estimate", estimate_body(visit_date="2026-11-05")).get_json()
    assert not est["covered"] and "住院期间" in est["reason"] and est["own"] == "1500.00"
    assert count(InpatientStay) == 1 and count(BenefitSettlement) == 0


def test_estimate_scope(app, client, scene, nmg_staff):
    s = scene
    idn = s["person"].id_number
    office = api(client).login("fcg_yibao")
    r = office.post("/benefits/estimate", estimate_body(institution=OTHER_HOSPITAL, person_id_number=idn))
    assert r.status_code == 403  # a hospital estimates visits at its own hospital only
    r = api(client).login("zy_yibao").post("/benefits/estimate", estimate_body(institution=None, person_id_number=idn))
    assert r.status_code == 200 and r.get_json()["institution_code"] == OTHER_HOSPITAL
    assert office.post("/benefits/estimate", estimate_body()).status_code == 422  # staff must name the person
    for username in ("dx_review", "yibao"):
        r = api(client).login(username).post("/benefits/estimate", estimate_body(person_id_number=idn))
        assert r.status_code == 404, username
    assert api(client).login("fcg_expert").post("/benefits/estimate", estimate_body(person_id_number=idn)).status_code == 403
    neighbour = api(client).login(s["neighbour"].username)
    r = neighbour.post("/benefits/estimate", estimate_body(person_id_number=idn))
    assert r.status_code == 403
    assert count(BenefitSettlement) == 0


@pytest.mark.parametrize("changes, field, words", [
    ({"eligible": "abc"}, "eligible", "不是有效的金额"),
    ({"eligible": 1500.5}, "eligible", "字符串"),
    ({"eligible": "12.345"}, "eligible", "两位小数"),
    ({"eligible": "-5"}, "eligible", "大于 0"),
    ({"eligible": "2000000"}, "eligible", "上限"),
    ({"eligible": None}, "eligible", "请填写"),
    ({"eligible": ""}, "eligible", "请填写"),
    ({"disease": "XYZ999"}, "disease", "不在本地区 2026 年度门特病种目录内"),
    ({"disease": None}, "disease", "请填写"),
    ({"visit_date": "2026/11/20"}, "visit_date", "年-月-日"),
    ({"visit_date": "2026-02-30"}, "visit_date", "年-月-日"),
    ({"visit_date": "2026-11-24"}, "visit_date", "不能晚于今天"),
    ({"visit_date": "1999-12-31"}, "visit_date", "早于 2000 年"),
    ({"institution": "H999999999"}, "institution", "不是本地区的定点医疗机构"),
    ({"institution": "O450600001"}, "institution", "不是本地区的定点医疗机构"),  # an agency office, not a hospital
    ({"institution": None}, "institution", "请填写"),
    ({"items": []}, "items", "数组"),
    ({"items": [{"name": "药", "amount": 5}]}, "items", "字符串"),
    ({"items": [{"name": "药\n2", "amount": "5"}]}, "items", "名称"),
    ({"items": [{"name": "药", "amount": "1 000"}]}, "items", "不是有效的金额"),
    ({"items": "药 5"}, "items", "数组"),
    ({"person_id_number": 450602}, "person_id_number", "字符串"),
])
def test_bad_estimate_input_is_422_naming_the_field(app, client, scene, changes, field, words):
    me = api(client).login(scene["person"].username)
    r = me.post("/benefits/estimate", estimate_body(**changes))
    error = r.get_json()["error"]
    assert r.status_code == 422 and error["code"] == "invalid", error
    assert field in error["fields"] and words in str(error["fields"][field]), error
    assert words in error["message"] or field == "items" and "提交的内容有误" in error["message"]
    assert count(BenefitSettlement) == 0


def test_estimate_for_a_disease_without_recognition_is_not_covered_on_the_page_and_in_the_api(app, client, scene):
    """Drift fixed: a catalogue disease the person has no 认定 for is 不予支付 with the reason, the same
    answer on the 门特结算 page and in the API (it was 422 in the API, 不予支付 on the page)."""
    from tests.conftest import login

    s = scene
    hospital = api(app.test_client()).login("fcg_yibao")
    r = hospital.post("/benefits/estimate", estimate_body(person_id_number=s["person"].id_number, disease="FCG003"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["covered"] is False and body["reimbursed"] == "0.00" and body["own"] == "1500.00"
    assert body["reason"] == "参保人没有该病种的门特认定。"
    login(client, "fcg_yibao")
    client.post("/staff/benefits", data={"id_number": s["person"].id_number})
    page = client.post(f"/staff/benefits/people/{s['person'].id}/estimate", headers={"HX-Request": "true"},
                       data={"disease": "FCG003", "visit_date": "2026-11-20", "eligible": "1500.00"})
    assert page.status_code == 200 and "不予支付" in page.get_data(as_text=True)
    assert body["reason"] in page.get_data(as_text=True)
    assert count(BenefitSettlement) == 0


def test_estimate_body_must_be_a_json_object(app, client, scene):
    me = api(client).login(scene["person"].username)
    assert me.post("/benefits/estimate", ["x"]).status_code == 422
    r = client.post("/api/v1/benefits/estimate", data="{", content_type="application/json", headers=me.headers())
    assert r.status_code == 400
    r = me.post("/benefits/estimate", {"disease": "FCG001", "visit_date": "2026-11-20", "eligible": "1",
                                       "institution": "x" * 31})
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"institution"}


def test_responses_match_the_documented_schemas(app, client, scene):
    """The OK answers (which generated requests rarely reach) checked against openapi.json."""
    s = scene
    settle(s["person"], s["hospital"], "1000.00", date(2026, 3, 2))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    me = api(client).login(s["person"].username)
    office = api(client).login("fcg_yibao")
    cases = [
        ("GET", "/benefits/balances", me, {}),
        ("GET", "/benefits/balances", me, {"query": {"year": 2024}}),
        ("GET", "/benefits/balances", office, {"headers": {HEADER: s["person"].id_number}}),
        ("POST", "/benefits/estimate", me, {"body": estimate_body()}),
        ("POST", "/benefits/estimate", me, {"body": estimate_body(visit_date="2025-12-30")}),
        ("POST", "/benefits/estimate", office, {"body": estimate_body(person_id_number=s["person"].id_number)}),
        ("POST", "/benefits/estimate", me, {"body": estimate_body(eligible="x")}),
    ]
    for method, path, caller, parts in cases:
        operation = schema[path][method]
        headers = {**parts.pop("headers", {}), **caller.headers()}
        case = operation.Case(headers=headers, **parts)
        response = case.call()
        assert response.status_code in (200, 422), response.text
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                  response_schema_conformance])
