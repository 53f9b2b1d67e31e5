"""The scheduled jobs' bodies: renewal reminders, expiry sweep, deadline reminders, result-notice
deadline, and sending queued SMS. Each walks its rows in keyset batches over an index, commits per
batch and keeps nothing between batches, so memory stays flat at a million recognitions.

Every notice carries a dedup key (``renewal:<rec>:<days>``, ``expired:<rec>``, ``lapsed:<app>``,
``sla:<user>:<date>``, ``result-due:<user>:<date>``) that is unique in the database; a batch first
reads which keys exist and skips them, so reruns send nothing twice.
"""
from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm.exc import StaleDataError

from core.extensions import db
from core.models import Application, Notice, Recognition, User
from core.regions import regions
from core.services import dates, notices
from core.services import recognitions as recs
from core.services.access import can_see
from core.services.applications import lapse
from core.services.audit import audit
from core.services.jobs import BATCH, JobContext, job
from core.services.notices import notify, notify_many
from core.services.workdays import due_date, region_today

RENEWAL_UNDER_WAY = ("submitted", "in_review", "returned")
MAX_LINES = 10  # applications listed in one digest notice
NOTIFY_EXPIRED_WITHIN_DAYS = 30  # an expiry older than this is recorded without a notice


# --- renewal reminders --------------------------------------------------------------------------
@job("renewal_reminders", "续办提醒(到期前按地区设置的天数提醒参保人)")
def renewal_reminders(ctx: JobContext) -> None:
    for region in regions().codes():
        on = region_today(region)
        policy_of = _policies(region, on)
        all_days = sorted({d for p in policy_of.values() for d in p.reminder_days} | set(regions().renewal_policy(region, "").reminder_days))
        # Which end dates can have crossed a reminder day since the last finished run (the watermark):
        # for day d, ends in (watermark + d, today + d]. The first run catches up on the whole window.
        since = ctx.previous.run_date if ctx.previous else None
        ranges = [((since + timedelta(days=d + 1)) if since else on, on + timedelta(days=d)) for d in all_days]
        for lo, hi in _merge(ranges):
            _remind_range(ctx, region, on, lo, hi, policy_of)


