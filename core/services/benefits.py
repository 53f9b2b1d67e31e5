"""The outpatient 门特 benefit ledger: what a visit gets back, settling it, reversals, balances.
(Inpatient stays and chosen institutions, which decide where and when benefits apply, are recorded
by ``core/services/stays.py``.)

Money rule: amounts are ``Decimal`` yuan with fen precision and never float. Inputs must already be
in whole fen. The one computed amount that can have more digits, ``counted × ratio``, is rounded
to the fen with ROUND_HALF_UP at the end of its step; everything else is added or subtracted
exactly. The database keeps integer fen.

The calculation of one visit (``calculate``), in order:
1. Benefit year: the calendar year of the visit date, or of the settlement date when the region's
   policy for the visit's year says ``year_rule = "settlement"``. That year's policy applies.
2. Not covered (nothing paid, the whole amount is the person's, with the reason): the disease is not
   on that year's catalogue or has no ratio for the person's category; no recognition gives benefits
   on the visit date (none, not started, expired, stopped after a rejected renewal); the visit date
   falls inside a recorded inpatient stay (admission to discharge, both days included); the region
   requires chosen institutions and the visit is elsewhere (the recognising hospital counts as chosen).
3. Deductible (起付标准): what is left of the year's deductible is paid first by the person. With
   ``one_deductible_across_diseases`` one deductible covers all the person's diseases in the year.
4. Limit: ``limit_basis = "eligible"``: the amount above the deductible is counted up to what is
   left of the disease's annual limit and reimbursed at the ratio; ``"fund"``: the reimbursement
   (amount above the deductible × ratio) is capped at what is left of the limit.
5. The person's share is the eligible amount minus the reimbursement.

Visits settle in the order given; a reversal frees the deductible and limit it used for later
visits but does not re-settle visits already made. Two settlements for the same person never run
at once: the person's row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the
write transaction is taken before anything is read).

``balances_dict`` and ``estimate`` return plain dicts (amounts as strings like "123.45") for the
pages and, later, the JSON API; ``make_visit`` turns raw input into a ``Visit`` with Chinese messages.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only

from core.extensions import db
from core.models import BenefitSettlement, ChosenInstitution, InpatientStay, Recognition, User
from core.models.base import utcnow
from core.regions import regions
from core.services import Conflict, Forbidden, Invalid
from core.services import recognitions as recs
from core.services.audit import audit
from core.services.clock import today
from core.types import BENEFIT_CATEGORIES, BenefitPolicy, BenefitRate, benefit_category

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_VISIT_AMOUNT = Decimal("1000000.00")  # one visit's eligible amount, a typing-error guard
MAX_ITEMS = 100
RECORDER_ROLES = ("hospital_office", "agency_reviewer")  # who records visits and stays
EARLIEST = date(2000, 1, 1)
# An item line: a name, then spaces, a tab or a comma, then the amount (which may have thousands
# separators: "透析治疗 1,200.00" is 1200.00, not an item "透析治疗 1" of 200.00).
ITEM_LINE = re.compile(r"^(?P<name>.+?)[\s,,]+(?P<amount>\d[\d,,]*(?:\.\d+)?)\s*元?$")


# --- money -----------------------------------------------------------------------------------
def round_fen(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def to_fen(amount: Decimal) -> int:
    return int(round_fen(amount) * 100)


def from_fen(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) / 100).quantize(FEN)


def yuan(amount: Decimal | int) -> str:
    """"1234.50" from Decimal yuan or int fen."""
    value = from_fen(amount) if isinstance(amount, int) else amount
    return f"{value:.2f}"


def parse_amount(text, label: str = "金额") -> Decimal:
    """A money amount typed by a person: "1234.5", "1,234.50", "1234.50元". Fen precision at most."""
    raw = str(text or "").strip().replace(",", "").replace(",", "").removesuffix("元").strip()
    if not raw:
        raise Invalid(f"请填写{label}。")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise Invalid(f"{label}「{str(text)[:20]}」不是有效的金额,请填写数字,如 1234.50。") from None
    if not value.is_finite() or value.as_tuple().exponent < -2:
        raise Invalid(f"{label}最多保留两位小数(精确到分)。")
    if value <= 0:
        raise Invalid(f"{label}应大于 0。")
    if value > MAX_VISIT_AMOUNT:
        raise Invalid(f"{label}超过单次就诊上限 {MAX_VISIT_AMOUNT:.0f} 元,请核对。")
    return value.quantize(FEN)


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
        items.append({"name": name, "amount": parse_amount(amount, f"费用明细第 {n} 行的金额")})
    if len(items) > MAX_ITEMS:
        raise Invalid(f"费用明细最多 {MAX_ITEMS} 行。")
    return items


def parse_date(text, label: str) -> date:
    try:
        return date.fromisoformat(str(text or "").strip())
    except ValueError:
        raise Invalid(f"请按 年-月-日 填写{label},如 2026-03-05。") from None


# --- inputs and results ------------------------------------------------------------------------
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


@dataclass
class Step:
    label: str
    detail: str
    amount: Decimal | None = None


@dataclass
class Calculation:
    visit: Visit
    benefit_year: int
    category: str
    policy: BenefitPolicy
    disease_name: str
    covered: bool = False
    reason: str | None = None
    rate: BenefitRate | None = None
    recognition: Recognition | None = None
    deductible_amount: Decimal = ZERO
    deductible_used_before: Decimal = ZERO
    deductible_left_before: Decimal = ZERO
    deductible_paid: Decimal = ZERO
    limit: Decimal = ZERO
    limit_used_before: Decimal = ZERO
    limit_left_before: Decimal = ZERO
    limit_used: Decimal = ZERO
    computed: Decimal = ZERO  # amount above the deductible (or counted) × ratio, before a fund cap
    reimbursed: Decimal = ZERO

    @property
    def own(self) -> Decimal:
        return self.visit.eligible - self.reimbursed

    @property
    def limit_left_after(self) -> Decimal:
        return self.limit_left_before - self.limit_used

    def as_dict(self) -> dict:
        v = self.visit
        return {
            "person_id": v.person.id,
            "visit_date": v.visit_date.isoformat(),
            "institution_code": v.institution_code,
            "disease_code": v.disease_code,
            "disease_name": self.disease_name,
            "benefit_year": self.benefit_year,
            "category": self.category,
            "category_name": BENEFIT_CATEGORIES.get(self.category, self.category),
            "policy_version": self.policy.version,
            "sample": self.policy.sample or bool(self.rate and self.rate.sample),
            "covered": self.covered,
            "reason": self.reason,
            "eligible": yuan(v.eligible),
            "deductible_paid": yuan(self.deductible_paid),
            "limit_used": yuan(self.limit_used),
            "reimbursed": yuan(self.reimbursed),
            "own": yuan(self.own),
            "ratio": str(self.rate.ratio) if self.rate else None,
            "annual_limit": yuan(self.limit) if self.rate else None,
            "limit_left_after": yuan(self.limit_left_after) if self.rate else None,
            "steps": [{"label": s.label, "detail": s.detail, "amount": None if s.amount is None else yuan(s.amount)}
                      for s in explain(self)],
        }


@dataclass
class PersonLedger:
    """What settling needs to know about one person, loaded once (for a whole batch)."""

    person: User
    recognitions: dict[str, list[Recognition]]
    stays: list[InpatientStay]
    chosen: list[ChosenInstitution]
    deductible_used: dict[tuple[int, str], int]  # (year, disease) -> fen
    limit_used: dict[tuple[int, str], int]

    def deductible_used_fen(self, year: int, disease: str | None) -> int:
        return sum(v for (y, d), v in self.deductible_used.items() if y == year and (disease is None or d == disease))

    def add(self, calc: Calculation) -> None:
        key = (calc.benefit_year, calc.visit.disease_code)
        self.deductible_used[key] = self.deductible_used.get(key, 0) + to_fen(calc.deductible_paid)
        self.limit_used[key] = self.limit_used.get(key, 0) + to_fen(calc.limit_used)


# --- the calculation -----------------------------------------------------------------------------
def benefit_year(region: str, visit_date: date, settled_on: date, regs=None) -> int:
    """The year a visit counts in; the rule of the visit year's policy decides (see module doc)."""
    policy = (regs or regions()).benefit_policy(region, visit_date.year)
    return settled_on.year if policy.year_rule == "settlement" else visit_date.year


