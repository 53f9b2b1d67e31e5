"""An application's life outside the reviewers' hands: creating it (or a renewal), submitting,
withdrawing, and the expiry sweep closing one whose supplement deadline passed. One function per
action, called alike by the pages, the API, the CLI and the jobs: check, change, audit, notify.
Reviewers' actions are ``review.py``; materials ``materials.py``; the guards ``rules.py``.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import idempotency
from core.applications import online, rules
from core.applications.intake import intake_label, no_intake_notice
from core.applications.materials import missing
from core.applications.sla import start_step_clock
from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.kernel.roles import DESK_ROLES, Role
from core.kernel.status import Action, Kind, Status
from core.kernel.text import clean_text
from core.kernel.text import code as normal_code
from core.models import Application, ApplicationDisease, Recognition, User
from core.models.base import flush_or_conflict
from core.notices.service import from_template, notify
from core.recognitions import service as recs
from core.recoveries import service as recoveries

STAFF_CHANNELS = ("window", "hospital")  # channels through which staff file on a person's behalf
MAX_WITHDRAW_REASON = 200
DUPLICATE_APPLICATION = "您已有该病种的未办结申请(可能是刚刚重复提交),请勿重复申请;请到「我的申请」查看。"


def start(ctx: Context, person: User, *, region: str, division: str, institution: str, channel: str,
          diseases: list[str], kind: str = Kind.NEW, renewal_of: Recognition | None = None,
          key: str | None = None) -> Application:
    """Create a draft application for ``person``, by themselves or by window/医保科 staff (代办);
    every choice is checked against the region's rules. With ``key`` (the form's one-time key, an
    API's Idempotency-Key) a repeat of the request returns the application the first one created."""
    actor = ctx.actor
    division, institution, channel = normal_code(division), normal_code(institution), normal_code(channel)
    claim = idempotency.claim(ctx, "applications.start", key, {
        "person": person.id, "region": region, "division": division, "institution": institution, "channel": channel,
        "diseases": sorted({normal_code(c) for c in diseases if c}), "kind": kind,
        "renewal_of": renewal_of.id if renewal_of else None})
    if claim.repeated:
        return idempotency.first_rows(claim, Application)[0]
    problems = []
    info = ctx.regions.get(region)
    if person.role != Role.INSURED:
        raise Invalid("只能为参保人办理申请。")
    if info is None:
        raise Invalid("请选择有效的参保地区。")
    if person.region_code != region:
        home = ctx.regions.get(person.region_code)
        problems.append(f"您的参保地是{home.name if home else '其他地区'},只能在参保地申请。")
    if info.division(division) is None:
        problems.append(f"请选择{info.division_label}。")
    elif division != person.division_code:
        # The division decides which agency's scope the record falls in: it is the person's own.
        own = info.division(person.division_code)
        problems.append(f"您的参保{info.division_label}是{own.name if own else person.division_code},请选择该{info.division_label}。")
    inst = info.institution(institution)
    wanted = intake_label(info)
    if (nowhere := no_intake_notice(info, division)) is not None:
        problems.append(nowhere)
    elif inst is None or inst.kind != info.intake:
        problems.append(f"请选择受理的{wanted}。")
    elif not inst.qualified:
        problems.append(f"{inst.name}不具备门特审核资格,请选择其他{wanted}。")
    elif not info.serves(inst, division):
        problems.append(f"{inst.name}不在所选{info.division_label},请重新选择。")
    if channel not in {c.code for c in ctx.regions.channels(region)}:
        problems.append("请选择办理渠道。")
    proxy = actor.id != person.id
    if proxy:
        if actor.role not in DESK_ROLES:
            raise Forbidden("只能由本人或医保经办/医院医保科人员代办。")
        if actor.region_code != region or (actor.division_code and actor.division_code != division):
            raise Forbidden("只能为本辖区参保人代办。")
        if actor.role == Role.HOSPITAL_OFFICE and institution != actor.hospital_code:
            raise Forbidden("医院医保科只能代办到本院的申请。")
        if channel not in STAFF_CHANNELS:
            problems.append("代办只能通过窗口或医院渠道。")
    codes = list(dict.fromkeys(normal_code(c) for c in diseases if normal_code(c)))
    if not codes:
        problems.append("请至少选择一个病种。")
    on = ctx.today(region)
    catalogue = {d.code: d for d in ctx.regions.catalogue(region, on.year)}
    for code in codes:
        d = catalogue.get(code)
        if d is None:
            problems.append(f"病种 {code} 不在 {on.year} 年度门特病种目录内。")
            continue
        if kind == Kind.NEW:
            held = recs.held(ctx, person.id, region, on, code).get(code)
            if held is not None:
                problems.append(f"您已有{d.name}的有效认定(至 {held.end_date.isoformat()}),请在续办期内办理续办,无需重新申请。")
        open_app = recs.open_application(person.id, region, code)
        if open_app is not None:
            problems.append(f"您已有{d.name}的未办结申请(编号 {open_app.id},{open_app.status_name}),请勿重复申请;如需重新申请,请先撤回该申请。")
    if kind == Kind.RENEWAL:
        if renewal_of is None or renewal_of.person_id != person.id:
            raise Invalid("请选择要续办的认定。")
        why = recs.renewal_problem(ctx, renewal_of, on)
        if why:
            problems.append(why)
    if problems:
        raise Invalid("申请信息有误,请修改后重试。", problems)

    app = Application(
        person_id=person.id, region_code=region, division_code=division, institution_code=institution,
        channel=channel, kind=kind, filed_by_id=actor.id if proxy else None,
        renewal_of_id=renewal_of.id if renewal_of else None, status=Status.DRAFT,
        fast_track=all(catalogue[c].fast_track for c in codes), created_at=ctx.now(),
    )
    try:
        # Every flush from here on may meet the partial unique index (one open application per person
        # and disease) when two identical requests race: explicit flushes and the autoflush of the
        # queries the transition and the audit row make alike.
        db.session.add(app)
        db.session.flush()
        for code in codes:
            d = catalogue[code]
            app.diseases.append(ApplicationDisease(person_id=person.id, region_code=region, disease_code=code,
                                                   national_code=d.national_code, disease_name=d.name))
        db.session.flush()
        rules.transition(app, actor, Action.CREATE, None, ctx.now(), "代办" if proxy else None)
        audit(ctx, "application.create", app, detail=f"kind={kind} diseases={','.join(codes)} proxy={proxy}")
        idempotency.record(claim, app)
        db.session.flush()
    except IntegrityError:
        # Two concurrent requests for the same disease: the partial unique index refuses one.
        db.session.rollback()
        raise Conflict(DUPLICATE_APPLICATION) from None
    return app


