"""Every status, result and action of the review state machine and of recognitions, named once.

The members are ``StrEnum``s: equal to the strings stored in the database (``Status.DRAFT ==
"draft"``), so rows, templates and JSON keep plain strings while Python code never spells a status
by hand. Each member carries the one Chinese label pages, notices and printed forms show.
"""
from __future__ import annotations

from enum import StrEnum


class Named(StrEnum):
    """A code with its Chinese label: ``Status.DRAFT.label == "草稿"``."""

    label: str

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> dict[str, str]:
        """code -> label, for templates and select lists."""
        return {m.value: m.label for m in cls}

    @classmethod
    def label_of(cls, code: str | None) -> str:
        """The label of a stored code; an unknown code is shown as it is."""
        try:
            return cls(code).label
        except ValueError:
            return code or ""


class Status(Named):
    """Where an application is."""

    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "已提交"
    IN_REVIEW = "in_review", "审核中"
    RETURNED = "returned", "退回补正"
    APPROVED = "approved", "已通过"
    PARTIAL = "partial", "部分通过"
    REJECTED = "rejected", "未通过"
    WITHDRAWN = "withdrawn", "已撤回"
    LAPSED = "lapsed", "逾期未补正"  # closed by the expiry sweep: a return's deadline passed unanswered


# Groups the rules ask about.
OPEN = (Status.DRAFT, Status.SUBMITTED, Status.IN_REVIEW, Status.RETURNED)
UNDER_REVIEW = (Status.SUBMITTED, Status.IN_REVIEW)  # a step is current and its clock may run
EDITABLE = (Status.DRAFT, Status.RETURNED)  # the applicant (or 代办 staff) may change materials and submit
DECIDED = (Status.APPROVED, Status.PARTIAL, Status.REJECTED)
FINAL = DECIDED + (Status.WITHDRAWN, Status.LAPSED)
RENEWAL_UNDER_WAY = (Status.SUBMITTED, Status.IN_REVIEW, Status.RETURNED)


class Kind(Named):
    NEW = "new", "新申请"
    RENEWAL = "renewal", "续办"


class Result(Named):
    """One disease's decision on an application."""

    PENDING = "pending", "待审核"
    APPROVED = "approved", "通过"
    REJECTED = "rejected", "不通过"


class Action(Named):
    """What happens to an application: the timeline's entries and the reviewers' buttons."""

    CREATE = "create", "建立"
    SUBMIT = "submit", "提交"
    RESUBMIT = "resubmit", "补正后提交"
    ACCEPT = "accept", "受理"
    DECIDE = "decide", "审核决定"
    REFER_EXPERT = "refer_expert", "提交专家评审"
    RECORD = "record", "确认办结"
    RETURN = "return", "退回"
    WITHDRAW = "withdraw", "撤回"
    LAPSE = "lapse", "逾期关闭"


REVIEW_ACTIONS = (Action.ACCEPT, Action.DECIDE, Action.REFER_EXPERT, Action.RECORD, Action.RETURN)


class StepKind(Named):
    """What a review step does (a region's review_steps.toml names one per step)."""

    ACCEPT = "accept", "受理"  # check the materials are complete
    REVIEW = "review", "审核"  # decide per disease
    EXPERT = "expert", "专家评审"  # only when a reviewer refers the application
    RECORD = "record", "办结"  # 备案 / 结果通知: makes the decision final and creates recognitions


class ReturnTarget(Named):
    APPLICANT = "applicant", "退回申请人补正材料"
    HOSPITAL = "hospital", "退回上一审核环节重新审核"


class RecStatus(Named):
    """A recognition's stored status (what people see is ``recognitions.rules.state``)."""

    ACTIVE = "active", "有效"
    RENEWED = "renewed", "已续办"
    ENDED = "ended", "已终止"
    EXPIRED = "expired", "已到期"  # set by the expiry sweep: past its end with no timely renewal


class DeliveryStatus(Named):
    PENDING = "pending", "待发送"
    SENDING = "sending", "发送中"
    SENT = "sent", "已发送"
    FAILED = "failed", "发送失败,等待重试"
    GAVE_UP = "gave_up", "多次失败,已停止重试"
    SKIPPED = "skipped", "未发送(无联系方式)"


class Channel(Named):
    """Ways a notice reaches a person (the inbox always; SMS and letters by choice)."""

    INBOX = "inbox", "站内消息"
    SMS = "sms", "短信"
    LETTER = "letter", "纸质信件"


class RecoveryStatus(Named):
    """A recovery case of a settlement paid during a renewal that then failed."""

    OPEN = "open", "待处理"
    RECOVERED = "recovered", "已追回(冲销)"
    WAIVED = "waived", "免予追回"
