"""门特 benefits: the caller's (or, for 医保科 and agency staff, a person's) balances, and the estimate
of one visit (试算), as the 我的待遇 and 门特结算 pages show them. Rules live in core/services/benefits.py.

Who may do what (the pages' rules):
- An insured person: their own balances and estimates. Naming anyone else is refused (403).
- Hospital 医保科 and agency reviewers (``benefits.RECORDER_ROLES``): a person they identify by full
  ID number, within the scope of the 门特结算 page (``access.can_view_person``, ``check_recorder``); a
  hospital estimates visits at its own hospital only. Every look-up is audited (``person.lookup``),
  every view of balances too (``benefit.view_person``). Other roles: 403.

The ID number travels in the ``X-Person-Id-Number`` header on GET (never in a URL, which access logs
and proxies keep) and as ``person_id_number`` in the body on POST, as for 代办 applications.
An estimate saves nothing: it reads the ledger and answers.
"""
from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user
from sqlalchemy import exists, select

from core.api import bp, commit
from core.api.errors import ApiError
from core.api.inputs import Fields, json_body, query_year
from core.extensions import db
from core.models import Recognition, User
from core.regions import regions
from core.services import Invalid
from core.services import benefits as ben
from core.services.access import can_view_person
from core.services.audit import audit
from core.services.clock import today
from core.services.identity import id_number_problem, mask_id, normalise_id
from core.types import benefit_category

PERSON_HEADER = "X-Person-Id-Number"


@bp.get("/benefits/balances")
def benefit_balances():
    year = query_year(today().year)
    person = _person(request.headers.get(PERSON_HEADER), PERSON_HEADER, view=True)
    body = ben.balances_dict(person, year)
    body.pop("person_id")
    return jsonify({"person": person_ref(person), **body})


@bp.post("/benefits/estimate")
def benefit_estimate():
    f = Fields(json_body())
    id_number = f.text("person_id_number", required=False, max_len=18, label="参保人身份证号码")
    hospital_staff = current_user.role == "hospital_office"
    institution = f.text("institution", required=not hospital_staff, max_len=30, label="就诊的定点医疗机构")
    disease = f.text("disease", max_len=30, label="病种编码")
    day = _visit_date(f)
    eligible = _eligible(f)
    items_text = _items(f)
    if eligible is None and items_text is None and "eligible" not in f.problems and "items" not in f.problems:
        f.problems["eligible"] = "请填写符合规定的费用(eligible),或提供费用明细(items)。"
    if "person_id_number" in f.problems:
        f.done()
    person = _person(id_number, "person_id_number")
    if hospital_staff:
        institution = institution or current_user.hospital_code
        if institution != current_user.hospital_code:
            raise ApiError(403, message="医院医保科只能试算本院的就诊。", fields={"institution": "只能是本院"})
    if institution and "institution" not in f.problems:
        info = regions().get(person.region_code)
        inst = info.institution(institution) if info else None
        if inst is None or inst.kind != "hospital":
            f.problems["institution"] = f"{institution} 不是本地区的定点医疗机构,请核对机构编码。"
    if disease and day is not None:
        problem = _disease_problem(person, disease, day)
        if problem:
            f.problems["disease"] = problem
    f.done()
    try:
        visit = ben.make_visit(person, institution_code=institution, disease_code=disease, visit_date=day.isoformat(),
                               eligible=eligible or "", items_text=items_text or "")
    except Invalid as e:  # every field is fine on its own: the items do not add up to the amount
        raise ApiError(422, message=e.message + ";".join(e.problems), fields={"items": ";".join(e.problems)}) from None
    if benefit_category(person.insured_scheme, person.insured_category) is None:
        raise ApiError(422, message="参保人的参保类别(职工在职/职工退休/城乡居民)未登记,请先到经办机构登记后再试算。",
                       fields={"person": "参保类别未登记"})
    try:
        result = ben.estimate(visit, current_user._get_current_object())
    except Invalid as e:  # e.g. no policy for the benefit year
        raise ApiError(422, message=e.message, fields={"_": [e.message, *e.problems]}) from None
    result.pop("person_id")
    body = {"person": person_ref(person), **result}
    db.session.rollback()  # nothing to keep: an estimate never writes
    return jsonify(body)


