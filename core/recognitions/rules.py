"""The rules of a recognition on a given day, as pure functions of what was loaded.

Whether benefits apply on a day, which of a person's recognitions covers it, what people see as
its state, and whether it can be renewed: none of these touches the database, so the benefits
calculation can use them for a whole batch of visits (``recognitions.service`` loads the inputs).

A renewal submitted on or before the end date is *timely*: benefits continue while it is under
review; returned for supplement, only until its supplement deadline (a person who never answers a
return must not keep benefits indefinitely).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.kernel import time
from core.kernel.status import RecStatus, Status
from core.kernel.types import Disease, RenewalPolicy


@dataclass(frozen=True)
class OpenRenewal:
    """The renewal application of a recognition that is still open, as the rules need it."""

    application_id: int
    status: str
    submitted_on: date | None  # the local date it was submitted (None: still a draft)
    return_deadline: date | None


def timely_renewal_pending(rec, renewal: OpenRenewal | None, on: date) -> bool:
    if renewal is None or renewal.submitted_on is None or renewal.submitted_on > rec.end_date:
        return False
    return not (renewal.status == Status.RETURNED and renewal.return_deadline and on > renewal.return_deadline)


def is_effective(rec, on: date, renewal: OpenRenewal | None) -> bool:
    if rec.status == RecStatus.ENDED and rec.stop_date is None:
        return False
    pending = on > rec.end_date and timely_renewal_pending(rec, renewal, on)
    return time.is_effective(rec.start_date, rec.end_date, on, rec.stop_date, pending)


def coverage(recognitions: list, on: date, renewals: dict[int, OpenRenewal]) -> tuple[object | None, str | None]:
    """Which of a person's recognitions for one disease gives benefits on ``on``.

    Returns (recognition, None), or (None, reason) with the reason in Chinese: none at all, not
    started yet, stopped after a failed renewal, or expired.
    """
    for rec in sorted(recognitions, key=lambda r: r.start_date, reverse=True):
        if is_effective(rec, on, renewals.get(rec.id)):
            return rec, None
    if not recognitions:
        return None, "参保人没有该病种的门特认定。"
    started = [r for r in recognitions if r.start_date <= on]
    if not started:
        first = min(r.start_date for r in recognitions)
        return None, f"该病种的门特认定自 {first.isoformat()} 起生效,就诊日 {on.isoformat()} 尚未开始。"
    last = max(started, key=lambda r: r.end_date)
    if last.stop_date is not None and on >= last.stop_date:
        return None, (
            f"该病种认定的续办未通过,门特待遇自 {last.stop_date.isoformat()} 起停止"
            f"(原有效期至 {last.end_date.isoformat()})。"
        )
    if last.status == RecStatus.ENDED:
        return None, "该病种的门特认定已终止。"
    return None, f"该病种的门特认定已于 {last.end_date.isoformat()} 到期,就诊日 {on.isoformat()} 不在有效期内。"


def state(rec, on: date, renewal: OpenRenewal | None) -> str:
    """Status shown to people: 有效 / 续办审核中(待遇继续) / 已续办 / 已到期 / 已终止 / 未开始."""
    if rec.status == RecStatus.RENEWED:
        return "已续办"
    if rec.stop_date is not None and on >= rec.stop_date:
        return "已终止"
    if on < rec.start_date:
        return "未开始"
    if on <= rec.end_date:
        return "有效"
    if timely_renewal_pending(rec, renewal, on):
        return "续办审核中(待遇继续)"
    return "已到期"


def blocks_new_application(rec, on: date, renewal: OpenRenewal | None) -> bool:
    """A recognition that has not ended blocks a new application for its disease: one still running
    (renewed or not), one whose renewal failed but whose validity runs on to its end, and one past
    its end whose timely renewal is under review."""
    if rec.stop_date is not None and on >= rec.stop_date:
        return False
    return on <= rec.end_date or timely_renewal_pending(rec, renewal, on)


def renewal_problem(rec, on: date, policy: RenewalPolicy, diseases: dict[int, Disease | None],
                    open_app=None) -> str | None:
    """Why ``rec`` cannot be renewed on ``on``, or None when it can.

    :param diseases: the catalogue entry of the disease in each year that matters (this year and
        the year the renewal would start); None where the disease is not on that year's catalogue.
    :param open_app: the person's open application for the disease, if any.
    """
    if rec.status == RecStatus.RENEWED:
        return "该认定已续办,请在新认定的续办期内办理下一次续办。"
    if rec.status == RecStatus.EXPIRED:
        return f"该认定已于 {rec.end_date.isoformat()} 到期,不能续办,请重新申请认定。"
    if rec.status != RecStatus.ACTIVE or rec.stop_date is not None:
        return f"该认定的续办未通过,有效期至 {rec.end_date.isoformat()};到期后如需待遇,请重新申请认定。"
    opens, closes = time.renewal_window(rec.end_date, policy.window_months)
    st = time.renewal_state(rec.end_date, policy.window_months, on)
    if st == "early":
        return f"续办须在有效期届满前{policy.window_months}个月内申请,本认定可于 {opens.isoformat()} 起办理续办。"
    if st == "expired":
        return f"该认定已于 {closes.isoformat()} 到期,不能续办,请重新申请认定。"
    for year in renewal_years(rec, on):
        if diseases.get(year) is None:
            return f"{rec.disease_name} 不在 {year} 年度门特病种目录内,不能续办。"
    if not diseases[on.year].renewal_allowed:
        return f"{rec.disease_name} 不允许续办,请重新申请认定。"
    if open_app is not None:
        if open_app.renewal_of_id == rec.id and open_app.status == Status.DRAFT:
            return f"您已建立续办草稿(第 {open_app.id} 号),请上传材料后提交。"
        if open_app.renewal_of_id == rec.id:
            return f"续办申请(第 {open_app.id} 号)正在办理中。"
        return f"该病种已有办理中的申请(第 {open_app.id} 号),请等其办结或撤回后再办理续办。"
    return None


def renewal_years(rec, on: date) -> list[int]:
    """The catalogue years a renewal must be on: this year and the year the renewal starts."""
    return sorted({on.year, time.renewal_start(rec.end_date).year})