def person_category(person: User) -> str:
    category = benefit_category(person.insured_scheme, person.insured_category)
    if category is None:
        raise Invalid("参保人的参保类别(职工在职/职工退休/城乡居民)未登记,请先到经办机构登记后再结算。")
    return category


def calculate(ledger: PersonLedger, visit: Visit, settled_on: date) -> Calculation:
    """What ``visit`` gets back, given everything already settled in ``ledger`` (nothing is saved).

    Only arithmetic and rules here; ``explain`` turns the result into the steps shown to people.
    """
    regs = regions()
    person = ledger.person
    region = person.region_code
    year = benefit_year(region, visit.visit_date, settled_on, regs)
    policy = regs.benefit_policy(region, year)
    if not policy.configured:
        raise Invalid(f"本地区未配置 {year} 年度的门特待遇政策,暂不能结算。")
    category = person_category(person)
    disease = regs.disease(region, visit.disease_code, year)
    if disease is None and not ledger.recognitions.get(visit.disease_code):
        # Neither in the catalogue nor ever recognised: a typing error, not a visit to record.
        raise Invalid(f"病种编码 {visit.disease_code} 不在本地区 {year} 年度门特病种目录内,请核对。")
    calc = Calculation(visit, year, category, policy, disease.name if disease else visit.disease_code)
    if disease is None:
        calc.reason = f"该病种不在 {year} 年度门特病种目录内。"
        return calc
    calc.rate = policy.rate(visit.disease_code, category)
    if calc.rate is None:
        calc.reason = f"{year} 年度政策未规定{BENEFIT_CATEGORIES[category]}人员该病种的门特待遇。"
        return calc
    rec, why = recs.coverage(ledger.recognitions.get(visit.disease_code, []), visit.visit_date)
    if rec is None:
        calc.reason = why
        return calc
    calc.recognition = rec
    if policy.inpatient_excluded:
        stay = next((st for st in ledger.stays if st.covers(visit.visit_date)), None)
        if stay is not None:
            until = stay.discharged_on.isoformat() if stay.discharged_on else "尚未出院"
            calc.reason = (
                f"就诊日在住院期间({_institution_name(region, stay.institution_code)} {stay.admitted_on.isoformat()} 入院,"
                f"{until}),住院期间不享受门特待遇。"
            )
            return calc
    if policy.chosen_institution_required:
        allowed = chosen_institutions(ledger, visit.visit_date, rec)
        if visit.institution_code not in allowed:
            names = "、".join(_institution_name(region, c) for c in sorted(allowed)) or "无"
            calc.reason = (
                f"{_institution_name(region, visit.institution_code)} 不是参保人选定的门特定点医疗机构(已选定:{names}),"
                "本地区须在选定的机构就医。"
            )
            return calc
    calc.covered = True

    # Deductible: what is left of the year's (shared or per-disease) deductible is paid first.
    calc.deductible_amount = policy.deductible[category]
    scope = None if policy.one_deductible_across_diseases else visit.disease_code
    calc.deductible_used_before = from_fen(ledger.deductible_used_fen(year, scope))
    calc.deductible_left_before = max(calc.deductible_amount - calc.deductible_used_before, ZERO)
    calc.deductible_paid = min(visit.eligible, calc.deductible_left_before)
    above = visit.eligible - calc.deductible_paid

    # Annual limit and ratio.
    calc.limit = calc.rate.annual_limit
    calc.limit_used_before = from_fen(ledger.limit_used.get((year, visit.disease_code), 0))
    calc.limit_left_before = max(calc.limit - calc.limit_used_before, ZERO)
    ratio = calc.rate.ratio
    if policy.limit_basis == "fund":
        calc.computed = round_fen(above * ratio)
        calc.reimbursed = min(calc.computed, calc.limit_left_before)
        calc.limit_used = calc.reimbursed
        if calc.reimbursed < calc.computed:
            calc.reason = f"{calc.disease_name}年度基金支付限额已用完,超出部分 {yuan(calc.computed - calc.reimbursed)} 元由个人负担。"
    else:
        calc.limit_used = min(above, calc.limit_left_before)
        calc.reimbursed = round_fen(calc.limit_used * ratio)
        calc.computed = calc.reimbursed
        if calc.limit_used < above:
            calc.reason = f"{calc.disease_name}年度限额已用完,超出限额的 {yuan(above - calc.limit_used)} 元由个人负担。"
    return calc


