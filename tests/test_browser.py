"""End-to-end browser tests: a real Chromium drives the app served from this process.

An insured person applies and a reviewer approves, in both regions (内蒙古: 医保科受理 → 责任医师审核 →
医保科办结; 防城港: 经办机构受理 → 提交专家评审 → 专家通过 → 办结), through the pages only: log-in form,
new-application form (htmx institution list), htmx uploads, review buttons. CSRF protection is ON here
(conftest switches it off for the other tests), so every form post and htmx request carries the real
token. Also: a 主治医师 gets no decision form, phone-width pages do not scroll sideways, nothing is loaded
from other hosts, and a return for supplement reaches the applicant.

Uses the Debian Chromium at /usr/bin/chromium (never ``playwright install``).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import re
import threading
from datetime import date

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (not installed here)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from core.applications import review
from core.extensions import db
from tests.conftest import PASSWORD, PDF, TODAY
from tests.conftest import as_

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Required materials of a new application, as the regions' materials.csv list them.
NMG_REQUIRED = ["本人身份证复印件", "医保卡(社会保障卡或医保电子凭证)", "病情诊断书", "门诊病历"]
FCG_REQUIRED = ["本人社会保障卡或身份证原件及复印件", "《门特待遇认定申请表》", "疾病诊断证明书", "门诊或住院病历及检查检验报告"]

expect.set_options(timeout=10_000)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live(app):
    """Serve the test's app (its per-test database) on a free local port, with CSRF protection on."""
    app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A fresh contextvars context: request threads must never see the test's own app context (and its g).
    thread = threading.Thread(target=contextvars.Context().run, args=(server.serve_forever,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    server.server_close()
    app.config["WTF_CSRF_ENABLED"] = False


class Traffic:
    """Every request the browser makes, and any script error or CSP violation it reports."""

    def __init__(self, context, page):
        self.requests = []
        self.problems = []
        context.on("request", lambda r: self.requests.append(r))
        page.on("pageerror", lambda err: self.problems.append(f"pageerror: {err}"))
        page.on("console", self._console)

    def _console(self, msg):
        if msg.type == "error" and ("Content Security Policy" in msg.text or "Refused to" in msg.text):
            self.problems.append(f"console: {msg.text}")


@pytest.fixture
def page(browser, live, request, tmp_path):
    context = browser.new_context(base_url=live, locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.traffic = Traffic(context, page)
    failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failed_before:  # the call phase failed: keep a picture of the page
        with contextlib.suppress(Exception):  # best effort only
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"screenshot: {tmp_path / 'failure.png'}")
    context.close()


@pytest.fixture
def pdf_path(tmp_path):
    path = tmp_path / "材料扫描件.pdf"
    path.write_bytes(PDF)
    return path


# --------------------------------------------------------------------------- page steps


def login(page, username, password=PASSWORD):
    page.goto("/login")
    page.get_by_label("用户名或身份证号").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()


def logout(page):
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_text("您已安全退出。")).to_be_visible()


def new_application(page, *, division, institution, channel, disease) -> int:
    """Fill 新申请 as the logged-in insured person; returns the new application's id."""
    page.get_by_role("link", name="我的申请").click()
    page.get_by_role("link", name="新申请").click()
    expect(page.get_by_role("heading", name="新申请", level=1)).to_be_visible()
    # Choosing the division reloads the institution list over htmx: wait until the <select> is replaced.
    page.locator("#institution").evaluate("el => el.dataset.stale = '1'")
    page.locator("#division").select_option(division)
    expect(page.locator("#institution:not([data-stale])")).to_be_attached()
    page.locator("#institution").select_option(institution)
    page.get_by_role("radio", name=channel).check()
    page.get_by_role("checkbox", name=disease).check()
    page.get_by_role("button", name="建立申请").click()
    expect(page.get_by_text("申请草稿已建立,请按清单上传材料后提交。")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/applications/\d+$"))
    expect(page.locator(".page-head .badge")).to_have_text("草稿")
    return int(re.search(r"/applications/(\d+)$", page.url).group(1))


def upload_required(page, names, pdf_path):
    """Upload one PDF per required material through the htmx upload forms."""
    materials = page.locator("#materials")
    for name in names:
        item = materials.locator("li.material").filter(has=page.get_by_text(name, exact=True))
        expect(item.get_by_text("✗ 缺少")).to_be_visible()
        form = item.locator("form.upload")
        form.get_by_label(f"选择文件:{name}", exact=True).set_input_files(pdf_path)
        with page.expect_response(lambda r: r.url.endswith("/materials") and r.request.method == "POST") as resp:
            form.get_by_role("button", name="上传").click()
        assert resp.value.status == 200, resp.value.text()
        expect(item.get_by_text("✓ 已上传")).to_be_visible()
        expect(item.get_by_role("link", name=pdf_path.name)).to_be_visible()
    expect(materials.locator("li.material.missing")).to_have_count(0)
    expect(materials.get_by_text("必交材料已齐全,可以提交。")).to_be_visible()


def submit(page):
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_text("申请已提交,请留意消息通知。")).to_be_visible()
    expect(page.locator(".page-head .badge")).to_have_text("已提交")


def open_from_queue(page, app_id):
    page.get_by_role("link", name="待办").click()
    expect(page.get_by_role("heading", name="待我办理")).to_be_visible()
    page.get_by_role("link", name=f"第 {app_id} 号", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/applications/{app_id}$"))


def expect_step(page, name):
    """The 当前环节 card names the step the application waits at."""
    card = page.locator("section.card").filter(has=page.get_by_role("heading", name="当前环节", exact=True))
    expect(card.locator("strong")).to_have_text(name)


def act(page, button, done):
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.get_by_text(done, exact=True)).to_be_visible()


def decide_approve(page, disease):
    page.get_by_role("group", name=disease).get_by_label("通过", exact=True).check()
    act(page, "提交审核决定", "已审核决定。")


def check_approved(page, app_id, disease, end_date):
    """The applicant's view after the decision: list, detail, recognitions, inbox."""
    page.get_by_role("link", name="我的申请").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"第 {app_id} 号 · 查看"))
    expect(row).to_contain_text("已通过")
    row.get_by_role("link").click()
    expect(page.locator(".page-head .badge")).to_have_text("已通过")
    expect(page.get_by_role("row").filter(has_text=disease).first).to_contain_text("通过")

    page.get_by_role("link", name="我的认定").click()
    card = page.locator("section.rec").filter(has=page.get_by_role("heading", name=disease, exact=True))
    expect(card).to_have_count(1)
    expect(card).to_contain_text(f"{TODAY.isoformat()} 至 {end_date.isoformat()}")
    expect(card.locator(".badge")).to_have_text("有效")

    page.get_by_role("link", name="消息").click()
    notice = page.locator("li.notice").filter(has_text="审核结果")
    expect(notice).to_have_count(1)
    expect(notice).to_contain_text("已通过")
    expect(notice).to_contain_text(f"{disease}:通过,有效期 {TODAY.isoformat()} 至 {end_date.isoformat()}")


