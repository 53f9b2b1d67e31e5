"""Every hook mtkit calls. Region plugins and cross-region plugins implement these.

Hooks that answer for one region take the region code and return None for other regions, so the
first plugin that knows the region answers (``firstresult``). Hooks the core gathers from every
plugin return lists. Core defaults live in ``core/kernel/defaults.py`` and run last (``trylast``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

PROJECT = "mtkit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

if TYPE_CHECKING:  # pragma: no cover
    from datetime import date

    from core.kernel.types import (
        BenefitPolicy,
        Channel,
        Disease,
        Material,
        ReasonCode,
        RecoveryPolicy,
        RegionInfo,
        NoticeTemplate,
        RenewalPolicy,
        ReviewStep,
        SmsResult,
    )


@hookspec
def mtkit_region() -> RegionInfo | None:
    """Describe the region this plugin provides: code, name, divisions, institutions, intake.

    Called once per start-up for every registered plugin; cross-region plugins return None.
    Two plugins returning the same region code stop start-up.
    """


@hookspec(firstresult=True)
def mtkit_disease_catalog(region: str, year: int) -> list[Disease] | None:
    """Return the 门特 disease catalogue of ``region`` valid in ``year``.

    :param region: region code, e.g. "450600".
    :param year: calendar year; catalogues change yearly and a renewal checks that year's list.
    Local disease codes must be unique within a region (checked at start-up).
    """


@hookspec(firstresult=True)
def mtkit_material_rules(region: str, disease: str, kind: str) -> list[Material] | None:
    """Return the materials an application of ``kind`` ("new" or "renewal") needs for ``disease``.

    Items with ``disease="*"`` are common to every disease and are asked for once per application.
    """


@hookspec(firstresult=True)
def mtkit_channels(region: str) -> list[Channel] | None:
    """Return the channels (online, window, hospital) with strengths, weaknesses and who they suit."""


@hookspec(firstresult=True)
def mtkit_review_steps(region: str, fast_track: bool) -> list[ReviewStep] | None:
    """Return the ordered review steps for an application in ``region``.

    :param fast_track: True when every disease applied for is on the region's fast track
        (e.g. tumour radio/chemotherapy, dialysis in Inner Mongolia).
    The steps are copied onto the application when it is submitted, so a later change of the
    region's flow does not move applications already in review.
    """


@hookspec(firstresult=True)
def mtkit_renewal_policy(region: str, disease: str) -> RenewalPolicy:
    """Return the renewal window and continuity rules for ``disease`` in ``region``.

    The core default (3-month window, continuity during review) runs last.
    """


@hookspec(firstresult=True)
def mtkit_reason_codes(region: str) -> list[ReasonCode]:
    """Return coded reasons for rejections and returns. The core default list runs last."""


@hookspec(firstresult=True)
def mtkit_benefit_policy(region: str, year: int) -> BenefitPolicy:
    """Return the outpatient 门特 benefit policy of ``region`` for ``year`` (used by the benefits ledger).

    :param region: region code.
    :param year: the benefit year a visit counts in (see ``BenefitPolicy.year_rule``).
    The policy carries the deductible per benefit category (职工在职/职工退休/城乡居民), whether one
    deductible covers every disease, the ratio and annual limit per (disease, category), whether
    visits must be at a chosen institution, the year rule, what the limit caps, and a ``version``
    that each settlement stores. Return None for other regions; the core default (an empty,
    unconfigured policy: nothing can be settled) runs last. Called once per (region, year), cached.
    """


@hookspec(firstresult=True)
def mtkit_recovery_policy(region: str, disease: str, amount_fen: int) -> RecoveryPolicy | None:
    """Say what may become of a settlement paid during a renewal that then failed.

    :param region: region code.
    :param disease: the settlement's local disease code.
    :param amount_fen: what the fund paid for the visit, in fen (分).
    Benefits stop from the day after the original end; a visit on or after that day that was settled
    while the renewal was under review was paid without cover. Return a ``RecoveryPolicy``: the
    outcomes staff may record (recovered by a reversal, waived with a reason), the one proposed,
    and whether the case is waived at once (e.g. a sum below the region's threshold). The core
    default (recover by reversal; waiving allowed with a reason) runs last. A plugin only decides:
    the recoveries service writes the case, the reversal and the audit rows.
    """


@hookspec(firstresult=True)
def mtkit_pdf_templates(region: str) -> dict[str, str] | None:
    """Return form name -> template path for the region's PDF forms (申请表, 续办申请表, 通知书)."""


@hookspec
def mtkit_validate_application(application: Any) -> list[str]:
    """Return problems (Chinese sentences) that stop ``application`` from being submitted.

    Gathered from every plugin; an empty list from all means the application may be submitted.
    """


@hookspec
def mtkit_notify(notice: Any, person: Any) -> str | None:
    """Say through which channel ``notice`` should also reach ``person``, or None.

    :param notice: the saved ``core.models.Notice`` (title, body, kind, ids).
    :param person: its recipient, a ``core.models.User`` (their contact details and channel choices).
    Every notification plugin is asked, inside the transaction that creates the notice. The inbox
    always answers "inbox" (the notice row is the inbox entry). For any other channel the core queues
    a ``NoticeDelivery``; the ``deliver_notices`` job sends SMS after the commit and retries failures
    with back-off, so a rolled-back transaction never sends anything. A plugin only decides: it must
    not write to the database or call mtkit's services.
    """


@hookspec(firstresult=True)
def mtkit_sms_send(phone: str, text: str, ref: str) -> SmsResult:
    """Send one SMS through the bureau's gateway and return ``SmsResult(ok, detail)``.

    :param phone: 11-digit mainland mobile number.
    :param text: the message, already rendered (at most 300 characters).
    :param ref: a stable id of this delivery ("mtkit-<delivery id>"); pass it to gateways that
        de-duplicate, since a delivery interrupted by a crash is retried.
    Raising an exception counts as a failed attempt (retried with back-off). A bureau implements
    this one hook in its own plugin; the default adapter (``plugins/sms_log.py``, trylast) writes
    each message to the file set by ``MTKIT_SMS_LOG``.
    """


@hookspec(firstresult=True)
def mtkit_notice_template(region: str, kind: str) -> NoticeTemplate | None:
    """Return the title/body template of notice ``kind`` in ``region`` (core defaults run last).

    Kinds and their fields: renewal_reminder (name, disease, end_date, days_left, opens, closes),
    expired (name, disease, end_date, stop_date), lapsed (name, app_id, deadline),
    sla_digest (name, overdue, due_soon, lines), result_due (name, count, lines).
    """


@hookspec
def mtkit_holidays(region: str, year: int) -> dict[date, bool] | None:
    """Return extra calendar days for ``region`` in ``year``: date -> True if it is a working day.

    Used for years the official calendar does not cover and for local holidays.
    """


@hookspec(firstresult=True)
def mtkit_nhsa_send(region: str, infno: str, data: dict) -> dict | None:
    """Send one message to the national medical-insurance platform and return its ``output``.

    :param infno: the platform's interface number, "2503" (filing) or "2504" (cancellation).
    :param data: the message's ``data`` object, already checked against the platform's field rules.
    Return the platform's answer (for 2503 it must hold ``trt_dcla_detl_sn``), None when this plugin
    does not serve ``region``, and raise on failure. mtkit ships no adapter (no network): a bureau
    installs its own; without one, staff export files and import the answers.
    """
