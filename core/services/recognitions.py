"""Recognitions: creating them from decisions, who holds one, and when renewal is possible."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.extensions import db
from core.models import Application, ApplicationDisease, Recognition
from core.regions import regions
from core.services import Invalid
from core.services import dates


def timely_renewal_pending(rec: Recognition, on: date) -> bool:
    """A renewal of ``rec`` submitted on or before its end date is still under review on ``on``.

    A renewal returned for supplement counts only until its supplement deadline: a person who never
    answers a return must not keep benefits indefinitely.
    """
    app = _open_renewal(rec)
    if not (app and app.submitted_at and _local_date(app.submitted_at) <= rec.end_date):
        return False
    return not (app.status == "returned" and app.return_deadline and on > app.return_deadline)


def is_effective(rec: Recognition, on: date) -> bool:
    if rec.status == "ended" and rec.stop_date is None:
        return False
    pending = on > rec.end_date and timely_renewal_pending(rec, on)
    return dates.is_effective(rec.start_date, rec.end_date, on, rec.stop_date, pending)


def coverage(recognitions: list[Recognition], on: date) -> tuple[Recognition | None, str | None]:
    """Which of a person's recognitions for one disease gives benefits on ``on``.

    Returns (recognition, None), or (None, reason) with the reason in Chinese: none at all, not
    started yet, stopped after a rejected renewal, or expired (a timely renewal under review keeps
    benefits, see ``is_effective``).
    """
    for rec in sorted(recognitions, key=lambda r: r.start_date, reverse=True):
        if is_effective(rec, on):
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
    if last.status == "ended":
        return None, "该病种的门特认定已终止。"
    return None, f"该病种的门特认定已于 {last.end_date.isoformat()} 到期,就诊日 {on.isoformat()} 不在有效期内。"


def for_person(person_id: int, region: str, disease_code: str | None = None) -> list[Recognition]:
    query = select(Recognition).where(Recognition.person_id == person_id, Recognition.region_code == region)
    if disease_code is not None:
        query = query.where(Recognition.disease_code == disease_code)
    return list(db.session.scalars(query.order_by(Recognition.start_date)))


def state(rec: Recognition, on: date) -> str:
    """Status shown to people: 有效 / 续办审核中(待遇继续) / 已续办 / 已到期 / 已终止 / 未开始."""
    if rec.status == "renewed":
        return "已续办"
    if rec.stop_date is not None and on >= rec.stop_date:
        return "已终止"
    if on < rec.start_date:
        return "未开始"
    if on <= rec.end_date:
        return "有效"
    if timely_renewal_pending(rec, on):
        return "续办审核中(待遇继续)"
    return "已到期"


def holding(person_id: int, region: str, disease_code: str, on: date) -> Recognition | None:
    """The recognition that blocks a new application for the disease: one that has not ended.

    That includes one already renewed but still running, its successor that starts later, one whose
    renewal was rejected but whose validity runs on to its end, and one past its end whose timely
    renewal is under review.
    """
    return held(person_id, region, on, disease_code).get(disease_code)


def held(person_id: int, region: str, on: date, disease_code: str | None = None) -> dict[str, Recognition]:
    """Disease code -> the recognition that blocks a new application for it (see ``holding``)."""
    query = select(Recognition).where(Recognition.person_id == person_id, Recognition.region_code == region)
    if disease_code is not None:
        query = query.where(Recognition.disease_code == disease_code)
    found: dict[str, Recognition] = {}
    for r in db.session.scalars(query.order_by(Recognition.end_date)):
        if r.stop_date is not None and on >= r.stop_date:
            continue
        if on <= r.end_date or timely_renewal_pending(r, on):
            found[r.disease_code] = r  # the latest-ending one wins
    return found


def renewal_problem(rec: Recognition, on: date) -> str | None:
    """Why ``rec`` cannot be renewed on ``on``, or None when it can."""
    if rec.status == "renewed":
        return "该认定已续办,请在新认定的续办期内办理下一次续办。"
    if rec.status == "expired":
        return f"该认定已于 {rec.end_date.isoformat()} 到期,不能续办,请重新申请认定。"
    if rec.status != "active" or rec.stop_date is not None:
        return f"该认定的续办未通过,有效期至 {rec.end_date.isoformat()};到期后如需待遇,请重新申请认定。"
    policy = regions().renewal_policy(rec.region_code, rec.disease_code)
    opens, closes = dates.renewal_window(rec.end_date, policy.window_months)
    st = dates.renewal_state(rec.end_date, policy.window_months, on)
    if st == "early":
        return f"续办须在有效期届满前{policy.window_months}个月内申请,本认定可于 {opens.isoformat()} 起办理续办。"
    if st == "expired":
        return f"该认定已于 {closes.isoformat()} 到期,不能续办,请重新申请认定。"
    for year in sorted({on.year, dates.renewal_start(rec.end_date).year}):
        if regions().disease(rec.region_code, rec.disease_code, year) is None:
            return f"{rec.disease_name} 不在 {year} 年度门特病种目录内,不能续办。"
    disease = regions().disease(rec.region_code, rec.disease_code, on.year)
    if not disease.renewal_allowed:
        return f"{rec.disease_name} 不允许续办,请重新申请认定。"
    pending = open_application(rec.person_id, rec.region_code, rec.disease_code)
    if pending is not None:
        if pending.renewal_of_id == rec.id and pending.status == "draft":
            return f"您已建立续办草稿(第 {pending.id} 号),请上传材料后提交。"
        if pending.renewal_of_id == rec.id:
            return f"续办申请(第 {pending.id} 号)正在办理中。"
        return f"该病种已有办理中的申请(第 {pending.id} 号),请等其办结或撤回后再办理续办。"
    return None


def create_from_application(app: Application, decided_on: date) -> list[Recognition]:
    """Turn the approved diseases of a finished application into recognitions."""
    created = []
    previous = app.renewal_of if app.kind == "renewal" else None
    for ad in app.diseases:
        if ad.result != "approved":
            continue
        start = dates.renewal_start(previous.end_date) if previous else decided_on
        # The catalogue of the year the recognition starts decides (a renewal may start next year).
        disease = regions().disease(app.region_code, ad.disease_code, start.year)
        if disease is None:
            raise Invalid(f"{ad.disease_name} 不在 {start.year} 年度病种目录内,只能作不通过决定。")
        rec = Recognition(
            person_id=app.person_id,
            region_code=app.region_code,
            division_code=app.division_code,
            institution_code=app.institution_code,
            disease_code=ad.disease_code,
            national_code=ad.national_code,
            disease_name=ad.disease_name,
            application_id=app.id,
            previous_id=previous.id if previous else None,
            start_date=start,
            end_date=dates.validity_end(start, disease.validity_months),
        )
        db.session.add(rec)
        created.append(rec)
    if previous is not None:
        if created:
            previous.status = "renewed"
        else:
            # Rejected renewal: benefits stop from the day after the original end date.
            previous.stop_date = dates.stop_date_after_rejected_renewal(previous.end_date)
            previous.status = "ended"
    return created


def open_application(person_id: int, region: str, disease_code: str) -> Application | None:
    """The person's application still open for the disease (draft, in review or returned), if any."""
    return db.session.scalars(
        select(Application)
        .join(ApplicationDisease)
        .where(
            ApplicationDisease.person_id == person_id,
            ApplicationDisease.region_code == region,
            ApplicationDisease.disease_code == disease_code,
            ApplicationDisease.is_open.is_(True),
        )
    ).first()


def _open_renewal(rec: Recognition) -> Application | None:
    return db.session.scalars(
        select(Application)
        .join(ApplicationDisease)
        .where(
            Application.renewal_of_id == rec.id,
            Application.kind == "renewal",
            ApplicationDisease.is_open.is_(True),
        )
    ).first()


def _local_date(ts) -> date:
    from zoneinfo import ZoneInfo

    return ts.astimezone(ZoneInfo("Asia/Shanghai")).date()
