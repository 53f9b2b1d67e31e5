"""What an insured person meets (issue 13, items 10 and 12): an ended recognition leads to a new
application, the channel they came by comes first, an online renewal asks for nothing the system
holds (the original approval is attached, a ticked declaration replaces the signed form), phone
numbers are tap-to-call, upload messages appear once and leave no flash behind, and no page or
notice reads 。。."""
from __future__ import annotations

import re
from datetime import date

import pytest
from flask import current_app
from sqlalchemy import func, select

from core.applications import materials, online, review
from core.applications import service as apps
from core.extensions import db
from core.kernel.errors import Forbidden
from core.kernel.text import sentence, tidy
from core.models import Application, AuditLog, Material, Notice, Recognition
from core.recognitions import service as recs
from tests.conftest import PDF, as_, login, pdf_file
from tests.test_pages import upload

# Two or more punctuation marks in a row where one was meant (。。 ,, 。, ;。 ...); "……" is fine.
DOUBLED = re.compile("[\u3002\uff0c\uff1b\uff1a\u3001\uff01\uff1f,;]{2,}|\u3002[.:,]")


def on(day: date):
    current_app.config["MTKIT_TODAY"] = day


def finish_fcg(application, reviewer, result="approved"):
    for action, fields in (("accept", {}), ("decide", {"results": {ad.disease_code: result for ad in application.diseases}}),
                           ("record", {})):
        review.act(as_(reviewer), application, action, application.version, **fields)
    db.session.commit()


@pytest.fixture
def recognised(make, fcg_staff):
    """防城港 高血压 (FCG001, 24 months) recognised on 2025-01-10: valid to 2027-01-09, renewal from 2026-10-10."""
    on(date(2025, 1, 10))
    person = make.person(region="450600", division="450602", name="韦丽")
    first = make.application(person, ["FCG001"])
    finish_fcg(first, fcg_staff["reviewer"])
    rec = db.session.scalars(select(Recognition)).one()
    return person, rec, first, fcg_staff["reviewer"]


def count(model, *where):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def html_of(response) -> str:
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------------------------
# 12a: an expired recognition leads to a new application, prefilled


def test_expired_recognition_offers_a_prefilled_new_application(app, client, recognised):
    person, rec, _, _ = recognised
    on(date(2027, 1, 10))  # the day after the end: no renewal was made
    recs.expire(as_(), [rec], date(2027, 1, 10))
    db.session.commit()
    login(client, person.username)
    page = html_of(client.get("/recognitions"))
    assert "请重新申请认定" in page
    link = re.search(r'<a class="btn btn-primary" href="([^"]+)">重新申请认定</a>', page)
    assert link, "no button to apply again"
    url = link.group(1).replace("&amp;", "&")
    assert "diseases=FCG001" in url and "institution=O450600001" in url
    form = html_of(client.get(url))
    assert re.search(r'value="FCG001" checked', form), "the disease is not preselected"
    assert re.search(r'<option value="O450600001" selected', form), "the institution is not preselected"
    # ...and the prefilled form goes through.
    r = client.post("/applications/new", data={"division": "450602", "institution": "O450600001", "channel": "online",
                                               "diseases": ["FCG001"]})
    assert r.status_code == 302
    assert count(Application, Application.kind == "new") == 2


def test_no_reapply_button_while_the_recognition_still_runs_or_an_application_is_open(app, client, recognised, make):
    person, rec, _, _ = recognised
    login(client, person.username)
    on(date(2026, 6, 1))  # valid, before the renewal window
    assert "重新申请认定</a>" not in html_of(client.get("/recognitions"))
    on(date(2027, 1, 10))
    recs.expire(as_(), [rec], date(2027, 1, 10))
    make.application(person, ["FCG001"], upload=False, submit=False)  # already applying again
    assert "重新申请认定</a>" not in html_of(client.get("/recognitions"))


# --------------------------------------------------------------------------------------------
# 12b: the channel the person came by comes first


def channel_order(page: str) -> list[str]:
    return re.findall(r'<input type="radio" name="channel" value="(\w+)"', page)


def test_online_applicant_sees_the_online_channel_first_and_chosen(app, client, recognised, make):
    person, rec, _, _ = recognised
    login(client, person.username)
    page = html_of(client.get("/applications/new"))
    # channels.toml lists the window first in 防城港; a person applying online gets online first.
    assert channel_order(page) == ["online", "window"]
    assert re.search(r'value="online" checked', page)
    on(date(2026, 10, 10))
    page = html_of(client.get(f"/recognitions/{rec.id}/renew"))
    assert channel_order(page) == ["online", "window"]
    assert re.search(r'value="online" checked', page)


