"""Application pages for applicants and staff: my applications, new (or 代办), detail, materials,
submit, withdraw, and the reviewers' actions and identity view. Each route parses the form, calls
one service function with the request's context, and renders."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from core.applications import disclosure, materials, online, previews, queues, review, rules, service
from core.applications.intake import no_intake_notice
from core.documents import printed_forms
from core.extensions import db
from core.kernel.errors import ServiceError
from core.kernel.roles import DESK_ROLES, STAFF_ROLES, Role
from core.kernel.status import Action, Status
from core.models import Application, User
from core.people.scope import get_visible, person_in_scope
from core.web.context import ctx, regions
from core.web.helpers import arg_id, commit_keeping_loaded, form_key, form_version, fragment, is_fragment_request, refused, render, was_looked_up

bp = Blueprint("applications", __name__)


@bp.get("/applications")
@login_required
def mine():
    if current_user.role != Role.INSURED:
        return redirect(url_for("staff.queue"))
    rows, _ = queues.own_page(current_user, None, size=100)
    return render_template("applications/mine.html", apps=rows)


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
    if request.method == "GET" or form.get("refresh"):  # "refresh": no-JS institution list reload
        return render_template("applications/new.html", problems=[], **context)
    try:
        app = service.start(ctx(), person, region=info.code, division=form.get("division", ""),
                            institution=form.get("institution", ""), channel=form.get("channel", ""),
                            diseases=form.getlist("diseases"), key=form_key())
    except ServiceError as e:
        return refused(e, "applications/new.html", **context)
    db.session.commit()
    flash("申请草稿已建立,请按清单上传材料后提交。", "success")
    return redirect(url_for("applications.detail", app_id=app.id))


@bp.get("/applications/institutions")
@login_required
def institution_options():
    """htmx: the institutions of the chosen division (block "institutions" of the new-application page)."""
    info = regions().get(request.args.get("region") or current_user.region_code)
    if info is None:
        abort(404)
    division = request.args.get("division", "")
    institutions = _institutions(info, division)
    return fragment("applications/new.html", "institutions", institutions=institutions,
                    selected=_own_institution(institutions), no_intake=no_intake_notice(info, division))


@bp.get("/applications/<id:app_id>")
@login_required
def detail(app_id):
    app = get_visible(current_user, Application, app_id)
    if not is_fragment_request():  # one audit row per page opened, not per htmx refresh
        service.view(ctx(), app)
        commit_keeping_loaded()
    return _render_detail(app)


@bp.post("/applications/<id:app_id>/materials")
@login_required
def upload(app_id):
    """Add one or more files to a checklist item, or replace one file (form field ``replaces``)."""
    app = get_visible(current_user, Application, app_id)
    replaces = arg_id("replaces") if request.form.get("replaces") else None
    if request.form.get("replaces") and replaces is None:
        abort(404)
    key = f"{request.form.get('disease_code', '')}:{request.form.get('material_code', '')}"
    try:
        added = materials.add(ctx(), app, disease_code=request.form.get("disease_code", ""),
                              material_code=request.form.get("material_code", ""),
                              files=request.files.getlist("file"), replaces_id=replaces)
    except ServiceError as e:
        db.session.rollback()
        # Shown once, next to the material it concerns (not also as a flash at the top of the page).
        return _render_detail(app, upload_error=dict(key=key, message=e.message, problems=e.problems),
                              status=e.status, fragment=True)
    db.session.commit()
    if replaces is not None:
        done = f"已用「{added[0].original_name}」替换原文件。"
    else:
        done = f"已上传 {len(added)} 个文件。" if len(added) > 1 else "材料已上传。"
    return _after_change(app, done, key)


@bp.post("/applications/<id:app_id>/declare")
@login_required
def declare(app_id):
    """An online applicant's electronic confirmation, in place of a signed scan (online.declare)."""
    app = get_visible(current_user, Application, app_id)
    try:
        online.declare(ctx(), app, bool(request.form.get("agree")))
    except ServiceError as e:
        db.session.rollback()
        return _render_detail(app, upload_error=dict(key="declare", message=e.message, problems=e.problems),
                              status=e.status, fragment=True)
    db.session.commit()
    return _after_change(app, "已确认:本人承诺已记录,无需再上传签字的申请表。", "declare")


@bp.post("/applications/<id:app_id>/materials/<id:material_id>/remove")
@login_required
def remove_material(app_id, material_id):
    app = get_visible(current_user, Application, app_id)
    try:
        materials.remove(ctx(), app, material_id)
    except ServiceError as e:
        db.session.rollback()
        return _render_detail(app, error=e.message, status=e.status, fragment=True)
    db.session.commit()
    return _after_change(app, "已移除该文件。", category="info")


