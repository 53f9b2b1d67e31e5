"""What a visit to settle or estimate is, and turning raw input (a form, a JSON body, a CSV row) into
one, with every problem named by its field in Chinese. The page, the API and the CSV import all
come through ``make_visit``, so they accept and refuse exactly the same things."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from core.benefits.money import ZERO, parse_amount, yuan
from core.kernel.errors import Invalid
from core.kernel.text import code as normal_code
from core.kernel.text import nfkc, text_problem
from core.models import User

MAX_ITEMS = 100
MAX_NOTE = 500
EARLIEST = date(2000, 1, 1)
# An item line: a name, then spaces, a tab or a comma, then the amount (which may have thousands
# separators: "透析治疗 1,200.00" is 1200.00, not an item "透析治疗 1" of 200.00).
ITEM_LINE = re.compile(r"^(?P<name>.+?)[\s,,]+(?P<amount>\d[\d,,]*(?:\.\d+)?)\s*元?$")


@dataclass
class Visit:
    """A visit to settle or estimate. ``items`` are {"name", "amount": Decimal}."""

    person: User
    institution_code: str
    disease_code: str
    visit_date: date
    eligible: Decimal
    items: list[dict] = field(default_factory=list)
    note: str = ""


def parse_date(text, label: str) -> date:
    try:
        return date.fromisoformat(nfkc(str(text or "")).strip())
    except ValueError:
        raise Invalid(f"请按 年-月-日 填写{label},如 2026-03-05。") from None


def parse_items(text: str | None) -> list[dict]:
    """Items typed one per line as "名称 金额" (space, tab or comma between); empty -> []."""
    items = []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        match = ITEM_LINE.match(line)
        name, amount = (match["name"].strip(), match["amount"]) if match else ("", "")
        if not name:
            raise Invalid(f"费用明细第 {n} 行应为「项目名称 金额」,如「硝苯地平控释片 36.50」。")
        if len(name) > 100:
            raise Invalid(f"费用明细第 {n} 行的项目名称过长(最多 100 字)。")
        if text_problem(name, f"费用明细第 {n} 行的项目名称"):
            raise Invalid(text_problem(name, f"费用明细第 {n} 行的项目名称"))
        items.append({"name": name, "amount": parse_amount(amount, f"费用明细第 {n} 行的金额")})
    if len(items) > MAX_ITEMS:
        raise Invalid(f"费用明细最多 {MAX_ITEMS} 行。")
    return items


def visit_day(text, today: date, label: str = "就诊日期") -> date:
    day = parse_date(text, label)
    if day < EARLIEST or day > today:
        raise Invalid(f"{label}不能晚于今天,也不能早于 2000 年。")
    return day


def make_visit(person: User, today: date, *, institution_code, disease_code, visit_date, eligible, items_text="",
               note="") -> Visit:
    """Validate raw input and build a Visit; every problem at once, each named by its field
    (visit_date, eligible, items, disease, note) for clients that point at the field."""
    problems: list[str] = []
    fields: dict[str, str] = {}

    def problem(name: str, message: str) -> None:
        problems.append(message)
        fields.setdefault(name, message)

    day = items = amount = None
    try:
        day = visit_day(visit_date, today)
    except Invalid as e:
        problem("visit_date", e.message)
    try:
        items = parse_items(items_text)
    except Invalid as e:
        problem("items", e.message)
    if str(eligible or "").strip() or not items:
        try:
            amount = parse_amount(eligible, "符合规定的费用")
        except Invalid as e:
            problem("eligible", e.message)
    if items and not problems:
        total = sum((i["amount"] for i in items), ZERO)
        if amount is None:
            amount = total
        elif total != amount:
            problem("items", f"费用明细合计 {yuan(total)} 元与填写的费用 {yuan(amount)} 元不一致。")
    disease_code = normal_code(disease_code)
    if not disease_code:
        problem("disease", "请选择病种。")
    if len(note or "") > MAX_NOTE:
        problem("note", f"备注最多 {MAX_NOTE} 字。")
    elif text_problem(note, "备注"):
        problem("note", text_problem(note, "备注"))
    if problems:
        raise Invalid("就诊信息有误:", problems, fields=fields)
    return Visit(person, normal_code(institution_code), disease_code[:30], day, amount, items or [], (note or "").strip())