def test_channel_choices_follow_how_the_person_arrived(app):
    ctx = as_()
    assert [c.code for c in online.channel_choices(ctx, "450600", "insured", False)[0]] == ["online", "window"]
    assert online.channel_choices(ctx, "450600", "agency_reviewer", True) == (
        [c for c in ctx.regions.channels("450600") if c.code == "window"], "window")
    offered, default = online.channel_choices(ctx, "150000", "hospital_office", True)
    assert ([c.code for c in offered], default) == (["hospital", "window"], "hospital")


# --------------------------------------------------------------------------------------------
# 12c: an online renewal attaches the system's record and takes a declaration


def test_online_renewal_needs_no_approval_upload_and_no_signed_form(app, client, recognised):
    person, rec, first, reviewer = recognised
    on(date(2026, 10, 10))
    login(client, person.username)
    r = client.post(f"/recognitions/{rec.id}/renew", data={"channel": "online", "institution": rec.institution_code,
                                                         "agree": "1"})
    assert r.status_code == 302
    renewal = db.session.scalars(select(Application).where(Application.kind == "renewal")).one()
    assert renewal.declared_at is not None
    declared = [a for a in db.session.scalars(select(AuditLog).where(AuditLog.action == "application.declare"))]
    assert [(a.user_id, a.object_id) for a in declared] == [(person.id, str(renewal.id))]
    items = {i.rule.code: i for i in materials.checklist(as_(person), renewal)}
    assert items["original_approval"].supplied == "system" and items["original_approval"].system_record == first.id
    assert items["renewal_form"].supplied == "declaration" and items["renewal_form"].satisfied
    # What is left to upload: the ID card and the recent records only.
    assert sorted(materials.missing(as_(person), renewal)) == ["本人社会保障卡或身份证原件及复印件", "近半年门诊病历、检查检验报告、用药记录"]
    page = html_of(client.get(f"/applications/{renewal.id}"))
    assert "系统已附" in page and "已在线确认" in page
    assert f'/applications/{first.id}"' in page  # the person's own link to the original recognition's application
    # No upload form for either item.
    for code in ("original_approval", "renewal_form"):
        assert f'name="material_code" value="{code}"' not in page
    # The reviewer sees the original approval form the system generated, and it opens.
    for code in ("id_card", "recent_records"):
        materials.add(as_(person), renewal, disease_code="*", material_code=code,
                      files=[pdf_file()])
    apps.submit(as_(person), renewal, renewal.version)
    db.session.commit()
    login(client, reviewer.username)
    page = html_of(client.get(f"/applications/{renewal.id}"))
    link = f"/applications/{first.id}/forms/approval.pdf"
    assert link in page
    pdf = client.get(link)
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"