def check_traffic(page, live):
    traffic = page.traffic
    urls = [r.url for r in traffic.requests]
    assert urls, "no requests recorded"
    foreign = [u for u in urls if not u.startswith(live + "/")]
    assert not foreign, f"requests to other hosts: {foreign}"
    assert not traffic.problems, traffic.problems
    # The uploads went through htmx (XHR, with the token from <body hx-headers>), not the no-JS fallback.
    uploads = [r for r in traffic.requests if r.method == "POST" and r.url.endswith("/materials")]
    assert uploads
    for r in uploads:
        assert r.resource_type in ("xhr", "fetch"), r.resource_type
        headers = r.headers
        assert headers.get("hx-request") == "true"
        assert headers.get("x-csrftoken"), "htmx request without the CSRF header"


# --------------------------------------------------------------------------- tests


def test_inner_mongolia_apply_and_approve(make, nmg_staff, page, live, pdf_path):
    person = make.person(region="150000", division="150100", name="张三")
    id_number = person.id_number
    db.session.commit()  # no open transaction in the test thread while the server works

    login(page, id_number)
    app_id = new_application(page, division="150100", institution="H150100001", channel="线上办理", disease="高血压病")
    expect(page.get_by_text("内蒙古医科大学附属医院")).to_be_visible()
    upload_required(page, NMG_REQUIRED, pdf_path)
    submit(page)
    logout(page)

    login(page, "yibao")  # 医保科: 材料受理
    open_from_queue(page, app_id)
    expect_step(page, "材料受理")
    act(page, "受理", "已受理。")
    logout(page)

    login(page, "doctor")  # 副主任医师: 责任医师审核认定
    open_from_queue(page, app_id)
    expect_step(page, "责任医师审核认定")
    decide_approve(page, "高血压病")
    logout(page)

    login(page, "yibao")  # 医保科: 审核备案
    open_from_queue(page, app_id)
    expect_step(page, "医保科审核备案")
    act(page, "确认办结", "已确认办结。")
    expect(page.locator(".page-head .badge")).to_have_text("已通过")
    logout(page)

    login(page, id_number)
    # 24-month validity from TODAY (2026-11-23): the day before 2028-11-23.
    check_approved(page, app_id, "高血压病", date(2028, 11, 22))
    check_traffic(page, live)


