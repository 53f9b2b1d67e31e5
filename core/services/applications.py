"""Applications from draft to submission: choosing diseases, materials, submitting, withdrawing."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from core.models import Application, ApplicationDisease, ApplicationEvent, Material, Recognition, User
from core.models.base import utcnow
from core.regions import regions
from core.services import Conflict, Forbidden, Invalid
from core.services import dates
from core.services import recognitions as recs
from core.services.access import can_see
from core.services.audit import audit
from core.services import workdays
from core.services.clock import today
from core.services import notices
from core.services.notices import notify
from core.services import storage, uploads
from core.types import Material as MaterialRule

STAFF_CHANNELS = ("window", "hospital")  # channels through which staff file on a person's behalf
STALE_MESSAGE = "该申请刚刚被他人处理,您的操作未保存。请刷新页面查看最新状态。"
PROXY_ROLES = ("agency_reviewer", "hospital_office")  # who may file for a person (代办)


@dataclass
class ChecklistItem:
    disease_code: str  # "*" for items common to every disease
    disease_name: str
    rule: MaterialRule
    files: list[Material] = field(default_factory=list)

    @property
    def satisfied(self) -> bool:
        return bool(self.files) or not self.rule.required

    @property
    def label(self) -> str:
        return self.rule.name if self.disease_code == "*" else f"{self.disease_name}:{self.rule.name}"


def record_event(app: Application, actor: User | None, action: str, from_status: str | None, note: str | None = None):
    step = app.current_step
    app.current_role = step["role"] if step else None
    app.events.append(
        ApplicationEvent(
            actor_id=getattr(actor, "id", None),
            action=action,
            from_status=from_status,
            to_status=app.status,
            step_name=step["name"] if step else None,
            note=note,
        )
    )


def start(
    person: User,
    actor: User,
    *,
    region: str,
    division: str,
    institution: str,
    channel: str,
    diseases: list[str],
    kind: str = "new",
    renewal_of: Recognition | None = None,
) -> Application:
    """Create a draft application; every choice is checked against the region's rules."""
    problems = []
    info = regions().get(region)
    if person.role != "insured":
        raise Invalid("只能为参保人办理申请。")
    if info is None:
        raise Invalid("请选择有效的参保地区。")
    if person.region_code != region:
        problems.append(f"您的参保地是{_region_name(person.region_code)},只能在参保地申请。")
    if info.division(division) is None:
        problems.append(f"请选择{info.division_label}。")
    elif division != person.division_code:
        # The division decides which agency's scope the record falls in: it is the person's own.
        own = info.division(person.division_code)
        problems.append(f"您的参保{info.division_label}是{own.name if own else person.division_code},请选择该{info.division_label}。")
    inst = info.institution(institution)
    wanted = "定点医疗机构" if info.intake == "hospital" else "医保经办机构"
    if inst is None or inst.kind != info.intake:
        problems.append(f"请选择受理的{wanted}。")
    elif not inst.qualified:
        problems.append(f"{inst.name}不具备门特审核资格,请选择其他{wanted}。")
    elif not info.serves(inst, division):
        problems.append(f"{inst.name}不在所选{info.division_label},请重新选择。")
    channel_codes = {c.code for c in regions().channels(region)}
    if channel not in channel_codes:
        problems.append("请选择办理渠道。")
    proxy = actor.id != person.id
    if proxy:
        if actor.role not in PROXY_ROLES:
            raise Forbidden("只能由本人或医保经办/医院医保科人员代办。")
        if actor.region_code != region or (actor.division_code and actor.division_code != division):
            raise Forbidden("只能为本辖区参保人代办。")
        if actor.role == "hospital_office" and institution != actor.hospital_code:
            raise Forbidden("医院医保科只能代办到本院的申请。")
        if channel not in STAFF_CHANNELS:
            problems.append("代办只能通过窗口或医院渠道。")
    codes = list(dict.fromkeys(c for c in diseases if c))
    if not codes:
        problems.append("请至少选择一个病种。")
    on = today(info.timezone)
    catalogue = {d.code: d for d in regions().catalogue(region, on.year)}
    for code in codes:
        d = catalogue.get(code)
        if d is None:
            problems.append(f"病种 {code} 不在 {on.year} 年度门特病种目录内。")
            continue
        if kind == "new":
            held = recs.holding(person.id, region, code, on)
            if held is not None:
                problems.append(f"您已有{d.name}的有效认定(至 {held.end_date.isoformat()}),请在续办期内办理续办,无需重新申请。")
        open_app = recs.open_application(person.id, region, code)
        if open_app is not None:
            problems.append(f"您已有{d.name}的未办结申请(编号 {open_app.id},{open_app.status_name}),请勿重复申请;如需重新申请,请先撤回该申请。")
    if kind == "renewal":
        if renewal_of is None or renewal_of.person_id != person.id:
            raise Invalid("请选择要续办的认定。")
        why = recs.renewal_problem(renewal_of, on)
        if why:
            problems.append(why)
    if problems:
        raise Invalid("申请信息有误,请修改后重试。", problems)

    app = Application(
        person_id=person.id,
        region_code=region,
        division_code=division,
        institution_code=institution,
        channel=channel,
        kind=kind,
        filed_by_id=actor.id if proxy else None,
        renewal_of_id=renewal_of.id if renewal_of else None,
        status="draft",
        fast_track=all(catalogue[c].fast_track for c in codes),
    )
    db.session.add(app)
    db.session.flush()
    for code in codes:
        d = catalogue[code]
        app.diseases.append(
            ApplicationDisease(
                person_id=person.id,
                region_code=region,
                disease_code=code,
                national_code=d.national_code,
                disease_name=d.name,
            )
        )
    record_event(app, actor, "create", None, "代办" if proxy else None)
    audit("application.create", app, user=actor, detail=f"kind={kind} diseases={','.join(codes)} proxy={proxy}")
    try:
        db.session.flush()
    except IntegrityError:
        # Two concurrent requests for the same disease: the partial unique index refuses one.
        db.session.rollback()
        raise Conflict("您已有该病种的未办结申请,请勿重复申请。")
    return app


