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


from core.applications import verification
from core.applications.materials import checklist
from core.applications.rules import latest_explanation
from core.audit import audit
from core.context import Context
from core.documents.pdf import cached_pdf
from core.kernel.errors import NotFound
from core.kernel.status import DECIDED, REVIEW_ACTIONS, Action, Kind, Result, Status
from core.kernel.time import local_date
from core.kernel.types import BENEFIT_CATEGORIES, benefit_category
from core.models import Application, User
from core.people.identity import mask_id
from core.recognitions.service import of_application

FORMS = {
    "application": "门诊特殊慢性病待遇认定申请表",
    "renewal": "门诊特殊慢性病待遇续办申请表",
    "approval": "门诊特殊慢性病待遇认定审批表",
    "notice": "门诊特殊慢性病待遇认定结果通知书",
}
# Blank forms anyone may download for window use; a blank notice would only help forgers.
BLANK_FORMS = ("application", "renewal", "approval")


@dataclass(frozen=True)
class FormLink:
    form: str
    title: str


def forms_for(app: Application, user: User) -> list[FormLink]:
    """The forms ``user`` may print for ``app`` (the caller has already checked ``app`` is in scope)."""
    names = ["renewal" if app.kind == Kind.RENEWAL else "application"]
    if app.status in DECIDED:
        names.append("notice")
    if user.is_staff and app.status not in (Status.DRAFT, Status.WITHDRAWN):
        names.append("approval")
    return [FormLink(n, FORMS[n]) for n in names]


def filled(ctx: Context, app: Application, form: str) -> bytes:
    """A form filled from the record (the caller has checked ``app`` is in scope). It shows the full
    ID and phone numbers, so every download is audited as a view of full personal data."""
    if form not in {f.form for f in forms_for(app, ctx.actor)}:
        raise NotFound("该申请没有这份表格。")
    data = cached_pdf(ctx, f"{form}-{app.id}-v{app.version}", ctx.regions.pdf_template(app.region_code, form),
                      _context(ctx, app, form))
    audit(ctx, "form.download", app, detail=f"form={form}")
    return data


def blank(ctx: Context, region: str, form: str) -> bytes:
    info = ctx.regions.get(region)
    if info is None or form not in BLANK_FORMS:
        raise NotFound("没有这份表格。")
    context = {
        "doc": _doc(info, form, blank=True),
        "person": {},
        "app": {"step_names": [s.name for s in ctx.regions.steps(region, False)]},
        "renewal": {},
    }
    return cached_pdf(ctx, f"blank-{region}-{form}", ctx.regions.pdf_template(region, form), context)


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


def _context(ctx: Context, app: Application, form: str) -> dict:
    info = ctx.regions.get(app.region_code)
    tz = info.timezone
    person = app.person
    decided_on = local_date(app.decided_at, tz) if app.decided_at else None
    submitted = local_date(app.submitted_at, tz) if app.submitted_at else None
    context = {
        "doc": _doc(info, form, number=app.reference, on=decided_on if form == "notice" else submitted),
        "person": _person(person, info),
        "app": _application(ctx, app, info, with_review=(form == "approval")),
        "renewal": _renewal(app),
        "verification": None,
    }
    context["app"]["submitted"] = submitted
    if form == "notice":
        code = verification.issue(ctx, app)
        base = ctx.public_url
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
        # 城乡居民 are never 在职/退休, whatever an older row holds; employees print 职工在职 / 职工退休.
        "category": BENEFIT_CATEGORIES.get(benefit_category(person.insured_scheme, person.insured_category) or "", ""),
        "address": person.address or "",
        "remote_address": person.remote_address or "",
    }


def _birth(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except (ValueError, IndexError):
        return None


def _application(ctx: Context, app: Application, info, *, with_review: bool) -> dict:
    institution = info.institution(app.institution_code)
    recognitions = of_application(app.id)
    diseases = []
    for ad in app.diseases:
        rec = recognitions.get(ad.disease_code)
        diseases.append(
            {
                "code": ad.disease_code,
                "national_code": ad.national_code,
                "name": ad.disease_name,
                "result": ad.result_name if ad.result != Result.PENDING else "",
                "reason": ctx.regions.reason_text(app.region_code, ad.reason_code) if ad.reason_code else "",
                "explanation": latest_explanation(app, ad.disease_code) if ad.result == Result.REJECTED else "",
                "start": rec.start_date if rec else None,
                "end": rec.end_date if rec else None,
            }
        )
    materials = []
    for item in checklist(ctx, app):
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
    accept = next((e for e in app.events if e.action == Action.ACCEPT), None)
    channel = ctx.regions.channel_name(app.region_code, app.channel)
    data = {
        "kind": app.kind_name,
        "channel": channel,
        "institution": institution.name if institution else app.institution_code,
        "diseases": diseases,
        "materials": materials,
        "accepted": local_date(accept.at, info.timezone) if accept else None,
        "any_approved": any(ad.result == Result.APPROVED for ad in app.diseases),
        "any_rejected": any(ad.result == Result.REJECTED for ad in app.diseases),
        "stop_date": app.renewal_of.stop_date if app.kind == Kind.RENEWAL and app.renewal_of is not None
        and app.status in DECIDED and not recognitions else None,
        "step_names": [s["name"] for s in app.steps],
        "review": _review(app, info.timezone) if with_review else [],
    }
    return data


def _review(app: Application, tz: str) -> list[dict]:
    """Who did what at each step, for the staff-only approval form. An event stores the step the
    application moved to, so the step an action was taken at is the one the previous event left."""
    rows = []
    events = list(app.events)
    for previous, e in zip(events, events[1:]):
        if e.action in REVIEW_ACTIONS:
            actor = e.actor
            rows.append(
                {
                    "step": previous.step_name or "",
                    "who": actor.name if actor else "",
                    "title": getattr(actor, "title", "") or "",
                    "at": local_date(e.at, tz),
                    "note": (e.note or "")[:300],
                }
            )
    return rows


def _renewal(app: Application) -> dict:
    rec = app.renewal_of
    if app.kind != Kind.RENEWAL or rec is None:
        return {}
    return {
        "disease": rec.disease_name,
        "number": f"RD{rec.region_code}{rec.id:08d}",
        "start": rec.start_date,
        "end": rec.end_date,
    }
