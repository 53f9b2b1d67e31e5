"""待遇追回 pages for hospital 医保科 and agency staff: the report of cases in their scope (filter by
institution and status, totals, CSV), a case with its actions (recover by reversal, waive with a
reason). Rules live in ``recoveries.service``; these routes parse, call, render."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from core.benefits.service import check_desk
from core.kernel.errors import ServiceError
from core.kernel.roles import Role
from core.kernel.status import RecoveryStatus
from core.kernel.types import RECOVERY_OUTCOMES
from core.extensions import db
from core.recoveries import service
from core.recoveries.service import CAUSES
from core.web.context import ctx, regions
from core.web.helpers import arg_id

bp = Blueprint("recoveries", __name__)


def _filters() -> tuple[str | None, str | None]:
    institution = (request.args.get("institution") or "").strip() or None
    if current_user.role == Role.HOSPITAL_OFFICE:
        institution = current_user.hospital_code  # a hospital sees its own visits only
    return institution, (request.args.get("status") or "").strip() or None


def _page_context(**extra):
    info = regions().get(current_user.region_code)
    hospitals = [i for i in info.institutions if i.kind == "hospital"] if info else []
    return dict(hospitals=hospitals, STATUS=RecoveryStatus.labels(), CAUSES=CAUSES, OUTCOMES=RECOVERY_OUTCOMES, **extra)


@bp.get("/staff/recoveries")
@login_required
def report():
    institution, status = _filters()
    try:
        data = service.report(ctx(), institution, status, arg_id("before"))
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return render_template("recoveries/report.html", data=None, institution=None, status=None,
                               **_page_context()), e.status
    return render_template("recoveries/report.html", data=data, institution=institution, status=status, **_page_context())


@bp.get("/staff/recoveries.csv")
@login_required
def export():
    institution, status = _filters()
    rows = service.export_rows(ctx(), institution, status)  # refusals: the plain error page
    db.session.commit()  # the export's audit row
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=recoveries.csv"})


def _case_page(case, status: int = 200, problems=(), form=None):
    return render_template("recoveries/case.html", case=case, problems=list(problems), form=form or {},
                           **_page_context()), status


@bp.get("/staff/recoveries/<id:case_id>")
@login_required
def case(case_id):
    check_desk(current_user)
    return _case_page(service.get(ctx(), case_id))


def _act(case_id, action, done: str):
    check_desk(current_user)
    case = service.get(ctx(), case_id)
    try:
        action(case)
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return _case_page(service.get(ctx(), case_id), e.status, e.problems, request.form)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("recoveries.case", case_id=case_id))


@bp.post("/staff/recoveries/<id:case_id>/recover")
@login_required
def recover(case_id):
    return _act(case_id, lambda c: service.recover(ctx(), c, request.form.get("note", "")),
                "已追回:本笔结算已冲销,基金支付的金额计为追回。")


@bp.post("/staff/recoveries/<id:case_id>/waive")
@login_required
def waive(case_id):
    return _act(case_id, lambda c: service.waive(ctx(), c, request.form.get("reason", "")), "已记录免予追回。")