def unavailable_diseases(person: User, region: str, on) -> dict[str, str]:
    """Disease code -> why the person cannot start a new application for it now (shown on the form)."""
    why = {}
    for code, rec in recs.held(person.id, region, on).items():
        why[code] = f"已认定,有效期至 {rec.end_date.isoformat()};到期前 3 个月内可在「我的认定」办理续办"
    for ad in db.session.scalars(
        select(ApplicationDisease).where(
            ApplicationDisease.person_id == person.id,
            ApplicationDisease.region_code == region,
            ApplicationDisease.is_open.is_(True),
        )
    ):
        why[ad.disease_code] = f"已在申请中(第 {ad.application_id} 号)"
    return why


def checklist(app: Application) -> list[ChecklistItem]:
    names = {ad.disease_code: ad.disease_name for ad in app.diseases}
    current = app.current_materials()
    items = []
    for disease_code, rule in regions().checklist(app.region_code, list(names), app.kind):
        files = [m for m in current if m.material_code == rule.code and m.disease_code == disease_code]
        items.append(ChecklistItem(disease_code, names.get(disease_code, ""), rule, files))
    return items


def missing(app: Application) -> list[str]:
    return [i.label for i in checklist(app) if not i.satisfied]


def can_edit_materials(app: Application, actor: User) -> bool:
    if app.status not in ("draft", "returned"):
        return False
    return actor.id == app.person_id or _intake_staff(actor, app)


def _intake_staff(actor: User, app: Application) -> bool:
    """Window or hospital 医保科 staff on a 代办 application (they scan the paper materials).

    A person's own online application is theirs alone: staff review it, they do not edit it.
    """
    return app.filed_by_id is not None and actor.role in PROXY_ROLES and can_see(actor, app)


def add_material(app: Application, actor: User, *, disease_code: str, material_code: str, file_storage) -> Material:
    """One file for one checklist item (see add_materials)."""
    return add_materials(app, actor, disease_code=disease_code, material_code=material_code, files=[file_storage])[0]


