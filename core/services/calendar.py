"""Working days: official holidays and make-up days (调休) from chinesecalendar, else Mon-Fri.

Pure functions over dates; ``extra`` maps a date to True (working day) or False (day off) and wins
over the official data. Region plugins (``mtkit_holidays``) and administrators supply ``extra``
(see ``core/services/workdays.py``), which is how a year the package does not cover still gets its
holidays.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)
_warned_years: set[int] = set()


def local_today(tz: str = "Asia/Shanghai") -> date:
    return datetime.now(ZoneInfo(tz)).date()


def official_data_covers(year: int) -> bool:
    """Whether chinesecalendar knows the official holidays of ``year`` (it raises for other years)."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
        return True
    except NotImplementedError:
        return False


def is_working_day(day: date, extra: dict[date, bool] | None = None) -> bool:
    if extra and day in extra:
        return extra[day]
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        # No official data for this year: Monday-Friday, and say so once per year in the log
        # (administrators also see a banner, see workdays.missing_official_years).
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
        current += timedelta(days=1)
        if is_working_day(current, extra):
            remaining -= 1
    return current


def working_days_between(start: date, end: date, extra: dict[date, bool] | None = None) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end <= start``).

    The inverse of ``add_working_days``: ``working_days_between(d, add_working_days(d, n)) == n``.
    """
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current, extra):
            count += 1
    return count
