"""Browser tests for an insured person's pages (issue 13, items 10 and 12): the 选择文件 / 拍照 control
reads in Chinese whatever the browser's language, an htmx upload says what happened once and
leaves nothing for the next page, and an online renewal in 防城港 asks only for what the person
alone can give (the original approval is attached, a ticked declaration replaces the signed form).

Chromium runs with an English locale on purpose: the native file input would say "Choose Files".
"""
from __future__ import annotations

from datetime import date

import pytest
from flask import current_app
from playwright.sync_api import expect
from sqlalchemy import select

from core.applications import review
from core.extensions import db
from core.models import Application, Recognition
from tests.conftest import as_
from tests.test_browser import browser, live, login, pdf_path  # noqa: F401  (fixtures)


@pytest.fixture
def phone(browser, live):  # noqa: F811
    context = browser.new_context(base_url=live, locale="en-US", viewport={"width": 390, "height": 844},
                                  has_touch=True, is_mobile=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.errors = errors
    yield page
    context.close()


@pytest.fixture
def recognised(make, fcg_staff):
    """防城港 高血压 recognised on 2025-01-10 (valid to 2027-01-09); today 2026-10-10, in the renewal window."""
    current_app.config["MTKIT_TODAY"] = date(2025, 1, 10)
    person = make.person(region="450600", division="450602", name="韦丽")
    first = make.application(person, ["FCG001"])
    for action, fields in (("accept", {}), ("decide", {"results": {"FCG001": "approved"}}), ("record", {})):
        review.act(as_(fcg_staff["reviewer"]), first, action, first.version, **fields)
    db.session.commit()
    current_app.config["MTKIT_TODAY"] = date(2026, 10, 10)
    return person, db.session.scalars(select(Recognition)).one()


def upload_with_picker(page, item, path):
    picker = item.locator("[data-file-picker]").first
    button = picker.locator("label.file-btn").first
    expect(button).to_be_visible()
    expect(button).to_contain_text("选择文件")
    # The browser's own "Choose Files" is out of sight (still there for keyboard and screen readers).
    box = picker.locator("input.file-input").first.bounding_box()
    assert box["width"] <= 1 and box["height"] <= 1, box
    picker.locator("input.file-input").first.set_input_files(path)
    expect(picker.locator("[data-file-name]")).to_have_text(f"已选择:{path.name}")
    item.get_by_role("button", name="上传", exact=True).click()
    expect(item.get_by_text("✓ 已上传")).to_be_visible()


def test_online_renewal_with_the_chinese_file_picker(phone, recognised, pdf_path, tmp_path):  # noqa: F811
    person, rec = recognised
    page = phone
    login(page, person.id_number)
    page.goto("/recognitions")
    page.locator("a.btn", has_text="办理续办").click()
    radios = page.locator("input[name=channel]")
    expect(radios.first).to_have_value("online")  # the way the person came comes first ...
    expect(radios.first).to_be_checked()  # ... and is chosen
    page.get_by_role("checkbox", name="本人承诺所填信息真实").check()
    page.get_by_role("button", name="建立续办申请").click()
    expect(page.get_by_text("续办申请已建立")).to_be_visible()

    materials = page.locator("#materials")
    approval = materials.locator("li.material", has_text="原门特认定审批表")
    expect(approval).to_contain_text("系统已附")
    expect(approval.locator("form.upload")).to_have_count(0)
    form = materials.locator("li.material", has_text="《门特待遇续办申请表》")
    expect(form).to_contain_text("已在线确认")
    expect(form.locator("form.upload")).to_have_count(0)

    # A bad file: said once, beside the material, in Chinese.
    card = materials.locator("li.material", has_text="本人社会保障卡或身份证原件及复印件")
    bad = tmp_path / "坏文件.pdf"
    bad.write_bytes(b"not a pdf")
    expect(card.locator("[data-file-name]")).to_have_text("没有选择文件")
    card.locator("input.file-input").first.set_input_files(bad)
    card.get_by_role("button", name="上传", exact=True).click()
    error = card.locator(".material-error")
    expect(error).to_be_visible()
    expect(page.locator(".alert-error")).to_have_count(1)
    # Nothing chosen: the page says so in Chinese instead of posting.
    card = materials.locator("li.material", has_text="本人社会保障卡或身份证原件及复印件")
    card.get_by_role("button", name="上传", exact=True).click()
    expect(card.locator("[data-file-name]")).to_have_text("请先点「选择文件」或「拍照」选择要上传的文件。")

    for name in ("本人社会保障卡或身份证原件及复印件", "近半年门诊病历、检查检验报告、用药记录"):
        item = materials.locator("li.material", has_text=name)
        upload_with_picker(page, item, pdf_path)
        expect(item.locator(".material-done")).to_have_text("材料已上传。")
        expect(page.get_by_text("材料已上传。")).to_have_count(1)
    expect(materials.get_by_text("必交材料已齐全,可以提交。")).to_be_visible()
    # The next page load carries no stale message.
    page.reload()
    expect(page.get_by_text("材料已上传。")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "renewal-390.png"), full_page=True)
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_text("申请已提交,请留意消息通知。")).to_be_visible()
    assert not page.errors, page.errors
    renewal = db.session.scalars(select(Application).where(Application.kind == "renewal")).one()
    db.session.refresh(renewal)
    assert renewal.status == "submitted" and renewal.declared_at is not None
    # Only the two files the person alone could give were uploaded.
    assert sorted(m.material_code for m in renewal.current_materials()) == ["id_card", "recent_records"]


def test_the_picker_is_a_plain_file_input_without_javascript(browser, live, recognised, pdf_path, make):  # noqa: F811
    person, _ = recognised
    draft = make.application(person, ["FCG003"], upload=False, submit=False)
    context = browser.new_context(base_url=live, locale="en-US", java_script_enabled=False)
    page = context.new_page()
    try:
        login(page, person.id_number)
        page.goto(f"/applications/{draft.id}")
        item = page.locator("#materials li.material", has_text="疾病诊断证明书")
        field = item.get_by_label("选择文件:疾病诊断证明书", exact=True)
        expect(field).to_be_visible()  # the browser's own input, usable as it is
        field.set_input_files(pdf_path)
        item.get_by_role("button", name="上传", exact=True).click()
        expect(page.get_by_text("材料已上传。")).to_have_count(1)
        page.reload()
        expect(page.get_by_text("材料已上传。")).to_have_count(0)
    finally:
        context.close()
