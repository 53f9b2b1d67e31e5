"""Printed forms: which forms a record has, who may print them, and the data they are filled from.

Forms (region templates through ``mtkit_pdf_templates``, core defaults in templates/pdf/):
- application: 门特待遇认定申请表 (new applications)
- renewal:     门特待遇续办申请表 (renewal applications)
- approval:    门特待遇认定审批表 (staff only: reviewers' opinions and names)
- notice:      门特待遇认定结果通知书 (once decided; carries a verification code)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app, request

from core.models import Application, User
from core.regions import regions
from core.services import NotFound, applications as app_svc
from core.services import verification
from core.services.clock import today
from core.services.identity import mask_id
from core.services.pdf import cached_pdf
from core.types import INSURED_CATEGORIES

FORMS = {
    "application": "门诊特殊慢性病待遇认定申请表",
    "renewal": "门诊特殊慢性病待遇续办申请表",
    "approval": "门诊特殊慢性病待遇认定审批表",
    "notice": "门诊特殊慢性病待遇认定结果通知书",
}
# Blank forms anyone may download for window use; a blank notice would only help forgers.
BLANK_FORMS = ("application", "renewal", "approval")
DECIDED = ("approved", "partial", "rejected")


@dataclass(frozen=True)
class FormLink:
    form: str
    title: str


def forms_for(app: Application, user: User) -> list[FormLink]:
    """The forms ``user`` may print for ``app`` (the caller has already checked ``app`` is in scope)."""
    names = ["renewal" if app.kind == "renewal" else "application"]
    if app.status in DECIDED:
        names.append("notice")
    if user.is_staff and app.status not in ("draft", "withdrawn"):
        names.append("approval")
    return [FormLink(n, FORMS[n]) for n in names]


def filled(app: Application, form: str, user: User) -> bytes:
    if form not in {f.form for f in forms_for(app, user)}:
        raise NotFound("该申请没有这份表格。")
    context = _context(app, form)
    return cached_pdf(f"{form}-{app.id}-v{app.version}", template_for(app.region_code, form), context)


def blank(region: str, form: str) -> bytes:
    info = regions().get(region)
    if info is None or form not in BLANK_FORMS:
        raise NotFound("没有这份表格。")
    context = {
        "doc": _doc(info, form, blank=True),
        "person": {},
        "app": {"step_names": [s.name for s in regions().steps(region, False)]},
        "renewal": {},
    }
    return cached_pdf(f"blank-{region}-{form}", template_for(region, form), context)


def template_for(region: str, form: str) -> str:
    return regions().pdf_template(region, form)


def download_name(form: str, app: Application | None = None) -> str:
    # Browsers without RFC 5987 support get the ASCII part: the reference number.
    return f"{app.reference}_{FORMS[form]}.pdf" if app is not None else f"blank_{FORMS[form]}.pdf"


# --- context ---------------------------------------------------------------------------------
def _doc(info, form: str, *, blank: bool = False, number: str = "", on: date | None = None) -> dict:
    return {
        "title": FORMS[form],
        "issuer": info.issuer or f"{info.name}医疗保障局",
        "number": number,
        "date": on,
        "blank": blank,
    }


def _context(app: Application, form: str) -> dict:
    info = regions().get(app.region_code)
    person = app.person
    decided_on = verification.local_date(app.decided_at) if app.decided_at else None
    submitted = verification.local_date(app.submitted_at) if app.submitted_at else None
    context = {
        "doc": _doc(info, form, number=app.reference, on=decided_on if form == "notice" else submitted),
        "person": _person(person, info),
        "app": _application(app, info, with_review=(form == "approval")),
        "renewal": _renewal(app),
        "verification": None,
    }
    context["app"]["submitted"] = submitted
    if form == "notice":
        code = verification.issue(app)
        base = current_app.config.get("MTKIT_PUBLIC_URL") or request.url_root.rstrip("/")
        context["verification"] = {
            "code": verification.pretty(code.code),
            "url_base": f"{base}/verify",
            "qr_svg": verification.qr_svg(f"{base}/verify/{code.code}"),
        }
    return context


def _person(person: User, info) -> dict:
    number = person.id_number or ""
    birth = _birth(number)
    division = info.division(person.division_code) if person.division_code else None
    return {
        "name": person.name,
        "gender": ("男" if int(number[16]) % 2 else "女") if len(number) == 18 and number[16].isdigit() else "",
        "birth": birth,
        "id_number": number,
        "id_masked": mask_id(number),
        "phone": person.phone or "",
        "division": division.name if division else "",
        "category": INSURED_CATEGORIES.get(person.insured_category or "", ""),
        "address": person.address or "",
        "remote_address": person.remote_address or "",
    }


def _birth(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except (ValueError, IndexError):
        return None


def _application(app: Application, info, *, with_review: bool) -> dict:
    institution = info.institution(app.institution_code)
    recognitions = {r.disease_code: r for r in _recognitions(app)}
    diseases = []
    for ad in app.diseases:
        rec = recognitions.get(ad.disease_code)
        from core.workflow import latest_explanation  # workflow imports services: import late

        diseases.append(
            {
                "code": ad.disease_code,
                "name": ad.disease_name,
                "result": ad.result_name if ad.result != "pending" else "",
                "reason": regions().reason_text(app.region_code, ad.reason_code) if ad.reason_code else "",
                "explanation": latest_explanation(app, ad.disease_code) if ad.result == "rejected" else "",
                "start": rec.start_date if rec else None,
                "end": rec.end_date if rec else None,
            }
        )
    materials = []
    for item in app_svc.checklist(app):
        if not item.files and not item.rule.required:
            continue
        materials.append(
            {
                "name": item.rule.name,
                "disease": "全部病种" if item.disease_code == "*" else item.disease_name,
                "required": item.rule.required,
                "files": len(item.files),
                "pages": sum(m.pages or (1 if m.content_type.startswith("image/") else 0) for m in item.files),
            }
        )
    accept = next((e for e in app.events if e.action == "accept"), None)
    channel = next((c.name for c in regions().channels(app.region_code) if c.code == app.channel), app.channel)
    data = {
        "kind": app.kind_name,
        "channel": channel,
        "institution": institution.name if institution else app.institution_code,
        "diseases": diseases,
        "materials": materials,
        "accepted": verification.local_date(accept.at) if accept else None,
        "any_approved": any(d["result"] == "通过" for d in diseases),
        "any_rejected": any(ad.result == "rejected" for ad in app.diseases),
        "stop_date": app.renewal_of.stop_date if app.kind == "renewal" and app.renewal_of is not None
        and app.status in DECIDED and not recognitions else None,
        "step_names": [s["name"] for s in app.steps],
        "review": _review(app) if with_review else [],
    }
    return data


def _review(app: Application) -> list[dict]:
    """Who did what at each step, for the staff-only approval form. An event stores the step the
    application moved to, so the step an action was taken at is the one the previous event left."""
    rows = []
    events = list(app.events)
    for previous, e in zip(events, events[1:]):
        if e.action in ("accept", "decide", "refer_expert", "record", "return"):
            actor = e.actor
            rows.append(
                {
                    "step": previous.step_name or "",
                    "who": actor.name if actor else "",
                    "title": getattr(actor, "title", "") or "",
                    "at": verification.local_date(e.at),
                    "note": (e.note or "")[:300],
                }
            )
    return rows


def _recognitions(app: Application):
    from core.extensions import db
    from core.models import Recognition
    from sqlalchemy import select

    return db.session.scalars(select(Recognition).where(Recognition.application_id == app.id)).all()


def _renewal(app: Application) -> dict:
    rec = app.renewal_of
    if app.kind != "renewal" or rec is None:
        return {}
    return {
        "disease": rec.disease_name,
        "number": f"RD{rec.region_code}{rec.id:08d}",
        "start": rec.start_date,
        "end": rec.end_date,
    }


def local_today(app: Application) -> date:
    return today(regions().get(app.region_code).timezone)
