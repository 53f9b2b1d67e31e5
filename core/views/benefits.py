"""门特 benefits: a person's balances; hospital 医保科 and agency staff record visits and stays,
estimate a visit step by step, and reverse mistakes. Rules live in core/services/benefits.py."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from core.extensions import db
from core.models import BenefitSettlement, ChosenInstitution, InpatientStay, User
from core.regions import regions
from core.services import ServiceError
from core.services import benefits as ben
from core.services import recognitions as recs
from core.services import stays
from core.services.access import can_see, can_view_person, get_visible, record_scope
from core.services.audit import audit
from core.services.clock import today
from core.services.identity import id_number_problem, normalise_id
from core.types import BENEFIT_CATEGORIES, INSURED_SCHEMES, LIMIT_BASES, YEAR_RULES
from core.views import arg_id, remember_looked_up, was_looked_up

bp = Blueprint("benefits", __name__)
PAGE_ROWS = 100


def _ledger_page(query):
    """One page of settlements, newest first, walking the id index from ?before= (no OFFSET)."""
    before = arg_id("before")
    if before:
        query = query.where(BenefitSettlement.id < before)
    rows = db.session.scalars(query.limit(PAGE_ROWS + 1)).all()
    next_before = rows[PAGE_ROWS - 1].id if len(rows) > PAGE_ROWS else None
    return rows[:PAGE_ROWS], next_before


def _year_arg(default: int) -> int:
    year = request.args.get("year", type=int)
    return year if year and 2000 <= year <= default + 1 else default


# --- the insured person -------------------------------------------------------------------------
@bp.get("/benefits")
@login_required
def mine():
    if current_user.role != "insured":
        return redirect(url_for("benefits.staff_home"))
    on = today()
    year = _year_arg(on.year)
    balances = ben.balances_dict(current_user, year)
    rows, next_before = _ledger_page(ben.visits_query(current_user, current_user.id, year))
    return render_template(
        "benefits/mine.html", balances=balances, rows=rows, reversed_ids=ben.reversed_ids(rows), year=year,
        next_before=next_before, this_year=on.year,
    )


@bp.get("/benefits/settlements/<id:row_id>")
@login_required
def settlement(row_id):
    return _settlement_page(get_visible(current_user, BenefitSettlement, row_id))


def _settlement_page(row: BenefitSettlement, status: int = 200):
    reversal = db.session.scalar(select(BenefitSettlement).where(BenefitSettlement.reversal_of_id == row.id))
    return render_template("benefits/settlement.html", row=row, reversal=reversal,
                           can_reverse=current_user.role in ben.RECORDER_ROLES), status


# --- staff -----------------------------------------------------------------------------------------
def _recorder_only():
    if current_user.role not in ben.RECORDER_ROLES:
        abort(403)


@bp.route("/staff/benefits", methods=["GET", "POST"])
@login_required
def staff_home():
    """Find a person by ID number (as at the window), and the latest settlements in the user's scope."""
    if not current_user.is_staff:
        abort(403)
    if request.method == "POST":
        _recorder_only()
        idn = normalise_id(request.form.get("id_number"))
        problem = id_number_problem(idn)
        if problem:
            flash(problem, "error")
            return _staff_home_page(), 422
        person = db.session.scalar(select(User).where(User.id_number == idn, User.role == "insured"))
        if person is not None and not can_view_person(current_user, person):
            person = None  # another region's person: the same answer as nobody
        audit("person.lookup", ("users", getattr(person, "id", None)), result="ok" if person else "not_found",
              detail="benefits")
        db.session.commit()
        if person is None:
            flash("未找到该身份证号码的本地区(本辖区)参保人。", "error")
            return _staff_home_page(), 404
        remember_looked_up(person.id)
        return redirect(url_for("benefits.person", person_id=person.id))
    return _staff_home_page()


def _staff_home_page():
    rows = db.session.scalars(ben.visits_query(current_user).limit(30)).all()
    return render_template("benefits/staff_home.html", rows=rows, reversed_ids=ben.reversed_ids(rows))


