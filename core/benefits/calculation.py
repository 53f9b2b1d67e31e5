"""What one outpatient 门特 visit gets back: the pure calculation.

It takes everything it needs as arguments (the region facade for the policy and catalogue, the
person's ledger as loaded by ``ledger.py``, the visit, the settlement date) and touches no database,
so a whole batch is settled from one load and the rule is tested with plain values. In order:

1. Benefit year: the calendar year of the visit date, or of the settlement date when the region's
   policy for the visit's year says ``year_rule = "settlement"``. That year's policy applies.
2. Not covered (nothing paid, the whole amount is the person's, with the reason): the disease is not
   on that year's catalogue or has no ratio for the person's category; no recognition gives benefits
   on the visit date (none, not started, expired, stopped after a failed renewal); the visit date
   falls inside a recorded inpatient stay (admission to discharge, both days included); the region
   requires chosen institutions and the visit is elsewhere (the recognising hospital counts as chosen).
3. Deductible (起付标准): what is left of the year's deductible is paid first by the person. With
   ``one_deductible_across_diseases`` one deductible covers all the person's diseases in the year.
4. Limit: ``limit_basis = "fund"`` (seed 001's 年度支付限额, both regions): the reimbursement
   (amount above the deductible × ratio) is capped at what is left of the disease's annual limit,
   so e.g. 3000 元 in a year, 200 deductible, 70%, limit 2000 → min(2800 × 70%, 2000) = 1960.
   ``"eligible"`` (a region whose policy sets a 年度费用限额): the amount above the deductible is
   counted up to what is left of the limit and reimbursed at the ratio.
5. The person's share is the eligible amount minus the reimbursement.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from core.benefits.inputs import Visit
from core.benefits.money import ZERO, from_fen, round_fen, to_fen, yuan
from core.kernel.errors import Invalid
from core.kernel.types import BENEFIT_CATEGORIES, BenefitPolicy, BenefitRate
from core.people.categories import category_on
from core.recognitions import rules as recognition_rules
from core.recognitions.rules import OpenRenewal


@dataclass
class PersonLedger:
    """What settling needs to know about one person, loaded once (for a whole batch)."""

    person: object  # core.models.User
    recognitions: dict[str, list]  # disease code -> Recognition rows
    renewals: dict[int, OpenRenewal]  # recognition id -> its open renewal application
    stays: list  # InpatientStay rows no reversal cancels
    chosen: list  # ChosenInstitution rows no reversal cancels
    deductible_used: dict[tuple[int, str], int]  # (year, disease) -> fen
    limit_used: dict[tuple[int, str], int]
    categories: list = field(default_factory=list)  # InsuredCategoryChange rows (history)
    # year -> the deductible amounts (fen) the year's settlements were made under: with a category
    # change in the year, a deductible met under the old category stays met.
    deductible_amounts: dict[int, set[int]] = field(default_factory=dict)

    def deductible_met(self, year: int) -> bool:
        used = self.deductible_used_fen(year, None)
        return any(0 < amount <= used for amount in self.deductible_amounts.get(year, ()))

    def deductible_used_fen(self, year: int, disease: str | None) -> int:
        return sum(v for (y, d), v in self.deductible_used.items() if y == year and (disease is None or d == disease))

    def add(self, calc: Calculation) -> None:
        key = (calc.benefit_year, calc.visit.disease_code)
        self.deductible_used[key] = self.deductible_used.get(key, 0) + to_fen(calc.deductible_paid)
        self.limit_used[key] = self.limit_used.get(key, 0) + to_fen(calc.limit_used)
        if calc.covered:
            self.deductible_amounts.setdefault(calc.benefit_year, set()).add(to_fen(calc.deductible_amount))


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
    recognition: object | None = None
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


def benefit_year(regions, region: str, visit_date: date, settled_on: date) -> int:
    """The year a visit counts in; the rule of the visit year's policy decides."""
    policy = regions.benefit_policy(region, visit_date.year)
    return settled_on.year if policy.year_rule == "settlement" else visit_date.year


def person_category(person, history: list | None = None, day: date | None = None) -> str:
    """The person's benefit category on ``day`` (the visit date) from their category history; without
    a day, the category registered now."""
    category = category_on(person, history or [], day or date.max)
    if category is None:
        raise Invalid("参保人的参保类别(职工在职/职工退休/城乡居民)未登记,请先到经办机构登记后再结算。",
                      fields={"person": "参保类别未登记"})
    return category