@bp.get("/materials/<id:material_id>")
@login_required
def download(material_id):
    opened = materials.download(ctx(), material_id)
    db.session.commit()
    if opened.url:  # MTKIT_S3_PRESIGN_SECONDS: the browser fetches it from the bucket itself
        response = redirect(opened.url, 302)
    else:
        response = send_file(opened.body, mimetype=opened.material.content_type, as_attachment=True,
                             download_name=materials.download_name(opened.material), conditional=False, etag=False)
    response.headers["Cache-Control"] = "no-store"  # medical documents: never kept in a shared cache
    return response


@bp.get("/materials/<id:material_id>/preview")
@bp.get("/materials/<id:material_id>/pages/<int:page>.png")
@login_required
def preview(material_id, page=None):
    """An image to look at inside the review page: a photo as stored, or one page of a PDF."""
    if page is not None and page < 1:
        abort(404)
    c = ctx()
    material = materials.open_material(c, material_id, purpose="preview", page=page or 1)
    if material.content_type == "application/pdf":
        path = previews.pdf_page(c, material, page or 1)
        if path is None:
            db.session.rollback()
            abort(404)
        mimetype = "image/png"
    elif material.content_type in ("image/jpeg", "image/png") and page is None:
        path, mimetype = materials.content(c, material), material.content_type
    else:
        db.session.rollback()
        abort(404)
    db.session.commit()
    response = send_file(path, mimetype=mimetype, as_attachment=False, conditional=False, etag=False)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/applications/<id:app_id>/submit")
@login_required
def submit(app_id):
    done = "申请已提交,审核结果会通知参保人本人。" if current_user.is_staff else "申请已提交,请留意消息通知。"
    return _change(app_id, lambda app: service.submit(ctx(), app, form_version()), done)


@bp.post("/applications/<id:app_id>/withdraw")
@login_required
def withdraw(app_id):
    reason = request.form.get("reason", "")
    return _change(app_id, lambda app: service.withdraw(ctx(), app, form_version(), reason), "申请已撤回。", "info")


@bp.post("/staff/applications/<id:app_id>/act")
@login_required
def act(app_id):
    """A reviewer's action (受理, decide, refer to experts, 办结, return) from the review form."""
    action = request.form.get("action", "")

    def do(app):
        def per_disease(prefix):
            return {ad.disease_code: request.form.get(f"{prefix}_{ad.disease_code}", "") for ad in app.diseases}

        review.act(ctx(), app, action, form_version(), results=per_disease("result"),
                   reasons={k: v for k, v in per_disease("reason").items() if v},
                   explanations=per_disease("explain"), reason_code=request.form.get("reason_code") or None,
                   note=request.form.get("note", ""), to=request.form.get("to"))

    return _change(app_id, do, f"已{Action.label_of(action)}。", done_for=_done_after_review)


def _done_after_review(app, done: str) -> str:
    """Where a return went: to the applicant to supplement, or back to the earlier review step."""
    if app.events and app.events[-1].action == Action.RETURN:
        return "已退回补正。" if app.status == Status.RETURNED else f"已退回「{app.current_step['name']}」重新审核。"
    return done


@bp.post("/staff/applications/<id:app_id>/reveal")
@login_required
def reveal(app_id):
    """The applicant's full name, ID and phone number, for staff handling the record who say why
    (a reason from the list, or 其他 with a note). Audited with the reason; shown for this view only."""
    if current_user.role not in STAFF_ROLES:
        abort(403)
    app = get_visible(current_user, Application, app_id)
    reason, note = request.form.get("reason", ""), request.form.get("note", "")
    box = dict(app=app, reveal_reasons=service.REVEAL_REASONS, reason=reason, note=note)
    try:
        person = service.reveal_applicant(ctx(), app, reason, note)
    except ServiceError as e:
        db.session.rollback()
        return render_template("staff/_identity.html", error=e.message, **box), e.status
    db.session.commit()
    return render_template("staff/_identity.html", revealed=person, **box)


def _change(app_id, change, done: str, category: str = "success", done_for=None):
    """Apply ``change`` to an application the user may see: commit and show ``done``, or show the
    refusal on the detail page with nothing saved."""
    app = get_visible(current_user, Application, app_id)
    try:
        change(app)
    except ServiceError as e:
        db.session.rollback()
        return _render_detail(get_visible(current_user, Application, app_id), error=e.message, problems=e.problems,
                              status=e.status)
    message = done_for(app, done) if done_for else done
    db.session.commit()
    flash(message, category)
    return redirect(url_for("applications.detail", app_id=app_id))