def start_renewal(ctx: Context, rec: Recognition, *, channel: str, institution: str | None = None,
                  key: str | None = None, declared: bool = False) -> Application:
    """A renewal pre-filled from the last recognition (same region, division, disease, institution).
    ``declared``: the applicant ticked the online declaration on the way in (``online.declare``)."""
    person = db.session.get(User, rec.person_id)
    app = start(ctx, person, region=rec.region_code, division=rec.division_code,
                institution=institution or rec.institution_code, channel=channel, diseases=[rec.disease_code],
                kind=Kind.RENEWAL, renewal_of=rec, key=key)
    if declared and app.declared_at is None and online.needs_declaration(ctx, app) and ctx.actor.id == app.person_id:
        online.declare(ctx, app, True)
    return app


def unavailable_diseases(ctx: Context, person: User, region: str, on) -> dict[str, str]:
    """Disease code -> why the person cannot start a new application for it now (shown on the form)."""
    why = {}
    for code, rec in recs.held(ctx, person.id, region, on).items():
        why[code] = f"已认定,有效期至 {rec.end_date.isoformat()};到期前 3 个月内可在「我的认定」办理续办"
    for ad in db.session.scalars(
        select(ApplicationDisease).where(ApplicationDisease.person_id == person.id, ApplicationDisease.region_code == region,
                                         ApplicationDisease.is_open == True)  # noqa: E712  (matches the partial index)
    ):
        why[ad.disease_code] = f"已在申请中(第 {ad.application_id} 号)"
    return why


def submit(ctx: Context, app: Application, version) -> Application:
    """Submit a draft, or resubmit after a return for supplement (the step resumes where it was)."""
    rules.check_submit(app, ctx.actor, version)
    on = ctx.today(app.region_code)
    lacking = missing(ctx, app)
    problems = [f"缺少材料:{label}" for label in lacking]
    problems += ctx.regions.validate_application(app)
    if app.kind == Kind.RENEWAL and app.status == Status.DRAFT:
        prev = app.renewal_of
        if prev is not None and on > prev.end_date:
            problems.append(
                f"原认定已于 {prev.end_date.isoformat()} 到期,续办申请须在到期前提交。请撤回本续办草稿,再重新申请认定。"
            )
    if app.status == Status.RETURNED and app.return_deadline and on > app.return_deadline:
        problems.append(f"补正期限({app.return_deadline.isoformat()})已过,本申请不能再提交,请撤回后重新申请。")
    if problems:
        raise Invalid("申请还不能提交,请先处理以下问题:", problems, fields={"missing": lacking} if lacking else None,
                      code="missing_materials" if lacking else None)
    from_status = app.status
    if app.status == Status.DRAFT:
        app.steps = [rules.step_dict(s) for s in ctx.regions.steps(app.region_code, app.fast_track)]
        app.step_index = 0
        app.status = Status.SUBMITTED
        # The moment the renewal rules compare with the end date: from the clock, in the region's zone.
        app.submitted_at = ctx.now()
        action, title = Action.SUBMIT, "申请已提交"
    else:
        app.status = Status.IN_REVIEW
        app.return_deadline = None
        action, title = Action.RESUBMIT, "补正材料已提交"
    start_step_clock(ctx, app, on)
    rules.transition(app, ctx.actor, action, from_status, ctx.now())
    audit(ctx, f"application.{action}", app)
    kind = "续办申请" if app.kind == Kind.RENEWAL else "申请"
    notify(ctx, app.person_id, action, title, f"您的门特{kind}(编号 {app.id})已提交,请留意审核进度。", app.id)
    flush_or_conflict(rules.STALE)
    return app