def add_materials(
    app: Application, actor: User, *, disease_code: str, material_code: str, files: list, replaces: Material | None = None
) -> list[Material]:
    """Add files to a checklist item, or one file in place of ``replaces``.

    Every file is checked before anything is written; one bad file refuses the whole request.
    """
    if not can_edit_materials(app, actor):
        raise Forbidden("当前状态下不能上传材料(只有草稿或退回补正的申请可以上传)。")
    item = next(
        (i for i in checklist(app) if i.disease_code == disease_code and i.rule.code == material_code), None
    )
    if item is None:
        raise Invalid("该材料不在本申请的材料清单中。")
    files = [f for f in files if f is not None and getattr(f, "filename", "")]
    if not files:
        raise Invalid("请选择要上传的文件。")
    config = current_app.config
    if len(files) > config["MTKIT_MAX_FILES_PER_UPLOAD"]:
        raise Invalid(f"一次最多上传 {config['MTKIT_MAX_FILES_PER_UPLOAD']} 个文件,请分几次上传。")
    if replaces is not None and (
        replaces.application_id != app.id or replaces.replaced_by_id is not None
        or (replaces.disease_code, replaces.material_code) != (disease_code, material_code) or len(files) != 1
    ):
        raise Invalid("要替换的文件不存在或已被替换,请刷新页面后重试。")
    checked = [
        uploads.check(
            f, item.rule.accept, max_bytes=config["MTKIT_MAX_FILE_BYTES"],
            max_pixels=config["MTKIT_MAX_IMAGE_PIXELS"], max_pages=config["MTKIT_MAX_PDF_PAGES"],
        )
        for f in files
    ]
    incoming = sum(len(c.data) for c in checked)
    limit = config["MTKIT_MAX_APPLICATION_BYTES"]
    total = sum(m.size for m in app.current_materials() if m is not replaces) + incoming
    if total > limit:
        raise Invalid(f"本申请的材料合计超过 {limit // (1024 * 1024)} MB 的上限,请压缩图片或删去重复的文件后再上传。", status=413)
    # Replaced and removed files are kept (nothing is destroyed), so they count too, up to 3x the
    # limit: uploading and removing in a loop cannot fill the disk.
    if sum(m.size for m in app.materials) + incoming > 3 * limit:
        raise Invalid("本申请上传、替换的文件已过多,请到窗口或联系经办机构处理。", status=413)
    materials = []
    for c in checked:
        # Written before the row: a row never points at missing bytes. If the rows then fail to save,
        # the bytes stay unreferenced until `flask files sweep` (never deleted here: another request
        # may have just saved a row for the same content).
        digest = storage.store(c.data)
        material = Material(
            disease_code=disease_code, material_code=material_code, original_name=c.name, sha256=digest,
            size=len(c.data), content_type=c.content_type, pages=c.pages, width=c.width, height=c.height,
            uploaded_by_id=actor.id,
        )
        app.materials.append(material)
        materials.append(material)
    app.materials_changed_at = utcnow()  # bumps the version: a concurrent submit/review conflicts
    flush_or_conflict()
    if replaces is not None:
        replaces.replaced_by_id = materials[0].id
        flush_or_conflict()
    for m in materials:
        what = f"replaces={replaces.id} " if replaces is not None else ""
        audit("material.upload", app, user=actor, detail=f"{disease_code}/{material_code} {what}sha256={m.sha256}")
    return materials


def remove_material(app: Application, actor: User, material: Material) -> None:
    """Take a file off the checklist. The row and the bytes stay (nothing is destroyed)."""
    if not can_edit_materials(app, actor) or material.application_id != app.id:
        raise Forbidden("当前状态下不能修改材料。")
    material.replaced_by_id = material.id
    app.materials_changed_at = utcnow()
    flush_or_conflict()
    audit("material.remove", app, user=actor, detail=f"material={material.id}")


def submit(app: Application, actor: User, version: int) -> Application:
    """Submit a draft, or resubmit after a return for supplement."""
    if actor.id != app.person_id and not _intake_staff(actor, app):
        raise Forbidden("只有申请人或代办人员可以提交。")
    check_version(app, version)
    if app.status not in ("draft", "returned"):
        raise Invalid(f"申请当前状态为「{app.status_name}」,不能提交。")
    info = regions().get(app.region_code)
    on = today(info.timezone)
    problems = [f"缺少材料:{label}" for label in missing(app)]
    problems += [p for group in current_app.extensions["mtkit_pm"].hook.mtkit_validate_application(application=app) for p in group]
    if app.kind == "renewal" and app.status == "draft":
        prev = app.renewal_of
        if prev is not None and on > prev.end_date:
            problems.append(
                f"原认定已于 {prev.end_date.isoformat()} 到期,续办申请须在到期前提交。请撤回本续办草稿,再重新申请认定。"
            )
    if app.status == "returned" and app.return_deadline and on > app.return_deadline:
        problems.append(f"补正期限({app.return_deadline.isoformat()})已过,本申请不能再提交,请撤回后重新申请。")
    if problems:
        raise Invalid("申请还不能提交,请先处理以下问题:", problems)
    from_status = app.status
    if app.status == "draft":
        app.steps = [step_dict(s) for s in regions().steps(app.region_code, app.fast_track)]
        app.step_index = 0
        app.status = "submitted"
        app.submitted_at = utcnow()
        action, title = "submit", "申请已提交"
    else:
        # Resumes at the step that returned it.
        app.status = "in_review"
        app.return_deadline = None
        action, title = "resubmit", "补正材料已提交"
    start_step_clock(app, on)
    record_event(app, actor, action, from_status)
    audit(f"application.{action}", app, user=actor)
    kind = "续办申请" if app.kind == "renewal" else "申请"
    notify(app.person_id, action, title, f"您的门特{kind}(编号 {app.id})已提交,请留意审核进度。", app.id)
    flush_or_conflict()
    return app


