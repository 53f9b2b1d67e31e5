"""Renewal reminders: a person is told N days before a recognition ends (the region sets N), once
per stage, and not at all once a renewal is under way.

Walks recognitions in keyset batches over ``ix_recognitions_status_end``, commits per batch and
keeps nothing between batches, so memory stays flat at a million recognitions. Each notice's dedup
key ``renewal:<rec>:<days>`` is unique in the database: a rerun sends nothing twice.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, tuple_

from core.context import Context
from core.extensions import db
from core.jobs.runner import BATCH, Progress
from core.kernel.status import RENEWAL_UNDER_WAY, RecStatus
from core.kernel.time import renewal_window
from core.models import Application, Recognition, User
from core.notices.service import existing_keys, from_template, notify_many


def renewal_reminders(ctx: Context, run: Progress) -> None:
    for region in ctx.regions.codes():
        on = ctx.today(region)
        policy_of = _policies(ctx, region, on)
        all_days = sorted({d for p in policy_of.values() for d in p.reminder_days}
                          | set(ctx.regions.renewal_policy(region, "").reminder_days))
        # Which end dates can have crossed a reminder day since the last finished run (the watermark):
        # for day d, ends in (watermark + d, today + d]. The first run catches up on the whole window.
        since = run.previous.run_date if run.previous else None
        ranges = [((since + timedelta(days=d + 1)) if since else on, on + timedelta(days=d)) for d in all_days]
        for lo, hi in _merge(ranges):
            _remind_range(ctx, run, region, on, lo, hi, policy_of)


def _remind_range(ctx, run, region, on, lo, hi, policy_of):
    last = (lo, 0)  # ids start at 1: the first batch includes every row ending on ``lo``
    while True:
        rows = db.session.execute(
            select(Recognition.id, Recognition.person_id, Recognition.disease_code, Recognition.disease_name, Recognition.end_date)
            .where(Recognition.status == RecStatus.ACTIVE, Recognition.region_code == region,
                   tuple_(Recognition.end_date, Recognition.id) > tuple_(last[0], last[1]), Recognition.end_date <= hi)
            .order_by(Recognition.end_date, Recognition.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = (rows[-1].end_date, rows[-1].id)
        run.processed += len(rows)
        wanted = {}
        for r in rows:
            policy = policy_of.get(r.disease_code) or ctx.regions.renewal_policy(region, r.disease_code)
            days_left = (r.end_date - on).days
            stage = min((d for d in policy.reminder_days if days_left <= d), default=None)
            if stage is not None and days_left >= 0 and _renewable(ctx, region, r.disease_code, on):
                wanted[f"renewal:{r.id}:{stage}"] = (r, days_left, policy)
        if wanted:
            ids = [r.id for r, _, _ in wanted.values()]
            under_way = set(db.session.scalars(
                select(Application.renewal_of_id).where(Application.renewal_of_id.in_(ids), Application.status.in_(RENEWAL_UNDER_WAY))))
            sent = existing_keys(list(wanted))
            people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({r.person_id for r, _, _ in wanted.values()})))}
            out = []
            for key, (r, days_left, policy) in wanted.items():
                if key in sent or r.id in under_way:
                    continue
                opens, closes = renewal_window(r.end_date, policy.window_months)
                title, body = from_template(
                    ctx, region, "renewal_reminder", name=people[r.person_id].name, disease=r.disease_name,
                    end_date=r.end_date.isoformat(), days_left=days_left, opens=opens.isoformat(), closes=closes.isoformat())
                out.append(dict(user_id=r.person_id, kind="renewal_reminder", title=title, body=body,
                                recognition_id=r.id, dedup_key=key))
            notify_many(ctx, out)
            run.changed += len(out)
        db.session.commit()
        run.progress(f"(续办提醒 {region},到期日至 {last[0]})")


def _policies(ctx, region, on):
    codes = {d.code for y in (on.year - 1, on.year, on.year + 1) for d in ctx.regions.catalogue(region, y)}
    return {c: ctx.regions.renewal_policy(region, c) for c in codes}


def _renewable(ctx, region, code, on) -> bool:
    disease = ctx.regions.disease(region, code, on.year)
    return disease is not None and disease.renewal_allowed


def _merge(ranges):
    out = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and lo <= out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
