"""门特 benefit pages: a person's balances (我的待遇); for hospital 医保科 and agency staff, 门特结算:
find a person, estimate a visit step by step, record visits and stays, reverse mistakes.
Rules live in the benefits services; these routes parse, call, render."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from core import idempotency
from core.benefits import ledger, service, stays
from core.benefits.inputs import make_visit
from core.benefits.money import yuan
from core.extensions import db
from core.kernel.errors import ServiceError
from core.kernel.roles import Role
from core.kernel.types import BENEFIT_CATEGORIES, INSURED_SCHEMES, LIMIT_BASES, YEAR_RULES
from core.models import CATEGORY_EARLIEST, BenefitSettlement, InpatientStay, User
from core.people import categories
from core.people.lookup import find_person
from core.people.scope import get_visible, person_in_scope
from core.recognitions.service import for_person
from core.recoveries import service as recoveries
from core.web.context import ctx, regions
from core.web.helpers import arg_id, form_key, is_fragment_request, refused, remember_looked_up, render, was_looked_up

bp = Blueprint("benefits", __name__)


def _year_arg(default: int) -> int:
    year = request.args.get("year", type=int)
    return year if year and 2000 <= year <= default + 1 else default


# --- the insured person -------------------------------------------------------------------------
@bp.get("/benefits")
@login_required
def mine():
    if current_user.role != Role.INSURED:
        return redirect(url_for("benefits.staff_home"))
    c = ctx()
    this_year = c.today(current_user.region_code).year
    year = _year_arg(this_year)
    rows, next_before = ledger.visits_page(current_user, current_user.id, year, arg_id("before"))
    return render_template(
        "benefits/mine.html", balances=service.balances(c, current_user, year), rows=rows,
        reversed_ids=ledger.reversed_ids(BenefitSettlement, rows), year=year, next_before=next_before,
        this_year=this_year, recoveries=recoveries.for_person(current_user),
        recovering=recoveries.status_by_settlement(rows),
    )


@bp.get("/benefits/settlements/<id:row_id>")
@login_required
def settlement(row_id):
    return _settlement_page(get_visible(current_user, BenefitSettlement, row_id))


def _settlement_page(row: BenefitSettlement, status: int = 200, problems=()):
    return render_template("benefits/settlement.html", row=row, reversal=ledger.reversal_of(row), problems=list(problems),
                           recovery=recoveries.of_settlement(row.id),
                           can_reverse=current_user.role in service.RECORDER_ROLES, CATEGORY_NAMES=BENEFIT_CATEGORIES), status


# --- staff -----------------------------------------------------------------------------------------
def _recorder_only():
    service.check_desk(current_user)  # the same refusal as the API's


@bp.route("/staff/benefits", methods=["GET", "POST"])
@login_required
def staff_home():
    """Find a person by ID number (as at the window), and the latest settlements in the user's scope."""
    if not current_user.is_staff:
        abort(403)
    if request.method == "POST":
        _recorder_only()
        try:
            person = find_person(ctx(), request.form.get("id_number"), purpose="benefits")
        except ServiceError as e:
            return refused(e, "benefits/staff_home.html", **_staff_home_context())
        remember_looked_up(person.id)
        return redirect(url_for("benefits.person", person_id=person.id))
    return render_template("benefits/staff_home.html", **_staff_home_context())


def _staff_home_context():
    rows = ledger.recent(current_user, 30)
    return dict(rows=rows, reversed_ids=ledger.reversed_ids(BenefitSettlement, rows),
                recovering=recoveries.status_by_settlement(rows))


def _person_for_staff(person_id: int) -> User:
    _recorder_only()
    # Only people looked up by full ID number in this session (no stepping through ids).
    person = person_in_scope(current_user, person_id) if was_looked_up(person_id) else None
    if person is None:
        abort(404)
    return person


