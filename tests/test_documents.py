"""Printed forms (both regions, filled and blank), the safe PDF fetcher, verification codes."""
from __future__ import annotations

import re
import subprocess
import tempfile
from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from core.applications import review
from core.extensions import db
from core.models import Application, AuditLog, Recognition, VerificationCode
from core.applications import materials
from core.applications import service as apps
from core.applications import verification
from core.documents.pdf import ASSET_PREFIX, AssetFetcher, html_to_pdf
from tests.conftest import login
from tests.conftest import as_


def act(app, user, action, **fields):
    review.act(as_(user), app, action, app.version, **fields)
    db.session.commit()
    return app


def pdf_text(data: bytes) -> str:
    """What a reader's copy-and-paste would get: pdftotext (poppler-utils, installed by set-up)."""
    assert data.startswith(b"%PDF-")
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def decided_nmg(make, nmg_staff, person=None):
    person = person or make.person(name="张桂英")
    app = make.application(person, ["M03900", "M01600"])
    act(app, nmg_staff["office"], "accept")
    act(app, nmg_staff["doctor"], "decide", results={"M03900": "approved", "M01600": "rejected"}, reason_code="R01",
        explanations={"M01600": "空腹血糖记录不足三次"}, note="内部意见:随访")
    act(app, nmg_staff["office"], "record")
    return app


def decided_fcg(make, fcg_staff):
    person = make.person(region="450600", division="450602", name="韦小红")
    app = make.application(person, ["FCG001"])
    act(app, fcg_staff["reviewer"], "accept")
    act(app, fcg_staff["reviewer"], "refer_expert", note="病情需复评")
    act(app, fcg_staff["expert"], "decide", results={"FCG001": "approved"})
    act(app, fcg_staff["reviewer"], "record")
    return app


# --- filled forms in both regions -------------------------------------------------------------
def test_neimenggu_forms_render_with_selectable_chinese_text(client, make, nmg_staff):
    app = decided_nmg(make, nmg_staff)
    login(client, "yibao")
    texts = {}
    for form in ("application", "approval", "notice"):
        r = client.get(f"/applications/{app.id}/forms/{form}.pdf")
        assert r.status_code == 200, form
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert r.headers["Cache-Control"] == "no-store"
        texts[form] = flat(pdf_text(r.data))
        with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:  # pdffonts reads files only
            fh.write(r.data)
            fh.flush()
            fonts = subprocess.run(["pdffonts", fh.name], capture_output=True, check=True).stdout.decode()
        # The CJK font from set-up, embedded (as a subset), not a substitute the reader's machine picks.
        assert re.search(r"WenQuanYi-Micro-Hei\s+CID TrueType\s+Identity-H\s+yes\s+yes\s+yes", fonts), fonts
    assert "门诊特殊慢性病待遇认定申请表" in texts["application"]
    assert "张桂英" in texts["application"] and "高血压病" in texts["application"] and "糖尿病" in texts["application"]
    assert "内蒙古医科大学附属医院" in texts["application"]
    assert "责任医师(副主任医师及以上)" in texts["application"]  # the region's own wording
    assert app.person.id_number in texts["application"]  # the signed paper form carries the full number
    # Approval form: each step's reviewer, the conclusion per disease, the region's signature lines.
    assert "责任医师审核认定" in texts["approval"] and "副主任医师" in texts["approval"]
    assert "2026年11月23日至2028年11月22日" in re.sub(r"M\d{5}", "", texts["approval"])  # the code's line interleaves
    assert "空腹血糖记录不足三次" in texts["approval"]
    assert "责任医师签字" in texts["approval"]
    # Notice: the result per disease, masked ID, a verification code, and no internal comment.
    notice = texts["notice"]
    assert "门诊特殊慢性病待遇认定结果通知书" in notice and "内蒙古自治区医疗保障局" in notice
    assert "高血压病通过2026年11月23日至2028年11月22日" in notice
    # Each disease row carries its national code (a second line in the name cell), in row order.
    assert re.findall(r"M\d{5}", notice) == ["M03900", "M01600"]
    assert re.findall(r"M\d{5}", texts["approval"]) == ["M03900", "M01600"]
    assert "不通过诊断依据不足" in notice and "空腹血糖记录不足三次" in notice
    assert app.person.id_number not in notice and app.person.id_number[-4:] in notice
    assert "内部意见" not in notice
    code = db.session.scalar(select(VerificationCode.code).where(VerificationCode.application_id == app.id))
    assert verification.pretty(code).replace("-", "") in notice.replace("-", "")
    downloads = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "form.download"))
    assert downloads == 3


