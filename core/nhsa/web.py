"""Administrators' page for the national-platform interchange: export filings, load platform files.

The same services as `flask nhsa ...`; each administrator works only on their own region.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from core.extensions import db
from core.kernel.errors import Invalid, ServiceError
from core.kernel.roles import Role
from core.nhsa import catalog as nhsa_catalog
from core.nhsa import exports as nhsa_exports
from core.nhsa import filings as nhsa_filings
from core.nhsa import reconcile as nhsa_reconcile
from core.people.scope import manageable_regions
from core.web.context import ctx, regions

bp = Blueprint("nhsa", __name__, url_prefix="/staff/nhsa")
IMPORTS = {"1309": "1309 病种目录", "serials": "2503 应答(流水号)", "psn_no": "人员编号", "5301": "5301 备案查询结果"}


@bp.before_request
@login_required
def _admins_only():
    if current_user.role != Role.ADMIN:
        abort(403)


def _region(value: str | None) -> str:
    allowed = manageable_regions(current_user, regions().codes())
    region = value or (allowed[0] if allowed else "")
    if region not in allowed:
        abort(404)
    return region


def _since(value: str | None, required: bool) -> date | None:
    if not value:
        if required:
            raise Invalid("请填写起始日期。")
        return None
    try:
        since = date.fromisoformat(value)
    except ValueError:
        raise Invalid("请按 年-月-日 填写起始日期,例如 2026-08-23。") from None
    nhsa_filings.check_since(since)
    return since


def _export(kind: str, region: str, source, dry_run: bool):
    """Run (or preview) an export from form/query values; ServiceError on bad input."""
    if kind not in ("2503", "2504"):
        raise Invalid("请选择 2503 或 2504。", status=400)
    since = _since(source.get("since"), required=kind == "2503")
    new_only = source.get("new_only") == "1"
    fn = nhsa_filings.export_2503 if kind == "2503" else nhsa_filings.export_2504
    return fn(ctx(), since, region, new_only=new_only, dry_run=dry_run), since, new_only


def _page(region: str, status: int = 200, **extra):
    code = (request.args.get("code") or "").strip()[:30]
    context = dict(
        region=region, regions_=[regions().get(c) for c in manageable_regions(current_user, regions().codes())],
        overview=nhsa_filings.overview(region, include_all_regions=not current_user.region_code),
        codes=sorted(nhsa_catalog.current_codes(region).values(), key=lambda r: r.code),
        mapping=nhsa_catalog.mapping_report(ctx(), region), imports_=IMPORTS, code=code,
        history=nhsa_catalog.code_history(region, code) if code else [], today=ctx().today(region).isoformat(),
    )
    context.update(extra)
    return render_template("staff/nhsa.html", **context), status


@bp.get("/")
def index():
    """The page; with ``check=2503|2504`` it also previews an export (nothing is recorded)."""
    region = _region(request.args.get("region"))
    kind = request.args.get("check")
    if not kind:
        return _page(region)
    try:
        preview, since, new_only = _export(kind, region, request.args, dry_run=True)
    except ServiceError as e:
        return _page(region, e.status, error=e.message)
    return _page(region, preview=preview, since=since.isoformat() if since else "", new_only=new_only)


@bp.post("/export")
def export():
    """Queue the export: the worker records it and writes its lines (the platform's `data` objects,
    one per line), downloaded from the task's page when ready."""
    region = _region(request.form.get("region"))
    kind = request.form.get("kind")
    try:
        since = _since(request.form.get("since"), required=kind == "2503")
        task = nhsa_exports.request_export(ctx(), kind, region, since, request.form.get("new_only") == "1")
    except ServiceError as e:
        db.session.rollback()
        return _page(region, e.status, error=e.message)
    db.session.commit()
    return redirect(url_for("tasks.status", task_id=task.id))


@bp.post("/import")
def import_file():
    region = _region(request.form.get("region"))
    kind = request.form.get("kind")
    if kind not in IMPORTS:
        abort(400)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(region, 400, error="请选择要导入的文件。")
    raw, name, c = upload.read(), upload.filename, ctx()
    try:
        if kind == "1309":
            done = nhsa_catalog.import_1309(c, raw, name, region, incremental=request.form.get("incremental") == "1",
                                            force=request.form.get("force") == "1")
            result = {"row": done.row, "lists": [("新增", done.added), ("变更", done.changed), ("停用", done.retired),
                                                  ("恢复", done.restored)]}
        elif kind == "serials":
            result = {"row": nhsa_filings.import_serials(c, raw, name, region)}
        elif kind == "psn_no":
            result = {"row": nhsa_filings.import_person_numbers(c, raw, name, region)}
        else:
            result = {"reconciliation": nhsa_reconcile.reconcile(c, raw, name, region)}
    except ServiceError as e:
        db.session.rollback()
        return _page(region, e.status, error=e.message, import_kind=kind)
    db.session.commit()
    return _page(region, imported=result, import_kind=kind)