def withdraw(app: Application, actor: User, version: int, reason: str = "") -> Application:
    if actor.id != app.person_id and actor.id != app.filed_by_id:
        raise Forbidden("只有申请人本人或代办人员可以撤回申请。")
    check_version(app, version)
    if not app.is_open:
        raise Invalid("申请已办结,不能撤回。")
    from_status = app.status
    app.status = "withdrawn"
    app.step_due = app.sla_remaining = None  # no clock runs on a closed application
    for ad in app.diseases:
        ad.is_open = False
    prev = app.renewal_of if app.kind == "renewal" else None
    on = today(regions().get(app.region_code).timezone)
    if prev is not None and on > prev.end_date and prev.stop_date is None:
        # A timely renewal withdrawn after the end date ends like a rejected one: the benefits
        # that continued during review stop, counted from the day after the original end.
        prev.stop_date = dates.stop_date_after_rejected_renewal(prev.end_date)
        prev.status = "ended"
    record_event(app, actor, "withdraw", from_status, reason[:200] or None)
    audit("application.withdraw", app, user=actor)
    notify(app.person_id, "withdraw", "申请已撤回", f"您的门特申请(编号 {app.id})已撤回。", app.id)
    flush_or_conflict()
    return app


def step_dict(step) -> dict:
    return {
        "code": step.code,
        "name": step.name,
        "role": step.role,
        "kind": step.kind,
        "sla": step.sla_working_days,
        "optional": step.optional,
        "min_title": step.min_title,
    }


def start_step_clock(app: Application, on) -> None:
    """Start the time limit of the current step, counted in working days from ``on`` (the region's
    today). After a return for supplement the clock resumes with the working days it had left."""
    step = app.current_step
    app.step_started_at = utcnow()
    if step and step.get("sla"):
        days = app.sla_remaining if app.sla_remaining is not None else step["sla"]
        app.step_due = workdays.due_date(app.region_code, on, days)
    else:
        app.step_due = None
    app.sla_remaining = None


def pause_step_clock(app: Application, on) -> None:
    """Stop the clock while the applicant supplies materials; keep the working days left."""
    app.sla_remaining = workdays.remaining(app.region_code, on, app.step_due) if app.step_due else None
    app.step_due = None


def check_version(app: Application, version) -> None:
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise Invalid("页面缺少版本信息,请刷新后重试。")
    if version != app.version:
        raise Conflict("该申请已被他人处理或已更新,您看到的页面已过期。请刷新页面查看最新状态后再操作。")


def flush_or_conflict() -> None:
    from sqlalchemy.orm.exc import StaleDataError

    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(STALE_MESSAGE)


def _region_name(code):
    info = regions().get(code)
    return info.name if info else "其他地区"


def start_renewal(rec: Recognition, actor: User, *, channel: str, institution: str | None = None) -> Application:
    """A renewal pre-filled from the last recognition (same region, division, disease, institution)."""
    person = db.session.get(User, rec.person_id)
    return start(
        person,
        actor,
        region=rec.region_code,
        division=rec.division_code,
        institution=institution or rec.institution_code,
        channel=channel,
        diseases=[rec.disease_code],
        kind="renewal",
        renewal_of=rec,
    )


def lapse(app: Application, on) -> None:
    """Close a returned application whose supplement deadline passed (run by the expiry sweep).

    A timely renewal that lapses ends the old recognition like a rejected one: benefits stop from
    the day after its original end (the continuity lasted only while the return could be answered).
    """
    if app.status != "returned" or not app.return_deadline or on <= app.return_deadline:
        return
    app.status = "lapsed"
    app.step_due = app.sla_remaining = None
    for ad in app.diseases:
        ad.is_open = False
    record_event(app, None, "lapse", "returned", f"补正期限 {app.return_deadline.isoformat()} 已过,未重新提交")
    audit("application.lapse", app, user=None, detail=f"deadline={app.return_deadline.isoformat()}")
    prev = app.renewal_of if app.kind == "renewal" else None
    if prev is not None and on > prev.end_date and prev.stop_date is None and prev.status == "active":
        prev.stop_date = dates.stop_date_after_rejected_renewal(prev.end_date)
        prev.status = "ended"
        audit("recognition.end", prev, user=None, detail=f"renewal {app.id} lapsed; stop={prev.stop_date.isoformat()}")
    person = db.session.get(User, app.person_id)
    title, body = notices.from_template(app.region_code, "lapsed", name=person.name, app_id=app.id,
                                        deadline=app.return_deadline.isoformat())
    notify(app.person_id, "lapsed", title, body, app.id, dedup_key=f"lapsed:{app.id}")
