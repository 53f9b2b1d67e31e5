"""门特 benefits over the JSON API: balances and the estimate of one visit (试算), through the same
services, look-up and scope as the 我的待遇 and 门特结算 pages.

- An insured person: their own balances and estimates. Naming anyone else is refused (403).
- Hospital 医保科 and agency reviewers: a person they name by full ID number, through the one
  look-up (``people.lookup``: scope, audit); a hospital estimates visits at its own hospital only.
  Every view of a person's balances is audited (``benefit.view_person``). Other roles: 403.

The ID number travels in the ``X-Person-Id-Number`` header on GET (never in a URL, which access logs
and proxies keep) and as ``person_id_number`` in the body on POST, as for 代办 applications.
An estimate saves nothing.
"""
from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user

from core.api.blueprint import bp
from core.api.errors import ApiError
from core.api.inputs import Fields, json_body, query_year
from core.benefits import service
from core.benefits.inputs import MAX_ITEMS, make_visit
from core.benefits.money import parse_amount
from core.extensions import db
from core.kernel.errors import Invalid
from core.kernel.roles import Role
from core.models import User
from core.people.api import person_named, person_ref
from core.people.identity import normalise_id
from core.web.context import ctx

PERSON_HEADER = "X-Person-Id-Number"


@bp.get("/benefits/balances")
def benefit_balances():
    person = _person(request.headers.get(PERSON_HEADER), PERSON_HEADER)
    c = ctx()
    year = query_year(c.today(person.region_code).year)
    service.record_view(c, person)
    db.session.commit()
    body = service.balances(c, person, year)
    body.pop("person_id")
    return jsonify({"person": person_ref(person), **body})


@bp.post("/benefits/estimate")
def benefit_estimate():
    f = Fields(json_body())
    id_number = f.text("person_id_number", required=False, max_len=18, label="参保人身份证号码")
    hospital_staff = current_user.role == Role.HOSPITAL_OFFICE
    institution = f.text("institution", required=not hospital_staff, max_len=30, label="就诊的定点医疗机构")
    disease = f.text("disease", max_len=30, label="病种编码")
    visit_date = f.text("visit_date", max_len=20, label="就诊日期")
    eligible = _eligible(f)
    items_text = _items(f)
    if eligible is None and items_text is None and "eligible" not in f.problems and "items" not in f.problems:
        f.problems["eligible"] = "请填写符合规定的费用(eligible),或提供费用明细(items)。"
    if "person_id_number" in f.problems:
        f.done()
    person = _person(id_number, "person_id_number")
    if hospital_staff:
        institution = institution or current_user.hospital_code
    f.done()
    c = ctx()
    visit = make_visit(person, c.today(person.region_code), institution_code=institution, disease_code=disease,
                       visit_date=visit_date, eligible=eligible or "", items_text=items_text or "")
    result = service.estimate(c, visit)
    db.session.rollback()  # nothing to keep: an estimate never writes
    result.pop("person_id")
    return jsonify({"person": person_ref(person), **result})


def _person(id_number: str | None, field: str) -> User:
    """The person whose benefits are asked for: the insured caller, or the person staff name."""
    me = current_user._get_current_object()
    if me.role == Role.INSURED:
        if id_number and normalise_id(id_number) != me.id_number:
            raise ApiError(403, message="只能查看本人的门特待遇。", fields={field: "只能是本人"})
        return me
    service.check_desk(me)
    return person_named(id_number, field, purpose="benefits")


def _eligible(f: Fields) -> str | None:
    """The eligible amount in yuan as a decimal string ("1234.50"): a JSON number could be a float."""
    value = f.data.get("eligible")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # then the items give the amount (or the request is told to give one)
    if not isinstance(value, str):
        f.problems["eligible"] = "符合规定的费用须为字符串形式的金额(元),如 \"1234.50\"。"
        return None
    return value


def _items(f: Fields) -> str | None:
    """Items [{"name", "amount"}] as the item lines the service reads; JSON shapes checked here."""
    value = f.data.get("items")
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_ITEMS:
        f.problems["items"] = f"费用明细须为 1–{MAX_ITEMS} 项组成的数组。"
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
            parsed = parse_amount(amount, f"费用明细第 {n} 项的金额")
        except Invalid as e:
            f.problems["items"] = e.message
            return None
        lines.append(f"{name.strip()}\t{parsed}")
    return "\n".join(lines)
