"""The expiry sweep: returned applications whose supplement deadline passed are closed (逾期未补正,
``applications.service.lapse``); recognitions past their end without a timely renewal become 已到期
(``recognitions.service.expire``), each with a notice unless it ended long ago. Keyset batches,
committed per batch; dedup keys (``lapsed:<app>``, ``expired:<rec>``) make reruns send nothing twice.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from core.applications.service import lapse
from core.context import Context
from core.extensions import db
from core.jobs.runner import BATCH, Progress
from core.kernel.errors import Conflict
from core.kernel.status import RecStatus, Status
from core.kernel.time import ONE_DAY
from core.models import Application, Recognition, User
from core.notices.service import existing_keys, from_template, notify_many
from core.recognitions.service import expire

NOTIFY_EXPIRED_WITHIN_DAYS = 30  # an expiry older than this is recorded without a notice


def expiry_sweep(ctx: Context, run: Progress) -> None:
    for region in ctx.regions.codes():
        on = ctx.today(region)
        _lapse_returns(ctx, run, region, on)
        _expire_recognitions(ctx, run, region, on)


def _lapse_returns(ctx, run, region, on):
    last = 0
    while True:
        ids = list(db.session.scalars(
            select(Application.id).where(Application.region_code == region, Application.status == Status.RETURNED,
                                         Application.return_deadline < on, Application.id > last)
            .order_by(Application.id).limit(BATCH)))
        if not ids:
            return
        last = ids[-1]
        for app_id in ids:
            run.processed += 1
            try:
                if lapse(ctx, db.session.get(Application, app_id)):
                    db.session.commit()
                    run.changed += 1
            except (StaleDataError, Conflict):
                db.session.rollback()  # the applicant acted at this moment: the next run decides again
        run.progress(f"(逾期未补正 {region})")


def _expire_recognitions(ctx, run, region, on):
    last = 0
    while True:
        batch = list(db.session.scalars(
            select(Recognition).where(Recognition.status == RecStatus.ACTIVE, Recognition.region_code == region,
                                      Recognition.end_date < on, Recognition.id > last)
            .order_by(Recognition.id).limit(BATCH)))
        if not batch:
            return
        last = batch[-1].id
        run.processed += len(batch)
        expired = expire(ctx, batch, on)
        sent = existing_keys([f"expired:{r.id}" for r in expired])
        people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({r.person_id for r in expired})))}
        out = []
        for rec in expired:
            # Tell the person, unless it ended long ago (e.g. history imported at go-live).
            if f"expired:{rec.id}" not in sent and (on - rec.end_date).days <= NOTIFY_EXPIRED_WITHIN_DAYS:
                title, body = from_template(ctx, region, "expired", name=people[rec.person_id].name, disease=rec.disease_name,
                                            end_date=rec.end_date.isoformat(),
                                            stop_date=(rec.end_date + ONE_DAY).isoformat())
                out.append(dict(user_id=rec.person_id, kind="expired", title=title, body=body,
                                recognition_id=rec.id, dedup_key=f"expired:{rec.id}"))
        run.changed += len(expired)
        notify_many(ctx, out)
        db.session.commit()
        run.progress(f"(到期 {region})")