def explain(calc: Calculation) -> list[Step]:
    """The calculation as the steps an estimate shows, in order, with the amounts."""
    v, policy, name = calc.visit, calc.policy, calc.disease_name
    region = v.person.region_code
    steps = [
        Step("费用", f"{v.visit_date.isoformat()} {_institution_name(region, v.institution_code)} {name},符合门特支付范围的费用", v.eligible),
        Step("待遇年度", f"{'按结算日期' if policy.year_rule == 'settlement' else '按就诊日期'}计入 {calc.benefit_year} 年度;"
                        f"人员类别:{BENEFIT_CATEGORIES[calc.category]};政策版本 {policy.version}"),
    ]
    if not calc.covered:
        steps.append(Step("不予支付", calc.reason or ""))
        steps.append(Step("个人负担", "全部费用由个人负担", v.eligible))
        return steps
    rec = calc.recognition
    steps.append(Step("认定", f"就诊日在认定有效期内(认定 {rec.start_date.isoformat()} 至 {rec.end_date.isoformat()})"))
    shared = "所有病种共用一个起付标准" if policy.one_deductible_across_diseases else "每个病种分别计算起付标准"
    steps.append(Step(
        "起付标准",
        f"{calc.benefit_year} 年度起付标准 {yuan(calc.deductible_amount)} 元({shared}),此前已付 "
        f"{yuan(calc.deductible_used_before)} 元,尚余 {yuan(calc.deductible_left_before)} 元;本次由个人支付",
        calc.deductible_paid,
    ))
    above = v.eligible - calc.deductible_paid
    steps.append(Step("起付标准以上费用", f"{yuan(v.eligible)} − {yuan(calc.deductible_paid)}", above))
    pct = f"{(calc.rate.ratio * 100).normalize():f}%"
    used, left = yuan(calc.limit_used_before), yuan(calc.limit_left_before)
    if policy.limit_basis == "fund":
        steps.append(Step("年度限额", f"{name}年度基金最高支付 {yuan(calc.limit)} 元,已支付 {used} 元,尚余 {left} 元"))
        steps.append(Step("按比例计算", f"{yuan(above)} × {pct}({BENEFIT_CATEGORIES[calc.category]}),按分四舍五入", calc.computed))
        if calc.reimbursed < calc.computed:
            steps.append(Step("限额封顶", calc.reason or "", calc.reimbursed))
    else:
        steps.append(Step("年度限额", f"{name}年度限额 {yuan(calc.limit)} 元(可报销费用),已使用 {used} 元,尚余 {left} 元"))
        if calc.limit_used < above:
            steps.append(Step("计入限额的费用", f"min({yuan(above)}, {left});{calc.reason}", calc.limit_used))
        steps.append(Step("按比例计算", f"{yuan(calc.limit_used)} × {pct}({BENEFIT_CATEGORIES[calc.category]}),按分四舍五入", calc.reimbursed))
    steps.append(Step("报销金额", "医保基金支付", calc.reimbursed))
    steps.append(Step("个人负担", f"{yuan(v.eligible)} − {yuan(calc.reimbursed)}", calc.own))
    steps.append(Step("限额余额", f"本次后{name}年度限额尚余", calc.limit_left_after))
    return steps


