"""Applications over the JSON API: list, detail, create (or 代办), materials, submit, review actions.
Each handler reads JSON, calls the same service function as the page, and answers JSON."""
from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from core.api.blueprint import bp
from core.api.errors import ApiError
from core.api.inputs import Fields, idempotency_key, iso, json_body, query_int
from core.applications import disclosure, materials, queues, review, rules, service
from core.extensions import db
from core.kernel.status import Action, Kind, Result, ReturnTarget, Status
from core.models import Application, Material, Recognition, User
from core.people.api import person_named, person_ref
from core.people.identity import mask_phone
from core.people.scope import get_visible
from core.web.context import ctx, regions
from core.web.helpers import commit_keeping_loaded

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
# The API's action names -> the state machine's actions ("forward": 受理 and pass on; "approve"/"reject":
# a decision with every disease the same way).
REVIEW_ACTIONS = {"accept": Action.ACCEPT, "forward": Action.ACCEPT, "refer_expert": Action.REFER_EXPERT,
                  "return": Action.RETURN, "approve": Action.DECIDE, "reject": Action.DECIDE,
                  "decide": Action.DECIDE, "record": Action.RECORD}


# --- reading ---------------------------------------------------------------------------------
@bp.get("/applications")
def applications_list():
    before = query_int("before")
    if request.args.get("queue") == "1":
        if not current_user.is_staff:
            raise ApiError(403, message="只有工作人员有待办队列。")
        status = request.args.get("status", "")
        if status and status not in Status.labels():
            raise ApiError(400, message="参数 status 无效。", fields={"status": "未知状态"})
        view = "all" if request.args.get("view") == "all" else "mine"
        f = queues.QueueFilter(view=view, status=status, disease=request.args.get("disease", "")[:30])
        rows, next_before = queues.page(current_user, f, before)
    else:
        rows, next_before = queues.own_page(current_user, before)
    return jsonify({"items": [summary(a) for a in rows], "next_before": next_before})


@bp.get("/applications/<id:app_id>")
def application_detail(app_id):
    app = get_visible(current_user, Application, app_id)
    service.view(ctx(), app)
    commit_keeping_loaded()
    return jsonify(detail(app, current_user))


# --- applying --------------------------------------------------------------------------------
@bp.post("/applications")
def application_create():
    f = Fields(json_body())
    kind = f.choice("kind", tuple(Kind), required=False, label="申请类型") or Kind.NEW
    channel = f.text("channel", max_len=20, label="办理渠道")
    institution = f.text("hospital", required=False, max_len=30) or f.text("office", required=False, max_len=30) \
        or f.text("institution", required=False, max_len=30)
    id_number = f.text("person_id_number", required=False, max_len=18, label="参保人身份证号码")
    if kind == Kind.RENEWAL:
        rec_id = f.integer("recognition", label="续办的认定")
        f.done()
        # 代办: the person first (the look-up is audited whatever follows), as the window does.
        person = person_named(id_number, "person_id_number", purpose="apply") if current_user.is_staff else None
        rec = get_visible(current_user, Recognition, rec_id)
        if person is not None and rec.person_id != person.id:
            raise ApiError(404, message="该身份证号码与所办理的认定不是同一参保人。", fields={"person_id_number": "未找到"})
        app = service.start_renewal(ctx(), rec, channel=channel or "", institution=institution, key=idempotency_key())
    else:
        region = f.text("region", max_len=6, label="参保地区")
        division = f.text("division", max_len=6, label="参保区县")
        diseases = f.codes("diseases", label="病种")
        if not institution:
            f.problems["hospital"] = "请提供受理的定点医疗机构(hospital)或经办机构(office)。"
        f.done()
        person = (person_named(id_number, "person_id_number", purpose="apply") if current_user.is_staff
                  else current_user._get_current_object())
        app = service.start(ctx(), person, region=region, division=division, institution=institution,
                            channel=channel, diseases=diseases, key=idempotency_key())
    db.session.commit()
    return jsonify(detail(app, current_user)), 201


@bp.post("/applications/<id:app_id>/materials")
def material_upload(app_id):
    app = get_visible(current_user, Application, app_id)
    if not request.mimetype == "multipart/form-data":
        raise ApiError(415, message="上传材料须使用 multipart/form-data。")
    replaces = None
    if request.form.get("replaces"):
        raw = request.form["replaces"]
        if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31):
            raise ApiError(404, message="要替换的文件不存在。", fields={"replaces": "未找到"})
        replaces = int(raw)
    added = materials.add(
        ctx(), app, disease_code=request.form.get("disease", request.form.get("disease_code", "*"))[:30],
        material_code=request.form.get("material", request.form.get("material_code", ""))[:30],
        files=request.files.getlist("file"), replaces_id=replaces,
    )
    db.session.commit()
    return jsonify({"items": [material_dict(m) for m in added], "version": app.version}), 201


