"""Every date rule of recognition and renewal, in one place.

Conventions (documented because each is a choice):
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

from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

ONE_DAY = timedelta(days=1)


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


def stop_date_after_rejected_renewal(previous_end: date) -> date:
    """Benefits stop from the day after the original end date."""
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