def test_fangchenggang_forms_and_renewal_form(client, make, fcg_staff):
    app = decided_fcg(make, fcg_staff)
    login(client, "fcg_review")
    approval = flat(pdf_text(client.get(f"/applications/{app.id}/forms/approval.pdf").data))
    assert "防城港市医疗保障局" in approval and "专家评审" in approval and "初审经办人签字" in approval
    notice = flat(pdf_text(client.get(f"/applications/{app.id}/forms/notice.pdf").data))
    assert "韦小红" in notice and "高血压" in notice and "3个工作日内" in notice
    # The local catalogue code FCG001 is printed as its national code.
    assert re.findall(r"M\d{5}|FCG\d{3}", notice) == ["M03900"]
    assert re.findall(r"M\d{5}|FCG\d{3}", approval) == ["M03900"]
    # Renew the recognition in its window: the renewal form names the recognition being renewed.
    rec = db.session.scalars(select(Recognition).where(Recognition.application_id == app.id)).one()
    current_app.config["MTKIT_TODAY"] = rec.end_date - timedelta(days=30)
    renewal = apps.start_renewal(as_(app.person), rec, channel="online")
    db.session.commit()
    login(client, app.person.username)
    r = client.get(f"/applications/{renewal.id}/forms/renewal.pdf")
    assert r.status_code == 200
    text = flat(pdf_text(r.data))
    assert "门诊特殊慢性病待遇续办申请表" in text and f"RD450600{rec.id:08d}" in text
    assert "原门特认定审批表" in text  # Fangchenggang's renewal materials, in the region's wording
    # The applicant has no approval form (reviewers' names and comments are internal).
    assert client.get(f"/applications/{app.id}/forms/approval.pdf").status_code == 404
    assert client.get(f"/applications/{app.id}/forms/notice.pdf").status_code == 200


def test_forms_respect_scope_and_state(client, make, nmg_staff):
    person = make.person(name="刘淑珍")
    pending = make.application(person, ["M03900"])
    decided = decided_nmg(make, nmg_staff, person=make.person(name="马秀兰", phone="13800002222"))
    login(client, person.username)
    assert client.get(f"/applications/{pending.id}/forms/application.pdf").status_code == 200
    assert client.get(f"/applications/{pending.id}/forms/notice.pdf").status_code == 404  # nothing decided yet
    assert client.get(f"/applications/{pending.id}/forms/renewal.pdf").status_code == 404  # not a renewal
    assert client.get(f"/applications/{pending.id}/forms/nonsense.pdf").status_code == 404
    assert client.get(f"/applications/{decided.id}/forms/notice.pdf").status_code == 404  # someone else's
    login(client, "bt_yibao")  # another hospital's 医保科
    assert client.get(f"/applications/{decided.id}/forms/application.pdf").status_code == 404
    assert client.get(f"/applications/{decided.id}/forms/notice.pdf").status_code == 404
    client.post("/logout")
    r = client.get(f"/applications/{decided.id}/forms/notice.pdf")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


@pytest.mark.parametrize("region,issuer", [("150000", "内蒙古自治区医疗保障局"), ("450600", "防城港市医疗保障局")])
def test_blank_forms_for_window_use(client, region, issuer):
    index = client.get("/forms")
    assert index.status_code == 200 and f"/forms/{region}/renewal.pdf" in index.get_data(as_text=True)
    for form, title in (("application", "认定申请表"), ("renewal", "续办申请表"), ("approval", "认定审批表")):
        r = client.get(f"/forms/{region}/{form}.pdf")
        assert r.status_code == 200, form
        text = flat(pdf_text(r.data))
        assert title in text and issuer in text and "请用黑色签字笔填写" in text
    assert client.get(f"/forms/{region}/notice.pdf").status_code == 404  # a blank notice only helps forgers
    assert client.get("/forms/999999/application.pdf").status_code == 404