def _person_context(person: User, estimate: dict | None = None, form=None, problems=None, error=None):
    c = ctx()
    on = c.today(person.region_code)
    year = _year_arg(on.year)
    rows, next_before = ledger.visits_page(current_user, person.id, year, arg_id("before"))
    person_stays = ledger.stays_of(current_user, person.id)
    held = for_person(person.id, person.region_code)
    recognised = list(dict.fromkeys((r.disease_code, r.disease_name) for r in held))
    codes = {code for code, _ in recognised}
    info = regions().get(person.region_code)
    return dict(
        person=person, balances=service.balances(c, person, year), rows=rows,
        reversed_ids=ledger.reversed_ids(BenefitSettlement, rows), next_before=next_before, stays=person_stays,
        recovering=recoveries.status_by_settlement(rows),
        stays_reversed=ledger.reversed_ids(InpatientStay, person_stays), chosen=stays.chosen_of(person),
        recognised=recognised, others=[d for d in regions().catalogue(person.region_code, on.year) if d.code not in codes],
        hospitals=[i for i in info.institutions if i.kind == "hospital"], year=year, today=on,
        estimate=estimate, error=error, form=form or {}, problems=problems or [],
        policy=regions().benefit_policy(person.region_code, year),
        category_history=list(reversed(categories.history_of([person.id])[person.id])), CATEGORY_EARLIEST=CATEGORY_EARLIEST,
        CATEGORY_NAMES=BENEFIT_CATEGORIES, SCHEME_NAMES=INSURED_SCHEMES, YEAR_RULES=YEAR_RULES, LIMIT_BASES=LIMIT_BASES,
    )


def _person_refused(person: User, e: ServiceError, form=None):
    """A refusal on the person page: the estimate block alone for htmx, else the whole page."""
    db.session.rollback()
    if is_fragment_request():
        return render("benefits/person.html", block="estimate", status=e.status, estimate=None, error=e)
    flash(e.message, "error")
    return render("benefits/person.html", status=e.status, **_person_context(person, form=form, problems=e.problems))


@bp.get("/staff/benefits/people/<id:person_id>")
@login_required
def person(person_id):
    if not was_looked_up(person_id):  # a bookmark or an old link: a look-up comes first, so say so
        _recorder_only()
        flash("请先查询参保人,再办理结算:为保护个人信息,每次登录后须先输入身份证号码查询。", "info")
        return redirect(url_for("benefits.staff_home"))
    person = _person_for_staff(person_id)
    service.record_view(ctx(), person)  # health data of a person: every view is recorded
    db.session.commit()
    return render_template("benefits/person.html", **_person_context(person))


def _institution(f) -> str:
    """The institution posted; hospital 医保科 forms leave it out: their own hospital (another is refused)."""
    own = current_user.hospital_code if current_user.role == Role.HOSPITAL_OFFICE else ""
    return f.get("institution") or own


def _visit_from_form(person: User):
    f = request.form
    institution = _institution(f)
    return make_visit(person, ctx().today(person.region_code), institution_code=institution,
                      disease_code=f.get("disease", ""), visit_date=f.get("visit_date", ""),
                      eligible=f.get("eligible", ""), items_text=f.get("items", ""), note=f.get("note", ""))


@bp.post("/staff/benefits/people/<id:person_id>/estimate")
@login_required
def estimate(person_id):
    """试算: what the visit would get back now, step by step. Nothing is saved."""
    person = _person_for_staff(person_id)
    try:
        result = service.estimate(ctx(), _visit_from_form(person))
    except ServiceError as e:
        return _person_refused(person, e, request.form)
    db.session.rollback()  # nothing to keep: an estimate never writes
    if is_fragment_request():
        return render("benefits/person.html", block="estimate", estimate=result, error=None)
    return render_template("benefits/person.html", **_person_context(person, estimate=result, form=request.form))


@bp.post("/staff/benefits/people/<id:person_id>/visits")
@login_required
def record_visit(person_id):
    person = _person_for_staff(person_id)
    try:
        # The form's one-time key: the same form submitted again (twice in a row, four at once)
        # answers with the first settlement and pays nothing twice.
        row = service.settle(ctx(), _visit_from_form(person), key=form_key(required=True))
    except ServiceError as e:
        return _person_refused(person, e, request.form)
    db.session.commit()
    if idempotency.is_repeat(row):
        flash(f"该表单已提交过,未重复结算;以下是第一次提交登记的第 {row.id} 号结算。", "info")
    if row.covered:
        flash(f"已结算登记:报销 {yuan(row.reimbursed_fen)} 元,个人负担 {yuan(row.own_fen)} 元。", "success")
    else:
        flash(f"已登记,不予支付:{row.reason}", "info")
    return redirect(url_for("benefits.settlement", row_id=row.id))