def test_fangchenggang_apply_expert_and_approve(make, fcg_staff, page, live, pdf_path):
    person = make.person(region="450600", division="450681", name="李四")
    id_number = person.id_number
    db.session.commit()  # no open transaction in the test thread while the server works

    login(page, id_number)
    app_id = new_application(page, division="450681", institution="O450681001", channel="线上「不见面」办理", disease="高血压")
    expect(page.get_by_text("东兴市医疗保障服务中心")).to_be_visible()
    upload_required(page, FCG_REQUIRED, pdf_path)
    submit(page)
    logout(page)

    login(page, "dx_review")  # 东兴市医保中心: 受理, then 初审 refers to the experts
    open_from_queue(page, app_id)
    act(page, "受理", "已受理。")
    expect_step(page, "初审(材料完整性、病情持续性审核)")
    act(page, "提交专家评审", "已提交专家评审。")
    logout(page)

    login(page, "fcg_expert")
    open_from_queue(page, app_id)
    expect_step(page, "专家评审")
    decide_approve(page, "高血压")
    logout(page)

    login(page, "dx_review")  # 结果通知
    open_from_queue(page, app_id)
    act(page, "确认办结", "已确认办结。")
    expect(page.locator(".page-head .badge")).to_have_text("已通过")
    logout(page)

    login(page, id_number)
    check_approved(page, app_id, "高血压", date(2028, 11, 22))
    check_traffic(page, live)


def test_csrf_is_enforced_for_the_served_app(page):
    """The served app really checks the token, so the flows above exercise the real token flow."""
    page.goto("/login")
    page.get_by_label("用户名或身份证号").fill("nobody")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.locator('input[name="csrf_token"]').evaluate("el => el.value = 'forged'")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as resp:
        page.get_by_role("button", name="登录", exact=True).click()
    assert resp.value.status == 400
    expect(page.get_by_text("页面已过期或请求来源无效,请刷新页面后重试。")).to_be_visible()


def test_attending_physician_gets_no_decision_form(make, nmg_staff, page):
    person = make.person()
    app = make.application(person, ["M03900"])
    review.act(as_(nmg_staff["office"]), app, "accept", app.version)
    app_id = app.id
    db.session.commit()  # also ends the test thread's transaction before the server takes over

    login(page, "junior")  # 主治医师: below the step's 副主任医师
    page.goto(f"/applications/{app_id}")
    expect_step(page, "责任医师审核认定")
    expect(page.get_by_role("heading", name="申请病种")).to_be_visible()
    expect(page.get_by_role("button", name="提交审核决定")).to_have_count(0)
    expect(page.get_by_role("radio", name="通过", exact=True)).to_have_count(0)
    expect(page.get_by_text("您的职称为主治医师,不能作出认定")).to_be_visible()  # said where the actions would be
    logout(page)

    login(page, "doctor")  # the 副主任医师 does get it, on the same page
    page.goto(f"/applications/{app_id}")
    expect(page.get_by_role("button", name="提交审核决定")).to_be_visible()


