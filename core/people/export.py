"""A copy of one's own data (PIPL art. 45, right of access; art. 44, right to know how it is processed).

An insured person downloads, as JSON (``my_data``) or as a printable PDF summary (``my_data_pdf``):
their account (full ID and phone number: they are theirs), their applications (what they see on
their pages: the timeline as disclosed to them, results once decided, the materials' metadata, not
the files, which they can open one by one), recognitions, 门特 settlements, hospital stays and chosen
institutions, notices and their SMS/letter deliveries, what was filed with the national platform
about them, and who else opened their records (the audit rows about them, by role, never another
person's name or the staff member's user name). Nothing about anybody else is included. Each
export is audited (``person.export``). Staff cannot use it for another person: it only ever
exports the signed-in person's own record.
"""
from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from core.applications import disclosure, rules
from core.audit import audit
from core.context import Context
from core.documents.pdf import render_pdf
from core.extensions import db
from core.kernel.errors import Forbidden
from core.kernel.roles import Role
from core.kernel.status import Action, RecStatus, Result
from core.audit_labels import action_label
from core.models import (
    Application, AuditLog, BenefitSettlement, ChosenInstitution, InpatientStay, InsuredCategoryChange, Notice, Recognition,
    User,
)
from core.models.nhsa import NhsaFiling
from core.models.operations import NoticeDelivery

FORMAT_VERSION = 1
_TZ: ContextVar = ContextVar("export_tz", default=timezone.utc)  # the time zone of the export being built
ONLY_OWN = "只有参保人本人可以下载自己的数据。工作人员不能用此功能导出他人的信息。"
# What the audit trail's actions mean, for the person reading who opened their records.
ACCESS_LABELS = {
    "application.view": "查看了您的申请",
    "person.view_full": "查看了您的完整姓名、证件号和电话",
    "person.lookup": "按身份证号码查找了您",
    "material.download": "下载了您的申请材料",
    "material.preview": "预览了您的申请材料",
    "form.download": "下载了您的申请表、审批表或结果通知书",
    "benefit.view_person": "查看了您的门特待遇",
    "person.export": "导出了您的数据",
    "person.category": "变更了您的待遇类别",
    "recognition.create": "作出了认定",
    "recognition.expire": "认定到期",
    "recognition.end": "认定终止",
    "benefit.settle": "登记了门特结算",
    "benefit.reverse": "冲销了门特结算",
}


def access_label(action: str) -> str:
    if action in ACCESS_LABELS:
        return ACCESS_LABELS[action]
    if action.startswith("application."):
        return "办理了您的申请(" + Action.label_of(action.split(".", 1)[1]) + ")"
    return action_label(action)


def as_json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def file_name(ctx: Context, fmt: str) -> str:
    """mtkit-my-data-2026-11-23.json: no name or ID number in a file name that download lists show."""
    return f"mtkit-my-data-{ctx.today(ctx.actor.region_code).isoformat()}.{fmt}"


def _iso(value) -> str | None:
    """Dates as they are; moments in the person's region's time zone, with the offset (+08:00)."""
    if isinstance(value, datetime):
        return value.astimezone(_TZ.get()).isoformat(timespec="seconds")
    return value.isoformat() if value is not None else None


def _fen(value) -> str | None:
    if value is None:
        return None
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


def my_data(ctx: Context, fmt: str = "json") -> dict:
    """Everything mtkit holds about the signed-in insured person, audited as ``person.export``."""
    person = ctx.actor
    if person is None or person.role != Role.INSURED:
        raise Forbidden(ONLY_OWN)
    apps = db.session.scalars(select(Application).where(Application.person_id == person.id)
                              .order_by(Application.id)).all()
    app_ids = [a.id for a in apps]
    _TZ.set(ZoneInfo(ctx.regions.timezone(person.region_code)))
    data = {
        "format": "mtkit-personal-data", "format_version": FORMAT_VERSION, "exported_at": _iso(ctx.now()),
        "person": _profile(person),
        "applications": [_application(a, person) for a in apps],
        "recognitions": [_recognition(r) for r in _rows(Recognition, person, Recognition.id)],
        "settlements": [_settlement(s) for s in _rows(BenefitSettlement, person, BenefitSettlement.id)],
        "inpatient_stays": [{"id": s.id, "institution": s.institution_code, "admitted_on": _iso(s.admitted_on),
                             "discharged_on": _iso(s.discharged_on), "reversal_of": s.reversal_of_id, "note": s.note}
                            for s in _rows(InpatientStay, person, InpatientStay.id)],
        "chosen_institutions": [{"id": c.id, "institution": c.institution_code, "start_date": _iso(c.start_date),
                                 "end_date": _iso(c.end_date), "reversal_of": c.reversal_of_id}
                                for c in _rows(ChosenInstitution, person, ChosenInstitution.id)],
        "insured_categories": [{"scheme": c.scheme, "category": c.category, "effective_from": _iso(c.effective_from),
                                "reason": c.reason} for c in _rows(InsuredCategoryChange, person, InsuredCategoryChange.id)],
        "notices": _notices(person),
        "national_platform_filings": _filings(person),
        "accesses_by_others": _accesses(person, app_ids),
    }
    audit(ctx, "person.export", person, detail=f"format={fmt}")
    return data


def my_data_pdf(ctx: Context) -> bytes:
    """The same data as a printable summary (WeasyPrint, the embedded CJK font of the printed forms)."""
    data = my_data(ctx, fmt="pdf")
    return render_pdf(ctx, "pdf/my_data.html", {"d": data})


def _rows(model, person: User, order):
    return db.session.scalars(select(model).where(model.person_id == person.id).order_by(order)).all()


