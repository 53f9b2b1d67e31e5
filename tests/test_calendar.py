"""Working-day deadlines pinned to real calendars: National Day, Spring Festival, 调休, a year
without official data (2027), plugin and administrator holidays, and the administrators' banner."""
from __future__ import annotations

from datetime import date

import pytest
from flask import current_app
from sqlalchemy import select

from core import hookimpl
from core.extensions import db
from core.models import AuditLog, CalendarDay
from core.calendar import service as workdays
from core.kernel.time import add_working_days, is_working_day, official_data_covers, working_days_between
from tests.conftest import login
from tests.conftest import as_


@pytest.mark.parametrize(
    "start, days, due",
    [
        # National Day 2026: 10-01..10-07 off; Sunday 09-20 and Saturday 10-10 are make-up working days.
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 9, 29), 5, date(2026, 10, 12)),  # 09-30, 10-08, 10-09, Saturday 10-10 (调休), 10-12
        (date(2026, 9, 18), 1, date(2026, 9, 20)),  # Friday + 1: Sunday 09-20 is a working day (调休)
        # Spring Festival 2026: 02-15..02-23 off; Saturdays 02-14 and 02-28 are working days.
        (date(2026, 2, 13), 1, date(2026, 2, 14)),  # Friday + 1 = Saturday (调休)
        (date(2026, 2, 14), 1, date(2026, 2, 24)),  # straight over the nine days off
        (date(2026, 2, 24), 5, date(2026, 3, 2)),  # 02-25..02-27, Saturday 02-28, Monday 03-02
        # An ordinary week: 5 working days = one calendar week.
        (date(2026, 11, 23), 5, date(2026, 11, 30)),
        (date(2026, 11, 23), 0, date(2026, 11, 23)),
    ],
)
def test_official_holidays_and_make_up_days(start, days, due):
    assert add_working_days(start, days) == due
    assert working_days_between(start, due) == days


def test_2027_has_no_official_data_and_falls_back_to_monday_to_friday(caplog):
    assert official_data_covers(2026) and not official_data_covers(2027)
    assert is_working_day(date(2027, 1, 1))  # New Year's Day: unknown, so a Friday counts
    assert not is_working_day(date(2027, 1, 2))
    assert add_working_days(date(2026, 12, 31), 3) == date(2027, 1, 5)  # Thu 12-31 -> Fri, Mon, Tue


class NewYear2027:
    @hookimpl
    def mtkit_holidays(self, region, year):
        if region == "450600" and year == 2027:
            return {date(2027, 1, 1): False, date(2027, 1, 9): True}  # off Friday, work Saturday
        return None


def test_plugin_and_administrator_days_fill_a_year_without_data(app, make):
    app.extensions["mtkit_pm"].register(NewYear2027())
    assert workdays.due_date(as_(), "450600", date(2026, 12, 31), 1) == date(2027, 1, 4)  # 01-01 off, weekend
    assert workdays.due_date(as_(), "150000", date(2026, 12, 31), 1) == date(2027, 1, 1)  # other region: Mon-Fri
    admin = make.staff("fcg_admin", "admin", region="450600")
    workdays.add_day(as_(admin), "450600", "2027-01-04", "holiday", "元旦调休(示例)")
    db.session.commit()
    assert workdays.due_date(as_(), "450600", date(2026, 12, 31), 1) == date(2027, 1, 5)
    assert workdays.due_date(as_(), "450600", date(2027, 1, 7), 2) == date(2027, 1, 9)  # Saturday 01-09 from the plugin
    assert workdays.remaining(as_(), "450600", date(2026, 12, 31), date(2027, 1, 6)) == 2


def test_a_review_step_due_date_crosses_national_day(app, make, fcg_staff):
    current_app.config["MTKIT_TODAY"] = date(2026, 9, 29)
    a = make.application(make.person(region="450600", division="450602"), ["FCG001"])
    assert a.step_due == date(2026, 9, 30)  # 受理: 1 working day
    current_app.config["MTKIT_TODAY"] = date(2026, 9, 30)
    from core.applications import review

    review.act(as_(fcg_staff["reviewer"]), a, "accept", a.version)
    assert a.step_due == date(2026, 10, 13)  # 初审 5 working days: 10-08, 09, 10 (Sat 调休), 12, 13


def test_administrators_see_a_banner_for_the_missing_year(app, client, make, fcg_staff):
    make.staff("fcg_admin", "admin", region="450600")
    login(client, "fcg_admin")
    html = client.get("/staff/overview").get_data(as_text=True)
    assert "2027 年国家法定节假日官方数据缺失" in html and "/staff/calendar?year=2027" in html
    client.post("/logout")
    login(client, "fcg_review")
    assert "官方数据缺失" not in client.get("/staff/queue").get_data(as_text=True)
    current_app.config["MTKIT_TODAY"] = date(2025, 6, 1)  # 2025 and 2026 are covered: no banner
    login(client, "fcg_admin")
    assert "官方数据缺失" not in client.get("/staff/overview").get_data(as_text=True)


def test_administrator_adds_and_revokes_a_day_with_checks(app, client, make):
    make.staff("fcg_admin", "admin", region="450600")
    make.staff("nmg_admin", "admin", region="150000")
    login(client, "fcg_admin")
    page = client.get("/staff/calendar").get_data(as_text=True)
    assert "2027 年没有国家法定节假日官方数据" in page
    r = client.post("/staff/calendar", data={"region": "450600", "day": "2027-02-06", "kind": "holiday", "note": "春节"})
    assert r.status_code == 302
    row = db.session.scalars(select(CalendarDay)).one()
    assert (row.day, row.is_working, row.note) == (date(2027, 2, 6), False, "春节")
    for bad, message in (
        ({"day": "2027-02-30"}, "请填写日期"),
        ({"day": "2027-02-06"}, "已经设置过"),
        ({"kind": "maybe"}, "放假"),
        ({"note": ""}, "请填写说明"),
        ({"day": "2035-01-01"}, "只能设置"),
    ):
        data = {"region": "450600", "day": "2027-02-07", "kind": "holiday", "note": "春节"} | bad
        r = client.post("/staff/calendar", data=data)
        assert r.status_code == 422 and message in r.get_data(as_text=True), (bad, r.status_code)
    assert db.session.query(CalendarDay).count() == 1
    # Another region's administrator can neither add to nor revoke Fangchenggang's days.
    client.post("/logout")
    login(client, "nmg_admin")
    r = client.post("/staff/calendar", data={"region": "450600", "day": "2027-02-08", "kind": "holiday", "note": "x"})
    assert r.status_code == 403 and "您无权设置该地区的工作日历" in r.get_data(as_text=True)
    assert client.post(f"/staff/calendar/{row.id}/revoke").status_code == 404
    assert client.get("/staff/calendar?region=450600").status_code == 404
    client.post("/logout")
    login(client, "fcg_admin")
    assert client.post(f"/staff/calendar/{row.id}/revoke").status_code == 302
    db.session.refresh(row)
    assert row.revoked_at is not None  # kept, not deleted
    actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.object_type == "calendar_days")))
    assert actions == {"calendar.add", "calendar.revoke"}


def test_reviewers_cannot_open_the_calendar(app, client, make, fcg_staff):
    login(client, "fcg_review")
    assert client.get("/staff/calendar").status_code == 403
    r = client.post("/staff/calendar", data={"region": "450600", "day": "2027-02-08", "kind": "holiday", "note": "x"})
    assert r.status_code == 403 and "工作日历由管理员设置" in r.get_data(as_text=True)
