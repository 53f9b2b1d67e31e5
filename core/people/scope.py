"""Who may see what: record-level scope, in one place, used by every page, API handler and query.

- Insured people: their own records.
- Physicians and hospital 医保科: records at their hospital.
- Agency reviewers: their region, narrowed to their district/prefecture when they have one.
- Experts (minimum necessary): within that same area, only applications referred to expert review:
  those waiting at the 专家评审 step now, and those they acted on themselves (read-only once their
  step is over). No recognitions, benefit records or person look-ups.
- Administrators: their region (the instance administrator, with no region: everything).
Staff do not see a person's own unsubmitted draft: it is not before them yet (a draft filed for a
person at a window or hospital, 代办, is).
"""
from __future__ import annotations

from sqlalchemy import and_, false, or_, select, true

from core.extensions import db
from core.kernel.errors import NOT_FOUND, NotFound
from core.kernel.roles import AGENCY_ROLES, HOSPITAL_ROLES, Role
from core.kernel.status import Status
from core.models import Application, ApplicationEvent, User


def application_scope(user: User, model=Application, *, with_own_drafts: bool = False):
    """A SQL condition selecting the applications (or recognitions) ``user`` may see. With
    ``with_own_drafts``, also the people's own drafts in the user's area: only to count them."""
    cond = _scope(user, model)
    if user.role != Role.INSURED and model is Application and not with_own_drafts:
        cond = and_(cond, or_(Application.status != Status.DRAFT, Application.filed_by_id.isnot(None)))
    return cond


def record_scope(user: User, model):
    """A SQL condition selecting the benefit-ledger rows (settlements, stays, chosen institutions)
    ``user`` may see: their own (insured), those at their hospital (physician, 医保科: a hospital
    sees only its own visits and stays), their area (agency, administrators)."""
    return _scope(user, model)


def can_view_person(user: User, person: User) -> bool:
    """Whether ``user`` may see ``person`` at all: themselves, or (staff) an insured person of their
    region and, for staff of one district or prefecture, of that district."""
    if user.role == Role.INSURED:
        return user.id == person.id
    if person.role != Role.INSURED or user.role == Role.EXPERT:
        return False
    if user.role == Role.ADMIN and not user.region_code:
        return True
    if person.region_code != user.region_code:
        return False
    return user.role in HOSPITAL_ROLES or not user.division_code or person.division_code == user.division_code


def manageable_regions(user: User, all_codes: list[str]) -> list[str]:
    """Regions an administrator manages: their own, or every region (``all_codes``) for the instance one."""
    if user.role != Role.ADMIN:
        return []
    return [user.region_code] if user.region_code else list(all_codes)


def _scope(user: User, model):
    if user.role == Role.INSURED:
        return model.person_id == user.id
    if user.role in HOSPITAL_ROLES:
        if not user.hospital_code:
            return false()
        return and_(model.region_code == user.region_code, model.institution_code == user.hospital_code)
    if user.role == Role.EXPERT and model is not Application:
        return false()
    if user.role in AGENCY_ROLES or user.role == Role.ADMIN:
        if user.role == Role.ADMIN and not user.region_code:
            return true()  # instance administrator
        cond = model.region_code == user.region_code
        if user.division_code:
            cond = and_(cond, model.division_code == user.division_code)
        if user.role == Role.EXPERT:
            cond = and_(cond, _referred_to(user))
        return cond
    return false()


def _referred_to(user: User):
    """Applications before an expert: waiting at the expert step now (every expert of the area may
    take it up: referral names no single expert yet), or ones this expert acted on before."""
    acted = select(ApplicationEvent.id).where(ApplicationEvent.application_id == Application.id,
                                              ApplicationEvent.actor_id == user.id).exists()
    return or_(Application.current_role == Role.EXPERT, acted)


def can_see(user: User, record) -> bool:
    """Python twin of ``application_scope``/``record_scope`` for one loaded record."""
    if (user.role != Role.INSURED and isinstance(record, Application) and record.status == Status.DRAFT
            and record.filed_by_id is None):
        return False
    if user.role == Role.INSURED:
        return record.person_id == user.id
    if user.role in HOSPITAL_ROLES:
        return bool(user.hospital_code) and record.region_code == user.region_code and record.institution_code == user.hospital_code
    if user.role == Role.EXPERT and not (isinstance(record, Application) and (
            record.current_role == Role.EXPERT or any(e.actor_id == user.id for e in record.events))):
        return False
    if user.role in AGENCY_ROLES or user.role == Role.ADMIN:
        if user.role == Role.ADMIN and not user.region_code:
            return True
        if record.region_code != user.region_code:
            return False
        return not user.division_code or record.division_code == user.division_code
    return False


def get_visible(user: User, model, record_id):
    """Load a record the user may see; anything else is 'not found' (no hint that it exists)."""
    record = db.session.get(model, record_id) if isinstance(record_id, int) else None
    if record is None or not can_see(user, record):
        raise NotFound(NOT_FOUND)
    return record


def person_in_scope(user: User, person_id: int | None) -> User | None:
    """The insured person ``person_id`` if ``user`` may see them (``can_view_person``), else None."""
    person = db.session.get(User, person_id) if isinstance(person_id, int) else None
    return person if person is not None and can_view_person(user, person) else None


def divisions_in_scope(user: User, info) -> list:
    """The divisions of region ``info`` whose applications ``user`` can see (the queues' division filter):
    a district reviewer's own district, a hospital's served divisions, else all of them."""
    if info is None:
        return []
    if user.role in HOSPITAL_ROLES:
        hospital = info.institution(user.hospital_code) if user.hospital_code else None
        return [d for d in info.divisions if hospital and info.serves(hospital, d.code)]
    if user.division_code and (user.role in AGENCY_ROLES or user.role == Role.ADMIN):
        return [d for d in info.divisions if d.code == user.division_code]
    return list(info.divisions)