def test_repeated_downloads_come_from_the_cache_until_the_record_changes(client, make, nmg_staff, monkeypatch):
    from core.documents import pdf

    person = make.person()
    app = make.application(person, ["M03900"], submit=False)
    renders = []
    real = pdf.html_to_pdf
    monkeypatch.setattr(pdf, "html_to_pdf", lambda html, *a: renders.append(1) or real(html, *a))
    login(client, person.username)
    first = client.get(f"/applications/{app.id}/forms/application.pdf").data
    again = client.get(f"/applications/{app.id}/forms/application.pdf").data
    assert first == again and len(renders) == 1
    apps.submit(as_(person), app, app.version)  # a new version of the record
    db.session.commit()
    third = client.get(f"/applications/{app.id}/forms/application.pdf").data
    assert len(renders) == 2 and third != first
    # A change that does not bump the version (the person's phone) still gives a fresh document.
    person.phone = "13900009999"
    db.session.commit()
    assert "13900009999" in pdf_text(client.get(f"/applications/{app.id}/forms/application.pdf").data)
    assert len(renders) == 3


# --- safe rendering ---------------------------------------------------------------------------
def test_user_data_is_text_and_nothing_is_fetched(app, client, make, nmg_staff, monkeypatch):
    """A name or address holding markup prints as text; no local file or remote URL is loaded."""
    import urllib.request

    from core.documents import pdf

    def no_network(*a, **k):
        raise AssertionError("the PDF renderer tried to open a URL")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    refused = []
    real_refuse = pdf.AssetFetcher._refuse
    monkeypatch.setattr(pdf.AssetFetcher, "_refuse", lambda self, url: refused.append(url) or real_refuse(self, url))
    person = make.person(name="<b>王</b>")
    person.address = '<img src="file:///etc/passwd"><img src="http://198.51.100.7/x.png"><link rel=stylesheet href="http://198.51.100.7/a.css">'
    db.session.commit()
    application = make.application(person, ["M03900"])
    login(client, person.username)
    r = client.get(f"/applications/{application.id}/forms/application.pdf")
    assert r.status_code == 200
    text = pdf_text(r.data)
    assert "root:" not in text  # /etc/passwd was not read
    assert "<b>王</b>" in text and 'src="file:///etc/passwd"' in text  # shown as typed, as text
    assert refused == []  # escaped markup never even asked for a URL
    assert b"/Subtype /Image" not in r.data and b"/Subtype/Image" not in r.data


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://198.51.100.7/x.png",
        "https://mtkit.invalid/static/pdf/../../app.py",
        "https://mtkit.invalid/static/pdf/%2e%2e/%2e%2e/app.py",
        "https://mtkit.invalid/static/css/app.css",
        "https://mtkit.invalid.attacker.example/static/pdf/forms.css",
        "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
        "ftp://198.51.100.7/a.css",
    ],
)
def test_the_fetcher_serves_only_the_forms_own_assets(app, url):
    fetcher = AssetFetcher(__import__("pathlib").Path(app.static_folder))
    with pytest.raises(ValueError):
        fetcher.fetch(url)
    assert fetcher.refused == [url]


def test_the_fetcher_serves_the_form_stylesheet(app):
    fetcher = AssetFetcher(__import__("pathlib").Path(app.static_folder))
    response = fetcher.fetch(ASSET_PREFIX + "forms.css")
    assert b"WenQuanYi Micro Hei" in response.read()


def test_a_template_asking_for_local_files_or_the_network_gets_neither(app):
    html = (
        '<html><head><meta charset="utf-8"><link rel="stylesheet" href="static/pdf/forms.css">'
        '<link rel="stylesheet" href="file:///etc/passwd"></head><body><p>测试</p>'
        '<img src="file:///usr/share/pixmaps/debian-logo.png"><img src="http://198.51.100.7/x.png">'
        '<iframe src="file:///etc/passwd"></iframe><object data="file:///etc/passwd"></object></body></html>'
    )
    fetcher = AssetFetcher(__import__("pathlib").Path(app.static_folder))
    with app.app_context():
        data = html_to_pdf(html, fetcher)
    assert "测试" in pdf_text(data) and "root:" not in pdf_text(data)
    assert set(fetcher.refused) == {"file:///etc/passwd", "file:///usr/share/pixmaps/debian-logo.png", "http://198.51.100.7/x.png"}