def _profile(p: User) -> dict:
    return {
        "username": p.username, "name": p.name, "id_number": p.id_number, "phone": p.phone,
        "region": p.region_code, "division": p.division_code, "insured_category": p.insured_category,
        "insured_scheme": p.insured_scheme, "psn_no": p.psn_no, "address": p.address,
        "remote_address": p.remote_address, "notice_sms": p.notice_sms, "notice_letter": p.notice_letter,
        "created_at": _iso(p.created_at),
        "last_login_at": _iso(p.last_login_at),
    }


def _application(a: Application, person: User) -> dict:
    shown = disclosure.results_visible(a, person)
    return {
        "id": a.id, "reference": a.reference, "kind": a.kind, "status": a.status, "status_name": a.status_name,
        "region": a.region_code, "division": a.division_code, "institution": a.institution_code,
        "channel": a.channel, "filed_by_staff": a.proxy, "renewal_of": a.renewal_of_id,
        "created_at": _iso(a.created_at), "submitted_at": _iso(a.submitted_at), "decided_at": _iso(a.decided_at),
        "return": ({"reason": a.return_reason, "deadline": _iso(a.return_deadline)}
                   if a.return_reason and a.return_to == "applicant" else None),
        "diseases": [{"code": ad.disease_code, "national_code": ad.national_code, "name": ad.disease_name,
                      "result": ad.result if shown else Result.PENDING,
                      "reason_code": ad.reason_code if shown else None,
                      "explanation": rules.latest_explanation(a, ad.disease_code) if shown else None}
                     for ad in a.diseases],
        "timeline": [{"at": _iso(e.at), "action": e.action, "action_name": Action.label_of(e.action), "by": e.who,
                      "to_status": e.to_status, "step": e.step_name, "note": e.note}
                     for e in disclosure.timeline(a, person)],
        "materials": [{"id": m.id, "disease": m.disease_code, "material": m.material_code, "file_name": m.original_name,
                       "content_type": m.content_type, "size": m.size, "pages": m.pages, "sha256": m.sha256,
                       "uploaded_at": _iso(m.uploaded_at), "replaced": m.replaced_by_id is not None}
                      for m in a.materials],
    }


def _recognition(r: Recognition) -> dict:
    return {"id": r.id, "disease_code": r.disease_code, "national_code": r.national_code, "disease": r.disease_name,
            "institution": r.institution_code, "application": r.application_id, "start_date": _iso(r.start_date),
            "end_date": _iso(r.end_date), "stop_date": _iso(r.stop_date), "status": r.status,
            "status_name": RecStatus.label_of(r.status)}


def _settlement(s: BenefitSettlement) -> dict:
    return {"id": s.id, "institution": s.institution_code, "disease_code": s.disease_code, "disease": s.disease_name,
            "visit_date": _iso(s.visit_date), "settled_on": _iso(s.settled_on), "benefit_year": s.benefit_year,
            "covered": s.covered, "reason": s.reason, "eligible": _fen(s.eligible_fen),
            "deductible_paid": _fen(s.deductible_fen), "limit_used": _fen(s.limit_used_fen),
            "reimbursed": _fen(s.reimbursed_fen), "own": _fen(s.own_fen), "ratio": s.ratio,
            "items": s.items or [], "reversal_of": s.reversal_of_id}


def _notices(person: User) -> list[dict]:
    rows = db.session.scalars(select(Notice).where(Notice.user_id == person.id).order_by(Notice.id)).all()
    deliveries: dict[int, list] = {}
    if rows:
        for d in db.session.scalars(select(NoticeDelivery).where(NoticeDelivery.notice_id.in_([n.id for n in rows]))
                                    .order_by(NoticeDelivery.id)):
            deliveries.setdefault(d.notice_id, []).append(
                {"channel": d.channel, "status": d.status, "sent_at": _iso(d.sent_at), "created_at": _iso(d.created_at)})
    return [{"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "application": n.application_id,
             "recognition": n.recognition_id, "created_at": _iso(n.created_at), "read_at": _iso(n.read_at),
             "deliveries": deliveries.get(n.id, [])} for n in rows]


def _filings(person: User) -> list[dict]:
    rows = db.session.scalars(
        select(NhsaFiling).join(Recognition, Recognition.id == NhsaFiling.recognition_id)
        .where(Recognition.person_id == person.id).order_by(NhsaFiling.id)).all()
    return [{"recognition": f.recognition_id, "interface": f.kind, "data": f.data, "exported_at": _iso(f.exported_at),
             "serial": f.trt_dcla_detl_sn, "sent_at": _iso(f.sent_at)} for f in rows]


def _accesses(person: User, app_ids: list[int]) -> list[dict]:
    """Audit rows about the person's records written by someone else (staff, jobs): when, which
    role, what. Staff user names and other people stay out; the person's own actions are theirs."""
    about = [and_(AuditLog.object_type == "users", AuditLog.object_id == str(person.id))]
    if app_ids:
        about.append(and_(AuditLog.object_type == "applications", AuditLog.object_id.in_([str(i) for i in app_ids])))
    rows = db.session.scalars(
        select(AuditLog).where(or_(*about), or_(AuditLog.user_id.is_(None), AuditLog.user_id != person.id))
        .order_by(AuditLog.id)).all()
    roles = dict(db.session.execute(select(User.id, User.role).where(
        User.id.in_({r.user_id for r in rows if r.user_id is not None}))).all()) if rows else {}
    return [{"at": _iso(r.at), "action": r.action, "what": access_label(r.action),
             "by_role": Role.label_of(roles[r.user_id]) if r.user_id in roles else "系统",
             "object": f"{r.object_type}/{r.object_id}", "result": r.result} for r in rows]