def _person_for_staff(person_id: int) -> User:
    _recorder_only()
    person = db.session.get(User, person_id)
    # Only people looked up by full ID number in this session (no stepping through ids).
    if person is None or not can_view_person(current_user, person) or not was_looked_up(person.id):
        abort(404)
    return person


def _person_page(person: User, status: int = 200, estimate: dict | None = None, form=None, problems=None):
    on = today()
    year = _year_arg(on.year)
    rows, next_before = _ledger_page(ben.visits_query(current_user, person.id, year))
    stays = db.session.scalars(
        select(InpatientStay).where(record_scope(current_user, InpatientStay), InpatientStay.person_id == person.id)
        .order_by(InpatientStay.admitted_on.desc()).limit(50)
    ).all()
    chosen = ben.active_rows(ChosenInstitution, [person.id]).get(person.id, [])
    info = regions().get(person.region_code)
    held = recs.for_person(person.id, person.region_code)
    recognised = list(dict.fromkeys((r.disease_code, r.disease_name) for r in held))
    codes = {c for c, _ in recognised}
    others = [d for d in regions().catalogue(person.region_code, on.year) if d.code not in codes]
    hospitals = [i for i in info.institutions if i.kind == "hospital"]
    return render_template(
        "benefits/person.html", person=person, balances=ben.balances_dict(person, year), rows=rows,
        reversed_ids=ben.reversed_ids(rows), next_before=next_before, stays=stays, stays_reversed=_reversed(InpatientStay, stays),
        chosen=chosen, recognised=recognised, others=others, hospitals=hospitals, year=year, today=on,
        estimate=estimate, form=form or {}, problems=problems or [],
        policy=regions().benefit_policy(person.region_code, year),
        CATEGORY_NAMES=BENEFIT_CATEGORIES, SCHEME_NAMES=INSURED_SCHEMES, YEAR_RULES=YEAR_RULES, LIMIT_BASES=LIMIT_BASES,
    ), status


def _reversed(model, rows) -> set[int]:
    ids = [r.id for r in rows]
    if not ids:
        return set()
    return set(db.session.scalars(select(model.reversal_of_id).where(model.reversal_of_id.in_(ids))))


@bp.get("/staff/benefits/people/<id:person_id>")
@login_required
def person(person_id):
    person = _person_for_staff(person_id)
    audit("benefit.view_person", ("users", person.id))  # health data of a person: every view is recorded
    db.session.commit()
    return _person_page(person)


def _visit_from_form(person: User) -> ben.Visit:
    f = request.form
    institution = current_user.hospital_code if current_user.role == "hospital_office" else f.get("institution", "")
    return ben.make_visit(
        person, institution_code=institution, disease_code=f.get("disease", ""), visit_date=f.get("visit_date", ""),
        eligible=f.get("eligible", ""), items_text=f.get("items", ""), note=f.get("note", ""),
    )


def _failed(person: User, e: ServiceError):
    db.session.rollback()
    if request.headers.get("HX-Request"):
        return render_template("benefits/_estimate.html", estimate=None, error=e), e.status
    flash(e.message, "error")
    return _person_page(person, e.status, form=request.form, problems=e.problems)


@bp.post("/staff/benefits/people/<id:person_id>/estimate")
@login_required
def estimate(person_id):
    """试算: what the visit would get back now, step by step. Nothing is saved."""
    person = _person_for_staff(person_id)
    try:
        result = ben.estimate(_visit_from_form(person), current_user)
    except ServiceError as e:
        return _failed(person, e)
    if request.headers.get("HX-Request"):
        return render_template("benefits/_estimate.html", estimate=result, error=None)
    return _person_page(person, estimate=result, form=request.form)