def chosen_institutions(ledger: PersonLedger, on: date, rec: Recognition | None) -> set[str]:
    """Institutions where the person may be treated on ``on``: the recorded choices, plus the
    hospital that recognised the disease (a person applies at the hospital they chose)."""
    allowed = {c.institution_code for c in ledger.chosen if c.covers(on)}
    if rec is not None:
        info = regions().get(rec.region_code)
        inst = info.institution(rec.institution_code) if info else None
        if inst is not None and inst.kind == "hospital":
            allowed.add(inst.code)
    return allowed


def _institution_name(region: str, code: str) -> str:
    return regions().institution_name(region, code)


# --- loading and locking -------------------------------------------------------------------------
def lock_people(person_ids) -> None:
    """Serialise settlements per person: whoever locks first settles first, the other waits and then
    reads the deductible and limits including the first one's rows."""
    ids = sorted(set(person_ids))
    if not ids:
        return
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(User.id).where(User.id.in_(ids)).order_by(User.id).with_for_update())
    else:
        # SQLite locks the whole database on the first write: take it before reading anything.
        db.session.execute(
            update(User).where(User.id.in_(ids)).values(insured_scheme=User.insured_scheme),
            execution_options={"synchronize_session": False},
        )


def active_rows(model, person_ids) -> dict[int, list]:
    """The person's rows of ``model`` (stays, chosen institutions) that no reversal cancels."""
    rows = db.session.scalars(select(model).where(model.person_id.in_(person_ids)).order_by(model.id)).all()
    reversed_ids = {r.reversal_of_id for r in rows if r.reversal_of_id is not None}
    out: dict[int, list] = defaultdict(list)
    for r in rows:
        if r.reversal_of_id is None and r.id not in reversed_ids:
            out[r.person_id].append(r)
    return out


