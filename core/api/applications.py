"""Applications, their materials, submission, review actions; recognitions and renewals."""
from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import select

from core import workflow
from core.api import bp
from core.api.errors import ApiError
from core.api.inputs import Fields, iso, json_body, query_int
from core.extensions import db
from core.models import STATUSES, Application, Material, Recognition, User
from core.regions import regions
from core.services import applications as svc
from core.services import dates, disclosure, queues
from core.services import recognitions as recs
from core.services.access import get_visible
from core.services.audit import audit
from core.services.clock import today
from core.services.identity import mask_id, mask_phone, normalise_id

# What each action needs besides ``version`` (the application's version the caller last saw).
ACTION_FIELDS = {
    "accept": {},
    "forward": {},
    "refer_expert": {"note": "string, optional: why expert review is needed (internal)"},
    "return": {"to": "applicant | hospital", "note": "string, required: what to supplement (the applicant reads it)",
               "reason_code": "string, optional: a region reason code"},
    "approve": {"results": "object, optional: {disease code: approved|rejected}; default every disease approved",
                "reason_code": "string: required when any disease is rejected", "note": "string, optional, internal",
                "explanations": "object, optional: {disease code: text for the applicant}"},
    "reject": {"reason_code": "string, required", "explanations": "object, optional", "note": "string, optional"},
    "decide": {"results": "object, required: {disease code: approved|rejected}", "reason_code": "string",
               "reasons": "object, optional: {disease code: reason code}", "explanations": "object, optional",
               "note": "string, optional"},
    "record": {},
    "withdraw": {"reason": "string, optional"},
    "submit": {},
    "upload_material": {"material": "POST /applications/{id}/materials, multipart: disease, material, file"},
}
REVIEW_ACTIONS = {"accept": "accept", "forward": "accept", "refer_expert": "refer_expert", "return": "return",
                  "approve": "decide", "reject": "decide", "decide": "decide", "record": "record"}


# --- reading ---------------------------------------------------------------------------------
@bp.get("/applications")
def applications_list():
    before = query_int("before")
    if request.args.get("queue") == "1":
        if not current_user.is_staff:
            raise ApiError(403, message="只有工作人员有待办队列。")
        status = request.args.get("status", "")
        if status and status not in STATUSES:
            raise ApiError(400, message="参数 status 无效。", fields={"status": "未知状态"})
        view = "all" if request.args.get("view") == "all" else "mine"
        f = queues.QueueFilter(view=view, status=status, disease=request.args.get("disease", "")[:30])
        rows, next_before = queues.page(current_user, f, before)
    else:
        query = select(Application).where(Application.person_id == current_user.id)
        if before:
            query = query.where(Application.id < before)
        rows = db.session.scalars(query.order_by(Application.id.desc()).limit(queues.PAGE_SIZE + 1)).all()
        next_before = rows[queues.PAGE_SIZE - 1].id if len(rows) > queues.PAGE_SIZE else None
        rows = rows[: queues.PAGE_SIZE]
    return jsonify({"items": [summary(a, current_user) for a in rows], "next_before": next_before})


@bp.get("/applications/<id:app_id>")
def application_detail(app_id):
    app = get_visible(current_user, Application, app_id)
    return jsonify(detail(app, current_user))


# --- applying --------------------------------------------------------------------------------
@bp.post("/applications")
def application_create():
    f = Fields(json_body())
    kind = f.choice("kind", ("new", "renewal"), required=False, label="申请类型") or "new"
    channel = f.text("channel", max_len=20, label="办理渠道")
    institution = f.text("hospital", required=False, max_len=30) or f.text("office", required=False, max_len=30) \
        or f.text("institution", required=False, max_len=30)
    id_number = f.text("person_id_number", required=False, max_len=18, label="参保人身份证号码")
    if kind == "renewal":
        rec_id = f.integer("recognition", label="续办的认定")
        f.done()
        rec = get_visible(current_user, Recognition, rec_id)
        if current_user.is_staff:
            _proxy_person(id_number, rec.region_code, expected=rec.person_id)
        app = svc.start_renewal(rec, current_user, channel=channel or "", institution=institution)
    else:
        region = f.text("region", max_len=6, label="参保地区")
        division = f.text("division", max_len=6, label="参保区县")
        diseases = f.codes("diseases", label="病种")
        if not institution:
            f.problems["hospital"] = "请提供受理的定点医疗机构(hospital)或经办机构(office)。"
        f.done()
        person = _proxy_person(id_number, region) if current_user.is_staff else current_user._get_current_object()
        app = svc.start(person, current_user, region=region, division=division, institution=institution,
                        channel=channel, diseases=diseases)
    db.session.commit()
    return jsonify(detail(app, current_user)), 201


