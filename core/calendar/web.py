"""工作日历 (administrators): which years have official holiday data, and the days a region's plugins
or an administrator added (blueprint ``calendar``, /staff/calendar)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from core.calendar import service
from core.extensions import db
from core.kernel.errors import Forbidden, ServiceError
from core.kernel.roles import Role
from core.kernel.time import missing_official_years, official_data_covers
from core.web.context import ctx, regions
from core.web.errors import error_page
from core.web.helpers import refused

bp = Blueprint("calendar", __name__, url_prefix="/staff/calendar")


@bp.before_request
@login_required
def _admins_only():
    if current_user.role != Role.ADMIN:
        raise Forbidden("工作日历由管理员设置。")


def _context(region: str, year: int):
    c = ctx()
    return dict(
        region=region, year=year, regions_=[regions().get(code) for code in service.regions_of(c, current_user)],
        official=official_data_covers(year), plugin_days=sorted(regions().extra_days(region, year).items()),
        admin_days=service.days_of(region, year), years=list(service.year_range(c, region)),
    )


@bp.get("", endpoint="page")
def page():
    allowed = service.regions_of(ctx(), current_user)
    region = request.args.get("region") or (allowed[0] if allowed else "")
    if region not in allowed:
        abort(404)
    missing = missing_official_years(ctx().today(region))
    year = request.args.get("year", type=int) or (missing[0] if missing else ctx().today(region).year)
    if year not in service.year_range(ctx(), region):
        abort(404)
    return render_template("staff/calendar.html", problems=[], **_context(region, year))


@bp.post("", endpoint="add")
def add():
    region = request.form.get("region", "")
    try:
        row = service.add_day(ctx(), region, request.form.get("day", ""), request.form.get("kind", ""),
                              request.form.get("note", ""))
    except ServiceError as e:
        year = request.form.get("year", type=int) or ctx().today(region).year
        if region not in service.regions_of(ctx(), current_user) or year not in service.year_range(ctx(), region):
            db.session.rollback()  # no calendar page to show it on: the message on the error page
            return error_page(e.message, e.status if e.status in (403, 404) else 400, e.problems)
        return refused(e, "staff/calendar.html", **_context(region, year))
    db.session.commit()
    flash(f"已设置 {row.day.isoformat()} 为{'调休上班日' if row.is_working else '放假日'}。之后计算的办理时限按新日历。", "success")
    return redirect(url_for("calendar.page", region=region, year=row.day.year))


@bp.post("/<id:day_id>/revoke", endpoint="revoke")
def revoke(day_id):
    row = service.revoke_day(ctx(), day_id)
    db.session.commit()
    flash(f"已撤销 {row.day.isoformat()} 的设置。", "success")
    return redirect(url_for("calendar.page", region=row.region_code, year=row.day.year))
