"""Plain data types that region plugins return to the core.

They are frozen dataclasses so a plugin cannot change shared reference data by accident, and so
that the core can rely on their fields without knowing which region produced them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# Professional titles of physicians, lowest first. Review steps may require a minimum title.
PHYSICIAN_TITLES = ("住院医师", "主治医师", "副主任医师", "主任医师")

# Insured categories whose ratios differ (在职 / 退休).
INSURED_CATEGORIES = {"employed": "在职", "retired": "退休"}
# Insurance schemes (NHSA insutype 310 职工基本医疗保险 / 390 城乡居民基本医疗保险).
INSURED_SCHEMES = {"employee": "职工医保", "resident": "城乡居民医保"}
# Benefit categories: deductibles, ratios and limits are set per category. Employees are split by
# 在职/退休; residents have one category.
BENEFIT_CATEGORIES = {"employed": "职工在职", "retired": "职工退休", "resident": "城乡居民"}
# Which calendar year a visit counts in (deductible, limits, policy): its visit date or its settlement date.
YEAR_RULES = {"visit": "按就诊日期所在年度", "settlement": "按结算日期所在年度"}
# What the annual limit caps. "fund" (the default): the 年度支付限额 is the most the fund pays for a
# disease in a year (seed 001 and most published policies). "eligible": kept for regions whose policy
# sets a 年度费用限额 instead (only the cost within it is reimbursed at the ratio); use it only with
# such a published policy.
LIMIT_BASES = {"fund": "年度支付限额为统筹基金一年内最多支付的金额,超出部分由个人负担",
               "eligible": "年度费用限额为一年内可按比例报销的费用上限(限额内费用按比例报销)"}


def benefit_category(scheme: str | None, category: str | None) -> str | None:
    """The benefit category of a person: "resident", or "employed"/"retired" for employees."""
    if scheme == "resident":
        return "resident"
    return category if category in ("employed", "retired") else None


def title_rank(title: str | None) -> int:
    """Rank of a physician title; -1 when unknown so an unknown title never passes a minimum."""
    try:
        return PHYSICIAN_TITLES.index(title or "")
    except ValueError:
        return -1


@dataclass(frozen=True)
class Division:
    """A prefecture (盟市) or district/county (区县) of a region."""

    code: str
    name: str


@dataclass(frozen=True)
class Institution:
    """A designated hospital (定点医疗机构) or an agency office (经办机构窗口)."""

    code: str
    name: str
    division_code: str  # the region's own code for a city-level institution serving every division
    kind: str  # "hospital" or "office"
    qualified: bool = True  # hospital qualified to review 门特 (Neimenggu)
    address: str = ""
    phone: str = ""


@dataclass(frozen=True)
class RegionInfo:
    """Who a region is. `intake` says where applications go: "hospital" or "office"."""

    code: str
    name: str
    short_name: str
    divisions: tuple[Division, ...]
    intake: str
    timezone: str = "Asia/Shanghai"
    locale: str = "zh_CN"
    contact: str = ""
    division_label: str = "地区"
    institutions: tuple[Institution, ...] = ()
    issuer: str = ""  # who signs printed notices, e.g. "防城港市医疗保障局"

    def division(self, code: str | None) -> Division | None:
        return next((d for d in self.divisions if d.code == code), None)

    def institution(self, code: str | None) -> Institution | None:
        return next((i for i in self.institutions if i.code == code), None)

    def serves(self, institution: Institution, division: str | None) -> bool:
        """Whether ``institution`` takes applications from ``division`` (its own, or all if city-level)."""
        return institution.division_code in (division, self.code)

    def intake_institutions(self, division: str | None) -> list[Institution]:
        """Where a person of ``division`` can apply: qualified institutions of the region's intake kind."""
        return [i for i in self.institutions if i.kind == self.intake and i.qualified and self.serves(i, division)]

    def windows(self, division: str | None) -> list[Institution]:
        """The agency windows (经办机构) a person of ``division`` can go to, e.g. when no hospital takes applications."""
        return [i for i in self.institutions if i.kind == "office" and self.serves(i, division)]


@dataclass(frozen=True)
class Disease:
    """One row of a region's 门特 catalogue for a year.

    Money is Decimal (yuan). `sample` marks values that are plausible samples, not official figures.
    """

    code: str  # local code, unique within the region
    national_code: str  # NHSA M-code, e.g. M03900
    name: str
    annual_limit: Decimal
    ratio_employed: Decimal  # e.g. Decimal("0.70")
    ratio_retired: Decimal
    validity_months: int
    fast_track: bool = False
    renewal_allowed: bool = True
    category: str = ""
    sample: bool = True


