"""Demo data for both regions, created through the real services (so it obeys every rule)."""
from __future__ import annotations

import io
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from markupsafe import escape
from werkzeug.datastructures import FileStorage

from core.applications import materials, review
from core.applications import service as apps
from core.benefits import service as benefits
from core.benefits import stays
from core.benefits.inputs import Visit
from core.calendar.service import due_date
from core.context import Context
from core.documents.pdf import html_to_pdf
from core.extensions import db
from core.kernel.time import validity_end
from core.models import Application, Decision, Recognition, User
from core.people import accounts

PASSWORD = "Demo1234"
_DEMO_FILES: dict[str, bytes] = {}


def demo_pdf(title: str) -> bytes:
    """A one-page PDF standing in for a scanned document (real, so uploads and previews work)."""
    if title not in _DEMO_FILES:
        html = (
            '<html><head><meta charset="utf-8"></head><body>'
            f'<p class="issuer">演示数据</p><h1>{escape(title)}</h1>'
            '<p class="blank-mark">本文件由 mtkit 演示数据生成,代替参保人上传的扫描件。</p></body></html>'
        )
        _DEMO_FILES[title] = html_to_pdf(html)
    return _DEMO_FILES[title]

STAFF = [
    # username, role, name, region, division, hospital, office, title
    ("admin", "admin", "系统管理员", None, None, None, None, None),
    ("nmg_doctor", "physician", "王建国", "150000", "150100", "H150100001", None, "副主任医师"),
    ("nmg_junior", "physician", "李晓明", "150000", "150100", "H150100001", None, "主治医师"),
    ("nmg_yibao", "hospital_office", "赵丽", "150000", "150100", "H150100001", None, None),
    ("bt_doctor", "physician", "孙伟", "150000", "150200", "H150200001", None, "主任医师"),
    ("bt_yibao", "hospital_office", "周敏", "150000", "150200", "H150200001", None, None),
    ("nmg_agency", "agency_reviewer", "吴刚", "150000", "150100", None, "O150100001", None),
    ("nmg_admin", "admin", "内蒙古管理员", "150000", None, None, None, None),
    ("fcg_review", "agency_reviewer", "黄海燕", "450600", None, None, "O450600001", None),
    ("dx_review", "agency_reviewer", "陈志强", "450600", "450681", None, "O450681001", None),
    ("fcg_expert", "expert", "梁教授", "450600", None, None, None, None),
    ("fcg_admin", "admin", "防城港管理员", "450600", None, None, None, None),
    ("fcg_yibao", "hospital_office", "覃春燕", "450600", "450602", "H450602001", None, None),
]


def make_id_number(division: str, birth: str, seq: int) -> str:
    """A resident ID with a correct GB 11643 check character (for demo people only)."""
    body = f"{division}{birth}{seq:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


PEOPLE = [
    # name, division, birth, seq, phone, category, region
    ("张桂英", "150102", "19550312", 24, "13804711234", "retired", "150000", "150100"),
    ("刘建华", "150102", "19680825", 13, "13904712345", "employed", "150000", "150100"),
    ("马秀兰", "150203", "19600101", 42, "13704723456", "retired", "150000", "150200"),
    ("韦小红", "450602", "19580704", 26, "13807701234", "retired", "450600", "450602"),
    ("黄志明", "450681", "19720315", 17, "13907702345", "employed", "450600", "450681"),
    ("李秀梅", "450603", "19650930", 28, "13707703456", "retired", "450600", "450603"),
]


def database_is_empty() -> bool:
    return db.session.query(User.id).first() is None


