"""The year-end ledger export (年度门特结算明细): every settlement of one benefit year in a region.

A bureau runs it once a year over millions of rows, so it streams: short keyset batches by id over
``ix_benefit_settlements_year`` (memory does not grow with the rows, and no statement runs long
enough to be cancelled on a hot-standby replica), read through ``core.replica.report_reads`` (the
read replica when one is configured). Persons appear by their 人员编号 only (minimum necessary).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select

from core.audit import audit
from core.benefits.money import yuan
from core.context import Context
from core.kernel.errors import Invalid
from core.models import BenefitSettlement, User
from core.replica import report_reads

HEADER = ["结算编号", "人员编号", "区县", "定点医疗机构", "病种编码", "病种", "就诊日期", "结算日期", "待遇类别",
          "是否支付", "费用(元)", "起付标准(元)", "基金支付(元)", "个人负担(元)", "冲销原结算"]
COLUMNS = (BenefitSettlement.id, BenefitSettlement.person_id, BenefitSettlement.division_code,
           BenefitSettlement.institution_code, BenefitSettlement.disease_code, BenefitSettlement.disease_name,
           BenefitSettlement.visit_date, BenefitSettlement.settled_on, BenefitSettlement.category,
           BenefitSettlement.covered, BenefitSettlement.eligible_fen, BenefitSettlement.deductible_fen,
           BenefitSettlement.reimbursed_fen, BenefitSettlement.own_fen, BenefitSettlement.reversal_of_id)
BATCH = 5_000


def export_year(ctx: Context, region: str, year: int, batch: int = BATCH) -> Iterator[str]:
    """Check the request and audit it (the caller commits that row before reading on), then return
    the CSV lines, header first, read lazily in batches."""
    if region not in ctx.regions:
        raise Invalid("未知统筹区。")
    if not 2000 <= year <= ctx.today(region).year:
        raise Invalid("年度不正确。")
    audit(ctx, "benefit.export_year", ("benefit_settlements", None), detail=f"region={region} year={year}")
    return _lines(region, year, batch)


def _lines(region: str, year: int, batch: int) -> Iterator[str]:
    yield _csv([HEADER])
    after = 0
    with report_reads() as session:
        while True:
            # The person's number through a join (index look-ups per row), not an IN list of
            # thousands of bound ids.
            rows = session.execute(
                select(*COLUMNS, User.psn_no).join(User, User.id == BenefitSettlement.person_id)
                .where(BenefitSettlement.benefit_year == year, BenefitSettlement.region_code == region,
                       BenefitSettlement.id > after)
                .order_by(BenefitSettlement.id).limit(batch)).all()
            if not rows:
                return
            yield _csv([_row(r) for r in rows])
            after = rows[-1].id


def _row(r) -> list[str]:
    return [str(r.id), r.psn_no or "", r.division_code, r.institution_code, r.disease_code, r.disease_name,
            r.visit_date.isoformat(), r.settled_on.isoformat(), r.category, "是" if r.covered else "否",
            yuan(r.eligible_fen), yuan(r.deductible_fen), yuan(r.reimbursed_fen), yuan(r.own_fen),
            str(r.reversal_of_id or "")]


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()