# --- who ---------------------------------------------------------------------------------------
def _person(id_number: str | None, field: str, view: bool = False) -> User:
    """The person whose benefits are asked for: the insured caller, or the person staff name."""
    me = current_user._get_current_object()
    if me.role == "insured":
        if id_number and normalise_id(id_number) != me.id_number:
            raise ApiError(403, message="只能查看本人的门特待遇。", fields={field: "只能是本人"})
        return me
    if me.role not in ben.RECORDER_ROLES:
        raise ApiError(403, message="只有医院医保科和经办机构可以查看参保人的门特待遇。")
    if not id_number:
        raise ApiError(422, message=f"工作人员须提供参保人身份证号码({field})。", fields={field: "必填"})
    problem = id_number_problem(id_number)
    if problem:
        raise ApiError(422, message=problem, fields={field: problem})
    person = db.session.scalar(select(User).where(User.id_number == normalise_id(id_number), User.role == "insured"))
    if person is not None and not can_view_person(me, person):
        person = None  # another region's (district's) person: the same answer as nobody
    audit("person.lookup", ("users", getattr(person, "id", None)), result="ok" if person else "not_found",
          detail="benefits")
    if person is not None and view:
        audit("benefit.view_person", ("users", person.id))  # health data: every view is recorded
    commit()
    if person is None:
        raise ApiError(404, message="未找到该身份证号码的本地区(本辖区)参保人。", fields={field: "未找到"})
    return person


def person_ref(person: User) -> dict:
    return {"id": person.id, "name": person.name, "id_number": mask_id(person.id_number)}


# --- fields ------------------------------------------------------------------------------------
def _visit_date(f: Fields):
    raw = f.text("visit_date", max_len=20, label="就诊日期")
    if raw is None:
        return None
    try:
        day = ben.parse_date(raw, "就诊日期")
    except Invalid as e:
        f.problems["visit_date"] = e.message
        return None
    if day < ben.EARLIEST or day > today():
        f.problems["visit_date"] = "就诊日期不能晚于今天,也不能早于 2000 年。"
        return None
    return day


def _eligible(f: Fields) -> str | None:
    """The eligible amount in yuan as a decimal string ("1234.50"): a JSON number could be a float."""
    value = f.data.get("eligible")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # then the items give the amount (or the request is told to give one)
    if not isinstance(value, str):
        f.problems["eligible"] = "符合规定的费用须为字符串形式的金额(元),如 \"1234.50\"。"
        return None
    try:
        return str(ben.parse_amount(value, "符合规定的费用"))
    except Invalid as e:
        f.problems["eligible"] = e.message
        return None


def _items(f: Fields) -> str | None:
    """Items [{"name", "amount"}] as the service's item lines, each one checked here."""
    value = f.data.get("items")
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > ben.MAX_ITEMS:
        f.problems["items"] = f"费用明细须为 1–{ben.MAX_ITEMS} 项组成的数组。"
        return None
    lines = []
    for n, item in enumerate(value, 1):
        name = item.get("name") if isinstance(item, dict) else None
        amount = item.get("amount") if isinstance(item, dict) else None
        if (not isinstance(name, str) or not name.strip() or len(name.strip()) > 100
                or any(ord(c) < 32 or ord(c) == 127 for c in name)):
            f.problems["items"] = f"费用明细第 {n} 项的名称须为 1–100 字的文字。"
            return None
        if not isinstance(amount, str):
            f.problems["items"] = f"费用明细第 {n} 项的金额须为字符串形式的金额(元),如 \"36.50\"。"
            return None
        try:
            parsed = ben.parse_amount(amount, f"费用明细第 {n} 项的金额")
        except Invalid as e:
            f.problems["items"] = e.message
            return None
        lines.append(f"{name.strip()}\t{parsed}")
    return "\n".join(lines)


def _disease_problem(person: User, code: str, day) -> str | None:
    """An estimate is for a disease the person is (or was) recognised for; anything else is a typing
    error or a disease the person has no 认定 for. (A recognition that does not cover the visit date,
    e.g. expired, gives an estimate of 不予支付 with the reason, as the page does.)"""
    recognised = db.session.scalar(select(exists().where(Recognition.person_id == person.id,
                                                         Recognition.disease_code == code)))
    if recognised:
        return None
    year = ben.benefit_year(person.region_code, day, today())
    if regions().disease(person.region_code, code, year) is None:
        return f"病种编码 {code} 不在本地区 {year} 年度门特病种目录内,请核对。"
    return "参保人没有该病种的门特认定,不能试算。"
