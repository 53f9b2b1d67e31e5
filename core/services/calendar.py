"""Working days: official holidays and make-up days (调休) from chinesecalendar, else Mon-Fri.

Region plugins add days through ``mtkit_holidays`` (local holidays, or a year the package lacks).
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)


def local_today(tz: str = "Asia/Shanghai") -> date:
    return datetime.now(ZoneInfo(tz)).date()


def official_data_covers(year: int) -> bool:
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
        # The package has no data for this year: fall back to Monday-Friday and say so.
        log.warning("chinesecalendar 无 %s 年官方节假日数据,按周一至周五计算工作日", day.year)
        return day.weekday() < 5


def add_working_days(start: date, days: int, extra: dict[date, bool] | None = None) -> date:
    """The date ``days`` working days after ``start`` (the start day itself does not count)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current, extra):
            remaining -= 1
    return current
