"""Working days of a region: official calendar + region plugin days + days an administrator set.

Precedence, later wins: chinesecalendar's official data, then ``mtkit_holidays`` from the region's
plugins, then the administrator's calendar days (stored in ``calendar_days``; revoked, never
deleted). Deadlines are counted in the region's time zone (``RegionInfo.timezone``).
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.extensions import db
from core.models import CalendarDay, User
from core.models.base import utcnow
from core.regions import regions
from core.services import Forbidden, Invalid, NotFound
from core.services.audit import audit
from core.services.calendar import add_working_days, official_data_covers, working_days_between
from core.services.clock import today


def extra_days(region: str, years) -> dict[date, bool]:
    merged: dict[date, bool] = {}
    years = sorted(set(years))
    for year in years:
        merged.update(regions().extra_days(region, year))
    if years:
        rows = db.session.execute(
            select(CalendarDay.day, CalendarDay.is_working).where(
                CalendarDay.region_code == region,
                CalendarDay.revoked_at.is_(None),
                CalendarDay.day >= date(years[0], 1, 1),
                CalendarDay.day <= date(years[-1], 12, 31),
            ).order_by(CalendarDay.id)
        )
        merged.update({day: working for day, working in rows})
    return merged


def region_today(region: str) -> date:
    info = regions().get(region)
    return today(info.timezone if info else "Asia/Shanghai")


def due_date(region: str, start: date, days: int) -> date:
    """``days`` working days after ``start`` in ``region`` (a deadline may run into next year)."""
    return add_working_days(start, days, extra_days(region, range(start.year, start.year + 2)))


def remaining(region: str, on: date, due: date) -> int:
    """Working days left from ``on`` to ``due`` (0 when due today or overdue)."""
    return working_days_between(on, due, extra_days(region, range(on.year, due.year + 1)))


def missing_official_years(on: date) -> list[int]:
    """This year and next year when chinesecalendar has no official data for them."""
    return [y for y in (on.year, on.year + 1) if not official_data_covers(y)]


# --- administrators' calendar days ------------------------------------------------------------
def manageable_regions(user: User) -> list[str]:
    if user.role != "admin":
        return []
    return [user.region_code] if user.region_code else regions().codes()


def days_of(region: str, year: int) -> list[CalendarDay]:
    return list(db.session.scalars(
        select(CalendarDay).where(
            CalendarDay.region_code == region,
            CalendarDay.day >= date(year, 1, 1),
            CalendarDay.day <= date(year, 12, 31),
        ).order_by(CalendarDay.day, CalendarDay.id)
    ))


def add_day(user: User, region: str, day_text: str, kind: str, note: str) -> CalendarDay:
    if region not in manageable_regions(user):
        raise Forbidden("您无权设置该地区的工作日历。")
    problems = []
    try:
        day = date.fromisoformat((day_text or "").strip())
    except ValueError:
        day = None
        problems.append("请填写日期,格式如 2027-01-01。")
    if kind not in ("holiday", "workday"):
        problems.append("请选择「放假」或「调休上班」。")
    note = (note or "").strip()
    if not note or len(note) > 100:
        problems.append("请填写说明(如「元旦」「春节调休上班」),不超过100字。")
    on = region_today(region)
    if day and not (on.year - 1 <= day.year <= on.year + 2):
        problems.append(f"只能设置 {on.year - 1} 至 {on.year + 2} 年的日期。")
    if day and not problems and active_day(region, day) is not None:
        problems.append(f"{day.isoformat()} 已经设置过,如需修改请先撤销原设置。")
    if problems:
        raise Invalid("工作日历未保存:", problems)
    row = CalendarDay(region_code=region, day=day, is_working=(kind == "workday"), note=note, created_by_id=user.id)
    db.session.add(row)
    db.session.flush()
    audit("calendar.add", row, user=user, detail=f"{region} {day.isoformat()} {'workday' if row.is_working else 'holiday'} {note}")
    return row


def revoke_day(user: User, row_id: int | None) -> CalendarDay:
    row = db.session.get(CalendarDay, row_id) if row_id else None
    if row is None or row.region_code not in manageable_regions(user):
        raise NotFound("记录不存在或您无权查看。")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by_id = user.id
        audit("calendar.revoke", row, user=user, detail=f"{row.region_code} {row.day.isoformat()}")
    return row


def active_day(region: str, day: date) -> CalendarDay | None:
    return db.session.scalar(
        select(CalendarDay).where(CalendarDay.region_code == region, CalendarDay.day == day, CalendarDay.revoked_at.is_(None))
    )
