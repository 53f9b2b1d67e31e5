"""Application pages shared by applicants and staff: list, new, detail, materials, submit, withdraw."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from core import workflow
from core.extensions import db
from core.models import Application, Material, User
from core.regions import regions
from core.services import ServiceError, disclosure, forms, previews
from core.services import applications as svc
from core.services.access import can_see, get_visible
from core.services.audit import audit
from core.services.clock import today
from core.services.storage import path_for
from core.views import arg_id, form_version, was_looked_up

bp = Blueprint("applications", __name__)


@bp.get("/applications")
@login_required
def mine():
    if current_user.role != "insured":
        return redirect(url_for("staff.queue"))
    apps = db.session.scalars(
        select(Application).where(Application.person_id == current_user.id).order_by(Application.id.desc()).limit(100)
    ).all()
    return render_template("applications/mine.html", apps=apps)


@bp.route("/applications/new", methods=["GET", "POST"])
@login_required
def new():
    """Insured persons apply for themselves; window/hospital staff file for a person (代办)."""
    person = _person_for_new()
    info = regions().get(person.region_code)
    if info is None:
        abort(404)
    form = request.form if request.method == "POST" else request.args
    context = _new_context(person, info, form)
    if request.method == "POST" and not form.get("refresh"):  # "refresh": no-JS institution list reload
        try:
            app = svc.start(
                person,
                current_user,
                region=info.code,
                division=form.get("division", ""),
                institution=form.get("institution", ""),
                channel=form.get("channel", ""),
                diseases=form.getlist("diseases"),
            )
        except ServiceError as e:
            db.session.rollback()
            flash(e.message, "error")
            return render_template("applications/new.html", problems=e.problems, **context), e.status
        db.session.commit()
        flash("申请草稿已建立,请按清单上传材料后提交。", "success")
        return redirect(url_for("applications.detail", app_id=app.id))
    return render_template("applications/new.html", problems=[], **context)


@bp.get("/applications/institutions")
@login_required
def institution_options():
    """htmx fragment: the institutions of the chosen division."""
    info = regions().get(request.args.get("region") or current_user.region_code)
    if info is None:
        abort(404)
    division = request.args.get("division", "")
    return render_template(
        "applications/_institutions.html", institutions=_institutions(info, division), selected=""
    )


@bp.get("/applications/<id:app_id>")
@login_required
def detail(app_id):
    app = get_visible(current_user, Application, app_id)
    return _render_detail(app)


@bp.post("/applications/<id:app_id>/materials")
@login_required
def upload(app_id):
    """Add one or more files to a checklist item, or replace one file (form field ``replaces``)."""
    app = get_visible(current_user, Application, app_id)
    replaces = None
    if request.form.get("replaces"):
        replaces_id = arg_id("replaces")
        replaces = db.session.get(Material, replaces_id) if replaces_id else None
        if replaces is None or replaces.application_id != app.id:
            abort(404)
    try:
        added = svc.add_materials(
            app,
            current_user,
            disease_code=request.form.get("disease_code", ""),
            material_code=request.form.get("material_code", ""),
            files=request.files.getlist("file"),
            replaces=replaces,
        )
    except ServiceError as e:
        db.session.rollback()
        return _render_detail(app, error=e.message, problems=e.problems, status=e.status, fragment=True)
    db.session.commit()
    if replaces is not None:
        flash(f"已用「{added[0].original_name}」替换原文件。", "success")
    else:
        flash(f"已上传 {len(added)} 个文件。" if len(added) > 1 else "材料已上传。", "success")
    return _after_change(app)


@bp.post("/applications/<id:app_id>/materials/<id:material_id>/remove")
@login_required
def remove_material(app_id, material_id):
    app = get_visible(current_user, Application, app_id)
    material = db.session.get(Material, material_id)
    if material is None or material.application_id != app.id:
        abort(404)
    try:
        svc.remove_material(app, current_user, material)
    except ServiceError as e:
        db.session.rollback()
        return _render_detail(app, error=e.message, status=e.status, fragment=True)
    db.session.commit()
    flash("已移除该文件。", "info")
    return _after_change(app)


@bp.get("/materials/<id:material_id>")
@login_required
def download(material_id):
    material = _visible_material(material_id)
    audit("material.download", material.application, detail=f"material={material.id}")
    db.session.commit()
    response = send_file(
        path_for(material.sha256),
        mimetype=material.content_type,
        as_attachment=True,
        download_name=download_name(material),
        conditional=False,
        etag=False,
    )
    response.headers["Cache-Control"] = "no-store"  # medical documents: never kept in a shared cache
    return response


@bp.get("/materials/<id:material_id>/preview")
@bp.get("/materials/<id:material_id>/pages/<int:page>.png")
@login_required
def preview(material_id, page=None):
    """An image to look at inside the review page: a photo as stored, or one page of a PDF."""
    material = _visible_material(material_id)
    if page is not None and page < 1:
        abort(404)
    if material.content_type == "application/pdf":
        path = previews.pdf_page(material, page or 1)
        if path is None:
            abort(404)
        mimetype = "image/png"
    elif material.content_type in ("image/jpeg", "image/png") and page is None:
        path, mimetype = path_for(material.sha256), material.content_type
    else:
        abort(404)
    audit("material.preview", material.application, detail=f"material={material.id} page={page or 1}")
    db.session.commit()
    response = send_file(path, mimetype=mimetype, as_attachment=False, conditional=False, etag=False)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _visible_material(material_id) -> Material:
    material = db.session.get(Material, material_id)
    if material is None or not can_see(current_user, material.application):
        abort(404)
    if not path_for(material.sha256).is_file():
        current_app.logger.error("material %s: stored file %s is missing", material.id, material.sha256)
        raise ServiceError("该文件的存储内容缺失,请联系系统管理员从备份恢复。", status=410)
    return material


def download_name(material: Material) -> str:
    """The uploader's name for the file, minus anything a file system or header could trip on,
    with the extension of what the file really is."""
    ext = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(material.content_type, "bin")
    stem = material.original_name.rsplit(".", 1)[0] if "." in material.original_name else material.original_name
    stem = "".join(ch for ch in stem if ch.isprintable() and ch not in '/\\:*?"<>|;').strip(" .")[:60]
    return f"{stem or 'material'}-{material.id}.{ext}"


@bp.post("/applications/<id:app_id>/submit")
@login_required
def submit(app_id):
    done = "申请已提交,审核结果会通知参保人本人。" if current_user.is_staff else "申请已提交,请留意消息通知。"
    return change_application(app_id, lambda app: svc.submit(app, current_user, form_version()), done)


@bp.post("/applications/<id:app_id>/withdraw")
@login_required
def withdraw(app_id):
    reason = request.form.get("reason", "")
    return change_application(
        app_id, lambda app: svc.withdraw(app, current_user, form_version(), reason), "申请已撤回。", "info"
    )


def change_application(app_id, change, done: str, category: str = "success"):
    """Apply ``change`` to an application the user may see: commit and show ``done``, or show the
    refusal on the detail page with nothing saved."""
    app = get_visible(current_user, Application, app_id)
    try:
        change(app)
    except ServiceError as e:
        db.session.rollback()
        app = db.session.get(Application, app_id)
        return _render_detail(app, error=e.message, problems=e.problems, status=e.status)
    db.session.commit()
    flash(done, category)
    return redirect(url_for("applications.detail", app_id=app_id))


def _render_detail(app, error=None, problems=None, status=200, fragment=False):
    if error:
        flash(error, "error")
    info = regions().get(app.region_code)
    context = dict(
        app=app,
        info=info,
        checklist=svc.checklist(app),
        missing=svc.missing(app),
        can_edit=svc.can_edit_materials(app, current_user),
        actions=workflow.allowed_actions(app, current_user),
        reason_codes=regions().reason_codes(app.region_code),
        return_targets=workflow.return_targets(app),
        timeline=disclosure.timeline(app, current_user),
        show_results=disclosure.results_visible(app, current_user),
        explanation_of=workflow.latest_explanation,
        problems=problems or [],
        today=today(info.timezone),
        print_forms=forms.forms_for(app, current_user),
    )
    if fragment and request.headers.get("HX-Request"):
        return render_template("applications/_checklist.html", **context), status
    return render_template("applications/detail.html", **context), status


def _after_change(app):
    if request.headers.get("HX-Request"):
        db.session.refresh(app)
        return _render_detail(app, fragment=True)
    return redirect(url_for("applications.detail", app_id=app.id) + "#materials")


def _person_for_new() -> User:
    if current_user.role == "insured":
        return current_user
    if current_user.role not in svc.PROXY_ROLES:
        abort(403)
    person_id = arg_id("person_id")
    if not was_looked_up(person_id):
        abort(404)  # look the person up by ID number first (staff.file_for_person)
    person = db.session.get(User, person_id)
    if person is None or person.role != "insured" or person.region_code != current_user.region_code:
        abort(404)
    return person


def _new_context(person, info, form):
    on = today(info.timezone)
    division = form.get("division") or person.division_code
    return dict(
        person=person,
        info=info,
        division=division,
        institutions=_institutions(info, division),
        institution=form.get("institution", ""),
        channels=regions().channels(info.code),
        channel=form.get("channel", _default_channel()),
        catalogue=regions().catalogue(info.code, on.year),
        unavailable=svc.unavailable_diseases(person, info.code, on),
        chosen=set(form.getlist("diseases")) if hasattr(form, "getlist") else set(),
        year=on.year,
        proxy=current_user.id != person.id,
    )


def _default_channel() -> str:
    return {"insured": "online", "hospital_office": "hospital"}.get(current_user.role, "window")


def _institutions(info, division):
    return [i for i in info.institutions if i.kind == info.intake and i.qualified and info.serves(i, division)]