@bp.post("/staff/benefits/settlements/<id:row_id>/reverse")
@login_required
def reverse(row_id):
    _recorder_only()
    row = get_visible(current_user, BenefitSettlement, row_id)
    try:
        back = service.reverse(ctx(), row, request.form.get("reason", ""))
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return _settlement_page(row, e.status, e.problems)
    db.session.commit()
    flash(f"已冲销(冲销记录第 {back.id} 号)。", "success")
    return redirect(url_for("benefits.settlement", row_id=row.id))


def _change_person(person: User, change, done: str, form=None):
    """Apply a change to a person's benefit records. Returns (result, response): committed and back
    to their page, or (None, the page showing the refusal) with nothing saved."""
    try:
        result = change()
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return None, render("benefits/person.html", status=e.status, **_person_context(person, form=form, problems=e.problems))
    db.session.commit()
    flash(done, "success")
    return result, redirect(url_for("benefits.person", person_id=person.id))


@bp.post("/staff/benefits/people/<id:person_id>/stays")
@login_required
def record_stay(person_id):
    person = _person_for_staff(person_id)
    f = request.form
    institution = _institution(f)

    def change():
        stay = stays.record_stay(ctx(), person, institution_code=institution, admitted_on=f.get("admitted_on"),
                                 discharged_on=f.get("discharged_on"), note=f.get("note", ""), key=form_key(required=True))
        return stays.settled_during(stay)

    affected, response = _change_person(person, change, "已登记住院。住院期间的门特就诊不予支付。", form=f)
    if affected:
        ids = "、".join(f"第 {r.id} 号" for r in affected)
        flash(f"该住院期间已有 {len(affected)} 笔门特结算({ids}),请核实后冲销。", "error")
    return response


def _stay_of(stay_id) -> InpatientStay:
    _recorder_only()
    return get_visible(current_user, InpatientStay, stay_id)


@bp.post("/staff/benefits/stays/<id:stay_id>/reverse")
@login_required
def reverse_stay(stay_id):
    stay = _stay_of(stay_id)
    person = _person_for_staff(stay.person_id)
    return _change_person(person, lambda: stays.reverse_stay(ctx(), stay, request.form.get("reason", "")),
                          "已冲销该住院记录。")[1]


@bp.post("/staff/benefits/stays/<id:stay_id>/discharge")
@login_required
def discharge(stay_id):
    stay = _stay_of(stay_id)
    person = _person_for_staff(stay.person_id)
    return _change_person(person, lambda: stays.record_discharge(ctx(), stay, request.form.get("discharged_on", "")),
                          "已登记出院。")[1]


@bp.post("/staff/benefits/people/<id:person_id>/category")
@login_required
def category(person_id):
    person = _person_for_staff(person_id)
    f = request.form
    result, response = _change_person(person, lambda: categories.record_change(
        ctx(), person, scheme=f.get("scheme", ""), category=f.get("category", ""), effective_from=f.get("effective_from", ""),
        reason=f.get("reason", "")), "已登记参保类别变更:生效日期及以后的就诊按新类别结算,之前的就诊仍按原类别。", form=f)
    if result and result[1]:
        ids = "、".join(f"第 {r.id} 号" for r in result[1])
        flash(f"生效日期后已有 {len(result[1])} 笔门特结算按原类别计算({ids}),请核实后冲销并重新结算。", "error")
    return response


@bp.post("/staff/benefits/people/<id:person_id>/chosen")
@login_required
def choose(person_id):
    person = _person_for_staff(person_id)
    return _change_person(person, lambda: stays.choose_institution(
        ctx(), person, institution_code=request.form.get("institution", ""), start_date=request.form.get("start_date", ""),
        key=form_key()), "已登记选定的定点医疗机构。", form=request.form)[1]
