"""Jinja filters and globals: masking, dates in the region's time zone, names of codes."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app
from flask_wtf.csrf import generate_csrf

from core.models import EVENT_NAMES, RECOGNITION_STATUSES, RESULTS, ROLES, STATUSES
from core.services.identity import mask_id, mask_phone

TZ = ZoneInfo("Asia/Shanghai")


def local_time(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(TZ).strftime(fmt)


def cn_date(value) -> str:
    """2026年11月23日, for printed forms (a datetime is shown as its local date)."""
    if value is None:
        return ""
    if hasattr(value, "astimezone") and hasattr(value, "hour"):
        value = value.astimezone(TZ).date()
    return f"{value.year}年{value.month}月{value.day}日"
def fen(value) -> str:
    """Integer fen as yuan with two decimals ("1234.50"), by Decimal arithmetic (never float)."""
    from core.services.benefits import yuan

    return yuan(int(value or 0))


def init_app(app):
    app.jinja_env.filters.update(
        mask_id=mask_id,
        mask_phone=mask_phone,
        # Insured people log in with their ID number: mask user names that are ID numbers.
        mask_username=lambda u: mask_id(u) if u and len(u) == 18 and u[:17].isdigit() else (u or ""),
        local_time=local_time,
        cn_date=cn_date,
        role_name=lambda r: ROLES.get(r, r),
        rec_status=lambda s: RECOGNITION_STATUSES.get(s, s),
        fen=fen,
    )

    @app.context_processor
    def globals_():
        regions = current_app.extensions["mtkit_regions"]

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

        def channel_name(region, code):
            return next((c.name for c in regions.channels(region) if c.code == code), code or "")

        def unread_count():
            from flask_login import current_user
            from sqlalchemy import func, select

            from core.extensions import db
            from core.models import Notice

            if not current_user.is_authenticated:
                return 0
            return db.session.scalar(
                select(func.count()).select_from(Notice).where(Notice.user_id == current_user.id, Notice.read_at.is_(None))
            )

        def calendar_missing_years():
            from core.services.clock import today
            from core.services.workdays import missing_official_years

            return missing_official_years(today())

        return {
            "calendar_missing_years": calendar_missing_years,
            "unread_count": unread_count,
            "csrf_token_value": generate_csrf,
            "channel_name": channel_name,
            "STATUS_NAMES": STATUSES,
            "RESULT_NAMES": RESULTS,
            "EVENT_NAMES": EVENT_NAMES,
            "region_name": region_name,
            "division_name": division_name,
            "institution_name": institution_name,
            "all_regions": regions.all,
        }