def seed(ctx: Context) -> list[tuple[str, str, str]]:
    """Create staff, people and applications in every status. Returns (username, role, note)."""
    staff = {}
    for username, role, name, region, division, hospital, office, title in STAFF:
        staff[username] = accounts.create_staff(
            ctx, username=username, password=PASSWORD, role=role, name=name, region=region,
            division=division, hospital=hospital, office=office, title=title,
        )
    people = []
    for name, div, birth, seq, phone, cat, region, division in PEOPLE:
        people.append(
            accounts.register_insured(
                ctx, name=name, id_number=make_id_number(div, birth, seq), phone=phone, password=PASSWORD,
                region=region, division=division, insured_category=cat,
            )
        )
    zhang, liu, ma, wei, huang, li = people
    # National platform numbers (人员编号, 医保医师代码), as a bureau would load them (flask nhsa import-psn).
    for n, person in enumerate(people, start=1):
        person.psn_no = f"{person.division_code}{n:014d}"
    for n, username in enumerate(("nmg_doctor", "nmg_junior", "bt_doctor", "fcg_review", "dx_review", "fcg_expert"), 1):
        staff[username].practitioner_code = f"D{staff[username].region_code}{n:06d}"
    # 黄志明 lives in Shenzhen for work (异地就医) and wants letters there as well as SMS.
    huang.remote_address = "广东省深圳市福田区华强北路1号"
    huang.notice_letter = True
    s = staff

    # ---- Inner Mongolia: normal track at 内蒙古医科大学附属医院 ----
    _draft(ctx, zhang, "150000", "150100", "H150100001", ["M05400"], upload=False)  # draft, nothing uploaded
    _overdue(ctx, _submitted(ctx, liu, "150000", "150100", "H150100001", ["M01600"]), 6)  # 医保科 受理, late
    w = _submitted(ctx, liu, "150000", "150100", "H150100001", ["M04600"])
    review.act(ctx.acting_as(s["nmg_yibao"]), w, "accept", w.version)  # waits for nmg_doctor's decision
    b = _submitted(ctx, ma, "150000", "150200", "H150200001", ["M04600", "M03900"])
    review.act(ctx.acting_as(s["bt_yibao"]), b, "accept", b.version)  # in review: physician's turn
    c = _submitted(ctx, zhang, "150000", "150100", "H150100001", ["M05300"])
    review.act(ctx.acting_as(s["nmg_yibao"]), c, "return", c.version, to="applicant", note="病情诊断书未加盖医院公章,请补正")
    d = _submitted(ctx, liu, "150000", "150100", "H150100001", ["M00503"])  # fast track: physician then record
    _decide(ctx, d, s["nmg_doctor"], "approved")
    review.act(ctx.acting_as(s["nmg_yibao"]), d, "record", d.version)
    e = _submitted(ctx, ma, "150000", "150200", "H150200001", ["M01600", "M06900"])
    review.act(ctx.acting_as(s["bt_yibao"]), e, "accept", e.version)
    review.act(ctx.acting_as(s["bt_doctor"]), e, "decide", e.version, results={"M01600": "approved", "M06900": "rejected"}, reason_code="R01")
    review.act(ctx.acting_as(s["bt_yibao"]), e, "record", e.version)  # partial
    f = _submitted(ctx, zhang, "150000", "150100", "H150100001", ["M02300"])
    review.act(ctx.acting_as(s["nmg_yibao"]), f, "accept", f.version)
    _decide(ctx, f, s["nmg_doctor"], "rejected", reason="R03")
    review.act(ctx.acting_as(s["nmg_yibao"]), f, "record", f.version)
    g = _submitted(ctx, liu, "150000", "150100", "H150100001", ["M04301"])
    apps.withdraw(ctx.acting_as(liu), g, g.version, "先去复查")

    # ---- Fangchenggang: agency window ----
    _draft(ctx, wei, "450600", "450602", "O450600001", ["FCG004"], upload=False)
    _overdue(ctx, _submitted(ctx, wei, "450600", "450602", "O450600001", ["FCG002"]), 4)  # waits for 受理, late
    i = _submitted(ctx, huang, "450600", "450681", "O450681001", ["FCG009"])
    review.act(ctx.acting_as(s["dx_review"]), i, "accept", i.version)
    review.act(ctx.acting_as(s["dx_review"]), i, "refer_expert", i.version, note="病情需专家复评")  # expert's turn
    j = _submitted(ctx, li, "450600", "450603", "O450603001", ["FCG010"])
    review.act(ctx.acting_as(s["fcg_review"]), j, "accept", j.version)
    review.act(ctx.acting_as(s["fcg_review"]), j, "return", j.version, to="applicant", note="请补充近半年检查检验报告")
    k = _submitted(ctx, huang, "450600", "450681", "O450681001", ["FCG003"])
    review.act(ctx.acting_as(s["dx_review"]), k, "accept", k.version)
    _decide(ctx, k, s["dx_review"], "approved")
    review.act(ctx.acting_as(s["dx_review"]), k, "record", k.version)
    m = _submitted(ctx, li, "450600", "450603", "O450603001", ["FCG011"])
    review.act(ctx.acting_as(s["fcg_review"]), m, "accept", m.version)
    _decide(ctx, m, s["fcg_review"], "rejected", reason="R02")
    review.act(ctx.acting_as(s["fcg_review"]), m, "record", m.version)

    n = _submitted(ctx, wei, "450600", "450602", "O450600001", ["FCG008", "FCG012"])
    review.act(ctx.acting_as(s["fcg_review"]), n, "accept", n.version)
    review.act(ctx.acting_as(s["fcg_review"]), n, "decide", n.version, results={"FCG008": "approved", "FCG012": "rejected"}, reason_code="R01")
    review.act(ctx.acting_as(s["fcg_review"]), n, "record", n.version)  # partial
    o = _submitted(ctx, huang, "450600", "450681", "O450681001", ["FCG005"])
    apps.withdraw(ctx.acting_as(huang), o, o.version, "已到外地就医")

    # Returned a month ago and never answered: the expiry sweep closed them (逾期未补正).
    _lapsed(ctx, ma, "150000", "150200", "H150200001", ["M02500"], s["bt_yibao"], "请补充癫痫发作记录及脑电图报告")
    _lapsed(ctx, li, "450600", "450603", "O450603001", ["FCG014"], s["fcg_review"], "请补充痰检及胸部CT报告")

    # Recognitions close to their end, so renewal can be tried today (window open).
    _old_recognition(ctx, wei, "450600", "450602", "O450600001", "FCG001", "高血压", "M03900", months_left=2)
    _old_recognition(ctx, zhang, "150000", "150100", "H150100001", "M03900", "高血压病", "M03900", months_left=1, kind_apps=True)
    # Ended last week without renewal: the first daily job run marks it 已到期 and tells 黄志明.
    _old_recognition(ctx, huang, "450600", "450681", "O450681001", "FCG002", "糖尿病", "M01600", months_left=0, days_left=-7)
    db.session.flush()
    _benefit_ledger(ctx, s, wei, zhang)

    logins = [(u, r, n) for u, r, n, *_ in STAFF]
    logins += [(p.id_number, "insured", p.name) for p in people]  # they log in with their ID number
    return logins


