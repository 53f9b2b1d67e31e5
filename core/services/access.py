"""Who may see what: one place for record-level scope, used by every page and query."""
from __future__ import annotations

from sqlalchemy import and_, false, or_, true

from core.extensions import db

from core.models import AGENCY_ROLES, HOSPITAL_ROLES, Application, Recognition, User
from core.services import Forbidden, NotFound


def application_scope(user: User, model=Application):
    """A SQL condition selecting the applications (or recognitions) ``user`` may see.

    Staff do not see a person's own unsubmitted draft: it is not before them yet. Drafts filed for a
    person at a window or hospital (代办) are visible to the staff in scope.
    """
    cond = _scope(user, model)
    if user.role != "insured" and model is Application:
        cond = and_(cond, or_(Application.status != "draft", Application.filed_by_id.isnot(None)))
    return cond


def record_scope(user: User, model):
    """A SQL condition selecting the benefit-ledger rows (settlements, stays, chosen institutions)
    ``user`` may see: their own (insured), those at their hospital (physician, 医保科: a hospital
    sees only its own visits and stays), their area (agency, administrators)."""
    return _scope(user, model)


def can_view_person(user: User, person: User) -> bool:
    """Whether staff may open ``person``'s benefit page: an insured person of their region (and
    district, for staff of one district). Views also require a look-up by ID number (代办 rule)."""
    if user.role == "insured":
        return user.id == person.id
    if person.role != "insured":
        return False
    if user.role == "admin" and not user.region_code:
        return True
    if person.region_code != user.region_code:
        return False
    return user.role in HOSPITAL_ROLES or not user.division_code or person.division_code == user.division_code


def _scope(user: User, model):
    if user.role == "insured":
        return model.person_id == user.id
    if user.role in HOSPITAL_ROLES:
        if not user.hospital_code:
            return false()
        return and_(model.region_code == user.region_code, model.institution_code == user.hospital_code)
    if user.role in AGENCY_ROLES or user.role == "admin":
        if user.role == "admin" and not user.region_code:
            return true()  # instance administrator
        cond = model.region_code == user.region_code
        if user.division_code:
            cond = and_(cond, model.division_code == user.division_code)
        return cond
    return false()


def can_see(user: User, record) -> bool:
    """Python twin of ``application_scope`` for one loaded Application or Recognition."""
    if user.role != "insured" and isinstance(record, Application) and record.status == "draft" and record.filed_by_id is None:
        return False
    return _can_see(user, record)


def _can_see(user: User, record) -> bool:
    if user.role == "insured":
        return record.person_id == user.id
    if user.role in HOSPITAL_ROLES:
        return bool(user.hospital_code) and record.region_code == user.region_code and record.institution_code == user.hospital_code
    if user.role in AGENCY_ROLES or user.role == "admin":
        if user.role == "admin" and not user.region_code:
            return True
        if record.region_code != user.region_code:
            return False
        return not user.division_code or record.division_code == user.division_code
    return False


def get_visible(user: User, model, record_id) -> Application | Recognition:
    """Load a record the user may see; anything else is 'not found' (no hint that it exists)."""
    record = db.session.get(model, record_id) if isinstance(record_id, int) else None
    if record is None or not can_see(user, record):
        raise NotFound("记录不存在或您无权查看。")
    return record


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise Forbidden("您的角色无权进行此操作。")
