"""The demo reads true: every record was made through the real workflow, at plausible moments,
and every page and printed form shows it complete (issue 13 item 6)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.calendar.service import extra_days
from core.demo import PASSWORD
from core.documents import printed_forms
from core.extensions import db
from core.kernel.status import Status
from core.kernel.time import is_working_day, renewal_start
from core.models import Application, ApplicationEvent, Notice, Recognition, User
from tests.conftest import TODAY, as_, login
from tests.test_documents import flat, pdf_text

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def demo(app, runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    return db.session.scalars(select(Application).order_by(Application.id)).all()


def cn(day) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def test_every_demo_application_has_its_diseases_dates_and_timeline(demo):
    assert len(demo) >= 20
    now = datetime.now(timezone.utc)
    for app in demo:
        events = db.session.scalars(select(ApplicationEvent).where(ApplicationEvent.application_id == app.id)
                                    .order_by(ApplicationEvent.id)).all()
        assert app.diseases and all(d.disease_name for d in app.diseases), app.id
        assert events and events[0].action == "create", app.id
        times = [e.at for e in events]
        assert times == sorted(times) and times[-1] < now, (app.id, times)
        assert app.created_at == times[0]
        if app.status == Status.DRAFT:
            continue
        assert app.submitted_at is not None and len(events) >= 2, app.id
        if app.status in (Status.APPROVED, Status.REJECTED, Status.PARTIAL):
            assert app.decided_at is not None and app.decisions, app.id
            assert all(d.decided_by_id for d in app.decisions)


def test_demo_steps_happen_in_office_hours_on_working_days_spread_over_months(demo):
    extra = {r: extra_days(as_(), r, range(TODAY.year - 3, TODAY.year + 1)) for r in ("150000", "450600")}
    events = db.session.scalars(select(ApplicationEvent).join(Application)).all()
    by_people = [e for e in events if e.actor_id is not None]  # the sweep's lapse runs at night, as the job does
    for e in by_people:
        local = e.at.astimezone(TZ)
        assert 8 <= local.hour < 18, (e.application_id, e.action, local)
        region = db.session.get(Application, e.application_id).region_code
        assert is_working_day(local.date(), extra[region]), (e.application_id, e.action, local)
    days = {e.at.astimezone(TZ).date() for e in events}
    assert len(days) > 40 and (max(days) - min(days)).days > 365  # not one minute: two years of history
    assert max(days) < TODAY  # nothing stamped in the future of the pinned today


def test_demo_result_notices_name_the_dates_and_every_disease(demo):
    decided = [a for a in demo if a.decided_at is not None]
    assert len(decided) >= 10
    admin = db.session.scalars(select(User).where(User.username == "admin")).one()
    for app in decided:
        text = flat(pdf_text(printed_forms.filled(as_(admin), app, "notice")))
        submitted = app.submitted_at.astimezone(TZ).date()
        assert f"您于{cn(submitted)}提出的" in text, (app.id, text[:200])
        assert cn(app.decided_at.astimezone(TZ).date()) in text
        for d in app.diseases:
            assert d.disease_name[:6] in text, (app.id, d.disease_name)  # a long name wraps in its table cell
        for rec in db.session.scalars(select(Recognition).where(Recognition.application_id == app.id)):
            assert f"{cn(rec.start_date)}至{cn(rec.end_date)}" in text
            previous = db.session.get(Recognition, rec.previous_id) if rec.previous_id else None
            assert rec.start_date == (renewal_start(previous.end_date) if previous else app.decided_at.astimezone(TZ).date())
        review = flat(pdf_text(printed_forms.filled(as_(admin), app, "approval")))
        deciders = {d.decided_by.name for d in app.decisions}
        assert all(name in review for name in deciders), (app.id, deciders)


def test_demo_recognitions_one_in_its_renewal_window_one_expired_one_renewed(demo):
    recs = db.session.scalars(select(Recognition)).all()
    apps = {r.id: db.session.get(Application, r.application_id) for r in recs}
    assert all(apps[r.id].diseases and apps[r.id].submitted_at for r in recs)
    assert {"expired", "renewed", "active"} <= {r.status for r in recs}
    renewed = next(r for r in recs if r.status == "renewed")
    follow = next(r for r in recs if r.previous_id == renewed.id)
    assert apps[follow.id].kind == "renewal" and (follow.start_date - renewed.end_date).days == 1
    assert apps[follow.id].submitted_at.astimezone(TZ).date() <= renewed.end_date
    expired = next(r for r in recs if r.status == "expired")
    assert expired.end_date < TODAY
    assert db.session.scalar(select(Notice.id).where(Notice.user_id == expired.person_id, Notice.recognition_id == expired.id))


def test_demo_pages_show_the_history_to_the_person_and_staff(demo, client):
    wei = db.session.scalars(select(User).where(User.id_number_is("450602195807040268"))).one()
    rec = db.session.scalars(select(Recognition).where(Recognition.person_id == wei.id,
                                                      Recognition.disease_code == "FCG001")).one()
    assert login(client, "450602195807040268", PASSWORD).status_code == 302
    page = client.get(f"/applications/{rec.application_id}").get_data(as_text=True)
    assert "高血压" in page and "暂无记录" not in page
    assert cn(rec.start_date) in page or rec.start_date.isoformat() in page
    assert re.search(r"提交", page)
    client.post("/logout")
    assert login(client, "fcg_review", PASSWORD).status_code == 302
    page = client.get("/staff/queue?view=all").get_data(as_text=True)
    assert "未提交" not in page and page.count('data-label="提交时间"') >= 9  # every record of the city, with its time


def _overview_numbers(page: str) -> tuple[dict[str, int], int]:
    rows = dict(re.findall(r'<span class="badge[^"]*">([^<]+)</span>.*?data-label="申请数">\s*(?:<a [^>]*>)?(\d+)', page, re.S))
    total = int(re.search(r'data-label="合计">(\d+)<', page).group(1))
    return {k: int(v) for k, v in rows.items()}, total


@pytest.mark.parametrize("username, region", [("admin", None), ("fcg_admin", "450600"), ("nmg_admin", "150000")])
def test_overview_counts_every_application_drafts_included_and_sums_to_the_total(demo, client, username, region):
    mine = [a for a in demo if region is None or a.region_code == region]
    assert login(client, username, PASSWORD).status_code == 302
    rows, total = _overview_numbers(client.get("/staff/overview").get_data(as_text=True))
    assert len(rows) == len(Status.labels())
    assert total == len(mine) == sum(rows.values())
    assert rows["草稿"] == sum(1 for a in mine if a.status == Status.DRAFT) > 0
    assert rows["已通过"] == sum(1 for a in mine if a.status == Status.APPROVED)


def test_admin_pages_name_jobs_and_holiday_sources_in_chinese(demo, client):
    from core.jobs.schedule import JOBS

    assert login(client, "fcg_admin", PASSWORD).status_code == 302
    page = client.get("/staff/deliveries").get_data(as_text=True)
    cells = re.findall(r'<td data-label="任务">(.*?)</td>', page, re.S)
    assert cells and all(re.match(r"[\u4e00-\u9fff]", c) for c in cells), cells  # each run starts with its Chinese name
    assert all(j.title in page for j in JOBS.values())
    assert "<title>通知发送与定时任务" in page
    page = client.get("/staff/calendar?region=450600").get_data(as_text=True)
    visible = re.sub(r'<p class="(?:small muted|muted small)">.*?</p>', "", page, flags=re.S)  # operators' small print
    assert "holidays.csv" not in visible and "mtkit_holidays" not in visible and "chinesecalendar" not in visible
