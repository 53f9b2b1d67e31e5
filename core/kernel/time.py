"""Time, in one place: the clock, a region's local date, working-day arithmetic and the date rules.

**The clock.** ``Clock.today(tz)`` is the date in a region's time zone; ``Clock.now()`` the moment.
Tests and demos pin the date with the setting ``MTKIT_TODAY`` (read on every call, so a test may
move it); ``now()`` is then the pinned day at the current time of day, so the business moments the
rules compare with dates (submitted, decided, recognised, a step started) agree with the pinned
date. Operational moments (log-in lockouts, API tokens, job leases, SMS retries) use the real
``utcnow()``: a pinned date must never lock anyone out or stall a job.

**Working days.** Official holidays and make-up days (调休) from ``chinesecalendar``, else
Monday-Friday; ``extra`` maps a date to True (working day) or False (day off) and wins over the
official data. Which extra days a region has (its plugins' and its administrators') is the calendar
feature's business (``core/calendar/service.py``); the arithmetic is here.

**Date rules** of recognition and renewal (each convention is a choice, so it is written down):
- A recognition is valid on every day from ``start`` to ``end`` inclusive.
- Validity of N months ends the day before the N-month anniversary of ``start``: 2026-03-01 + 24
  months ends 2028-02-29. When the anniversary does not exist (start 2024-02-29 or 2026-01-31), the
  period runs to the last day of that month: 2024-02-29 + 12 months ends 2025-02-28.
- Renewal window of M months: it opens on ``(end + 1 day) - M months`` and closes on ``end``; i.e. the
  M months before the validity runs out. End 2026-12-31 -> opens 2026-10-01.
- A renewal submitted on or before ``end`` is timely: benefits continue during review. Approved, the
  new recognition starts on ``end + 1 day`` (no gap). Rejected, benefits stop from ``end + 1 day``.
- After ``end`` without a timely renewal, only a new application is possible.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
from dateutil.relativedelta import relativedelta

log = logging.getLogger(__name__)
ONE_DAY = timedelta(days=1)
_warned_years: set[int] = set()


def utcnow() -> datetime:
    """The real moment (operations: lockouts, tokens, leases, retries). Business moments: ``Clock.now``."""
    return datetime.now(timezone.utc)


def local_date(moment: datetime, tz: str) -> date:
    """The calendar date of ``moment`` in time zone ``tz``."""
    return moment.astimezone(ZoneInfo(tz)).date()


def local_time(moment: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``moment`` as people in time zone ``tz`` read it ("" for none)."""
    return moment.astimezone(ZoneInfo(tz)).strftime(fmt) if moment is not None else ""


class Clock:
    """Today and now, pinnable through ``settings["MTKIT_TODAY"]`` (a date or "YYYY-MM-DD")."""

    def __init__(self, settings: Mapping, default_tz: str = "Asia/Shanghai"):
        self.settings = settings
        self.default_tz = default_tz

    @property
    def pinned(self) -> date | None:
        value = self.settings.get("MTKIT_TODAY")
        if not value:
            return None
        return value if isinstance(value, date) else date.fromisoformat(str(value))

    def today(self, tz: str) -> date:
        return self.pinned or datetime.now(ZoneInfo(tz)).date()

    def now(self) -> datetime:
        """An aware UTC moment; with a pinned date, that day at the current local time of day."""
        real = utcnow()
        pinned = self.pinned
        if pinned is None:
            return real
        local = real.astimezone(ZoneInfo(self.default_tz))
        return datetime.combine(pinned, local.timetz()).astimezone(timezone.utc)


# --- working days -------------------------------------------------------------------------------
def official_data_covers(year: int) -> bool:
    """Whether chinesecalendar knows the official holidays of ``year`` (it raises for other years)."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


def missing_official_years(on: date) -> list[int]:
    """This year and next year when chinesecalendar has no official data for them."""
    return [y for y in (on.year, on.year + 1) if not official_data_covers(y)]


def is_working_day(day: date, extra: dict[date, bool] | None = None) -> bool:
    if extra and day in extra:
        return extra[day]
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        # No official data for this year: Monday-Friday, and say so once per year in the log
        # (administrators also see a banner, see missing_official_years).
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("chinesecalendar 无 %s 年官方节假日数据,按周一至周五加地区/管理员设置的节假日计算工作日", day.year)
        return day.weekday() < 5


def add_working_days(start: date, days: int, extra: dict[date, bool] | None = None) -> date:
    """The date ``days`` working days after ``start`` (the start day itself does not count).

    ``days == 0`` gives ``start`` itself: a paused clock with nothing left is due the day it resumes.
    """
    current = start
    remaining = days
    while remaining > 0:
        current += ONE_DAY
        if is_working_day(current, extra):
            remaining -= 1
    return current


def working_days_between(start: date, end: date, extra: dict[date, bool] | None = None) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end <= start``).

    The inverse of ``add_working_days``: ``working_days_between(d, add_working_days(d, n)) == n``.
    """
    count, current = 0, start
    while current < end:
        current += ONE_DAY
        if is_working_day(current, extra):
            count += 1
    return count


# --- date rules of recognition and renewal -------------------------------------------------------
def validity_end(start: date, months: int) -> date:
    if months < 1:
        raise ValueError("validity must be at least one month")
    anniversary = start + relativedelta(months=months)
    if anniversary.day != start.day:
        return anniversary  # relativedelta clamped to the month's last day: no anniversary that month
    return anniversary - ONE_DAY


def renewal_window(end: date, window_months: int) -> tuple[date, date]:
    """First and last day on which a renewal may be submitted."""
    return (end + ONE_DAY) - relativedelta(months=window_months), end


def renewal_state(end: date, window_months: int, today: date) -> str:
    """'early' (window not open yet), 'open', or 'expired' (only a new application now)."""
    opens, closes = renewal_window(end, window_months)
    if today < opens:
        return "early"
    if today <= closes:
        return "open"
    return "expired"


def renewal_start(previous_end: date) -> date:
    """A renewal continues the previous recognition without a gap."""
    return previous_end + ONE_DAY


def stop_after_failed_renewal(previous_end: date) -> date:
    """A renewal that fails (rejected, withdrawn or lapsed after the end): benefits stop from the
    day after the original end date."""
    return previous_end + ONE_DAY


def is_effective(start: date, end: date, on: date, stop: date | None = None, timely_renewal_pending: bool = False) -> bool:
    """Whether benefits apply on ``on``.

    :param stop: first day without benefits, if the recognition was stopped.
    :param timely_renewal_pending: a renewal submitted on or before ``end`` is still under review.
    """
    if on < start:
        return False
    if stop is not None and on >= stop:
        return False
    if on <= end:
        return True
    return timely_renewal_pending