def load_ledgers(people: list[User], years) -> dict[int, PersonLedger]:
    ids = [p.id for p in people]
    years = sorted(set(years))
    # Only what the coverage rule reads (the rest of a recognition is not needed to settle).
    rec_rows = db.session.scalars(
        select(Recognition).where(Recognition.person_id.in_(ids)).options(load_only(
            Recognition.person_id, Recognition.region_code, Recognition.institution_code, Recognition.disease_code,
            Recognition.disease_name, Recognition.start_date, Recognition.end_date, Recognition.stop_date,
            Recognition.status,
        ))
    ).all()
    by_person: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in rec_rows:
        by_person[r.person_id][r.disease_code].append(r)
    stays = active_rows(InpatientStay, ids)
    chosen = active_rows(ChosenInstitution, ids)
    totals = db.session.execute(
        select(
            BenefitSettlement.person_id, BenefitSettlement.benefit_year, BenefitSettlement.disease_code,
            func.sum(BenefitSettlement.deductible_fen), func.sum(BenefitSettlement.limit_used_fen),
        )
        .where(BenefitSettlement.person_id.in_(ids), BenefitSettlement.benefit_year.in_(years))
        .group_by(BenefitSettlement.person_id, BenefitSettlement.benefit_year, BenefitSettlement.disease_code)
    ).all()
    ledgers = {
        p.id: PersonLedger(p, dict(by_person.get(p.id, {})), stays.get(p.id, []), chosen.get(p.id, []), {}, {})
        for p in people
    }
    for pid, year, disease, deductible, limit in totals:
        ledgers[pid].deductible_used[(year, disease)] = int(deductible or 0)
        ledgers[pid].limit_used[(year, disease)] = int(limit or 0)
    return ledgers


# --- recording ---------------------------------------------------------------------------------------
def check_recorder(actor: User, person: User, institution_code: str | None = None) -> None:
    """Hospitals record at their own hospital only; agency staff for people in their area."""
    if actor.role not in RECORDER_ROLES:
        raise Forbidden("只有医院医保科和经办机构可以登记门特结算和住院。")
    if person.role != "insured" or person.region_code != actor.region_code:
        raise Forbidden("只能为本地区的参保人登记。")
    if actor.role == "agency_reviewer" and actor.division_code and person.division_code != actor.division_code:
        raise Forbidden("只能为本辖区的参保人登记。")
    if institution_code is not None:
        if actor.role == "hospital_office" and institution_code != actor.hospital_code:
            raise Forbidden("医院医保科只能登记本院的就诊。")
        info = regions().get(person.region_code)
        inst = info.institution(institution_code) if info else None
        if inst is None or inst.kind != "hospital":
            raise Invalid("请选择本地区的定点医疗机构。")


