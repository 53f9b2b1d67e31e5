"""Recognitions in the database: creating them from a decision, who holds one, renewal, ending
after a failed renewal, expiry. The rules themselves are ``recognitions/rules.py``."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel import time
from core.kernel.errors import Invalid
from core.kernel.status import OPEN, Kind, RecStatus, Result
from core.models import Application, ApplicationDisease, Recognition
from core.recognitions import rules
from core.recognitions.rules import OpenRenewal

CHUNK = 1000


# --- reading --------------------------------------------------------------------------------------
def open_renewals(ctx: Context, recs) -> dict[int, OpenRenewal]:
    """The open renewal application of each of ``recs`` (one query per thousand)."""
    ids = [r.id for r in recs]
    found: dict[int, OpenRenewal] = {}
    for i in range(0, len(ids), CHUNK):
        rows = db.session.execute(
            select(Application.id, Application.renewal_of_id, Application.region_code, Application.status,
                   Application.submitted_at, Application.return_deadline)
            .where(Application.renewal_of_id.in_(ids[i:i + CHUNK]), Application.kind == Kind.RENEWAL,
                   Application.status.in_(OPEN))
        ).all()
        for r in rows:
            submitted = time.local_date(r.submitted_at, ctx.regions.timezone(r.region_code)) if r.submitted_at else None
            found[r.renewal_of_id] = OpenRenewal(r.id, r.status, submitted, r.return_deadline)
    return found


def timely_renewal_pending(ctx: Context, rec: Recognition, on: date) -> bool:
    return rules.timely_renewal_pending(rec, open_renewals(ctx, [rec]).get(rec.id), on)


def is_effective(ctx: Context, rec: Recognition, on: date) -> bool:
    return rules.is_effective(rec, on, open_renewals(ctx, [rec]).get(rec.id))


def state(ctx: Context, rec: Recognition, on: date) -> str:
    return rules.state(rec, on, open_renewals(ctx, [rec]).get(rec.id))


def coverage(ctx: Context, recs: list[Recognition], on: date):
    """Which of ``recs`` (one person's, one disease) gives benefits on ``on`` (``rules.coverage``)."""
    return rules.coverage(recs, on, open_renewals(ctx, recs))


def for_person(person_id: int, region: str | None = None, disease_code: str | None = None) -> list[Recognition]:
    query = select(Recognition).where(Recognition.person_id == person_id)
    if region is not None:
        query = query.where(Recognition.region_code == region)
    if disease_code is not None:
        query = query.where(Recognition.disease_code == disease_code)
    return list(db.session.scalars(query.order_by(Recognition.start_date)))


def held(ctx: Context, person_id: int, region: str, on: date, disease_code: str | None = None) -> dict[str, Recognition]:
    """Disease code -> the recognition that blocks a new application for it (``rules.blocks_new_application``)."""
    recs = for_person(person_id, region, disease_code)
    renewals = open_renewals(ctx, recs)
    found: dict[str, Recognition] = {}
    for r in sorted(recs, key=lambda r: r.end_date):
        if rules.blocks_new_application(r, on, renewals.get(r.id)):
            found[r.disease_code] = r  # the latest-ending one wins
    return found


def open_application(person_id: int, region: str, disease_code: str) -> Application | None:
    """The person's application still open for the disease (draft, in review or returned), if any."""
    return db.session.scalars(
        select(Application)
        .join(ApplicationDisease)
        .where(
            ApplicationDisease.person_id == person_id,
            ApplicationDisease.region_code == region,
            ApplicationDisease.disease_code == disease_code,
            # "= true", not "IS true": only the equality matches the partial index's WHERE
            # (uq_open_disease_per_person); SQLite otherwise reads every application's diseases.
            ApplicationDisease.is_open == True,  # noqa: E712
        )
    ).first()


def renewal_problem(ctx: Context, rec: Recognition, on: date) -> str | None:
    """Why ``rec`` cannot be renewed on ``on`` (None: it can)."""
    policy = ctx.regions.renewal_policy(rec.region_code, rec.disease_code)
    years = set(rules.renewal_years(rec, on)) | {on.year}
    diseases = {y: ctx.regions.disease(rec.region_code, rec.disease_code, y) for y in years}
    return rules.renewal_problem(rec, on, policy, diseases,
                                 open_application(rec.person_id, rec.region_code, rec.disease_code))


def summaries(ctx: Context, recs: list[Recognition], on: date) -> list[dict]:
    """What 我的认定 and the API show of each recognition: its state, renewal window and whether
    (or why not) it can be renewed today."""
    renewals = open_renewals(ctx, recs)
    out = []
    for r in recs:
        policy = ctx.regions.renewal_policy(r.region_code, r.disease_code)
        opens, closes = time.renewal_window(r.end_date, policy.window_months)
        problem = renewal_problem(ctx, r, on)
        out.append(dict(rec=r, state=rules.state(r, on, renewals.get(r.id)), opens=opens, closes=closes,
                        renewal_problem=problem,
                        can_reapply=problem is not None and can_reapply(ctx, r, recs, renewals, on)))
    return out


def can_reapply(ctx: Context, rec: Recognition, recs: list[Recognition], renewals: dict[int, OpenRenewal],
                on: date) -> bool:
    """Whether the person may start a new application for ``rec``'s disease today (what an ended
    recognition's 请重新申请认定 leads to): nothing of theirs still covers the disease, nothing is in
    application for it, and it is on this year's catalogue."""
    same = [r for r in recs if (r.region_code, r.disease_code) == (rec.region_code, rec.disease_code)]
    if any(rules.blocks_new_application(r, on, renewals.get(r.id)) for r in same):
        return False
    if ctx.regions.disease(rec.region_code, rec.disease_code, on.year) is None:
        return False
    return open_application(rec.person_id, rec.region_code, rec.disease_code) is None


def of_application(application_id: int) -> dict[str, Recognition]:
    """Disease code -> the recognition a decided application created."""
    return {r.disease_code: r for r in db.session.scalars(
        select(Recognition).where(Recognition.application_id == application_id))}


def person_recognitions(person_id: int, limit: int = 200) -> list[Recognition]:
    return list(db.session.scalars(
        select(Recognition).where(Recognition.person_id == person_id).order_by(Recognition.id.desc()).limit(limit)
    ))


# --- changing -------------------------------------------------------------------------------------
def create_from_application(ctx: Context, app: Application, decided_on: date) -> list[Recognition]:
    """Turn the approved diseases of a finished application into recognitions. A renewal continues
    the old recognition without a gap; a renewal with nothing approved ends it."""
    created = []
    previous = app.renewal_of if app.kind == Kind.RENEWAL else None
    for ad in app.diseases:
        if ad.result != Result.APPROVED:
            continue
        start = time.renewal_start(previous.end_date) if previous else decided_on
        # The catalogue of the year the recognition starts decides (a renewal may start next year).
        disease = ctx.regions.disease(app.region_code, ad.disease_code, start.year)
        if disease is None:
            raise Invalid(f"{ad.disease_name} 不在 {start.year} 年度病种目录内,只能作不通过决定。")
        rec = Recognition(
            person_id=app.person_id, region_code=app.region_code, division_code=app.division_code,
            institution_code=app.institution_code, disease_code=ad.disease_code, national_code=ad.national_code,
            disease_name=ad.disease_name, application_id=app.id, previous_id=previous.id if previous else None,
            start_date=start, end_date=time.validity_end(start, disease.validity_months), created_at=ctx.now(),
        )
        db.session.add(rec)
        created.append(rec)
    if previous is not None:
        if created:
            previous.status = RecStatus.RENEWED
        else:
            end_after_failed_renewal(ctx, previous, f"renewal {app.id} rejected")
    return created


def end_after_failed_renewal(ctx: Context, rec: Recognition, why: str) -> bool:
    """A renewal failed (rejected; withdrawn or lapsed after the end date): the benefits that
    continued during review stop, counted from the day after the original end. The one place this
    happens; True when it changed ``rec``."""
    if rec.stop_date is not None or rec.status != RecStatus.ACTIVE:
        return False
    rec.stop_date = time.stop_after_failed_renewal(rec.end_date)
    rec.status = RecStatus.ENDED
    audit(ctx, "recognition.end", rec, detail=f"{why}; stop={rec.stop_date.isoformat()}")
    return True


def expire(ctx: Context, recs: list[Recognition], on: date) -> list[Recognition]:
    """Mark recognitions past their end without a timely renewal 已到期 (the expiry sweep); returns
    those marked. One conditional UPDATE: a row changed meanwhile (renewed, ended) stays as it is."""
    renewals = open_renewals(ctx, recs)
    expired = [r for r in recs if r.status == RecStatus.ACTIVE and r.end_date < on
               and not rules.timely_renewal_pending(r, renewals.get(r.id), on)]
    for rec in expired:
        audit(ctx, "recognition.expire", rec, detail=f"end={rec.end_date.isoformat()}")
    if expired:
        db.session.execute(update(Recognition).where(Recognition.id.in_([r.id for r in expired]),
                                                     Recognition.status == RecStatus.ACTIVE)
                           .values(status=RecStatus.EXPIRED), execution_options={"synchronize_session": False})
    return expired