def test_documents_are_styled_with_mtkits_user_agent_sheet(app, monkeypatch):
    """mtkit swaps WeasyPrint's full user-agent sheet for static/pdf/ua.css (for speed) through a
    hook WeasyPrint does not document: this fails if an upgrade stops asking the document for it."""
    from core.documents import pdf

    asked = []
    real = pdf.FormHTML._ua_stylesheets
    monkeypatch.setattr(pdf.FormHTML, "_ua_stylesheets", lambda self, forms=False: asked.append(forms) or real(self, forms))
    with app.app_context():
        text = pdf_text(html_to_pdf('<html><body><h1>标题</h1><p>第一段<br>第二行</p><p hidden>不应打印</p></body></html>'))
    assert len(asked) == 1 and not asked[0]  # asked once, for a document without form fields
    assert "标题" in text and "第一段" in text and "第二行" in text and "不应打印" not in text


def test_every_element_the_pdf_templates_use_has_user_agent_defaults(app):
    """ua.css covers only what forms use: a new element in a PDF template needs its defaults there."""
    from pathlib import Path

    root = Path(app.root_path)
    templates = [*root.glob("templates/pdf/*.html"), *root.glob("regions/*/templates/*/pdf/*.html")]
    assert len(templates) >= 10
    used = {tag.lower() for t in templates for tag in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", t.read_text("utf-8"))}
    ua = set(re.findall(r"[a-z][a-z0-9]*", (root / "static" / "pdf" / "ua.css").read_text("utf-8")))
    inline_without_defaults = {"span"}
    assert used - ua - inline_without_defaults == set()


# --- verification codes -----------------------------------------------------------------------
def code_of(app):
    return db.session.scalar(select(VerificationCode).where(VerificationCode.application_id == app.id))


def test_a_genuine_code_shows_only_masked_facts(client, make, nmg_staff):
    app = decided_nmg(make, nmg_staff)
    row = code_of(app)
    assert row is not None and len(row.code) == 16  # issued at the decision, before any download
    r = client.get(f"/verify/{row.code}")  # what the QR code opens; no log-in
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "验证通过" in page
    assert "张**" in page and "张桂英" not in page
    assert "高血压病" in page and "2026-11-23 至 2028-11-22" in page and "不通过" in page
    assert app.person.id_number not in page and app.person.phone not in page
    assert "诊断依据不足" not in page  # reasons stay between the bureau and the person
    # Typed by hand: lower case, spaces, dashes and O for 0 are all understood.
    typed = verification.pretty(row.code).lower().replace("-", " ")
    r = client.post("/verify", data={"code": typed})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/verify/{row.code}")


def test_the_qr_code_on_the_notice_opens_the_check_page(client, make, nmg_staff):
    app = decided_nmg(make, nmg_staff)
    with client.application.test_request_context("/"):
        svg = str(verification.qr_svg(f"http://localhost/verify/{code_of(app).code}"))
    assert svg.startswith("<svg") and "<path" in svg
    login(client, "yibao")
    data = client.get(f"/applications/{app.id}/forms/notice.pdf").data
    assert "http://localhost/verify" in pdf_text(data)


def test_forged_and_altered_codes_are_caught(client, make, nmg_staff):
    app = decided_nmg(make, nmg_staff)
    row = code_of(app)
    altered = row.code[:-1] + ("0" if row.code[-1] != "0" else "1")  # one character changed
    r = client.get(f"/verify/{altered}")
    assert r.status_code == 404 and "可能是伪造的" in r.get_data(as_text=True)
    r = client.get("/verify/NOT-A-CODE")
    assert r.status_code == 400 and "格式不正确" in r.get_data(as_text=True)
    r = client.post("/verify", data={"code": "<script>alert(1)</script>"})
    assert r.status_code == 400 and "<script>alert" not in r.get_data(as_text=True)
    # Someone with database access edits the stored dates: the signature no longer matches.
    payload = dict(row.payload)
    payload["diseases"] = [dict(d, end="2099-12-31") for d in payload["diseases"]]
    row.payload = payload
    db.session.commit()
    r = client.get(f"/verify/{row.code}")
    assert r.status_code == 409 and "校验未通过" in r.get_data(as_text=True) and "2099" not in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "verification.tampered")) == 1