def make_visit(person: User, *, institution_code, disease_code, visit_date, eligible, items_text="", note="") -> Visit:
    """Validate what a form sent and build a Visit (every problem at once, in Chinese)."""
    problems = []
    try:
        day = parse_date(visit_date, "就诊日期")
        if day < EARLIEST or day > today():
            problems.append("就诊日期不能晚于今天,也不能早于 2000 年。")
    except Invalid as e:
        problems.append(e.message)
        day = None
    items: list[dict] = []
    try:
        items = parse_items(items_text)
    except Invalid as e:
        problems.append(e.message)
    amount = None
    if str(eligible or "").strip() or not items:
        try:
            amount = parse_amount(eligible, "符合规定的费用")
        except Invalid as e:
            problems.append(e.message)
    if items and not problems:
        total = sum((i["amount"] for i in items), ZERO)
        if amount is None:
            amount = total
        elif total != amount:
            problems.append(f"费用明细合计 {yuan(total)} 元与填写的费用 {yuan(amount)} 元不一致。")
    disease_code = (disease_code or "").strip()
    if not disease_code:
        problems.append("请选择病种。")
    if len(note or "") > 500:
        problems.append("备注最多 500 字。")
    if problems:
        raise Invalid("就诊信息有误:", problems)
    return Visit(person, (institution_code or "").strip(), disease_code[:30], day, amount, items, (note or "").strip())


def estimate(visit: Visit, actor: User | None = None) -> dict:
    """What ``visit`` would get back now, step by step. Saves nothing."""
    if actor is not None and actor.role == "insured":
        if actor.id != visit.person.id:
            raise Forbidden("只能试算本人的待遇。")
    elif actor is not None:
        check_recorder(actor, visit.person, visit.institution_code)
    ledger = load_ledgers([visit.person], _years(visit.person.region_code, [visit], today()))[visit.person.id]
    return calculate(ledger, visit, today()).as_dict()


def settle(visit: Visit, actor: User) -> BenefitSettlement:
    """Record one visit: compute it against the person's ledger and save it with the policy used."""
    row = settle_many([visit], actor)[0]
    audit("benefit.settle", row, user=actor, detail=f"person={row.person_id} reimbursed={yuan(row.reimbursed_fen)}")
    return row


def settle_many(visits: list[Visit], actor: User, settled_on: date | None = None) -> list[BenefitSettlement]:
    """Settle visits in the given order in one transaction; returns the saved rows."""
    rows = [BenefitSettlement(**values) for _, values in _settle(visits, actor, settled_on)]
    db.session.add_all(rows)
    db.session.flush()
    return rows


def import_visits(visits: list[Visit], actor: User, settled_on: date | None = None) -> dict:
    """Batched import (e.g. a day's visits from a hospital system): like ``settle_many`` but the rows
    go in with one multi-row INSERT and no ORM objects, and one audit row records the batch.

    Returns a summary dict: count, covered, not_covered, eligible, reimbursed, own (yuan strings).
    """
    done = _settle(visits, actor, settled_on)
    if done:
        db.session.execute(insert(BenefitSettlement), [values for _, values in done])
    covered = sum(1 for c, _ in done if c.covered)
    totals = {k: sum(v[f"{k}_fen"] for _, v in done) for k in ("eligible", "reimbursed", "own")}
    summary = {"count": len(done), "covered": covered, "not_covered": len(done) - covered,
               **{k: yuan(v) for k, v in totals.items()}}
    audit("benefit.import", ("benefit_settlements", None), user=actor,
          detail=" ".join(f"{k}={v}" for k, v in summary.items()))
    return summary


