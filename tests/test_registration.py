"""Registration: ID numbers name a real GB/T 2260 division (issue 13 item 4), region and division
coupled and 在职/退休 asked only of 职工 (item 9), and a division without a place to apply said so up
front (item 5)."""
from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select

from core.demo import make_id_number
from core.extensions import db
from core.models import Application, User
from core.people.divisions import division_name
from core.people.identity import id_number_problem
from tests.conftest import PASSWORD, login
from tests.test_documents import flat, pdf_text

TODAY = date(2026, 11, 23)


def count_users(*where):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(User).where(*where))


def register(client, id_number, **over):
    data = {"name": "新参保人", "id_number": id_number, "phone": "13900009999", "region": "450600",
            "division": "450602", "insured_scheme": "employee", "insured_category": "employed",
            "password": PASSWORD, "password2": PASSWORD}
    data.update(over)
    return client.post("/register", data=data)


# --- item 4: the first six digits ------------------------------------------------------------

def test_an_id_number_from_no_province_is_refused_though_its_check_character_is_right():
    idn = make_id_number("990101", "19800101", 1)
    assert id_number_problem(idn, TODAY) == "身份证号前六位 990101 不是有效的行政区划代码(前两位 99 不是省级行政区代码),请核对。"


@pytest.mark.parametrize("code", ["150199", "450699", "110199", "820101"])
def test_a_division_code_not_in_gb2260_is_refused(code):
    problem = id_number_problem(make_id_number(code, "19800101", 1), TODAY)
    assert problem == f"身份证号前六位 {code} 不是有效的行政区划代码,请核对。"


@pytest.mark.parametrize("code, name", [
    ("110103", "崇文区"),  # merged into 东城区 in 2010: IDs issued before keep the code
    ("440524", "潮阳县"),  # became a city in 1993
    ("152100", "呼伦贝尔盟"),  # renamed 呼伦贝尔市 (150700) in 2001
    ("450602", "港口区"),
    ("810000", "香港特别行政区"),
])
def test_historic_and_current_codes_are_accepted(code, name):
    assert division_name(code) == name
    assert id_number_problem(make_id_number(code, "19620101", 5), TODAY) is None


def test_every_division_of_both_regions_is_a_gb2260_code(app):
    from core.web.context import regions

    for info in regions().all():
        for d in info.divisions:
            assert division_name(d.code) == d.name, (info.name, d.code)


def test_the_check_still_runs_after_the_division_check():
    good = make_id_number("450602", "19580704", 26)
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert "校验位" in id_number_problem(wrong, TODAY)


def test_a_beijing_born_person_insured_in_fangchenggang_registers(app, client):
    idn = make_id_number("110105", "19700505", 12)  # 朝阳区: where the number was issued
    r = register(client, idn, region="450600", division="450602")
    assert r.status_code == 302
    person = db.session.scalar(select(User).where(User.id_number_is(idn)))
    assert (person.region_code, person.division_code) == ("450600", "450602")
    assert login(client, idn).status_code == 302


def test_registration_page_refuses_990101_and_creates_nothing(app, client):
    r = register(client, make_id_number("990101", "19800101", 3))
    assert r.status_code == 422
    assert "身份证号前六位 990101 不是有效的行政区划代码" in r.get_data(as_text=True)
    assert count_users() == 0


def test_window_registration_refuses_an_unknown_division_code_too(app, client, make, fcg_staff):
    login(client, "fcg_review")
    r = client.post("/staff/register-person", data={
        "name": "窗口甲", "id_number": make_id_number("450699", "19600101", 4), "phone": "13900001111",
        "division": "450602", "insured_scheme": "employee", "insured_category": "retired",
        "password": PASSWORD, "password2": PASSWORD})
    assert r.status_code == 422
    assert "身份证号前六位 450699 不是有效的行政区划代码" in r.get_data(as_text=True)
    assert count_users(User.role == "insured") == 0