def test_declaration_is_refused_unticked_and_recorded_once(app, client, recognised):
    person, rec, _, _ = recognised
    on(date(2026, 10, 10))
    renewal = apps.start_renewal(as_(person), rec, channel="online")
    db.session.commit()
    assert renewal.declared_at is None
    assert "《门特待遇续办申请表》" in materials.missing(as_(person), renewal)
    login(client, person.username)
    page = html_of(client.get(f"/applications/{renewal.id}"))
    assert "待本人确认" in page and online.DECLARATION in page
    r = client.post(f"/applications/{renewal.id}/declare", data={}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and online.NOT_AGREED in html_of(r)
    assert html_of(r).count(online.NOT_AGREED) == 1
    assert count(AuditLog, AuditLog.action == "application.declare") == 0
    r = client.post(f"/applications/{renewal.id}/declare", data={"agree": "1"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "已在线确认" in html_of(r)
    db.session.expire_all()
    first_time = db.session.get(Application, renewal.id).declared_at
    assert first_time is not None
    on(date(2026, 10, 11))
    client.post(f"/applications/{renewal.id}/declare", data={"agree": "1"})
    db.session.expire_all()
    assert db.session.get(Application, renewal.id).declared_at == first_time
    assert count(AuditLog, AuditLog.action == "application.declare") == 1


def test_window_renewal_keeps_the_paper_items(app, client, recognised, fcg_staff):
    person, rec, _, _ = recognised
    on(date(2026, 10, 10))
    renewal = apps.start_renewal(as_(person), rec, channel="window")
    db.session.commit()
    items = {i.rule.code: i for i in materials.checklist(as_(person), renewal)}
    assert items["original_approval"].supplied is None and items["renewal_form"].supplied is None
    assert {"《门特待遇续办申请表》", "原门特认定审批表或相关凭证"} <= set(materials.missing(as_(person), renewal))
    login(client, person.username)
    r = client.post(f"/applications/{renewal.id}/declare", data={"agree": "1"})
    assert r.status_code == 422 and "不需要电子确认" in html_of(r)
    assert db.session.get(Application, renewal.id).declared_at is None


def test_staff_cannot_declare_for_the_person(app, client, recognised):
    person, rec, _, reviewer = recognised
    on(date(2026, 10, 10))
    renewal = apps.start_renewal(as_(person), rec, channel="online")
    db.session.commit()
    login(client, reviewer.username)
    r = client.post(f"/applications/{renewal.id}/declare", data={"agree": "1"})
    assert r.status_code == 404  # a draft is not in the reviewer's scope at all
    with pytest.raises(Forbidden):  # and the rule itself: only the applicant declares
        online.declare(as_(reviewer), renewal, True)
    db.session.rollback()
    assert db.session.get(Application, renewal.id).declared_at is None


# --------------------------------------------------------------------------------------------
# 12d: phone numbers are tap-to-call


def test_hotline_is_a_tel_link_on_public_pages_and_in_notices(app, client, recognised):
    for url in ("/", "/regions/450600/channels", "/regions/150000/channels"):
        page = html_of(client.get(url))
        assert '<a href="tel:12393" class="tel">12393</a>' in page, url
        assert not re.search(r"(?<![\d\">:])12393(?!</a>|\")", page), f"{url}: a hotline number that is not a link"
    person, rec, _, _ = recognised
    on(date(2027, 1, 10))
    recs.expire(as_(), [rec], date(2027, 1, 10))
    from core.notices.service import from_template, notify
    title, body = from_template(as_(), "450600", "expired", name=person.name, disease=rec.disease_name,
                                end_date="2027-01-09", stop_date="2027-01-10")
    notify(as_(), person.id, "expired", title, body, recognition_id=rec.id)
    db.session.commit()
    login(client, person.username)
    assert 'href="tel:12393"' in html_of(client.get("/inbox"))


# --------------------------------------------------------------------------------------------
# 12e: the upload control and dates


def test_upload_control_reads_in_chinese_and_offers_the_camera(app, client, recognised, make):
    person = recognised[0]
    draft = make.application(person, ["FCG003"], upload=False, submit=False)
    login(client, person.username)
    page = html_of(client.get(f"/applications/{draft.id}"))
    pickers = page.count("data-file-picker")
    assert pickers >= 4
    assert page.count(">选择文件<span class=\"sr-only\">") == pickers
    assert page.count('accept="image/*" capture="environment"') == pickers
    assert page.count("没有选择文件") == pickers
    # Without JavaScript these are plain file inputs named "file" the form posts as before.
    assert 'required' not in re.search(r'<div class="file-picker".*?</div>', page, re.S).group(0)


# --------------------------------------------------------------------------------------------
# 10: upload messages once, no stale flash


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_a_refused_upload_says_why_once_beside_the_material(app, client, recognised, make, htmx):
    person = recognised[0]
    draft = make.application(person, ["FCG003"], upload=False, submit=False)
    login(client, person.username)
    r = upload(client, draft, b"not a pdf at all", htmx=htmx, material="id_card")
    assert r.status_code == 415
    page = html_of(r)
    message = re.search(r'<div class="alert alert-error material-error"[^>]*>\s*<p>([^<]+)</p>', page).group(1)
    assert page.count(message) == 1, "the refusal is shown more than once"
    item = re.search(r'<li class="material[^"]*" data-key="\*:id_card">.*?</li>', page, re.S).group(0)
    assert message in item
    # Nothing waits in the session for the next page.
    assert message not in html_of(client.get(f"/applications/{draft.id}"))
    assert count(Material, Material.application_id == draft.id) == 0


def test_an_htmx_upload_leaves_no_flash_for_the_next_page(app, client, recognised, make):
    person = recognised[0]
    draft = make.application(person, ["FCG003"], upload=False, submit=False)
    login(client, person.username)
    r = upload(client, draft, PDF, htmx=True, material="id_card")
    assert r.status_code == 200
    assert html_of(r).count("材料已上传。") == 1
    assert "材料已上传。" not in html_of(client.get(f"/applications/{draft.id}"))
    assert "材料已上传。" not in html_of(client.get("/applications"))
    # Without JavaScript: the message is on the page the upload leads to, once, and then gone.
    r = upload(client, draft, PDF, htmx=False, material="medical_records")
    assert r.status_code == 302
    assert html_of(client.get(r.headers["Location"])).count("材料已上传。") == 1
    assert "材料已上传。" not in html_of(client.get(f"/applications/{draft.id}"))


# --------------------------------------------------------------------------------------------
# 10: no doubled punctuation


def test_sentence_and_tidy():
    assert sentence("请补充近半年门诊病历。") == "请补充近半年门诊病历。"
    assert sentence("请补充近半年门诊病历,") == "请补充近半年门诊病历。"
    assert sentence("请补充近半年门诊病历") == "请补充近半年门诊病历。"
    assert sentence("真的吗?") == "真的吗?"
    assert tidy("门诊病历。。请于") == "门诊病历。请于"
    assert tidy("病历。,请于") == "病历。请于"
    assert tidy("病历,,请于……详见 1,2") == "病历,请于……详见 1,2"


def test_a_return_note_ending_in_a_full_stop_reads_once(app, client, recognised, make):
    person, _, _, reviewer = recognised
    submitted = make.application(person, ["FCG003"])
    review.act(as_(reviewer), submitted, "return", submitted.version, to="applicant", note="请补充近半年门诊病历。")
    db.session.commit()
    body = db.session.scalars(select(Notice.body).where(Notice.kind == "return")).one()
    assert "门诊病历。请于" in body and not DOUBLED.search(body)
    login(client, person.username)
    for url in ("/inbox", f"/applications/{submitted.id}"):
        page = html_of(client.get(url))
        assert not DOUBLED.search(text_of(page)), (url, DOUBLED.findall(text_of(page)))


def text_of(page: str) -> str:
    """The words a person reads: no tags, scripts or styles."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_no_doubled_punctuation_on_the_demo_pages_of_both_regions(app, client, runner):
    """The demo's people and staff of both regions: every page of their menus and every notice."""
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    people = {"150102195503120244": ["/recognitions", "/applications", "/benefits", "/inbox", "/profile"],
              "450602195807040268": ["/recognitions", "/applications", "/benefits", "/inbox", "/profile"],
              "45068119720315017X": ["/recognitions", "/applications", "/inbox"],
              "nmg_yibao": ["/staff/queue", "/staff/queue?view=all"],
              "fcg_review": ["/staff/queue", "/staff/queue?view=all", "/staff/letters"]}
    checked = 0
    for url in ("/", "/regions/150000/channels", "/regions/450600/channels", "/forms"):
        assert not DOUBLED.search(text_of(html_of(client.get(url)))), url
    for username, urls in people.items():
        login(client, username, "Demo1234")
        for url in urls:
            r = client.get(url, follow_redirects=True)
            assert r.status_code == 200, url
            text = text_of(html_of(r))
            assert not DOUBLED.search(text), (username, url, DOUBLED.findall(text))
            checked += 1
            # ...and each application the page links to.
            for app_id in sorted(set(re.findall(r'href="/applications/(\d+)"', html_of(r))))[:6]:
                text = text_of(html_of(client.get(f"/applications/{app_id}")))
                assert not DOUBLED.search(text), (username, app_id, DOUBLED.findall(text))
                checked += 1
        client.post("/logout")
    assert checked > 20
    for body in db.session.scalars(select(Notice.body)):
        assert not DOUBLED.search(body), body


def test_date_fields_carry_a_chinese_format_hint_and_bad_dates_a_chinese_message(app, client, make):
    make.staff("fcg_admin", "admin", region="450600")
    login(client, "fcg_admin")
    page = html_of(client.get("/staff/calendar"))
    field = re.search(r'<input type="date"[^>]*>', page).group(0)
    assert 'aria-describedby="c-day-fmt"' in field and 'placeholder="年-月-日"' in field
    assert re.search(r'id="c-day-fmt">格式:年-月-日,例如 2026-08-23<', page)
    make.staff("root", "admin", region=None)
    login(client, "root")
    for url in ("/staff/calendar", "/staff/audit"):  # every date field says its format
        page = html_of(client.get(url))
        fields = re.findall(r'<input type="date"[^>]*>', page)
        assert fields, url
        for field in fields:
            hint = re.search(r'aria-describedby="([^"]+)"', field)
            assert hint and re.search(rf'id="{hint.group(1)}">格式:年-月-日,例如 2026-08-23<', page), (url, field)
    login(client, "fcg_admin")
    for bad in ("08/23/2026", "2027-02-30", "明天"):
        r = client.post("/staff/calendar", data={"region": "450600", "day": bad, "kind": "holiday", "note": "x"})
        assert r.status_code == 422, bad
        assert "请填写日期,格式为 年-月-日,例如 2027-01-01。" in html_of(r)