def _settle(visits: list[Visit], actor: User, settled_on: date | None) -> list[tuple[Calculation, dict]]:
    """Check, lock, load once, calculate in order. Everything a person's visits need is loaded once
    for the whole batch, so the cost per visit is the calculation and its insert."""
    settled_on = settled_on or today()
    people = {v.person.id: v.person for v in visits}
    for v in visits:
        check_recorder(actor, v.person, v.institution_code)
    lock_people(people)
    years = {benefit_year(v.person.region_code, v.visit_date, settled_on) for v in visits}
    ledgers = load_ledgers(list(people.values()), years)
    out = []
    for v in visits:
        ledger = ledgers[v.person.id]
        calc = calculate(ledger, v, settled_on)
        ledger.add(calc)
        out.append((calc, _values(calc, settled_on, actor)))
    return out


def _years(region: str, visits, settled_on) -> set[int]:
    return {benefit_year(region, v.visit_date, settled_on) for v in visits}


def _values(calc: Calculation, settled_on: date, actor: User) -> dict:
    v = calc.visit
    return dict(
        person_id=v.person.id,
        region_code=v.person.region_code,
        division_code=v.person.division_code,
        institution_code=v.institution_code,
        disease_code=v.disease_code,
        disease_name=calc.disease_name[:100],
        recognition_id=calc.recognition.id if calc.recognition else None,
        visit_date=v.visit_date,
        settled_on=settled_on,
        benefit_year=calc.benefit_year,
        category=calc.category,
        covered=calc.covered,
        reason=calc.reason,
        eligible_fen=to_fen(v.eligible),
        deductible_fen=to_fen(calc.deductible_paid),
        limit_used_fen=to_fen(calc.limit_used),
        reimbursed_fen=to_fen(calc.reimbursed),
        own_fen=to_fen(calc.own),
        policy_version=calc.policy.version,
        ratio=str(calc.rate.ratio) if calc.rate else None,
        annual_limit_fen=to_fen(calc.limit) if calc.rate else None,
        deductible_amount_fen=to_fen(calc.deductible_amount) if calc.covered else None,
        limit_left_fen=to_fen(calc.limit_left_after) if calc.covered else None,
        items=[{"name": i["name"], "amount": yuan(i["amount"])} for i in v.items] or None,
        note=v.note or None,
        recorded_by_id=actor.id,
        recorded_at=utcnow(),
    )


