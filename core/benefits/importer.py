"""Import a day's 门特 visits from a hospital system's CSV export (the CLI ``flask benefits import``).

Columns (UTF-8, an Excel BOM is fine, ``#`` lines are comments): id_number, institution, disease,
visit_date (YYYY-MM-DD), eligible (元, fen precision), note (optional). The whole file is one
transaction: every row is checked first and any problem stops the import with all problems listed
by line; then ``service.import_visits`` settles the rows in file order.
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from core.benefits import service
from core.benefits.calculation import benefit_year, person_category
from core.benefits.inputs import make_visit
from core.benefits.money import yuan
from core.context import Context
from core.extensions import db
from core.kernel.errors import Invalid, ServiceError
from core.kernel.roles import Role
from core.models import Recognition, User
from core.people.identity import normalise_id
from regions._loader import LINE, DataError, read_csv

COLUMNS = ("id_number", "institution", "disease", "visit_date", "eligible")
MAX_PROBLEMS = 50


def import_file(ctx: Context, path, username: str) -> dict:
    """Check every row of the file, then settle them all (in the caller's transaction)."""
    actor = db.session.scalar(select(User).where(User.username == username))
    if actor is None or actor.role not in service.RECORDER_ROLES or not actor.is_enabled:
        raise ValueError(f"用户 {username} 不存在、已停用,或不是医院医保科/经办机构审核员。")
    ctx = ctx.acting_as(actor)
    try:
        rows = read_csv(path, COLUMNS)
    except DataError as e:
        raise ValueError(str(e)) from None
    ids = {normalise_id(r["id_number"]) for r in rows}
    people = {u.id_number: u for u in db.session.scalars(select(User).where(User.id_number_in(ids), User.role == Role.INSURED))}
    recognised = set(db.session.execute(
        select(Recognition.person_id, Recognition.disease_code).where(Recognition.person_id.in_([p.id for p in people.values()]))
    ).all())
    visits, problems = [], []
    for row in rows:
        line = row[LINE]
        person = people.get(normalise_id(row["id_number"]))
        if person is None:
            problems.append(f"第 {line} 行: 找不到身份证号码为 {row['id_number'][:18]} 的参保人")
            continue
        try:
            today = ctx.today(person.region_code)
            visit = make_visit(person, today, institution_code=row["institution"], disease_code=row["disease"],
                               visit_date=row["visit_date"], eligible=row["eligible"], note=row.get("note", ""))
            service.check_recorder(ctx, person, visit.institution_code)
            person_category(person)
            year = benefit_year(ctx.regions, person.region_code, visit.visit_date, today)
            if ctx.regions.disease(person.region_code, visit.disease_code, year) is None and (person.id, visit.disease_code) not in recognised:
                raise Invalid(f"病种编码 {visit.disease_code} 不在本地区 {year} 年度门特病种目录内")
        except ServiceError as e:
            problems.append(f"第 {line} 行: " + ";".join([e.message.rstrip(":"), *e.problems]))
            continue
        visits.append(visit)
    if problems:
        more = f"(另有 {len(problems) - MAX_PROBLEMS} 处)" if len(problems) > MAX_PROBLEMS else ""
        raise ValueError("导入未进行,文件中有问题:\n" + "\n".join(problems[:MAX_PROBLEMS]) + more)
    if not visits:
        raise ValueError("文件中没有就诊记录。")
    return _sum(ctx, visits)  # a dry run is rolled back by the caller


def _chunks(visits, size=1000):
    for start in range(0, len(visits), size):
        yield visits[start:start + size]


def _sum(ctx: Context, visits) -> dict:
    """Settle in chunks of 1,000 (one INSERT each) inside the caller's transaction; add up the summaries."""
    total = {"count": 0, "covered": 0, "not_covered": 0, "eligible": Decimal(0), "reimbursed": Decimal(0), "own": Decimal(0)}
    for chunk in _chunks(visits):
        s = service.import_visits(ctx, chunk)
        for k in ("count", "covered", "not_covered"):
            total[k] += s[k]
        for k in ("eligible", "reimbursed", "own"):
            total[k] += Decimal(s[k])
    return {k: (yuan(v) if isinstance(v, Decimal) else v) for k, v in total.items()}
