"""Jinja filters and globals: masking, dates in the region's time zone, names of codes."""
from __future__ import annotations

import re
import uuid

from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from core.applications.online import DECLARATION

from core.benefits.money import ratio_text, yuan
from core.kernel.roles import Role
from core.kernel.status import Action, RecStatus, Result, Status
from core.kernel.types import disease_codes
from core.kernel.time import local_date, local_time, missing_official_years
from core.notices.service import unread_count as unread
from core.people.identity import mask_id, mask_name, mask_phone


def _field(obj, name):
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


# Phone numbers in text shown to the public: service hotlines (12393 医保, 12345 政务), mobiles and
# landlines with an area code. Not a date (2026-08-23), an ID number or an amount (12393 元).
PHONE = re.compile(r"(?<![\d.\-])(123\d{2}|1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|400-?\d{3}-?\d{4})(?![\d\-]|\s*(?:元|天|个|年|月|日|%))")


def tel_links(text) -> Markup:
    """``text`` with every phone number a tap-to-call link (the rest escaped)."""
    return Markup(PHONE.sub(lambda m: f'<a href="tel:{m.group(1).replace("-", "")}" class="tel">{m.group(1)}</a>',
                            str(escape(text or ""))))


def init_app(app):
    regions = app.extensions["mtkit_regions"]
    clock = app.extensions["mtkit_clock"]
    tz = regions.default_timezone

    def cn_date(value) -> str:
        """2026年11月23日, for printed forms (a datetime is shown as its local date)."""
        if value is None:
            return ""
        if hasattr(value, "astimezone") and hasattr(value, "hour"):
            value = local_date(value, tz)
        return f"{value.year}年{value.month}月{value.day}日"

    app.jinja_env.filters.update(
        mask_id=mask_id,
        mask_phone=mask_phone,
        mask_name=mask_name,  # 张*: insured people's names on staff screens (README, Security)
        # Insured people log in with their ID number: mask user names that are ID numbers.
        mask_username=lambda u: mask_id(u) if u and len(u) == 18 and u[:17].isdigit() else (u or ""),
        local_time=lambda value, fmt="%Y-%m-%d %H:%M": local_time(value, tz, fmt),
        cn_date=cn_date,
        role_name=Role.label_of,
        rec_status=RecStatus.label_of,
        fen=lambda value: yuan(int(value or 0)),  # integer fen as "1234.50", by Decimal arithmetic
        ratio=ratio_text,  # 0.75 -> 75%, the one way a reimbursement ratio is shown
        # A disease's national and local codes, one way everywhere (screens and printed forms):
        # {{ ad|disease_codes }} for anything with national_code and disease_code (or code).
        disease_codes=lambda d: disease_codes(_field(d, "national_code"), _field(d, "disease_code") or _field(d, "code")),
        tel_links=tel_links,  # phone numbers as tap-to-call links
    )

    @app.context_processor
    def globals_():
        def region_name(code):
            info = regions.get(code)
            return info.short_name if info else (code or "")

        def division_name(region, code):
            info = regions.get(region)
            d = info.division(code) if info else None
            return d.name if d else (code or "")

        def institution_name(region, code):
            info = regions.get(region)
            i = info.institution(code) if info else None
            return i.name if i else (code or "")

        def unread_count():
            if not current_user.is_authenticated:
                return 0
            return unread(current_user)

        def calendar_missing_years():
            return missing_official_years(clock.today(tz))

        return {
            "calendar_missing_years": calendar_missing_years,
            "unread_count": unread_count,
            "csrf_token_value": generate_csrf,
            # A one-time key per drawn form that creates records: a repeated submit takes effect once.
            "new_form_key": lambda: uuid.uuid4().hex,
            "channel_name": regions.channel_name,
            "STATUS_NAMES": Status.labels(),
            "RESULT_NAMES": Result.labels(),
            "EVENT_NAMES": Action.labels(),
            "Status": Status,
            "Result": Result,
            "region_name": region_name,
            "division_name": division_name,
            "institution_name": institution_name,
            "all_regions": regions.all,
            "DECLARATION": DECLARATION,
        }