def _remind_range(ctx, region, on, lo, hi, policy_of):
    last = (lo, 0)  # ids start at 1: the first batch includes every row ending on ``lo``
    while True:
        rows = db.session.execute(
            select(Recognition.id, Recognition.person_id, Recognition.disease_code, Recognition.disease_name, Recognition.end_date)
            .where(Recognition.status == "active", Recognition.region_code == region,
                   tuple_(Recognition.end_date, Recognition.id) > tuple_(last[0], last[1]), Recognition.end_date <= hi)
            .order_by(Recognition.end_date, Recognition.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = (rows[-1].end_date, rows[-1].id)
        ctx.processed += len(rows)
        wanted = {}
        for r in rows:
            policy = policy_of.get(r.disease_code) or regions().renewal_policy(region, r.disease_code)
            days_left = (r.end_date - on).days
            stage = min((d for d in policy.reminder_days if days_left <= d), default=None)
            if stage is not None and days_left >= 0 and _renewable(region, r.disease_code, on):
                wanted[f"renewal:{r.id}:{stage}"] = (r, days_left, policy)
        if wanted:
            ids = [r.id for r, _, _ in wanted.values()]
            under_way = set(db.session.scalars(
                select(Application.renewal_of_id).where(Application.renewal_of_id.in_(ids), Application.status.in_(RENEWAL_UNDER_WAY))))
            sent = _existing_keys(list(wanted))
            people = _people({r.person_id for r, _, _ in wanted.values()})
            out = []
            for key, (r, days_left, policy) in wanted.items():
                if key in sent or r.id in under_way:
                    continue
                opens, closes = dates.renewal_window(r.end_date, policy.window_months)
                title, body = notices.from_template(
                    region, "renewal_reminder", name=people[r.person_id].name, disease=r.disease_name,
                    end_date=r.end_date.isoformat(), days_left=days_left, opens=opens.isoformat(), closes=closes.isoformat())
                out.append(dict(user_id=r.person_id, kind="renewal_reminder", title=title, body=body,
                                recognition_id=r.id, dedup_key=key))
            notify_many(out)
            ctx.changed += len(out)
        db.session.commit()
        ctx.progress(f"(续办提醒 {region},到期日至 {last[0]})")


def _policies(region, on):
    codes = {d.code for y in (on.year - 1, on.year, on.year + 1) for d in regions().catalogue(region, y)}
    return {c: regions().renewal_policy(region, c) for c in codes}


def _renewable(region, code, on) -> bool:
    disease = regions().disease(region, code, on.year)
    return disease is not None and disease.renewal_allowed


def _merge(ranges):
    out = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and lo <= out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


# --- expiry sweep -------------------------------------------------------------------------------
@job("expiry_sweep", "到期处理(逾期未补正的申请关闭;到期未续办的认定改为已到期)")
def expiry_sweep(ctx: JobContext) -> None:
    for region in regions().codes():
        on = region_today(region)
        _lapse_returns(ctx, region, on)
        _expire_recognitions(ctx, region, on)


def _lapse_returns(ctx, region, on):
    last = 0
    while True:
        ids = list(db.session.scalars(
            select(Application.id).where(Application.region_code == region, Application.status == "returned",
                                         Application.return_deadline < on, Application.id > last)
            .order_by(Application.id).limit(BATCH)))
        if not ids:
            return
        last = ids[-1]
        for app_id in ids:
            ctx.processed += 1
            app = db.session.get(Application, app_id)
            try:
                lapse(app, on)
                db.session.commit()
                ctx.changed += 1
            except StaleDataError:
                db.session.rollback()  # the applicant acted at this moment: the next run decides again
        ctx.progress(f"(逾期未补正 {region})")


def _expire_recognitions(ctx, region, on):
    last = 0
    while True:
        batch = list(db.session.scalars(
            select(Recognition).where(Recognition.status == "active", Recognition.region_code == region,
                                      Recognition.end_date < on, Recognition.id > last)
            .order_by(Recognition.id).limit(BATCH)))
        if not batch:
            return
        last = batch[-1].id
        ctx.processed += len(batch)
        with_renewal = set(db.session.scalars(
            select(Application.renewal_of_id).where(Application.renewal_of_id.in_([r.id for r in batch]),
                                                    Application.status.in_(RENEWAL_UNDER_WAY))))
        sent = _existing_keys([f"expired:{r.id}" for r in batch])
        people = _people({r.person_id for r in batch})
        out, expired = [], []
        for rec in batch:
            if rec.id in with_renewal and recs.timely_renewal_pending(rec, on):
                continue  # a timely renewal keeps it effective until it is decided
            expired.append(rec.id)
            audit("recognition.expire", rec, user=None, detail=f"end={rec.end_date.isoformat()}")
            # Tell the person, unless it ended long ago (e.g. history imported at go-live).
            if f"expired:{rec.id}" not in sent and (on - rec.end_date).days <= NOTIFY_EXPIRED_WITHIN_DAYS:
                stop = dates.stop_date_after_rejected_renewal(rec.end_date)
                title, body = notices.from_template(region, "expired", name=people[rec.person_id].name, disease=rec.disease_name,
                                                    end_date=rec.end_date.isoformat(), stop_date=stop.isoformat())
                out.append(dict(user_id=rec.person_id, kind="expired", title=title, body=body,
                                recognition_id=rec.id, dedup_key=f"expired:{rec.id}"))
            ctx.changed += 1
        # One conditional UPDATE for the batch: a row changed meanwhile (renewed, ended) stays as it is.
        db.session.execute(update(Recognition).where(Recognition.id.in_(expired), Recognition.status == "active")
                           .values(status="expired"), execution_options={"synchronize_session": False})
        notify_many(out)
        db.session.commit()
        ctx.progress(f"(到期 {region})")


# --- deadline reminders to reviewers ------------------------------------------------------------
@job("sla_reminders", "审核时限提醒(每天给办理人员发送超时和即将到期的申请清单)")
def sla_reminders(ctx: JobContext) -> None:
    for region in regions().codes():
        on = region_today(region)
        soon = due_date(region, on, 1)
        due = _open_due(region, soon)
        ctx.processed += len(due)
        staff = db.session.scalars(select(User).where(User.region_code == region, User.is_enabled.is_(True),
                                                      User.role.in_(("physician", "hospital_office", "agency_reviewer", "expert")))).all()
        for user in staff:
            mine = [a for a in due if a.current_role == user.role and can_see(user, a)]
            key = f"sla:{user.id}:{on.isoformat()}"
            if not mine or _existing_keys([key]):
                continue
            overdue = [a for a in mine if a.step_due < on]
            lines = "\n".join(f"第 {a.id} 号,时限 {a.step_due.isoformat()}{'(已超时)' if a.step_due < on else ''}" for a in mine[:MAX_LINES])
            if len(mine) > MAX_LINES:
                lines += f"\n……共 {len(mine)} 件,请在「待办」中按「已超时」「即将到期」筛选查看。"
            title, body = notices.from_template(region, "sla_digest", name=user.name, overdue=len(overdue),
                                                due_soon=len(mine) - len(overdue), lines=lines)
            notify(user.id, "sla_digest", title, body, dedup_key=key)
            ctx.changed += 1
        db.session.commit()
        ctx.progress(f"(审核时限 {region})")


# --- result-notice deadline ---------------------------------------------------------------------
@job("result_notice_deadline", "结果通知时限(结果通知环节到期未办的,提醒本地区管理员督办)")
def result_notice_deadline(ctx: JobContext) -> None:
    for region in regions().codes():
        on = region_today(region)
        late = [a for a in _open_due(region, on) if (a.step or {}).get("kind") == "record"]
        ctx.processed += len(late)
        if not late:
            continue
        admins = db.session.scalars(select(User).where(User.role == "admin", User.region_code == region, User.is_enabled.is_(True))).all()
        lines = "\n".join(f"第 {a.id} 号,{(a.step or {}).get('name', '')}时限 {a.step_due.isoformat()}" for a in late[:MAX_LINES])
        if len(late) > MAX_LINES:
            lines += f"\n……共 {len(late)} 件,详见「超时督办」。"
        for admin in admins:
            key = f"result-due:{admin.id}:{on.isoformat()}"
            if _existing_keys([key]):
                continue
            title, body = notices.from_template(region, "result_due", name=admin.name, count=len(late), lines=lines)
            notify(admin.id, "result_due", title, body, dedup_key=key)
            ctx.changed += 1
        db.session.commit()
        ctx.progress(f"(结果通知 {region})")


# --- sending queued SMS -------------------------------------------------------------------------
@job("deliver_notices", "发送短信(待发送和到了重试时间的短信)", every_minutes=5)
def deliver_notices(ctx: JobContext) -> None:
    def progress(n):
        ctx.processed = n
        ctx.progress("(短信)")

    attempted, sent = notices.deliver_due("sms", progress=progress)
    ctx.processed, ctx.changed = attempted, sent


# --- helpers ------------------------------------------------------------------------------------
def _open_due(region: str, until: date) -> list:
    """Open applications of ``region`` whose current step is due on or before ``until`` (light rows)."""
    rows = db.session.execute(
        select(Application.id, Application.region_code, Application.division_code, Application.institution_code,
               Application.current_role, Application.step_due, Application.steps, Application.step_index)
        .where(Application.region_code == region, Application.step_due <= until,
               Application.status.in_(("submitted", "in_review")))
        .order_by(Application.step_due, Application.id)
    ).all()
    out = []
    for r in rows:
        step = r.steps[r.step_index] if r.steps and 0 <= r.step_index < len(r.steps) else None
        out.append(SimpleNamespace(id=r.id, region_code=r.region_code, division_code=r.division_code,
                                   institution_code=r.institution_code, current_role=r.current_role,
                                   step_due=r.step_due, step=step, person_id=None))
    return out


def _existing_keys(keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        found.update(db.session.scalars(select(Notice.dedup_key).where(Notice.dedup_key.in_(keys[i:i + 500]))))
    return found


def _people(ids) -> dict[int, User]:
    ids = list(ids)
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