def calculate(regions, ledger: PersonLedger, visit: Visit, settled_on: date) -> Calculation:
    """What ``visit`` gets back, given everything already settled in ``ledger`` (nothing is saved).

    Only arithmetic and rules here; ``presentation.explain`` turns the result into the steps shown to people.
    """
    person = ledger.person
    region = person.region_code
    year = benefit_year(regions, region, visit.visit_date, settled_on)
    policy = regions.benefit_policy(region, year)
    if not policy.configured:
        raise Invalid(f"本地区未配置 {year} 年度的门特待遇政策,暂不能结算。")
    category = person_category(person, ledger.categories, visit.visit_date)  # in force on the visit date
    disease = regions.disease(region, visit.disease_code, year)
    if disease is None and not ledger.recognitions.get(visit.disease_code):
        # Neither in the catalogue nor ever recognised: a typing error, not a visit to record.
        message = f"病种编码 {visit.disease_code} 不在本地区 {year} 年度门特病种目录内,请核对。"
        raise Invalid(message, fields={"disease": message})
    calc = Calculation(visit, year, category, policy, disease.name if disease else visit.disease_code)
    if disease is None:
        calc.reason = f"该病种不在 {year} 年度门特病种目录内。"
        return calc
    calc.rate = policy.rate(visit.disease_code, category)
    if calc.rate is None:
        calc.reason = f"{year} 年度政策未规定{BENEFIT_CATEGORIES[category]}人员该病种的门特待遇。"
        return calc
    rec, why = recognition_rules.coverage(ledger.recognitions.get(visit.disease_code, []), visit.visit_date, ledger.renewals)
    if rec is None:
        calc.reason = why
        return calc
    calc.recognition = rec
    if policy.inpatient_excluded:
        stay = next((st for st in ledger.stays if st.covers(visit.visit_date)), None)
        if stay is not None:
            calc.reason = (f"就诊日在住院期间({regions.institution_name(region, stay.institution_code)} {stay.period}),"
                           "住院期间不享受门特待遇。")
            return calc
    if policy.chosen_institution_required:
        allowed = chosen_institutions(regions, ledger, visit.visit_date, rec)
        if visit.institution_code not in allowed:
            names = "、".join(regions.institution_name(region, c) for c in sorted(allowed)) or "无"
            calc.reason = (
                f"{regions.institution_name(region, visit.institution_code)} 不是参保人选定的门特定点医疗机构(已选定:{names}),"
                "本地区须在选定的机构就医。"
            )
            return calc
    calc.covered = True

    # Deductible: what is left of the year's (shared or per-disease) deductible is paid first.
    calc.deductible_amount = policy.deductible[category]
    scope = None if policy.one_deductible_across_diseases else visit.disease_code
    calc.deductible_used_before = from_fen(ledger.deductible_used_fen(year, scope))
    calc.deductible_left_before = max(calc.deductible_amount - calc.deductible_used_before, ZERO)
    if policy.one_deductible_across_diseases and ledger.deductible_met(year):
        calc.deductible_left_before = ZERO  # met this year, perhaps under a category since changed
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
            calc.reason = limit_reason(calc)
    else:
        calc.limit_used = min(above, calc.limit_left_before)
        calc.reimbursed = round_fen(calc.limit_used * ratio)
        calc.computed = calc.reimbursed
        if calc.limit_used < above:
            calc.reason = limit_reason(calc)
    return calc


def limit_reason(calc: Calculation) -> str:
    """Why a covered visit gets less than its ratio gives: the disease's annual limit ran out."""
    if calc.policy.limit_basis == "fund":
        total = f"{calc.disease_name}年度支付限额 {yuan(calc.limit)} 元"
        if calc.reimbursed == ZERO:
            return f"{total}已用完,本次不予支付(按比例本应支付 {yuan(calc.computed)} 元),费用由个人负担。"
        return (f"{total}本次用完:按比例本应支付 {yuan(calc.computed)} 元,只支付限额尚余的 {yuan(calc.reimbursed)} 元,"
                f"其余 {yuan(calc.computed - calc.reimbursed)} 元由个人负担。")
    total = f"{calc.disease_name}年度费用限额 {yuan(calc.limit)} 元"
    over = calc.visit.eligible - calc.deductible_paid - calc.limit_used
    if calc.reimbursed == ZERO:
        return f"{total}已用完,本次不予支付,费用由个人负担。"
    return f"{total}本次用完,超出限额的 {yuan(over)} 元费用由个人负担。"


def chosen_institutions(regions, ledger: PersonLedger, on: date, rec) -> set[str]:
    """Institutions where the person may be treated on ``on``: the recorded choices, plus the
    hospital that recognised the disease (a person applies at the hospital they chose)."""
    allowed = {c.institution_code for c in ledger.chosen if c.covers(on)}
    if rec is not None:
        info = regions.get(rec.region_code)
        inst = info.institution(rec.institution_code) if info else None
        if inst is not None and inst.kind == "hospital":
            allowed.add(inst.code)
    return allowed
