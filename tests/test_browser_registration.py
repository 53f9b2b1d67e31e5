"""Registration in a real Chromium (issue 13 item 9): the division select follows the region over
htmx, 人员类别 is asked only of 职工, and without JavaScript a reload button and the server's check
keep region and division together. Phone width (390 px) throughout."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from core.demo import make_id_number
from core.extensions import db
from core.models import User
from tests.conftest import PASSWORD
from tests.test_browser import browser, live  # noqa: F401  (fixtures: Chromium, the app served with CSRF on)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}


def options(page, selector):
    return page.locator(f"{selector} option").all_inner_texts()


def fill_person(page, id_number):
    page.get_by_label("姓名", exact=True).fill("韦新")
    page.get_by_label("身份证号码", exact=True).fill(id_number)
    page.get_by_label("手机号码", exact=True).fill("13907701234")


def fill_passwords(page):
    page.locator("#password").fill(PASSWORD)
    page.get_by_label("再次输入密码").fill(PASSWORD)


def fits_the_phone(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 391, f"register page is {width}px wide at 390px"


def stored(id_number):
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.id_number_is(id_number)))


def test_region_swaps_the_division_list_and_residents_get_no_category(app, browser, live):  # noqa: F811
    context = browser.new_context(base_url=live, **PHONE)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto("/register")
        expect(page.locator("#division")).to_contain_text("呼伦贝尔市")
        expect(page.get_by_role("button", name="按所选地区和险种更新下列选项")).to_be_hidden()  # JS on: htmx does it
        fill_person(page, make_id_number("110105", "19800808", 21))  # born in Beijing, insured in 防城港
        page.locator("#division").evaluate("el => el.dataset.stale = '1'")
        page.get_by_label("参保地区").select_option(label="防城港市")
        expect(page.locator("#division:not([data-stale])")).to_be_attached()
        expect(page.get_by_text("所在区县", exact=True)).to_be_visible()
        assert options(page, "#division") == ["请选择", "港口区", "防城区", "上思县", "东兴市"]
        expect(page.locator("#division")).to_have_value("")
        expect(page.get_by_label("人员类别")).to_be_visible()
        page.get_by_label("参保险种").select_option(label="城乡居民基本医疗保险")
        expect(page.get_by_text("城乡居民医保不分在职、退休,无需选择人员类别。")).to_be_visible()
        expect(page.locator("#insured_category")).to_have_count(0)
        page.locator("#division").select_option(label="上思县")
        expect(page.locator("#division")).to_have_value("450621")  # kept across its own swap
        fits_the_phone(page)
        fill_passwords(page)
        page.get_by_role("button", name="注册", exact=True).click()
        expect(page.get_by_role("heading", name="注册申请已受理")).to_be_visible()
        person = stored(make_id_number("110105", "19800808", 21))
        assert (person.region_code, person.division_code, person.insured_scheme, person.insured_category) == (
            "450600", "450621", "resident", None)
        assert not errors, errors
    finally:
        context.close()


def test_without_javascript_region_and_division_stay_together(app, browser, live):  # noqa: F811
    context = browser.new_context(base_url=live, java_script_enabled=False, **PHONE)
    page = context.new_page()
    idn = make_id_number("450603", "19710214", 8)
    try:
        page.goto("/register")
        fill_person(page, idn)
        page.get_by_label("参保地区").select_option(label="防城港市")
        page.locator("#division").select_option(label="呼和浩特市")  # still the first region's list
        page.get_by_label("人员类别").select_option(label="退休")
        fill_passwords(page)
        page.get_by_role("button", name="注册", exact=True).click()
        expect(page.get_by_text("所选盟市「呼和浩特市」不属于防城港市,请重新选择区县。")).to_be_visible()
        assert options(page, "#division") == ["请选择", "港口区", "防城区", "上思县", "东兴市"]
        assert stored(idn) is None
        # The reload button: choices re-offered for the chosen region and scheme, what was typed kept.
        page.get_by_label("参保险种").select_option(label="城乡居民基本医疗保险")
        page.get_by_role("button", name="按所选地区和险种更新下列选项").click()
        expect(page.get_by_label("姓名", exact=True)).to_have_value("韦新")
        expect(page.locator("#insured_category")).to_have_count(0)
        page.get_by_label("参保险种").select_option(label="职工基本医疗保险")
        page.get_by_role("button", name="按所选地区和险种更新下列选项").click()
        page.locator("#division").select_option(label="防城区")
        page.get_by_label("人员类别").select_option(label="退休")
        fits_the_phone(page)
        fill_passwords(page)
        page.get_by_role("button", name="注册", exact=True).click()
        expect(page.get_by_role("heading", name="注册申请已受理")).to_be_visible()
        person = stored(idn)
        assert (person.division_code, person.insured_scheme, person.insured_category) == ("450603", "employee", "retired")
    finally:
        context.close()