@bp.post("/staff/benefits/people/<id:person_id>/visits")
@login_required
def record_visit(person_id):
    person = _person_for_staff(person_id)
    try:
        row = ben.settle(_visit_from_form(person), current_user)
    except ServiceError as e:
        return _failed(person, e)
    db.session.commit()
    if row.covered:
        flash(f"已结算登记:报销 {ben.yuan(row.reimbursed_fen)} 元,个人负担 {ben.yuan(row.own_fen)} 元。", "success")
    else:
        flash(f"已登记,不予支付:{row.reason}", "info")
    return redirect(url_for("benefits.settlement", row_id=row.id))


@bp.post("/staff/benefits/settlements/<id:row_id>/reverse")
@login_required
def reverse(row_id):
    _recorder_only()
    row = get_visible(current_user, BenefitSettlement, row_id)
    try:
        back = ben.reverse(row, current_user, request.form.get("reason", ""))
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return _settlement_page(row, e.status)
    db.session.commit()
    flash(f"已冲销(冲销记录第 {back.id} 号)。", "success")
    return redirect(url_for("benefits.settlement", row_id=row.id))


@bp.post("/staff/benefits/people/<id:person_id>/stays")
@login_required
def record_stay(person_id):
    person = _person_for_staff(person_id)
    f = request.form
    institution = current_user.hospital_code if current_user.role == "hospital_office" else f.get("institution", "")
    try:
        stay = stays.record_stay(person, current_user, institution_code=institution, admitted_on=f.get("admitted_on"),
                               discharged_on=f.get("discharged_on"), note=f.get("note", ""))
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return _person_page(person, e.status, form=f)
    affected = stays.settled_during(stay)
    db.session.commit()
    flash("已登记住院。住院期间的门特就诊不予支付。", "success")
    if affected:
        ids = "、".join(f"第 {r.id} 号" for r in affected)
        flash(f"该住院期间已有 {len(affected)} 笔门特结算({ids}),请核实后冲销。", "error")
    return redirect(url_for("benefits.person", person_id=person.id))


@bp.post("/staff/benefits/stays/<id:stay_id>/reverse")
@login_required
def reverse_stay(stay_id):
    _recorder_only()
    stay = db.session.get(InpatientStay, stay_id)
    if stay is None or not can_see(current_user, stay):
        abort(404)
    return _change_stay(stay, lambda: stays.reverse_stay(stay, current_user, request.form.get("reason", "")),
                        "已冲销该住院记录。")


def _change_stay(stay: InpatientStay, change, done: str):
    person = _person_for_staff(stay.person_id)
    try:
        change()
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return _person_page(person, e.status)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("benefits.person", person_id=person.id))


@bp.post("/staff/benefits/stays/<id:stay_id>/discharge")
@login_required
def discharge(stay_id):
    _recorder_only()
    stay = db.session.get(InpatientStay, stay_id)
    if stay is None or not can_see(current_user, stay):
        abort(404)
    return _change_stay(stay, lambda: stays.record_discharge(stay, current_user, request.form.get("discharged_on", "")),
                        "已登记出院。")


@bp.post("/staff/benefits/people/<id:person_id>/category")
@login_required
def category(person_id):
    from core.services.accounts import set_insured_category

    person = _person_for_staff(person_id)
    try:
        set_insured_category(person, current_user, scheme=request.form.get("scheme", ""),
                             category=request.form.get("category", ""))
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return _person_page(person, e.status)
    db.session.commit()
    flash("已变更参保类别;此后的结算按新类别计算,已结算的记录不变。", "success")
    return redirect(url_for("benefits.person", person_id=person.id))


@bp.post("/staff/benefits/people/<id:person_id>/chosen")
@login_required
def choose(person_id):
    person = _person_for_staff(person_id)
    try:
        stays.choose_institution(person, current_user, institution_code=request.form.get("institution", ""),
                               start_date=request.form.get("start_date", ""))
    except ServiceError as e:
        db.session.rollback()
        flash(e.message, "error")
        return _person_page(person, e.status, form=request.form)
    db.session.commit()
    flash("已登记选定的定点医疗机构。", "success")
    return redirect(url_for("benefits.person", person_id=person.id))