def test_phone_width_pages(make, browser, live):
    person = make.person()
    draft = make.application(person, ["M03900"], upload=False, submit=False)
    id_number, draft_id = person.id_number, draft.id
    db.session.commit()
    context = browser.new_context(
        base_url=live, locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    try:
        def check(path):
            page.goto(path)
            expect(page.locator("h1")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 1, f"{path}: page is {width}px wide at a 390px viewport"
            size = float(page.evaluate("getComputedStyle(document.body).fontSize").removesuffix("px"))
            assert size >= 18, f"{path}: base font size {size}px"

        check("/login")
        login(page, id_number)
        check("/applications/new")
        check(f"/applications/{draft_id}")  # the materials checklist with its file inputs
        check("/benefits")  # 我的待遇: balances and the ledger table
    finally:
        context.close()


def test_return_for_supplement(make, nmg_staff, page, pdf_path):
    person = make.person()
    app = make.application(person, ["M03900"])
    app_id, id_number = app.id, person.id_number
    db.session.commit()
    reason = "诊断书未加盖医院公章,请补充盖章后的原件扫描件"

    login(page, "yibao")
    open_from_queue(page, app_id)
    page.get_by_label("退回给").select_option("applicant")
    page.get_by_label("需要补充或更正的内容(必填,申请人会看到)").fill(reason)
    act(page, "退回", "已退回补正。")
    expect(page.locator(".page-head .badge")).to_have_text("退回补正")
    logout(page)

    login(page, id_number)
    page.get_by_role("link", name="我的申请").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"第 {app_id} 号 · 查看"))
    expect(row).to_contain_text("退回补正")
    row.get_by_role("link").click()
    expect(page.locator(".page-head .badge")).to_have_text("退回补正")
    alert = page.get_by_role("status").filter(has_text="申请被退回,请补正")
    expect(alert).to_contain_text(f"退回原因:{reason}")
    expect(alert).to_contain_text("前补充材料后重新提交")

    # Supplement the diagnosis and resubmit: back in review at the step that returned it.
    item = page.locator("#materials li.material").filter(has=page.get_by_text("病情诊断书", exact=True))
    item.get_by_text("再添加文件").click()
    item.get_by_label("选择文件:病情诊断书", exact=True).set_input_files(pdf_path)
    item.get_by_role("button", name="上传").click()
    expect(item.get_by_role("link", name=pdf_path.name)).to_be_visible()
    page.get_by_role("button", name="补正后重新提交").click()
    expect(page.get_by_text("申请已提交,请留意消息通知。")).to_be_visible()
    expect(page.locator(".page-head .badge")).to_have_text("审核中")
    expect_step(page, "材料受理")

    page.get_by_role("link", name="消息").click()
    expect(page.locator("li.notice").filter(has_text="申请被退回,请补正材料")).to_contain_text(reason)


def test_whole_application_works_without_javascript(make, nmg_staff, browser, live, pdf_path):
    """Older phones and locked-down intranet browsers: every step is a plain form post."""
    person = make.person(region="150000", division="150200", name="王五")
    db.session.commit()
    context = browser.new_context(base_url=live, locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    try:
        login(page, person.id_number)
        page.goto("/applications/new")
        # Without htmx the division change needs the fallback button, which keeps the other choices.
        page.locator("#division").select_option("150200")
        page.get_by_role("checkbox", name="高血压病").check()
        page.get_by_role("button", name="更新机构列表").click()
        expect(page.get_by_role("checkbox", name="高血压病")).to_be_checked()
        page.locator("#institution").select_option("H150200001")
        page.get_by_role("radio", name="线上办理").check()
        page.get_by_role("button", name="建立申请").click()
        expect(page.get_by_text("申请草稿已建立,请按清单上传材料后提交。")).to_be_visible()
        for name in NMG_REQUIRED:
            item = page.locator("#materials li.material").filter(has=page.get_by_text(name, exact=True))
            item.get_by_label(f"选择文件:{name}", exact=True).set_input_files(pdf_path)
            item.get_by_role("button", name="上传").click()
            expect(page.get_by_text("材料已上传。")).to_be_visible()
        page.get_by_role("button", name="提交申请").click()
        expect(page.get_by_text("申请已提交,请留意消息通知。")).to_be_visible()
        logout(page)
        login(page, "bt_yibao")
        open_from_queue(page, 1)
        act(page, "受理", "已受理。")
    finally:
        context.close()


def test_withdraw_after_htmx_uploads(make, nmg_staff, page, live, pdf_path):
    """Uploads change the application's version; the withdraw form outside the fragment keeps up."""
    person = make.person(region="150000", division="150100", name="赵六")
    db.session.commit()
    login(page, person.id_number)
    new_application(page, division="150100", institution="H150100001", channel="线上办理", disease="高血压病")
    item = page.locator("#materials li.material").filter(has=page.get_by_text(NMG_REQUIRED[0], exact=True))
    item.get_by_label(f"选择文件:{NMG_REQUIRED[0]}", exact=True).set_input_files(pdf_path)
    item.get_by_role("button", name="上传").click()
    expect(item.get_by_text("✓ 已上传")).to_be_visible()
    page.get_by_text("撤回申请").click()
    page.get_by_role("button", name="确认撤回").click()
    expect(page.get_by_text("申请已撤回。")).to_be_visible()
    expect(page.locator(".page-head .badge")).to_have_text("已撤回")


FCG_RENEWAL_REQUIRED = ["本人社会保障卡或身份证原件及复印件", "《门特待遇续办申请表》", "近半年门诊病历、检查检验报告、用药记录",
                        "原门特认定审批表或相关凭证"]


def test_person_renews_in_the_window(app, make, fcg_staff, page, live, pdf_path):
    """Recognised on 2025-01-10 for 24 months (to 2027-01-09); on 2026-12-01 the renewal window is open."""
    from core.applications import materials

    app.config["MTKIT_TODAY"] = date(2025, 1, 10)
    person = make.person(region="450600", division="450602", name="钱七")
    first = make.application(person, ["FCG001"])
    for action, fields in (("accept", {}), ("decide", {"results": {"FCG001": "approved"}}), ("record", {})):
        review.act(as_(fcg_staff["reviewer"]), first, action, first.version, **fields)
    db.session.commit()
    app.config["MTKIT_TODAY"] = date(2026, 12, 1)

    login(page, person.id_number)
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="我的认定").click()
    card = page.locator("section.rec").filter(has=page.get_by_role("heading", name="高血压", exact=True))
    expect(card).to_contain_text("2025-01-10 至 2027-01-09")
    expect(card).to_contain_text("2026-10-10 至 2027-01-09")  # the renewal window
    card.get_by_role("link", name="办理续办").click()
    # At the window the paper items stay (an online renewal: tests/test_browser_insured.py).
    page.get_by_role("radio", name="医保经办机构窗口").check()
    page.get_by_role("button", name="建立续办申请").click()
    expect(page.get_by_text("续办申请已建立")).to_be_visible()
    upload_required(page, FCG_RENEWAL_REQUIRED, pdf_path)
    submit(page)
    renewal = db.session.get(type(first), int(re.search(r"/applications/(\d+)$", page.url).group(1)))
    assert (renewal.kind, renewal.renewal_of_id) == ("renewal", 1)
    assert [d.disease_code for d in renewal.diseases] == ["FCG001"]
    assert materials.missing(as_(), renewal) == []


