"""Working days of a region: official calendar + region plugin days + days an administrator set.

Precedence, later wins: chinesecalendar's official data, then ``mtkit_holidays`` from the region's
plugins, then the administrator's calendar days (stored in ``calendar_days``; revoked, never
deleted). Deadlines are counted in the region's time zone; the arithmetic is ``core.kernel.time``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import NOT_FOUND, Forbidden, Invalid, NotFound
from core.kernel.text import text_problem
from core.kernel.time import add_working_days, utcnow, working_days_between
from core.models import CalendarDay, User
from core.people.scope import manageable_regions


def extra_days(ctx: Context, region: str, years) -> dict[date, bool]:
    """Every day that is not as the official calendar says: the plugins', then the administrators'."""
    merged: dict[date, bool] = {}
    years = sorted(set(years))
    for year in years:
        merged.update(ctx.regions.extra_days(region, year))
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


def due_date(ctx: Context, region: str, start: date, days: int) -> date:
    """``days`` working days after ``start`` in ``region`` (a deadline may run into next year)."""
    return add_working_days(start, days, extra_days(ctx, region, range(start.year, start.year + 2)))


def remaining(ctx: Context, region: str, on: date, due: date) -> int:
    """Working days left from ``on`` to ``due`` (0 when due today or overdue)."""
    return working_days_between(on, due, extra_days(ctx, region, range(on.year, due.year + 1)))


@dataclass(frozen=True)
class DueWindow:
    """Today and the last day that counts as "due soon" (the next working day), in a region."""

    today: date
    soon: date


def due_window(ctx: Context, region: str | None) -> DueWindow:
    """Today and the next working day in ``region`` (the first region for the instance administrator)."""
    region = region or ctx.regions.codes()[0]
    on = ctx.today(region)
    return DueWindow(on, due_date(ctx, region, on, 1))


# --- administrators' calendar days ------------------------------------------------------------
def regions_of(ctx: Context, user: User) -> list[str]:
    return manageable_regions(user, ctx.regions.codes())


def days_of(region: str, year: int) -> list[CalendarDay]:
    return list(db.session.scalars(
        select(CalendarDay).where(
            CalendarDay.region_code == region,
            CalendarDay.day >= date(year, 1, 1),
            CalendarDay.day <= date(year, 12, 31),
        ).order_by(CalendarDay.day, CalendarDay.id)
    ))


def year_range(ctx: Context, region: str) -> range:
    """The years an administrator may set days in: last year to two years ahead."""
    on = ctx.today(region)
    return range(on.year - 1, on.year + 3)


def add_day(ctx: Context, region: str, day_text: str, kind: str, note: str) -> CalendarDay:
    if region not in regions_of(ctx, ctx.actor):
        raise Forbidden("您无权设置该地区的工作日历。")
    problems = []
    try:
        day = date.fromisoformat((day_text or "").strip())
    except ValueError:
        day = None
        problems.append("请填写日期,格式为 年-月-日,例如 2027-01-01。")
    if kind not in ("holiday", "workday"):
        problems.append("请选择「放假」或「调休上班」。")
    note = (note or "").strip()
    if text_problem(note, "说明"):
        problems.append(text_problem(note, "说明"))
    elif not note or len(note) > 100:
        problems.append("请填写说明(如「元旦」「春节调休上班」),不超过100字。")
    years = year_range(ctx, region)
    if day and day.year not in years:
        problems.append(f"只能设置 {years[0]} 至 {years[-1]} 年的日期。")
    if day and not problems and active_day(region, day) is not None:
        problems.append(f"{day.isoformat()} 已经设置过,如需修改请先撤销原设置。")
    if problems:
        raise Invalid("工作日历未保存:", problems)
    row = CalendarDay(region_code=region, day=day, is_working=(kind == "workday"), note=note, created_by_id=ctx.actor_id)
    db.session.add(row)
    db.session.flush()
    audit(ctx, "calendar.add", row, detail=f"{region} {day.isoformat()} {'workday' if row.is_working else 'holiday'} {note}")
    return row


def revoke_day(ctx: Context, row_id: int | None) -> CalendarDay:
    row = db.session.get(CalendarDay, row_id) if row_id else None
    if row is None or row.region_code not in regions_of(ctx, ctx.actor):
        raise NotFound(NOT_FOUND)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by_id = ctx.actor_id
        audit(ctx, "calendar.revoke", row, detail=f"{row.region_code} {row.day.isoformat()}")
    return row


def active_day(region: str, day: date) -> CalendarDay | None:
    return db.session.scalar(
        select(CalendarDay).where(CalendarDay.region_code == region, CalendarDay.day == day, CalendarDay.revoked_at.is_(None))
    )
