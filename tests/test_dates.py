"""Every edge of the recognition and renewal date rules (core/kernel/time.py)."""
from datetime import date

import pytest

from core.kernel import time as dates


@pytest.mark.parametrize(
    "start, months, end",
    [
        (date(2026, 1, 1), 12, date(2026, 12, 31)),
        (date(2026, 3, 1), 24, date(2028, 2, 29)),  # ends on a leap day
        (date(2024, 2, 29), 12, date(2025, 2, 28)),  # leap-day start, no 02-29 next year: runs to month end
        (date(2024, 2, 29), 48, date(2028, 2, 28)),  # four years later 02-29 exists: the day before it
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 02-31: runs to the end of February
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap February
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 11, 23), 24, date(2028, 11, 22)),
        (date(2026, 12, 31), 12, date(2027, 12, 30)),
    ],
)
def test_validity_end(start, months, end):
    assert dates.validity_end(start, months) == end


def test_validity_must_be_positive():
    with pytest.raises(ValueError):
        dates.validity_end(date(2026, 1, 1), 0)


@pytest.mark.parametrize(
    "end, opens",
    [
        (date(2026, 12, 31), date(2026, 10, 1)),  # the 3 months before the validity runs out
        (date(2027, 2, 28), date(2026, 12, 1)),  # non-leap February end
        (date(2028, 2, 29), date(2027, 12, 1)),  # leap-day end
        (date(2026, 5, 30), date(2026, 2, 28)),  # 05-31 minus 3 months clamps to 02-28
        (date(2026, 3, 30), date(2025, 12, 31)),  # crosses a year
        (date(2026, 6, 15), date(2026, 3, 16)),
    ],
)
def test_renewal_window_opens(end, opens):
    assert dates.renewal_window(end, 3) == (opens, end)


@pytest.mark.parametrize(
    "today, state",
    [
        (date(2026, 9, 30), "early"),  # the day before the window opens
        (date(2026, 10, 1), "open"),  # first day
        (date(2026, 12, 31), "open"),  # last day of validity
        (date(2027, 1, 1), "expired"),  # the day after: only a new application
    ],
)
def test_renewal_state_edges(today, state):
    assert dates.renewal_state(date(2026, 12, 31), 3, today) == state


def test_renewal_continues_without_gap():
    assert dates.renewal_start(date(2026, 12, 31)) == date(2027, 1, 1)
    assert dates.renewal_start(date(2028, 2, 28)) == date(2028, 2, 29)


def test_rejected_renewal_stops_the_day_after_original_end():
    assert dates.stop_after_failed_renewal(date(2026, 12, 31)) == date(2027, 1, 1)
    assert dates.stop_after_failed_renewal(date(2027, 2, 28)) == date(2027, 3, 1)


class TestEffective:
    start, end = date(2025, 1, 1), date(2026, 12, 31)

    def test_inside_validity(self):
        assert dates.is_effective(self.start, self.end, date(2025, 1, 1))
        assert dates.is_effective(self.start, self.end, date(2026, 12, 31))

    def test_before_start(self):
        assert not dates.is_effective(self.start, self.end, date(2024, 12, 31))

    def test_after_end_without_renewal(self):
        assert not dates.is_effective(self.start, self.end, date(2027, 1, 1))

    def test_after_end_with_timely_renewal_pending(self):
        assert dates.is_effective(self.start, self.end, date(2027, 2, 15), timely_renewal_pending=True)

    def test_stopped_after_rejected_renewal(self):
        stop = dates.stop_after_failed_renewal(self.end)
        assert dates.is_effective(self.start, self.end, self.end, stop=stop)
        assert not dates.is_effective(self.start, self.end, stop, stop=stop)
