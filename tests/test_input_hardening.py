"""Issue 12, items 5 and 9: what enters through pages, the API, the CLI and imports.

- ID numbers, phones, codes and log-in names are NFKC-normalised and then checked with ASCII-only
  patterns: the full-width form of a registered ID number is the same person (no second account),
  the Arabic-Indic form is refused (Python's ``\\d`` used to accept both).
- Names and free text may hide nothing: bidi overrides, zero-width and control characters are
  refused with a message naming the field; ``·`` in a Chinese name is fine.
- Deeply nested or oversized JSON is a Chinese 4xx on every API endpoint, never a 500.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.applications import service as apps
from core.benefits import service as ben
from core.benefits.inputs import make_visit
from core.calendar import service as calendar
from core.demo import make_id_number
from core.extensions import db
from core.kernel.errors import Invalid
from core.kernel.text import hidden_character
from core.models import BenefitSettlement, User
from core.people import accounts
from tests.conftest import PASSWORD, TODAY, as_, login
from tests.test_api import api
from tests.test_benefits import FCG_HOSPITAL, on, recognise

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
HIDDEN = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d",
          "\u2060", "\ufeff", "\x07", "\x1b", "\u2028"]


def users_named(id_number: str) -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(User.name == "黄志明"))


@pytest.fixture
def registered(app, make):
    """黄志明, registered with his ASCII ID number."""
    idn = make_id_number("450681", "19720315", 17)
    accounts.register_insured(as_(), name="黄志明", id_number=idn, phone="13800001111", password=PASSWORD,
                              region="450600", division="450681")
    db.session.commit()
    return idn


def _page_form(idn, **changes):
    data = {"name": "黄志明", "id_number": idn, "phone": "13800002222", "region": "450600", "division": "450681",
            "insured_scheme": "employee", "insured_category": "employed", "password": PASSWORD, "password2": PASSWORD}
    data.update(changes)
    return data


# --- item 5: one person, one account ------------------------------------------------------------
def test_full_width_and_arabic_indic_forms_of_a_registered_id_make_no_second_account(app, client, registered):
    idn = registered
    full, arabic = idn.translate(FULL_WIDTH), idn.translate(ARABIC_INDIC)
    assert full != idn and arabic != idn and len(full) == len(arabic) == 18
    # The registration page, the API and the CLI: none of them creates a second 黄志明.
    page_full = app.test_client().post("/register", data=_page_form(full))
    page_arabic = app.test_client().post("/register", data=_page_form(arabic))
    api_full = api(app.test_client()).post("/persons", {**_page_form(full), "password2": None})
    api_arabic = api(app.test_client()).post("/persons", {**_page_form(arabic), "password2": None})
    runner = app.test_cli_runner()
    cli_full = runner.invoke(args=["users", "create", full, "--role", "insured", "--region", "450600", "--division", "450681",
                                   "--name", "黄志明", "--phone", "13800003333", "--password-stdin"], input=PASSWORD + "\n")
    cli_arabic = runner.invoke(args=["users", "create", arabic, "--role", "insured", "--region", "450600", "--division",
                                     "450681", "--name", "黄志明", "--phone", "13800003333", "--password-stdin"],
                               input=PASSWORD + "\n")
    assert users_named(idn) == 1
    assert db.session.scalar(select(func.count()).select_from(User).where(User.role == "insured")) == 1
    assert db.session.scalar(select(User.id_number).where(User.name == "黄志明")) == idn
    for r in (page_full, page_arabic, api_full, api_arabic):
        assert r.status_code < 500
    assert cli_full.exit_code != 0 and cli_arabic.exit_code != 0
    # Another script's digits are refused as such, in Chinese, on every door.
    assert "只能使用数字 0–9 和字母 X" in page_arabic.get_data(as_text=True)
    assert api_arabic.status_code == 422 and "只能使用数字 0–9 和字母 X" in api_arabic.get_json()["error"]["message"]
    assert "只能使用数字 0–9 和字母 X" in cli_arabic.output


def test_simultaneous_registrations_of_one_id_in_two_forms_make_one_account(app):
    """ASCII and full-width forms of one new ID number registered at the same moment: the unique
    look-up hash decides; every answer is the public 202 (which does not reveal a registered number) or,
    for a loser of the race, a 4xx in Chinese (an IntegrityError used to be a 500)."""
    import threading

    app.config["PROPAGATE_EXCEPTIONS"] = False
    idn = make_id_number("450603", "19650930", 28)
    forms = [idn, idn.translate(FULL_WIDTH), idn.lower(), " " + idn.translate(FULL_WIDTH)]
    barrier, answers = threading.Barrier(len(forms)), []

    def register(form):
        with app.app_context():
            client = api(app.test_client())
            barrier.wait()
            answers.append(client.post("/persons", {**_page_form(form, name="李秀梅", division="450603"), "password2": None}))

    threads = [threading.Thread(target=register, args=(f,)) for f in forms]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    statuses = sorted(r.status_code for r in answers)
    assert 202 in statuses and all(s == 202 or 400 <= s < 500 for s in statuses), statuses
    assert all("error" in r.get_json() and r.get_json()["error"]["message"] for r in answers if r.status_code != 202)
    db.session.rollback()
    assert [u.id_number for u in db.session.scalars(select(User).where(User.name == "李秀梅"))] == [idn]


def test_a_full_width_id_number_is_stored_and_found_as_ascii(app, client, make, fcg_staff):
    idn = make_id_number("450602", "19580704", 26)
    r = client.post("/register", data=_page_form(idn.translate(FULL_WIDTH), name="韦小红", division="450602",
                                                 phone="１３８００００１２３４"))
    assert r.status_code == 302, r.get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.name == "韦小红"))
    assert (user.id_number, user.phone) == (idn, "13800001234") and idn not in user.username
    # She logs in with either form; staff find her (代办, 门特结算) with either form.
    assert login(app.test_client(), idn.translate(FULL_WIDTH).lower()).status_code == 302
    staff = app.test_client()
    login(staff, "fcg_review")
    found = staff.post("/staff/benefits", data={"id_number": " " + idn.translate(FULL_WIDTH) + " "})
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/staff/benefits/people/{user.id}")
    refused = staff.post("/staff/benefits", data={"id_number": idn.translate(ARABIC_INDIC)})
    assert refused.status_code == 422 and "只能使用数字 0–9 和字母 X" in refused.get_data(as_text=True)


@pytest.mark.parametrize("phone", ["١٣٨٠٠٠٠١١١١", "13８00001111\u200b", "²3800001111"])
def test_phones_in_other_scripts_are_refused(app, make, phone):
    with pytest.raises(Invalid) as e:
        accounts.register_insured(as_(), name="李秀梅", id_number=make_id_number("450603", "19650930", 28), phone=phone,
                                  password=PASSWORD, region="450600", division="450603")
    assert "手机号码应为11位数字(0–9)" in " ".join(e.value.problems)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_practitioner_codes_are_ascii_after_nfkc(app, make, nmg_staff):
    doctor = nmg_staff["doctor"]
    accounts.set_practitioner_code(as_(), doctor, "Ｄ１５０１００１２３")
    assert doctor.practitioner_code == "D150100123"
    with pytest.raises(Invalid, match="只能包含英文字母、数字"):
        accounts.set_practitioner_code(as_(), doctor, "D١٥٠١٠٠")
    with pytest.raises(Invalid):
        accounts.set_practitioner_code(as_(), doctor, "D150\u202e100")


def test_query_numbers_are_ascii_only(app, client, make):
    """'²'.isdigit() is True but int('²') fails: a 400 in Chinese, not a 500."""
    person = make.person()
    me = api(client).login(person.username)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for value in ("²", "٣", "１"):
        r = me.get(f"/applications?before={value}")
        assert r.status_code == 400 and "须为正整数" in r.get_json()["error"]["message"], value


# --- imports --------------------------------------------------------------------------------------
@pytest.fixture
def fcg(make, fcg_staff):
    person = make.person(region="450600", division="450602")
    staff = fcg_staff["reviewer"]
    recognise(make, staff, person, ["FCG001"], TODAY.replace(month=1, day=5))
    on(TODAY)
    return person, staff


def test_the_benefits_import_normalises_ids_and_codes_and_refuses_other_scripts(app, runner, fcg, tmp_path):
    person, staff = fcg
    good = tmp_path / "day.csv"
    good.write_text("id_number,institution,disease,visit_date,eligible\n"
                    f"{person.id_number.translate(FULL_WIDTH)},Ｈ４５０６０２００１,ＦＣＧ００１,２０２６-１１-２０,１０００.００\n",
                    encoding="utf-8")
    result = runner.invoke(args=["benefits", "import", str(good), "--by", staff.username])
    assert result.exit_code == 0, result.output
    row = db.session.scalar(select(BenefitSettlement))
    assert (row.person_id, row.institution_code, row.disease_code, row.eligible_fen) == (person.id, FCG_HOSPITAL, "FCG001", 100000)
    bad = tmp_path / "bad.csv"
    bad.write_text("id_number,institution,disease,visit_date,eligible,note\n"
                   f"{person.id_number.translate(ARABIC_INDIC)},{FCG_HOSPITAL},FCG001,2026-11-21,100,\n"
                   f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-21,١٠٠,\n"
                   f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-21,100,复诊\u202e\n", encoding="utf-8")
    result = runner.invoke(args=["benefits", "import", str(bad), "--by", staff.username])
    assert result.exit_code != 0
    assert "第 2 行: 找不到" in result.output and "第 3 行" in result.output and "不是有效的金额" in result.output
    assert "第 4 行" in result.output and "「备注」含有不可见或控制字符" in result.output
    assert db.session.scalar(select(func.count()).select_from(BenefitSettlement)) == 1


def test_nhsa_person_numbers_are_normalised_and_hidden_characters_refused(app, make, fcg_staff):
    from core.nhsa.filings import import_person_numbers

    person = make.person(region="450600", division="450602")
    raw = f"id_number,psn_no\n{person.id_number.translate(FULL_WIDTH)},４５０６００１２３\n".encode()
    import_person_numbers(as_(fcg_staff["reviewer"]), raw, "psn.csv", "450600")
    db.session.commit()
    assert db.session.get(User, person.id).psn_no == "450600123"
    other = make.person(region="450600", division="450602")
    with pytest.raises(Invalid, match="只能包含英文字母"):
        import_person_numbers(as_(fcg_staff["reviewer"]), f"id_number,psn_no\n{other.id_number},٤٥٠٦\n".encode(), "p.csv")
    from core.nhsa.messages import validate
    assert any("不可见或控制字符" in p for p in validate("serial", {"psn_no": "1\u200b", "opsp_dise_code": "A",
                                                                    "begndate": "2026-01-01", "trt_dcla_detl_sn": "X"}))


# --- names and free text ----------------------------------------------------------------------------
@pytest.mark.parametrize("char", HIDDEN)
def test_hidden_characters_in_a_name_are_refused_on_every_door(app, char):
    idn = make_id_number("450603", "19650930", 28)
    name = f"李秀{char}梅"
    page = app.test_client().post("/register", data=_page_form(idn, name=name, division="450603"))
    assert page.status_code == 422 and "「姓名」含有不可见或控制字符,请重新输入。" in page.get_data(as_text=True)
    r = api(app.test_client()).post("/persons", {**_page_form(idn, name=name, division="450603"), "password2": None})
    assert r.status_code == 422 and "「姓名」含有不可见或控制字符" in r.get_json()["error"]["message"]
    assert r.get_json()["error"]["fields"].get("name")
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("name", ["阿卜杜拉·买买提", "欧阳娜娜", "Ｍａｒｙ Ｌｅｅ"])
def test_real_names_are_kept(app, name):
    idn = make_id_number("450603", "19650930", 28)
    user = accounts.register_insured(as_(), name=name, id_number=idn, phone="13800001111", password=PASSWORD,
                                     region="450600", division="450603")
    assert user.name == (name if "Ｍ" not in name else "Mary Lee")  # full-width Latin letters become ASCII


def test_free_text_is_checked_in_the_services(app, make, fcg, nmg_staff):
    person, staff = fcg
    with pytest.raises(Invalid, match="「联系地址」含有不可见或控制字符"):
        accounts.update_contact(as_(person), person, phone=None, address="广西\u202e防城港", remote_address=None)
    accounts.update_contact(as_(person), person, phone="138 0000 2222", address="广西防城港市港口区", remote_address=None)
    assert person.phone == "13800002222"  # spaces in a phone are dropped
    with pytest.raises(Invalid, match="「异地居住地址」"):  # a one-line field: a line break is refused too
        accounts.update_contact(as_(person), person, phone=None, address=None, remote_address="深圳\r\n福田")
    db.session.rollback()
    with pytest.raises(Invalid) as e:
        make_visit(person, TODAY, institution_code=FCG_HOSPITAL, disease_code="FCG001", visit_date="2026-11-20",
                   eligible="100", note="复诊\u2066")
    assert e.value.fields["note"] == "「备注」含有不可见或控制字符,请重新输入。"
    with pytest.raises(Invalid) as e:
        make_visit(person, TODAY, institution_code=FCG_HOSPITAL, disease_code="FCG001", visit_date="2026-11-20",
                   eligible="", items_text="硝苯地平\u200b 36.50")
    assert "「费用明细第 1 行的项目名称」含有不可见或控制字符" in e.value.fields["items"]
    row = ben.settle(as_(staff), make_visit(person, TODAY, institution_code=FCG_HOSPITAL, disease_code="FCG001",
                                           visit_date="2026-11-20", eligible="100"))
    with pytest.raises(Invalid, match="「冲销原因」含有不可见或控制字符"):
        ben.reverse(as_(staff), row, "录入错误\ufeff")
    with pytest.raises(Invalid, match="「撤回原因」"):
        draft = apps.start(as_(person), person, region="450600", division="450602", institution="O450600001",
                           channel="online", diseases=["FCG002"])
        apps.withdraw(as_(person), draft, draft.version, "不想办了\x1b[31m")
    with pytest.raises(Invalid) as e:
        calendar.add_day(as_(make.staff("fcg_admin", "admin", region="450600")), "450600", "2027-10-08", "holiday",
                         "国庆\u200d")
    assert e.value.problems == ["「说明」含有不可见或控制字符,请重新输入。"]
    db.session.rollback()


def test_review_comments_are_checked_through_the_api(app, client, make, nmg_staff):
    person = make.person()
    application = make.application(person, ["M00504"])
    office = api(client).login("yibao")
    r = office.act(application.id, "return", to="applicant", note="请补充诊断证明\u202e")
    assert r.status_code == 422 and "「审核意见」含有不可见或控制字符" in r.get_json()["error"]["message"]
    assert db.session.get(type(application), application.id).status == "submitted"


def test_the_validator_itself():
    assert hidden_character("阿卜杜拉·买买提") is None
    assert hidden_character("第一行\n第二行\t", multiline=True) is None
    assert hidden_character("第一行\n第二行") == "\n"  # single-line fields take no line breaks
    assert hidden_character("\U000E0041") == "\U000E0041"  # tag characters are format characters too
    assert hidden_character("\ue000") is None  # private use: some bureaus' rare-name characters live there


# --- item 9: deeply nested JSON ------------------------------------------------------------------------
@pytest.mark.parametrize("body", [b"[" * 100000, b'{"a":' * 50000, b'{"username": ' + b"[" * 9 + b"]" * 9 + b"}"])
def test_deeply_nested_json_is_a_400_in_chinese(app, client, make, body):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash would be the 500 page, as in production
    r = client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert r.status_code == 400 and "嵌套层数过多" in r.get_json()["error"]["message"]
    person = make.person()
    me = api(client).login(person.username)
    r = client.post("/api/v1/applications", data=body, content_type="application/json", headers=me.headers())
    assert r.status_code == 400 and "嵌套层数过多" in r.get_json()["error"]["message"]


def test_json_that_is_not_deep_still_works_and_huge_bodies_are_refused(app, client, make):
    person = make.person()
    body = b'{"username": "' + b"[" * 5000 + b'", "password": "x"}'  # brackets inside a string do not nest
    r = client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert r.status_code in (401, 422)
    huge = b'{"username": "' + b"a" * (300 * 1024) + b'"}'
    r = client.post("/api/v1/auth/token", data=huge, content_type="application/json")
    assert r.status_code == 413 and "请求体过大" in r.get_json()["error"]["message"]
    assert api(client).login(person.username).token