def _proxy_person(id_number: str | None, region: str | None, expected: int | None = None) -> User:
    """Staff file for a person they identify by full ID number (代办), as at the window."""
    if current_user.role not in svc.PROXY_ROLES:
        raise ApiError(403, message="只有医保经办人员或医院医保科可以代办。")
    if not id_number:
        raise ApiError(422, message="代办须提供参保人身份证号码(person_id_number)。",
                       fields={"person_id_number": "必填"})
    person = db.session.scalar(select(User).where(User.id_number == normalise_id(id_number), User.role == "insured",
                                                  User.region_code == current_user.region_code))
    audit("person.lookup", ("users", getattr(person, "id", None)), result="ok" if person else "not_found")
    db.session.commit()
    if person is None or (region and person.region_code != region) or (expected and person.id != expected):
        raise ApiError(404, message="未找到该身份证号码的本地区参保人。", fields={"person_id_number": "未找到"})
    return person


@bp.post("/applications/<id:app_id>/materials")
def material_upload(app_id):
    app = get_visible(current_user, Application, app_id)
    if not request.mimetype == "multipart/form-data":
        raise ApiError(415, message="上传材料须使用 multipart/form-data。")
    replaces = None
    if request.form.get("replaces"):
        raw = request.form["replaces"]
        replaces = db.session.get(Material, int(raw)) if raw.isdigit() and int(raw) < 2**31 else None
        if replaces is None or replaces.application_id != app.id:
            raise ApiError(404, message="要替换的文件不存在。", fields={"replaces": "未找到"})
    added = svc.add_materials(
        app, current_user,
        disease_code=request.form.get("disease", request.form.get("disease_code", "*"))[:30],
        material_code=request.form.get("material", request.form.get("material_code", ""))[:30],
        files=request.files.getlist("file"), replaces=replaces,
    )
    db.session.commit()
    return jsonify({"items": [material_dict(m) for m in added], "version": app.version}), 201


@bp.post("/applications/<id:app_id>/submit")
def application_submit(app_id):
    app = get_visible(current_user, Application, app_id)
    data = json_body()
    f = Fields(data)
    version = f.integer("version", label="版本号")
    f.done()
    missing = svc.missing(app)
    if missing and app.status in ("draft", "returned") and svc.can_edit_materials(app, current_user):
        raise ApiError(422, "missing_materials", "还缺少必交材料,不能提交。", fields={"missing": missing})
    svc.submit(app, current_user, version)
    db.session.commit()
    return jsonify(detail(app, current_user))


@bp.post("/applications/<id:app_id>/actions")
def application_action(app_id):
    app = get_visible(current_user, Application, app_id)
    f = Fields(json_body())
    action = f.choice("action", tuple(a for a in ACTION_FIELDS if a not in ("submit", "upload_material")),
                      label="操作")
    version = f.integer("version", label="版本号")
    note = f.text("note", required=False, max_len=1000) or ""
    reason_code = f.text("reason_code", required=False, max_len=10)
    to = f.choice("to", ("applicant", "hospital"), required=False, label="退回对象")
    results = f.mapping("results", values=("approved", "rejected"), label="审核结果")
    reasons = f.mapping("reasons", label="不通过原因")
    explanations = f.mapping("explanations", label="说明")
    reason = f.text("reason", required=False, max_len=200) or ""
    f.done()
    if action == "withdraw":
        svc.withdraw(app, current_user, version, reason)
    else:
        if not current_user.is_staff:
            raise ApiError(403, message="参保人不能进行审核操作。")
        if action == "approve":
            results = results or {ad.disease_code: "approved" for ad in app.diseases}
        elif action == "reject":
            results = {ad.disease_code: "rejected" for ad in app.diseases}
        elif action == "return" and to is None:
            raise ApiError(422, message="退回须指定退回对象 to(applicant 或 hospital)。", fields={"to": "必填"})
        workflow.act(app, current_user, REVIEW_ACTIONS[action], version, results=results, reasons=reasons,
                     explanations=explanations, reason_code=reason_code, note=note, to=to or "applicant")
    db.session.commit()
    return jsonify(detail(app, current_user))


@bp.get("/recognitions")
def recognitions_list():
    query = select(Recognition).where(Recognition.person_id == current_user.id).order_by(Recognition.id.desc())
    on = today()
    return jsonify({"items": [recognition_dict(r, on) for r in db.session.scalars(query.limit(200))]})


@bp.post("/recognitions/<id:rec_id>/renewals")
def renewal_create(rec_id):
    rec = get_visible(current_user, Recognition, rec_id)
    f = Fields(json_body())
    channel = f.text("channel", max_len=20, label="办理渠道")
    institution = f.text("hospital", required=False, max_len=30) or f.text("office", required=False, max_len=30)
    id_number = f.text("person_id_number", required=False, max_len=18)
    f.done()
    if current_user.is_staff:
        _proxy_person(id_number, rec.region_code, expected=rec.person_id)
    app = svc.start_renewal(rec, current_user, channel=channel, institution=institution)
    db.session.commit()
    return jsonify(detail(app, current_user)), 201