def _benefit_ledger(ctx, s, wei, zhang):
    """This year's 门特 settlements for two recognised people, through the benefits service."""
    on = ctx.today(wei.region_code)
    first = on.replace(month=1, day=2)

    def day(days_ago):  # a date this year, not after today
        return max(first, on - timedelta(days=days_ago))

    def visit(person, clerk, inst, disease, days_ago, amount, items=()):
        v = Visit(person, inst, disease, day(days_ago), Decimal(amount), [{"name": n, "amount": Decimal(a)} for n, a in items])
        return benefits.settle(ctx.acting_as(clerk), v)

    # 韦小红 (防城港, 职工退休, 高血压): visits at 防城港市第一人民医院, a hospital stay, a reversal.
    clerk = s["fcg_yibao"]
    visit(wei, clerk, "H450602001", "FCG001", 250, "386.50", [("硝苯地平控释片", "236.50"), ("血压监测及心电图", "150.00")])
    visit(wei, clerk, "H450602001", "FCG001", 190, "412.00")
    wrong = visit(wei, clerk, "H450602001", "FCG001", 150, "4120.00")
    benefits.reverse(ctx.acting_as(clerk), wrong, "金额多录一位,应为 412.00 元")
    visit(wei, clerk, "H450602001", "FCG001", 149, "412.00")
    stays.record_stay(ctx.acting_as(clerk), wei, institution_code="H450602001", admitted_on=day(100).isoformat(),
                         discharged_on=day(92).isoformat(), note="高血压急症住院")
    visit(wei, clerk, "H450602001", "FCG001", 95, "268.00")  # during the stay: not covered
    visit(wei, clerk, "H450602001", "FCG001", 40, "530.80")
    # 张桂英 (内蒙古, 职工退休, 高血压病): at the recognising hospital, and once at one she has not chosen.
    clerk = s["nmg_yibao"]
    visit(zhang, clerk, "H150100001", "M03900", 200, "640.00")
    visit(zhang, clerk, "H150100001", "M03900", 120, "720.50")
    visit(zhang, s["nmg_agency"], "H150100003", "M03900", 60, "310.00")  # not a chosen institution
    visit(zhang, clerk, "H150100001", "M03900", 20, "685.00")