def reverse(original: BenefitSettlement, actor: User, reason: str) -> BenefitSettlement:
    """Cancel a settlement with a reversal row carrying the negated amounts (never an edit)."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("请填写冲销原因。")
    if len(reason) > 500:
        raise Invalid("冲销原因最多 500 字。")
    person = db.session.get(User, original.person_id)
    check_recorder(actor, person, original.institution_code if actor.role == "hospital_office" else None)
    if original.reversal_of_id is not None:
        raise Invalid("这是一笔冲销记录,不能再冲销。")
    lock_people([person.id])
    if db.session.scalar(select(BenefitSettlement.id).where(BenefitSettlement.reversal_of_id == original.id)):
        raise Conflict("该笔结算已被冲销。")
    row = BenefitSettlement(
        person_id=original.person_id, region_code=original.region_code, division_code=original.division_code,
        institution_code=original.institution_code, disease_code=original.disease_code,
        disease_name=original.disease_name, recognition_id=original.recognition_id,
        visit_date=original.visit_date, settled_on=today(), benefit_year=original.benefit_year,
        category=original.category, covered=original.covered,
        reason=f"冲销第 {original.id} 号结算:{reason}",
        eligible_fen=-original.eligible_fen, deductible_fen=-original.deductible_fen,
        limit_used_fen=-original.limit_used_fen, reimbursed_fen=-original.reimbursed_fen,
        own_fen=-original.own_fen, policy_version=original.policy_version, ratio=original.ratio,
        annual_limit_fen=original.annual_limit_fen, deductible_amount_fen=original.deductible_amount_fen,
        reversal_of_id=original.id, recorded_by_id=actor.id, note=reason,
    )
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent reversal won the unique index
        db.session.rollback()
        raise Conflict("该笔结算已被冲销。") from None
    audit("benefit.reverse", original, user=actor, detail=f"reversal={row.id} reason={reason[:100]}")
    return row


# --- balances -------------------------------------------------------------------------------------------
def balances_dict(person: User, year: int | None = None) -> dict:
    """This year's deductible used and each recognised disease's limit used and left."""
    on = today()
    year = year or on.year
    region = person.region_code
    policy = regions().benefit_policy(region, year)
    category = benefit_category(person.insured_scheme, person.insured_category)
    ledger = load_ledgers([person], [year])[person.id]
    out = {
        "person_id": person.id,
        "year": year,
        "category": category,
        "category_name": BENEFIT_CATEGORIES.get(category or "", "未登记"),
        "configured": policy.configured and category is not None,
        "policy_version": policy.version,
        "sample": policy.sample,
        "one_deductible": policy.one_deductible_across_diseases,
        "chosen_institution_required": policy.chosen_institution_required,
        "deductible": None,
        "diseases": [],
    }
    if not out["configured"]:
        return out
    amount = policy.deductible[category]
    used = from_fen(ledger.deductible_used_fen(year, None))
    out["deductible"] = {"amount": yuan(amount), "used": yuan(used), "left": yuan(max(amount - used, ZERO)),
                         "percent": _percent(used, amount)}
    # Diseases recognised at some time in the year, then any other disease settled in it.
    codes = [c for c, rows in ledger.recognitions.items() if any(r.start_date.year <= year <= r.end_date.year for r in rows)]
    codes += [d for (y, d) in ledger.limit_used if y == year and d not in codes]
    reimbursed = dict(db.session.execute(
        select(BenefitSettlement.disease_code, func.sum(BenefitSettlement.reimbursed_fen))
        .where(BenefitSettlement.person_id == person.id, BenefitSettlement.benefit_year == year)
        .group_by(BenefitSettlement.disease_code)
    ).all())
    for code in codes:
        disease = regions().disease(region, code, year)
        rate = policy.rate(code, category)
        rows = ledger.recognitions.get(code, [])
        current = max(rows, key=lambda r: r.end_date) if rows else None
        used_limit = from_fen(ledger.limit_used.get((year, code), 0))
        entry = {
            "code": code,
            "name": disease.name if disease else (current.disease_name if current else code),
            "recognition": recs.state(current, on) if current else None,
            "valid": f"{current.start_date.isoformat()} 至 {current.end_date.isoformat()}" if current else None,
            "in_catalogue": disease is not None and rate is not None,
            "reimbursed": yuan(int(reimbursed.get(code) or 0)),
        }
        if rate is not None:
            entry.update(
                limit=yuan(rate.annual_limit), used=yuan(used_limit),
                left=yuan(max(rate.annual_limit - used_limit, ZERO)),
                percent=_percent(used_limit, rate.annual_limit), ratio=f"{(rate.ratio * 100).normalize():f}%",
                sample=rate.sample, basis=policy.limit_basis,
            )
        out["diseases"].append(entry)
    return out


def _percent(used: Decimal, total: Decimal) -> int:
    if total <= 0:
        return 100
    return int(min(max(used / total * 100, Decimal(0)), Decimal(100)))


def visits_query(user: User, person_id: int | None = None, year: int | None = None):
    """Settlements ``user`` may see (a hospital: its own visits only), newest first."""
    from core.services.access import record_scope

    q = select(BenefitSettlement).where(record_scope(user, BenefitSettlement))
    if person_id is not None:
        q = q.where(BenefitSettlement.person_id == person_id)
    if year is not None:
        q = q.where(BenefitSettlement.benefit_year == year)
    return q.order_by(BenefitSettlement.id.desc())


def reversed_ids(rows) -> set[int]:
    ids = [r.id for r in rows]
    if not ids:
        return set()
    return set(db.session.scalars(
        select(BenefitSettlement.reversal_of_id).where(BenefitSettlement.reversal_of_id.in_(ids))
    ))