def test_one_code_per_decision_even_when_asked_twice(app, make, nmg_staff):
    decided = decided_nmg(make, nmg_staff)
    first = code_of(decided)
    with app.test_request_context("/"):
        assert verification.issue(as_(), decided).code == first.code
    assert db.session.scalar(select(func.count()).select_from(VerificationCode)) == 1


# --- window intake ----------------------------------------------------------------------------
def test_window_staff_scan_paper_materials_and_print_the_form_for_signature(client, make, fcg_staff):
    """At the 医保中心 window: find the person, open the application, scan the paper materials in
    several pages, print the filled 申请表 for the person to sign, scan the signed form, submit."""
    import io

    from tests.files import make_jpeg, make_pdf

    person = make.person(region="450600", division="450602", name="黄秀英")
    login(client, "fcg_review")
    client.post("/staff/file", data={"id_number": person.id_number})
    r = client.post("/applications/new", data={
        "person_id": person.id, "division": "450602", "institution": "O450600001", "channel": "window",
        "diseases": "FCG001"})
    assert r.status_code == 302
    application = db.session.scalars(select(Application)).one()
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "打印表格" in page and f"/applications/{application.id}/forms/application.pdf" in page
    assert "窗口代办" in page
    for item in materials.checklist(as_(), application):
        if item.rule.required and item.rule.code != "application_form":
            scans = [(io.BytesIO(make_jpeg(40, 60)), "扫描1.jpg"), (io.BytesIO(make_pdf(2)), "扫描2.pdf")]
            r = client.post(f"/applications/{application.id}/materials", content_type="multipart/form-data",
                            data={"disease_code": item.disease_code, "material_code": item.rule.code, "file": scans})
            assert r.status_code == 302, item.rule.code
    form = client.get(f"/applications/{application.id}/forms/application.pdf")
    text = flat(pdf_text(form.data))
    assert "黄秀英" in text and "代办人签字" in text and "办理渠道医保经办机构窗口" in text
    assert "2份/3页" in text  # each scanned item: a photo (1 page) and a 2-page PDF
    r = client.post(f"/applications/{application.id}/materials", content_type="multipart/form-data",
                    data={"disease_code": "*", "material_code": "application_form",
                          "file": [(io.BytesIO(make_pdf(1)), "签字申请表.pdf")]})
    assert r.status_code == 302
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    r = client.post(f"/applications/{application.id}/submit", data={"version": application.version})
    assert r.status_code == 302
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    assert application.status == "submitted" and application.filed_by_id == fcg_staff["reviewer"].id


@pytest.mark.parametrize("region", ["150000", "450600"])
def test_every_form_of_both_regions_has_extractable_chinese_text(app, make, nmg_staff, fcg_staff, region):
    from core.documents import printed_forms as forms

    decided = decided_nmg(make, nmg_staff) if region == "150000" else decided_fcg(make, fcg_staff)
    rec = db.session.scalars(select(Recognition).where(Recognition.application_id == decided.id)).first()
    current_app.config["MTKIT_TODAY"] = rec.end_date - timedelta(days=20)
    renewal = apps.start_renewal(as_(decided.person), rec, channel="online")
    db.session.commit()
    staff = nmg_staff["office"] if region == "150000" else fcg_staff["reviewer"]
    cases = [(decided, "application"), (decided, "approval"), (decided, "notice"), (renewal, "renewal")]
    with app.test_request_context("/"):
        for record, form in cases:
            text = flat(pdf_text(forms.filled(as_(staff), record, form)))
            assert forms.FORMS[form] in text, (region, form)
            assert decided.person.name in text and rec.disease_name in text, (region, form)
            assert record.reference in text, (region, form)


def test_disk_caches_keep_only_the_newest_files(tmp_path):
    """The printed-form and preview caches share one trim: at most N files, the oldest go first."""
    import os

    from core.kernel.files import keep_newest

    for i in range(5):
        path = tmp_path / f"doc-{i}.pdf"
        path.write_bytes(b"%PDF")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / "other.txt").write_text("not a cached document")
    keep_newest(tmp_path, "*.pdf", 3)
    assert sorted(p.name for p in tmp_path.glob("*.pdf")) == ["doc-2.pdf", "doc-3.pdf", "doc-4.pdf"]
    assert (tmp_path / "other.txt").exists()
    keep_newest(tmp_path, "*.pdf", 10)  # under the limit: nothing goes
    assert len(list(tmp_path.glob("*.pdf"))) == 3