# --- shapes ----------------------------------------------------------------------------------
def summary(app: Application, user: User) -> dict:
    step = app.current_step
    return {
        "id": app.id, "reference": app.reference, "version": app.version, "kind": app.kind, "status": app.status,
        "status_name": app.status_name, "region": app.region_code, "division": app.division_code,
        "institution": app.institution_code,
        "person": {"id": app.person_id, "name": app.person.name, "id_number": mask_id(app.person.id_number)},
        "diseases": [{"code": ad.disease_code, "name": ad.disease_name} for ad in app.diseases],
        "current_step": step["name"] if step else None, "step_due": iso(app.step_due),
        "created_at": iso(app.created_at),
    }


def detail(app: Application, user: User) -> dict:
    body = summary(app, user)
    show = disclosure.results_visible(app, user)
    info = regions().get(app.region_code)
    body.update({
        "channel": app.channel,
        "fast_track": app.fast_track,
        "renewal_of": app.renewal_of_id,
        "person": {"id": app.person_id, "name": app.person.name, "id_number": mask_id(app.person.id_number),
                   "phone": mask_phone(app.person.phone)},
        "diseases": [
            {"code": ad.disease_code, "name": ad.disease_name, "national_code": ad.national_code,
             "result": ad.result if show else "pending",
             "reason_code": ad.reason_code if show else None,
             "reason": regions().reason_text(app.region_code, ad.reason_code) if show and ad.reason_code else None,
             "explanation": workflow.latest_explanation(app, ad.disease_code) if show and ad.result == "rejected" else None}
            for ad in app.diseases
        ],
        "steps": [{"code": s["code"], "name": s["name"], "role": s["role"], "optional": bool(s.get("optional"))}
                  for s in app.steps],
        "current_step": ({"code": app.current_step["code"], "name": app.current_step["name"],
                          "role": app.current_step["role"], "due": iso(app.step_due)} if app.current_step else None),
        "return": ({"to": app.return_to, "reason": app.return_reason, "reason_code": app.return_reason_code,
                    "deadline": iso(app.return_deadline)}
                   if app.status == "returned" and (user.is_staff or app.return_to == "applicant") else None),
        "timeline": [
            {"at": iso(e.at), "action": e.action, "who": e.who, "to_status": e.to_status, "step": e.step_name,
             "note": e.note}
            for e in disclosure.timeline(app, user)
        ],
        "materials": [
            {"disease": item.disease_code, "code": item.rule.code, "name": item.rule.name,
             "required": item.rule.required, "accept": list(item.rule.accept),
             "files": [material_dict(m) for m in item.files]}
            for item in svc.checklist(app)
        ],
        "missing_materials": svc.missing(app) if app.status in ("draft", "returned") else [],
        "allowed_actions": allowed(app, user),
        "submitted_at": iso(app.submitted_at),
        "decided_at": iso(app.decided_at),
        "timezone": info.timezone if info else "Asia/Shanghai",
    })
    return body


def allowed(app: Application, user: User) -> list[dict]:
    names = []
    for action in workflow.allowed_actions(app, user):
        names += {"decide": ["approve", "reject", "decide"], "accept": ["accept", "forward"]}.get(action, [action])
    if svc.can_edit_materials(app, user):
        names += ["upload_material", "submit"]
    if app.is_open and user.id in (app.person_id, app.filed_by_id):
        names.append("withdraw")
    out = []
    for name in names:
        fields = {"version": app.version, **ACTION_FIELDS[name]}
        if name == "return":
            fields["to"] = " | ".join(workflow.return_targets(app))
        out.append({"action": name, "fields": fields})
    return out


def material_dict(m: Material) -> dict:
    return {"id": m.id, "disease": m.disease_code, "material": m.material_code, "name": m.original_name,
            "size": m.size, "content_type": m.content_type, "pages": m.pages, "uploaded_at": iso(m.uploaded_at)}


def recognition_dict(r: Recognition, on) -> dict:
    policy = regions().renewal_policy(r.region_code, r.disease_code)
    opens, closes = dates.renewal_window(r.end_date, policy.window_months)
    return {
        "id": r.id, "region": r.region_code, "disease": r.disease_code, "national_code": r.national_code,
        "disease_name": r.disease_name, "institution": r.institution_code, "start_date": iso(r.start_date),
        "end_date": iso(r.end_date), "stop_date": iso(r.stop_date), "state": recs.state(r, on),
        "renewal_window": {"opens": iso(opens), "closes": iso(closes)},
        "renewal_problem": recs.renewal_problem(r, on), "application": r.application_id,
    }