def _render_detail(app, error=None, problems=None, status=200, fragment=False, upload_error=None, done=None):
    """The detail page, or its materials checklist alone for htmx (``fragment``). A refused upload
    (``upload_error``: key, message, problems) is shown once, beside its material; other errors
    once, at the top (a flash on the full page, the top of the checklist in a fragment). Nothing is
    flashed for an htmx request: a flash would wait in the session and greet the next page load."""
    fragment = fragment and is_fragment_request()
    if error and not fragment:
        flash(error, "error")
    c = ctx()
    context = dict(
        app=app,
        info=regions().get(app.region_code),
        checklist=materials.checklist(c, app),
        missing=materials.missing(c, app),
        can_edit=rules.can_edit_materials(app, current_user),
        actions=rules.allowed_actions(app, current_user),
        title_refusal=rules.title_refusal(app, current_user),
        reason_codes=regions().reason_codes(app.region_code),
        return_targets=rules.return_targets(app),
        timeline=disclosure.timeline(app, current_user),
        show_results=disclosure.results_visible(app, current_user),
        explanation_of=rules.latest_explanation,
        problems=problems or [],
        upload_error=upload_error,
        area_error=error if fragment else None,
        done=done,
        today=c.today(app.region_code),
        print_forms=printed_forms.forms_for(app, current_user),
        reveal_reasons=service.REVEAL_REASONS,
        fragment=fragment,
    )
    return render("applications/detail.html", block="checklist" if fragment else None, status=status, **context)


def _after_change(app, done: str, key: str | None = None, category: str = "success"):
    """After a change to the materials: the checklist again with ``done`` in it (htmx), or the
    page with ``done`` as a flash (plain form: a redirect, so a reload does not post again)."""
    if is_fragment_request():
        return _render_detail(app, fragment=True, done=dict(key=key, message=done))  # committed: the app reloads with its new materials
    flash(done, category)
    return redirect(url_for("applications.detail", app_id=app.id) + "#materials")


def _person_for_new() -> User:
    """The person the form is for: oneself, or (代办) a person looked up by ID number in this session."""
    if current_user.role == Role.INSURED:
        return current_user
    if current_user.role not in DESK_ROLES:
        abort(403)
    person_id = arg_id("person_id")
    if request.method == "GET" and not was_looked_up(person_id):  # a bookmark or an old link: to the look-up, with why
        flash("请先查询参保人,再为其代办申请:为保护个人信息,每次登录后须先输入身份证号码查询。", "info")
        abort(redirect(url_for("window.file_for_person")))
    # Only a person looked up by ID number first (window.file_for_person) in this session.
    person = person_in_scope(current_user, person_id) if was_looked_up(person_id) else None
    if person is None:
        abort(404)
    return person


def _new_context(person, info, form):
    c = ctx()
    on = c.today(info.code)
    division = form.get("division") or person.division_code
    institutions = _institutions(info, division)
    channels, default_channel = online.channel_choices(c, info.code, current_user.role, current_user.id != person.id)
    return dict(
        person=person, info=info, division=division, institutions=institutions,
        no_intake=no_intake_notice(info, division),
        # A submitted form keeps what was chosen (an empty choice is reported); a fresh or reloaded form
        # starts at the desk's own office when the old choice does not serve the division.
        institution=(form.get("institution", "") if request.method == "POST" and not form.get("refresh")
                     else _chosen_or_own(form.get("institution", ""), institutions)),
        channels=channels,
        channel=form.get("channel", default_channel), catalogue=regions().catalogue(info.code, on.year),
        unavailable=service.unavailable_diseases(c, person, info.code, on),
        chosen=set(form.getlist("diseases")) if hasattr(form, "getlist") else set(),
        year=on.year, proxy=current_user.id != person.id,
    )


def _chosen_or_own(chosen: str, institutions) -> str:
    return chosen if any(i.code == chosen for i in institutions) else _own_institution(institutions)


def _own_institution(institutions) -> str:
    """代办: the desk's own hospital or agency office, chosen in advance when it serves the division."""
    own = {Role.HOSPITAL_OFFICE: current_user.hospital_code, Role.AGENCY_REVIEWER: current_user.office_code}.get(current_user.role)
    return own if own and any(i.code == own for i in institutions) else ""


def _institutions(info, division):
    return info.intake_institutions(division)