def withdraw(ctx: Context, app: Application, version, reason: str = "") -> Application:
    """The applicant (or the staff who filed it) withdraws an open application. A timely renewal
    withdrawn after the old end date ends the old recognition like a rejected one."""
    rules.check_withdraw(app, ctx.actor, version)
    reason = clean_text(reason, "撤回原因", field="reason", multiline=True)
    if len(reason) > MAX_WITHDRAW_REASON:
        raise Invalid(f"撤回原因最多 {MAX_WITHDRAW_REASON} 字。", fields={"reason": f"最多 {MAX_WITHDRAW_REASON} 字"})
    from_status = app.status
    rules.close(app, Status.WITHDRAWN)
    on = ctx.today(app.region_code)
    prev = app.renewal_of if app.kind == Kind.RENEWAL else None
    if prev is not None and on > prev.end_date:
        if recs.end_after_failed_renewal(ctx, prev, f"renewal {app.id} withdrawn"):
            recoveries.open_after_failed_renewal(ctx, prev, app.id, "withdrawn")
    rules.transition(app, ctx.actor, Action.WITHDRAW, from_status, ctx.now(), reason or None)
    audit(ctx, "application.withdraw", app)
    notify(ctx, app.person_id, "withdraw", "申请已撤回", f"您的门特申请(编号 {app.id})已撤回。", app.id)
    flush_or_conflict(rules.STALE)
    return app


def lapse(ctx: Context, app: Application) -> bool:
    """Close a returned application whose supplement deadline passed (the expiry sweep). A timely
    renewal that lapses ends the old recognition like a rejected one: the continuity lasted only
    while the return could be answered. Returns whether it lapsed."""
    on = ctx.today(app.region_code)
    if app.status != Status.RETURNED or not app.return_deadline or on <= app.return_deadline:
        return False
    rules.close(app, Status.LAPSED)
    rules.transition(app, None, Action.LAPSE, Status.RETURNED, ctx.now(),
                     f"补正期限 {app.return_deadline.isoformat()} 已过,未重新提交")
    audit(ctx, "application.lapse", app, user=None, detail=f"deadline={app.return_deadline.isoformat()}")
    prev = app.renewal_of if app.kind == Kind.RENEWAL else None
    if prev is not None and on > prev.end_date:
        if recs.end_after_failed_renewal(ctx, prev, f"renewal {app.id} lapsed"):
            recoveries.open_after_failed_renewal(ctx, prev, app.id, "lapsed")
    person = db.session.get(User, app.person_id)
    title, body = from_template(ctx, app.region_code, "lapsed", name=person.name, app_id=app.id,
                                deadline=app.return_deadline.isoformat())
    notify(ctx, app.person_id, "lapsed", title, body, app.id, dedup_key=f"lapsed:{app.id}")
    return True


def view(ctx: Context, app: Application) -> None:
    """Someone other than the applicant opens the application (its page or the API's detail): an
    audit row names who saw whose medical record, through which door (``ctx.origin``) and from where.
    The applicant's own views are not recorded; neither are htmx fragments of a page already open."""
    if ctx.actor is not None and ctx.actor.id != app.person_id:
        audit(ctx, "application.view", app, detail=f"via={ctx.origin}")


# Why staff open an applicant's full name, ID and phone number (the reason is audited).
REVEAL_REASONS = {
    "verify_identity": "审核需要核对身份",
    "phone_contact": "电话联系参保人",
    "window": "窗口办理",
    "other": "其他(请说明)",
}
MAX_REVEAL_NOTE = 200


def reveal_applicant(ctx: Context, app: Application, reason: str | None, note: str | None = None) -> User:
    """Staff handling the record open the applicant's full name, ID and phone numbers, saying why:
    audited (``person.view_full``) with the reason. Names are masked on staff screens otherwise."""
    note = " ".join((note or "").split())
    if reason not in REVEAL_REASONS:
        raise Invalid("请选择查看完整身份信息的事由。", fields={"reason": "请选择事由"})
    if reason == "other" and not note:
        raise Invalid("选择「其他」时请写明查看事由。", fields={"note": "请写明事由"})
    if len(note) > MAX_REVEAL_NOTE:
        raise Invalid(f"事由说明不能超过{MAX_REVEAL_NOTE}字。", fields={"note": "过长"})
    why = REVEAL_REASONS[reason] if reason != "other" else "其他"
    audit(ctx, "person.view_full", ("users", app.person_id),
          detail=f"application={app.id} 事由:{why}" + (f"({note})" if note else ""))
    return app.person
