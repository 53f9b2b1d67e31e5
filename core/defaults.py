"""Core behaviour written as a default plugin: each hook runs last, so a region can override it."""
from __future__ import annotations

from core import hookimpl
from core.types import BenefitPolicy, ReasonCode, RenewalPolicy

REASON_CODES = [
    ReasonCode("R01", "诊断依据不足,不符合病种认定标准"),
    ReasonCode("R02", "申请材料不全或不符合要求"),
    ReasonCode("R03", "病情已缓解,无需长期门诊治疗"),
    ReasonCode("R04", "所申请病种不在本年度门特病种目录内"),
    ReasonCode("R05", "参保状态异常"),
    ReasonCode("R09", "其他原因(见说明)"),
]


@hookimpl(trylast=True)
def mtkit_renewal_policy(region, disease):
    return RenewalPolicy()


@hookimpl(trylast=True)
def mtkit_reason_codes(region):
    return list(REASON_CODES)


@hookimpl(trylast=True)
def mtkit_benefit_policy(region, year):
    return BenefitPolicy()
