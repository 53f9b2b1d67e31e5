"""How a calculation and a person's balances are shown: the estimate's steps and the dicts the
pages and the JSON API render (amounts as strings like "123.45")."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core.benefits.calculation import Calculation
from core.benefits.money import ZERO, from_fen, percent, ratio_text, yuan
from core.kernel.types import BENEFIT_CATEGORIES
from core.people.categories import category_on


@dataclass
class Step:
    label: str
    detail: str
    amount: Decimal | None = None


def explain(regions, calc: Calculation) -> list[Step]:
    """The calculation as the steps an estimate shows, in order, with the amounts."""
    v, policy, name = calc.visit, calc.policy, calc.disease_name
    region = v.person.region_code
    steps = [
        Step("费用", f"{v.visit_date.isoformat()} {regions.institution_name(region, v.institution_code)} {name},符合门特支付范围的费用", v.eligible),
        Step("待遇年度", f"{'按结算日期' if policy.year_rule == 'settlement' else '按就诊日期'}计入 {calc.benefit_year} 年度;"
                        f"人员类别(按就诊日):{BENEFIT_CATEGORIES[calc.category]};政策版本 {policy.version}"),
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
        f"{yuan(calc.deductible_used_before)} 元,尚余 {yuan(calc.deductible_left_before)} 元"
        f"{'(本年度已按变更前的人员类别付清起付标准,不再重复收取)' if calc.deductible_left_before == ZERO and calc.deductible_used_before < calc.deductible_amount else ''}"
        ";本次由个人支付",
        calc.deductible_paid,
    ))
    above = v.eligible - calc.deductible_paid
    steps.append(Step("起付标准以上费用", f"费用 {yuan(v.eligible)} 元减去本次个人支付的起付标准 {yuan(calc.deductible_paid)} 元", above))
    steps.extend(_limit_steps(calc, above))
    steps.append(Step("报销金额", "医保基金支付", calc.reimbursed))
    steps.append(Step("个人负担", f"费用 {yuan(v.eligible)} 元减去报销金额 {yuan(calc.reimbursed)} 元", calc.own))
    steps.append(Step("限额余额", f"本次后{name}{limit_name(policy)}尚余", calc.limit_left_after))
    return steps


def limit_name(policy) -> str:
    return "年度支付限额" if policy.limit_basis == "fund" else "年度费用限额"


def _limit_steps(calc: Calculation, above: Decimal) -> list[Step]:
    """The limit and ratio steps, in words (a person reads them, not a formula)."""
    name, pct = calc.disease_name, ratio_text(calc.rate.ratio)
    used, left = yuan(calc.limit_used_before), yuan(calc.limit_left_before)
    rate = f"报销比例 {pct}({BENEFIT_CATEGORIES[calc.category]})"
    if calc.policy.limit_basis == "fund":
        steps = [
            Step("年度支付限额", f"{name}年度支付限额 {yuan(calc.limit)} 元(基金一年内最多支付的金额),此前已支付 {used} 元,尚余 {left} 元"),
            Step("按比例计算", f"起付标准以上费用 {yuan(above)} 元 × {rate},四舍五入到分", calc.computed),
        ]
        if calc.reimbursed < calc.computed:
            detail = ("年度支付限额已用完,本次不予支付" if calc.reimbursed == ZERO
                      else f"按比例计算的 {yuan(calc.computed)} 元超过限额尚余的 {left} 元,只支付 {left} 元")
            steps.append(Step("限额封顶", detail, calc.reimbursed))
        return steps
    steps = [Step("年度费用限额", f"{name}年度费用限额 {yuan(calc.limit)} 元(一年内可按比例报销的费用),此前已计入 {used} 元,尚余 {left} 元")]
    if calc.limit_used < above:
        detail = ("年度费用限额已用完,本次没有可报销的费用" if calc.limit_used == ZERO
                  else f"起付标准以上费用 {yuan(above)} 元超过限额尚余的 {left} 元,只计入 {left} 元")
        steps.append(Step("计入限额的费用", detail, calc.limit_used))
    steps.append(Step("按比例计算", f"计入限额的费用 {yuan(calc.limit_used)} 元 × {rate},四舍五入到分", calc.reimbursed))
    return steps


def estimate_dict(regions, calc: Calculation) -> dict:
    """An estimate as the 门特结算 page and ``POST /benefits/estimate`` show it."""
    v = calc.visit
    return {
        "person_id": v.person.id,
        "visit_date": v.visit_date.isoformat(),
        "institution_code": v.institution_code,
        "disease_code": v.disease_code,
        "disease_name": calc.disease_name,
        "benefit_year": calc.benefit_year,
        "category": calc.category,
        "category_name": BENEFIT_CATEGORIES.get(calc.category, calc.category),
        "policy_version": calc.policy.version,
        "sample": calc.policy.sample or bool(calc.rate and calc.rate.sample),
        "covered": calc.covered,
        "reason": calc.reason,
        "eligible": yuan(v.eligible),
        "deductible_paid": yuan(calc.deductible_paid),
        "limit_used": yuan(calc.limit_used),
        "reimbursed": yuan(calc.reimbursed),
        "own": yuan(calc.own),
        "ratio": str(calc.rate.ratio) if calc.rate else None,
        "annual_limit": yuan(calc.limit) if calc.rate else None,
        "limit_left_after": yuan(calc.limit_left_after) if calc.rate else None,
        "steps": [{"label": s.label, "detail": s.detail, "amount": None if s.amount is None else yuan(s.amount)}
                  for s in explain(regions, calc)],
    }


def balances_dict(regions, person, year: int, ledger, reimbursed: dict[str, int], states: dict[int, str]) -> dict:
    """A year's deductible used and each disease's limit used and left (我的待遇, the API).

    :param ledger: the person's ``PersonLedger`` for ``year``.
    :param reimbursed: disease code -> fen reimbursed in the year.
    :param states: recognition id -> its state as people see it today.
    """
    region = person.region_code
    policy = regions.benefit_policy(region, year)
    # The category at the year's end (no change is recorded ahead of its date: today's, this year).
    category = category_on(person, ledger.categories, date(year, 12, 31))
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
    left = ZERO if policy.one_deductible_across_diseases and ledger.deductible_met(year) else max(amount - used, ZERO)
    out["deductible"] = {"amount": yuan(amount), "used": yuan(used), "left": yuan(left),
                         "percent": percent(used, amount)}
    # Diseases recognised at some time in the year, then any other disease settled in it.
    codes = [c for c, rows in ledger.recognitions.items() if any(r.start_date.year <= year <= r.end_date.year for r in rows)]
    codes += [d for (y, d) in ledger.limit_used if y == year and d not in codes]
    for code in codes:
        disease = regions.disease(region, code, year)
        rate = policy.rate(code, category)
        rows = ledger.recognitions.get(code, [])
        current = max(rows, key=lambda r: r.end_date) if rows else None
        used_limit = from_fen(ledger.limit_used.get((year, code), 0))
        entry = {
            "code": code,
            "name": disease.name if disease else (current.disease_name if current else code),
            "recognition": states.get(current.id) if current else None,
            "valid": f"{current.start_date.isoformat()} 至 {current.end_date.isoformat()}" if current else None,
            "in_catalogue": disease is not None and rate is not None,
            "reimbursed": yuan(int(reimbursed.get(code) or 0)),
        }
        if rate is not None:
            entry.update(
                limit=yuan(rate.annual_limit), used=yuan(used_limit),
                left=yuan(max(rate.annual_limit - used_limit, ZERO)),
                percent=percent(used_limit, rate.annual_limit), ratio=ratio_text(rate.ratio),
                sample=rate.sample, basis=policy.limit_basis,
            )
        out["diseases"].append(entry)
    return out
