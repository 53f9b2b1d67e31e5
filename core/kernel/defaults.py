"""Core behaviour written as a default plugin: each hook runs last, so a region can override it."""
from __future__ import annotations

from core.kernel.hookspecs import hookimpl
from core.kernel.types import BenefitPolicy, NoticeTemplate, ReasonCode, RecoveryPolicy, RenewalPolicy

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


@hookimpl(trylast=True)
def mtkit_recovery_policy(region, disease, amount_fen):
    # Money paid without cover goes back to the fund unless staff record a reason to waive it.
    return RecoveryPolicy(sample=False)


# Notice wording when a region does not set its own (regions/<code>/data/notices.toml).
NOTICE_TEMPLATES = {
    "renewal_reminder": NoticeTemplate(
        "门特认定即将到期,请办理续办",
        "{name}您好:您的{disease}门特认定有效期至 {end_date}(还有 {days_left} 天)。续办办理期为 {opens} 至 {closes},"
        "请在到期前提交续办申请,审核期间待遇不中断;逾期将停止待遇,需要重新申请认定。",
    ),
    "expired": NoticeTemplate(
        "门特认定已到期",
        "{name}您好:您的{disease}门特认定已于 {end_date} 到期,门特待遇自 {stop_date} 起停止。如仍需门特待遇,请重新申请认定。",
    ),
    "lapsed": NoticeTemplate(
        "申请因逾期未补正已关闭",
        "{name}您好:您的门特申请(编号 {app_id})未在补正期限 {deadline} 前补充材料并重新提交,已关闭。如需办理,请重新申请。",
    ),
    "sla_digest": NoticeTemplate(
        "审核时限提醒:{overdue} 件已超时,{due_soon} 件即将到期",
        "{name}您好:您负责的环节中有 {overdue} 件申请已超过办理时限,{due_soon} 件将在下一个工作日内到期:\n{lines}",
    ),
    "result_due": NoticeTemplate(
        "结果通知时限提醒:{count} 件已到期未通知",
        "{name}您好:以下申请已审核完毕,但结果通知已到或超过时限,请督促办理:\n{lines}",
    ),
}


@hookimpl(trylast=True)
def mtkit_notice_template(region, kind):
    return NOTICE_TEMPLATES.get(kind)
