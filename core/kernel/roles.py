"""Roles and the groups of roles the rules ask about."""
from __future__ import annotations

from core.kernel.status import Named


class Role(Named):
    INSURED = "insured", "参保人"
    PHYSICIAN = "physician", "责任医师"
    HOSPITAL_OFFICE = "hospital_office", "医院医保科"
    AGENCY_REVIEWER = "agency_reviewer", "经办机构审核员"
    EXPERT = "expert", "评审专家"
    ADMIN = "admin", "管理员"


STAFF_ROLES = tuple(r for r in Role if r != Role.INSURED)
HOSPITAL_ROLES = (Role.PHYSICIAN, Role.HOSPITAL_OFFICE)
AGENCY_ROLES = (Role.AGENCY_REVIEWER, Role.EXPERT)
# Window and hospital 医保科 staff: they look people up by ID number, file for them (代办) and record
# their 门特 visits and hospital stays.
DESK_ROLES = (Role.AGENCY_REVIEWER, Role.HOSPITAL_OFFICE)
