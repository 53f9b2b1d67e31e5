"""What an online application gets from the system instead of paper.

The region's materials.csv says, per item, how an online application meets it (column ``online``):
``system``: the system attaches its own record (an online renewal's original 审批表 is the approval
of the recognition being renewed, held here); ``declaration``: the person's ticked electronic
confirmation, recorded with its time and audited, stands in for a signed scan (the 续办申请表).
Window and hospital applications keep the paper items: staff scan what the person signed.
"""
from __future__ import annotations

from core.applications import rules
from core.audit import audit
from core.context import Context
from core.kernel.errors import Forbidden, Invalid
from core.kernel.roles import Role
from core.kernel.types import Channel, Material as MaterialRule
from core.models import Application
from core.models.base import flush_or_conflict

DECLARATION = "本人承诺所填信息真实、准确、完整,所附材料真实有效,如有虚假愿承担相应责任;本人确认申请续办门特待遇。"
NOT_AGREED = "请先勾选「本人承诺所填信息真实……」再确认。"


def is_online(ctx: Context, app: Application) -> bool:
    return any(c.code == app.channel and c.online for c in ctx.regions.channels(app.region_code))


def system_record(app: Application) -> int | None:
    """The application whose decision the system holds for this one (a renewal's original
    recognition), or None when there is none to attach (e.g. a recognition imported from paper)."""
    previous = app.renewal_of
    return previous.application_id if previous is not None and previous.application_id else None


def supplied(ctx: Context, app: Application, rule: MaterialRule) -> str | None:
    """How the system meets ``rule`` for ``app`` without a file: "system", "declaration", or None."""
    if rule.online == "upload" or not is_online(ctx, app):
        return None
    if rule.online == "system":
        return "system" if system_record(app) is not None else None
    return "declaration"


def needs_declaration(ctx: Context, app: Application) -> bool:
    return is_online(ctx, app) and any(
        rule.online == "declaration"
        for _, rule in ctx.regions.checklist(app.region_code, [d.disease_code for d in app.diseases], app.kind))


def declare(ctx: Context, app: Application, agreed: bool) -> Application:
    """The applicant confirms the declaration online (in place of a signed form). Once is enough:
    a repeat keeps the first time."""
    if ctx.actor.id != app.person_id:
        raise Forbidden("电子确认只能由申请人本人在线作出;代办请打印申请表由本人签字后扫描上传。")
    if not rules.can_edit_materials(app, ctx.actor):
        raise Forbidden("当前状态下不能确认(只有草稿或退回补正的申请可以)。")
    if not needs_declaration(ctx, app):
        raise Invalid("本申请不需要电子确认,请按材料清单上传。")
    if not agreed:
        raise Invalid(NOT_AGREED, fields={"agree": "请勾选"})
    if app.declared_at is not None:
        return app
    app.declared_at = app.materials_changed_at = ctx.now()  # bumps the version like an upload
    flush_or_conflict(rules.STALE)
    audit(ctx, "application.declare", app, detail=f"online declaration: {DECLARATION}")
    return app


def arrival_channel(role: str) -> str:
    """The channel a person came through, by who is at the keyboard: the insured person themselves
    (online), a hospital's 医保科 or an agency window filing for them (代办)."""
    return {Role.INSURED: "online", Role.HOSPITAL_OFFICE: "hospital"}.get(role, "window")


def channel_choices(ctx: Context, region: str, role: str, proxy: bool) -> tuple[list[Channel], str]:
    """The channels to offer and the one preselected: the one the person arrived by comes first,
    the rest in the region's order (channels.toml). Staff filing for a person (代办) are offered
    only the offline channels."""
    offered = [c for c in ctx.regions.channels(region) if not (proxy and c.online)]
    arrived = arrival_channel(role)
    offered.sort(key=lambda c: c.code != arrived)  # stable: the region's order otherwise
    default = arrived if any(c.code == arrived for c in offered) else (offered[0].code if offered else "")
    return offered, default