def test_window_registration_asks_category_of_employees_only(app, client, make, fcg_staff):
    login(client, "fcg_review")
    html = client.get("/staff/file").get_data(as_text=True)
    form = html.split('id="r_div"')[1].split("</select>")[0]
    assert form.split("<option")[1].startswith(' value="">请选择')  # no district preselected
    assert "人员类别(仅职工医保)" in html
    data = {"name": "窗口乙", "id_number": make_id_number("450621", "19590909", 6), "phone": "13900001112",
            "division": "450621", "insured_scheme": "employee", "insured_category": "", "password": PASSWORD,
            "password2": PASSWORD}
    r = client.post("/staff/register-person", data=data)
    assert r.status_code == 422 and "职工医保参保人请选择人员类别(在职或退休)。" in r.get_data(as_text=True)
    assert client.post("/staff/register-person", data={**data, "insured_scheme": "resident"}).status_code == 302
    person = db.session.scalar(select(User).where(User.id_number_is(data["id_number"])))
    assert (person.division_code, person.insured_scheme, person.insured_category) == ("450621", "resident", None)


# --- item 9: region and division, 在职/退休 ----------------------------------------------------

def test_the_division_list_follows_the_region_over_htmx(app, client):
    r = client.get("/register/fields?region=450600&division=150100&insured_scheme=employee",
                   headers={"HX-Request": "true"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="register-dependent"' in html and "<html" not in html
    assert "所在区县" in html and ">港口区<" in html and ">上思县<" in html
    assert "呼和浩特市" not in html  # the other region's divisions are gone, and nothing is preselected
    assert "selected" not in html.split('id="division"')[1].split("</select>")[0]
    assert 'name="insured_category"' in html


def test_residents_are_not_asked_employed_or_retired(app, client):
    html = client.get("/register/fields?region=150000&insured_scheme=resident").get_data(as_text=True)
    assert 'name="insured_category"' not in html and "城乡居民医保不分在职、退休" in html
    assert "所在盟市" in html and html.count("<option") == 13  # 请选择 + 12 盟市


def test_without_javascript_the_refresh_button_reloads_the_regions_divisions(app, client):
    r = register(client, make_id_number("450602", "19700101", 1), region="450600", division="150100", refresh="1")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and count_users() == 0
    assert ">东兴市<" in html and ">包头市<" not in html
    assert "请处理以下问题" not in html  # a reload, not a refusal


def test_a_division_of_another_region_is_refused_by_name(app, client):
    r = register(client, make_id_number("450602", "19700101", 1), region="450600", division="150100")
    assert r.status_code == 422
    assert "所选盟市「呼和浩特市」不属于防城港市,请重新选择区县。" in r.get_data(as_text=True)
    assert count_users() == 0


def test_an_employee_must_choose_employed_or_retired(app, client):
    r = register(client, make_id_number("450602", "19700101", 1), insured_category="")
    assert r.status_code == 422 and "职工医保参保人请选择人员类别(在职或退休)。" in r.get_data(as_text=True)
    assert count_users() == 0


def test_a_resident_is_stored_and_printed_as_a_resident(app, client):
    """The old form sent 在职 for a resident; whatever is sent, a resident has no 在职/退休."""
    idn = make_id_number("450603", "19660303", 7)
    assert register(client, idn, division="450603", insured_scheme="resident", insured_category="employed").status_code == 302
    person = db.session.scalar(select(User).where(User.id_number_is(idn)))
    assert (person.insured_scheme, person.insured_category) == ("resident", None)
    login(client, idn)
    r = client.post("/applications/new", data={"division": "450603", "institution": "O450603001", "channel": "online",
                                               "diseases": ["FCG001"]})
    assert r.status_code == 302, r.get_data(as_text=True)
    app_id = db.session.scalar(select(Application.id).where(Application.person_id == person.id))
    text = flat(pdf_text(client.get(f"/applications/{app_id}/forms/application.pdf").data))
    assert "人员类别城乡居民" in text and "在职" not in text


def test_an_employee_prints_as_employed(app, client, make):
    person = make.person(region="450600", division="450602", category="retired")
    application = make.application(person, ["FCG001"], submit=False)
    login(client, person.id_number)
    text = flat(pdf_text(client.get(f"/applications/{application.id}/forms/application.pdf").data))
    assert "人员类别职工退休" in text


# --- item 5: every division can be served -------------------------------------------------------

def test_every_division_has_a_qualified_hospital_marked_as_sample(app):
    from core.web.context import regions

    for info in regions().all():
        for d in info.divisions:
            hospitals = [i for i in info.institutions if i.kind == "hospital" and i.qualified and i.division_code == d.code]
            assert hospitals, f"{info.name} {d.name} has no qualified hospital"
            assert info.intake_institutions(d.code), f"{info.name} {d.name}: nowhere to apply"
    for folder in ("neimenggu", "fangchenggang"):
        with open(f"regions/{folder}/data/institutions.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
        assert rows and all(r["sample"] == "true" for r in rows)


def test_a_hulunbuir_resident_applies_to_a_hulunbuir_hospital(app, make):
    from core.applications import service as apps
    from tests.conftest import as_

    person = make.person(region="150000", division="150700", name="呼伦贝尔甲")
    application = apps.start(as_(person), person, region="150000", division="150700", institution="H150700001",
                             channel="online", diseases=["M03900"])
    db.session.commit()
    assert (application.division_code, application.institution_code) == ("150700", "H150700001")


@pytest.fixture
def no_hospital_in_hulunbuir(app, tmp_path):
    """Inner Mongolia's data as shipped, less 呼伦贝尔市's hospitals, loaded by the real loader."""
    from regions._loader import RegionData

    data = tmp_path / "neimenggu-data"
    shutil.copytree("regions/neimenggu/data", data)
    path = data / "institutions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(line for line in lines if ",150700,hospital," not in line) + "\n", encoding="utf-8")
    facade = app.extensions["mtkit_regions"]
    shipped = facade._infos["150000"]
    facade._infos["150000"] = replace(shipped, institutions=RegionData(data).info.institutions)
    yield facade._infos["150000"]
    facade._infos["150000"] = shipped


def test_registration_says_when_a_division_has_no_hospital(app, client, no_hospital_in_hulunbuir):
    html = client.get("/register/fields?region=150000&division=150700&insured_scheme=employee").get_data(as_text=True)
    assert "呼伦贝尔市目前没有可受理门特申请的定点医疗机构,暂不能在网上申请。" in html
    assert "医保服务热线 12393" in html and "注册不受影响" in html
    other = client.get("/register/fields?region=150000&division=150200&insured_scheme=employee").get_data(as_text=True)
    assert "没有可受理" not in other
    # The person can still register.
    idn = make_id_number("152100", "19640101", 3)  # born when it was 呼伦贝尔盟
    assert register(client, idn, region="150000", division="150700").status_code == 302


def test_the_apply_form_says_so_and_where_to_go_instead(app, client, make, no_hospital_in_hulunbuir):
    person = make.person(region="150000", division="150700", name="呼伦贝尔乙")
    login(client, person.id_number)
    html = client.get("/applications/new").get_data(as_text=True)
    assert "呼伦贝尔市目前没有可受理门特申请的定点医疗机构" in html and "医保服务热线 12393" in html
    assert 'name="institution"' not in html
    # A submit anyway gets the same words, and nothing is created.
    r = client.post("/applications/new", data={"division": "150700", "institution": "H150100001", "channel": "online",
                                               "diseases": ["M03900"]})
    assert r.status_code == 422 and "呼伦贝尔市目前没有可受理门特申请的定点医疗机构" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Application)) == 0


def test_the_notice_names_the_windows_of_the_division(app, no_hospital_in_hulunbuir):
    from core.applications.intake import no_intake_notice

    info = replace(no_hospital_in_hulunbuir, institutions=tuple(
        i for i in no_hospital_in_hulunbuir.institutions if not (i.kind == "hospital" and i.division_code == "150200")))
    assert no_intake_notice(info, "150200") == (
        "包头市目前没有可受理门特申请的定点医疗机构,暂不能在网上申请。请到医保经办窗口咨询办理:"
        "包头市医疗保障服务中心(包头市);也可咨询医保服务热线 12393;各盟市医疗保障局发布的最新通知为准。")
    assert no_intake_notice(info, "150100") is None