def disease_codes(national: str | None, local: str | None) -> str:
    """A disease's codes, written the same way on every screen, printed form and export: the national
    code (what the national platform and other regions know) first, the local code beside it when
    it differs: 「M03900 / 本地 FCG001」; 「M03900」 where they are the same (内蒙古)."""
    if national and local and national != local:
        return f"{national} / 本地 {local}"
    return national or local or ""


@dataclass(frozen=True)
class Material:
    """A document an application needs, for one disease (or all: disease "*") and kind."""

    code: str
    name: str
    required: bool
    original_needed: bool = False
    note: str = ""
    accept: tuple[str, ...] = ("pdf", "jpg", "png")
    disease: str = "*"  # disease code or "*" for every disease
    # How an online application meets it: "upload" (a file, as at the window), "system" (the system
    # attaches its own record, e.g. the original recognition's 审批表) or "declaration" (the person's
    # electronic confirmation replaces a signed scan). Window and hospital applications always upload.
    online: str = "upload"


@dataclass(frozen=True)
class Channel:
    """A way to apply, with the comparison the seed documents give."""

    code: str  # online, window, hospital
    name: str
    online: bool
    entry_points: str
    strengths: str
    weaknesses: str
    suits: str


@dataclass(frozen=True)
class ReviewStep:
    """One step of a region's review flow.

    kind: "accept" (受理: check completeness), "review" (decide per disease), "expert"
    (专家评审: only when a reviewer refers the application), "record" (备案 / 结果通知: makes the
    decision final and creates recognitions).
    """

    code: str
    name: str
    role: str  # physician, hospital_office, agency_reviewer, expert
    kind: str
    sla_working_days: int | None = None
    optional: bool = False
    min_title: str | None = None


@dataclass(frozen=True)
class RenewalPolicy:
    """When and how a recognition can be renewed."""

    window_months: int = 3  # renewal allowed in the N months before the end date
    continue_during_review: bool = True  # a timely renewal keeps benefits during review
    return_deadline_days: int = 30  # calendar days an applicant has to supply missing items
    # Days before the end date on which the person is reminded to renew (largest first).
    reminder_days: tuple[int, ...] = (90, 30, 7)


@dataclass(frozen=True)
class ReasonCode:
    """A coded reason for a rejection or a return."""

    code: str
    text: str


@dataclass(frozen=True)
class BenefitRate:
    """Reimbursement ratio and annual limit (yuan) of one disease for one benefit category."""

    annual_limit: Decimal
    ratio: Decimal
    sample: bool = True


@dataclass(frozen=True)
class BenefitPolicy:
    """The outpatient 门特 benefit rules of a region for one year (used by the benefits ledger).

    An empty ``version`` means the region has no policy for the year: nothing can be settled.
    ``deductible`` and ``rates`` are keyed by benefit category (``BENEFIT_CATEGORIES``);
    ``rates`` by (disease code, category). ``sample`` marks values that are not official figures.
    """

    version: str = ""
    year: int = 0
    deductible: dict[str, Decimal] = field(default_factory=dict)
    one_deductible_across_diseases: bool = True
    inpatient_excluded: bool = True
    chosen_institution_required: bool = False
    year_rule: str = "visit"  # see YEAR_RULES
    limit_basis: str = "fund"  # see LIMIT_BASES
    rates: dict[tuple[str, str], BenefitRate] = field(default_factory=dict)
    sample: bool = True  # the deductibles and rules (rates carry their own flag)

    @property
    def configured(self) -> bool:
        return bool(self.version)

    def rate(self, disease_code: str, category: str) -> BenefitRate | None:
        return self.rates.get((disease_code, category))


@dataclass(frozen=True)
class NoticeTemplate:
    """Title and body of one kind of notice, with ``str.format`` fields (see core/defaults.py)."""

    title: str
    body: str

    def render(self, **fields) -> tuple[str, str]:
        return self.title.format(**fields), self.body.format(**fields)


@dataclass(frozen=True)
class SmsResult:
    """What an SMS gateway answered: accepted or not, and its message id or error text."""

    ok: bool
    detail: str = ""


# What may become of a settlement paid after a failed renewal's stop date: taken back by a reversal
# of the settlement, or waived with a reason.
RECOVERY_OUTCOMES = {"recovered": "冲销追回", "waived": "免予追回"}


@dataclass(frozen=True)
class RecoveryPolicy:
    """A region's answer for one settlement to recover (``mtkit_recovery_policy``).

    ``allowed``: the outcomes staff may record (keys of ``RECOVERY_OUTCOMES``); ``default``: the one
    the page proposes; ``waive_now``: the case is waived as soon as it is opened (e.g. a sum below
    the region's threshold), with ``reason`` recorded as the waiver's reason.
    """

    allowed: tuple[str, ...] = ("recovered", "waived")
    default: str = "recovered"
    waive_now: bool = False
    reason: str = ""
    sample: bool = True