@bp.post("/applications/<id:app_id>/submit")
def application_submit(app_id):
    app = get_visible(current_user, Application, app_id)
    f = Fields(json_body())
    version = f.integer("version", label="版本号")
    f.done()
    service.submit(ctx(), app, version)
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
    to = f.choice("to", tuple(ReturnTarget), required=False, label="退回对象")
    results = f.mapping("results", values=(Result.APPROVED, Result.REJECTED), label="审核结果")
    reasons = f.mapping("reasons", label="不通过原因")
    explanations = f.mapping("explanations", label="说明")
    reason = f.text("reason", required=False, max_len=2000) or ""
    f.done()
    if action == "withdraw":
        service.withdraw(ctx(), app, version, reason)
    else:
        if action == "approve":
            results = results or {ad.disease_code: Result.APPROVED for ad in app.diseases}
        elif action == "reject":
            results = {ad.disease_code: Result.REJECTED for ad in app.diseases}
        review.act(ctx(), app, REVIEW_ACTIONS[action], version, results=results, reasons=reasons,
                   explanations=explanations, reason_code=reason_code, note=note, to=to)
    db.session.commit()
    return jsonify(detail(app, current_user))


# --- shapes ----------------------------------------------------------------------------------
def summary(app: Application) -> dict:
    step = app.current_step
    return {
        "id": app.id, "reference": app.reference, "version": app.version, "kind": app.kind, "status": app.status,
        "status_name": app.status_name, "region": app.region_code, "division": app.division_code,
        "institution": app.institution_code, "person": person_ref(app.person, mask=_not_theirs(app)),
        "diseases": [{"code": ad.disease_code, "name": ad.disease_name} for ad in app.diseases],
        "current_step": step["name"] if step else None, "step_due": iso(app.step_due),
        "created_at": iso(app.created_at),
    }


def _not_theirs(app: Application) -> bool:
    """Staff get the applicant's name masked (张*), as on the pages; the API never reveals it."""
    return current_user.id != app.person_id


def detail(app: Application, user: User) -> dict:
    body = summary(app)
    show = disclosure.results_visible(app, user)
    c = ctx()
    checklist = materials.checklist(c, app)
    body.update({
        "channel": app.channel,
        "fast_track": app.fast_track,
        "renewal_of": app.renewal_of_id,
        "person": {**person_ref(app.person, mask=_not_theirs(app)), "phone": mask_phone(app.person.phone)},
        "diseases": [
            {"code": ad.disease_code, "name": ad.disease_name, "national_code": ad.national_code,
             "result": ad.result if show else Result.PENDING,
             "reason_code": ad.reason_code if show else None,
             "reason": regions().reason_text(app.region_code, ad.reason_code) if show and ad.reason_code else None,
             "explanation": rules.latest_explanation(app, ad.disease_code) if show and ad.result == Result.REJECTED else None}
            for ad in app.diseases
        ],
        "steps": [{"code": s["code"], "name": s["name"], "role": s["role"], "optional": bool(s.get("optional"))}
                  for s in app.steps],
        "current_step": ({"code": app.current_step["code"], "name": app.current_step["name"],
                          "role": app.current_step["role"], "due": iso(app.step_due)} if app.current_step else None),
        "return": ({"to": app.return_to, "reason": app.return_reason, "reason_code": app.return_reason_code,
                    "deadline": iso(app.return_deadline)}
                   if app.status == Status.RETURNED and (user.is_staff or app.return_to == ReturnTarget.APPLICANT) else None),
        "timeline": [
            {"at": iso(e.at), "action": e.action, "who": e.who, "to_status": e.to_status, "step": e.step_name,
             "note": e.note}
            for e in disclosure.timeline(app, user)
        ],
        "materials": [
            {"disease": item.disease_code, "code": item.rule.code, "name": item.rule.name,
             "required": item.rule.required, "accept": list(item.rule.accept),
             "files": [material_dict(m) for m in item.files]}
            for item in checklist
        ],
        "missing_materials": [i.label for i in checklist if not i.satisfied] if app.status in (Status.DRAFT, Status.RETURNED) else [],
        "allowed_actions": allowed(app, user),
        "submitted_at": iso(app.submitted_at),
        "decided_at": iso(app.decided_at),
        "timezone": regions().timezone(app.region_code),
    })
    return body


def allowed(app: Application, user: User) -> list[dict]:
    names = []
    for action in rules.allowed_actions(app, user):
        names += {Action.DECIDE: ["approve", "reject", "decide"], Action.ACCEPT: ["accept", "forward"]}.get(action, [str(action)])
    if rules.can_edit_materials(app, user):
        names += ["upload_material", "submit"]
    if rules.can_withdraw(app, user):
        names.append("withdraw")
    out = []
    for name in names:
        fields = {"version": app.version, **ACTION_FIELDS[name]}
        if name == "return":
            fields["to"] = " | ".join(rules.return_targets(app))
        out.append({"action": name, "fields": fields})
    return out


def material_dict(m: Material) -> dict:
    return {"id": m.id, "disease": m.disease_code, "material": m.material_code, "name": m.original_name,
            "size": m.size, "content_type": m.content_type, "pages": m.pages, "uploaded_at": iso(m.uploaded_at)}