def test_several_files_replace_preview_and_print(make, nmg_staff, page, live, tmp_path):
    """Add two scans at once over htmx, replace one, look at a page in place, print the form."""
    from tests.files import make_pdf, make_png

    person = make.person(region="150000", division="150100", name="孙桂兰")
    db.session.commit()
    first, second, better = tmp_path / "病历第1页.pdf", tmp_path / "病历第2页.png", tmp_path / "病历清晰版.pdf"
    first.write_bytes(make_pdf(2))
    second.write_bytes(make_png(300, 400))
    better.write_bytes(make_pdf(1))
    login(page, person.id_number)
    new_application(page, division="150100", institution="H150100001", channel="线上办理", disease="高血压病")
    item = page.locator("#materials li.material").filter(has=page.get_by_text("门诊病历", exact=True))
    item.get_by_label("选择文件:门诊病历", exact=True).set_input_files([first, second])
    expect(item.locator(".pending-note")).to_contain_text("已选择 2 个文件")
    expect(item.locator("[data-file-name]")).to_have_text("已选择 2 个文件:病历第1页.pdf、病历第2页.png")
    item.get_by_role("button", name="上传").click()
    expect(page.get_by_text("已上传 2 个文件。")).to_be_visible()
    item = page.locator("#materials li.material").filter(has=page.get_by_text("门诊病历", exact=True))
    expect(item.locator("li.file")).to_have_count(2)
    expect(item.locator("li.file").first).to_contain_text("2 页")
    # Preview the PDF's second page without leaving the page.
    item.locator("li.file").first.get_by_text("预览").click()
    image = item.locator("li.file").first.locator("details.preview img").nth(1)
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    # Replace the photo with a clearer PDF.
    photo = item.locator("li.file").filter(has_text="病历第2页.png")
    photo.locator("details.replace > summary").click()
    photo.get_by_label("选择新文件替换「病历第2页.png」").set_input_files(better)
    photo.get_by_role("button", name="上传并替换").click()
    expect(page.get_by_text("已用「病历清晰版.pdf」替换原文件。")).to_be_visible()
    item = page.locator("#materials li.material").filter(has=page.get_by_text("门诊病历", exact=True))
    expect(item.locator("li.file")).to_have_count(2)
    expect(item).not_to_contain_text("病历第2页.png")
    # The filled application form downloads as a PDF.
    with page.expect_download() as download:
        page.get_by_role("link", name="门诊特殊慢性病待遇认定申请表(PDF)").click()
    assert download.value.suggested_filename.endswith(".pdf")
    assert open(download.value.path(), "rb").read(5) == b"%PDF-"
    assert not page.traffic.problems, page.traffic.problems