def _draft(ctx: Context, person, region, division, inst, diseases, upload=True, channel="online"):
    app = apps.start(ctx.acting_as(person), person, region=region, division=division, institution=inst, channel=channel,
                     diseases=diseases)
    if upload:
        for item in materials.checklist(ctx, app):
            if item.rule.required:
                name = item.rule.name.replace("/", "、")
                materials.add(ctx.acting_as(person), app, disease_code=item.disease_code, material_code=item.rule.code,
                              files=[FileStorage(io.BytesIO(demo_pdf(name)), filename=f"{name}.pdf")])
    return app


def _submitted(ctx, person, region, division, inst, diseases):
    app = _draft(ctx, person, region, division, inst, diseases)
    apps.submit(ctx.acting_as(person), app, app.version)
    return app


def _decide(ctx, app, user, result, reason=None):
    results = {ad.disease_code: result for ad in app.diseases}
    review.act(ctx.acting_as(user), app, "decide", app.version, results=results, reason_code=reason)


def _overdue(ctx, app, days_ago):
    """History: submitted ``days_ago`` calendar days ago, so its step is past its time limit today."""
    started = ctx.today(app.region_code) - timedelta(days=days_ago)
    app.submitted_at = app.step_started_at = app.submitted_at - timedelta(days=days_ago)
    app.step_due = due_date(ctx, app.region_code, started, app.current_step["sla"])
    return app


def _lapsed(ctx, person, region, division, inst, diseases, staff, note):
    """Returned 31 days ago (history: the deadline is moved back), then closed by the sweep's rule."""
    app = _submitted(ctx, person, region, division, inst, diseases)
    review.act(ctx.acting_as(staff), app, "return", app.version, to="applicant", note=note)
    app.return_deadline = ctx.today(region) - timedelta(days=1)
    apps.lapse(ctx, app)
    return app


HISTORY_REVIEWER = {"150000": "nmg_doctor", "450600": "fcg_review"}


def _old_recognition(ctx, person, region, division, inst, code, name, national, months_left, kind_apps=False, days_left=0):
    """An earlier approval whose validity ends in ``months_left`` months (history created directly)."""
    on = ctx.today(region)
    end = on + relativedelta(months=months_left) + timedelta(days=days_left)
    start = end + timedelta(days=1) - relativedelta(months=24)
    app = Application(person_id=person.id, region_code=region, division_code=division, institution_code=inst,
                      channel="window", kind="new", status="approved", steps=[], step_index=0)
    db.session.add(app)
    db.session.flush()
    # The earlier decision, so the history is complete enough for a national-platform 2503 filing.
    reviewer = db.session.scalar(db.select(User).where(User.username == HISTORY_REVIEWER[region]))
    decided = datetime.combine(start - timedelta(days=7), time(2, 0), timezone.utc)
    db.session.add(Decision(application_id=app.id, disease_code=code, step_code="review", result="approved",
                            decided_by_id=reviewer.id, decided_at=decided))
    db.session.add(Recognition(person_id=person.id, region_code=region, division_code=division, institution_code=inst,
                               disease_code=code, national_code=national, disease_name=name, application_id=app.id,
                               start_date=start, end_date=validity_end(start, 24)))