def test_calendar_and_deadline_pages_fit_a_phone(make, fcg_staff, browser, live):
    """Queues with time limits, 超时督办, 工作日历, 通知发送, 打印信件 and 通知方式 at 390px, 18px type."""
    make.staff("fcg_admin", "admin", region="450600")
    person = make.person(region="450600", division="450602")
    make.application(person, ["FCG001"])
    id_number = person.id_number
    db.session.commit()
    context = browser.new_context(
        base_url=live, locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
    )
    page = context.new_page()
    try:
        def check(path):
            page.goto(path)
            expect(page.locator("h1")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390 + 1, f"{path}: page is {width}px wide at a 390px viewport"

        for username, paths in (
            ("fcg_admin", ("/staff/overdue", "/staff/calendar", "/staff/deliveries", "/staff/queue?view=all&due=soon")),
            ("fcg_review", ("/staff/queue?due=soon", "/staff/letters")),
            (id_number, ("/profile",)),
        ):
            login(page, username)
            for path in paths:
                check(path)
            logout(page)
        login(page, "fcg_admin")
        page.goto("/staff/overview")
        expect(page.get_by_text("2027 年国家法定节假日官方数据缺失")).to_be_visible()
    finally:
        context.close()
def test_hospital_estimates_and_records_a_visit_and_the_person_sees_the_bar(make, fcg_staff, page, live):
    """防城港 医保科: look the person up, 试算 through htmx (CSRF header), 结算并登记; the person's 我的待遇."""
    from tests.test_benefits import recognise

    person = make.person(region="450600", division="450602", category="employed")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001"], date(2026, 1, 5))
    from flask import current_app

    current_app.config["MTKIT_TODAY"] = TODAY
    make.staff("fcg_yibao", "hospital_office", region="450600", division="450602", hospital="H450602001")
    id_number = person.id_number
    db.session.commit()

    login(page, "fcg_yibao")
    page.get_by_role("link", name="门特结算").click()
    page.get_by_label("参保人身份证号码").fill(id_number)
    page.get_by_role("button", name="查找").click()
    page.get_by_label("符合门特支付范围的费用(元)").fill("3000")
    page.get_by_role("button", name="试算(不保存)").click()
    result = page.locator("#estimate-result")
    expect(result).to_contain_text("报销 1960.00 元")  # (3000 − 200) × 70%, within the 2000 the fund pays at most
    expect(result).to_contain_text("起付标准")
    assert any(r.method == "POST" and r.url.endswith("/estimate") and r.headers.get("hx-request") for r in page.traffic.requests)
    page.get_by_label("符合门特支付范围的费用(元)").fill("1000")
    page.get_by_role("button", name="结算并登记").click()
    expect(page.get_by_text("已结算登记:报销 560.00 元,个人负担 440.00 元。")).to_be_visible()
    assert not page.traffic.problems, page.traffic.problems
    logout(page)

    login(page, id_number)
    page.get_by_role("link", name="我的待遇").click()
    expect(page.locator("progress")).to_have_count(2)
    expect(page.get_by_text("基金已支付 560.00 / 2000.00 元")).to_be_visible()


def test_audit_page_fits_phone_and_desktop(app, make, nmg_staff, browser, live):
    """审计日志 at 390 and 1280 px: no sideways page scroll, even with long details and user names."""
    from core.audit import audit

    make.staff("root", "admin", region=None)
    person = make.person()
    application = make.application(person, ["M03900"])
    ctx = as_(nmg_staff["office"])
    audit(ctx, "person.view_full", ("users", person.id), detail="reason=" + "核对身份信息" * 30)
    audit(ctx, "application.view", application, detail="x" * 300)
    db.session.commit()
    for width, mobile in ((390, True), (1280, False)):
        context = browser.new_context(base_url=live, locale="zh-CN", viewport={"width": width, "height": 900},
                                      is_mobile=mobile, has_touch=mobile)
        page = context.new_page()
        try:
            login(page, "root")
            page.goto("/staff/audit")
            expect(page.get_by_role("heading", name="审计日志", level=1)).to_be_visible()
            expect(page.locator("td", has_text="查看完整个人信息").first).to_be_visible()
            scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert scroll <= client, f"audit page is {scroll}px wide in a {client}px window"
            if os.environ.get("MTKIT_SHOTS"):
                page.screenshot(path=os.path.join(os.environ["MTKIT_SHOTS"], f"audit-{width}.png"), full_page=True)
        finally:
            context.close()
