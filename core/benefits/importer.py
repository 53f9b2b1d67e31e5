"""Import a day's 门特 visits from a hospital system's CSV export (the CLI ``flask benefits import``).

Columns (UTF-8, an Excel BOM is fine, ``#`` lines are comments): id_number, institution, disease,
visit_date (YYYY-MM-DD), eligible (元, fen precision), note (optional). The whole file is one
transaction: every row is checked first and any problem stops the import with all problems listed
by line; then ``service.import_visits`` settles the rows in file order.

A file is settled once: the digest of its rows (what each row says, not how the file is laid out:
comments, BOM and line endings aside) is kept in ``idempotency_keys`` for good, in the transaction
that settles it, so importing the same visits again, in a row or at the same time, is refused and
names the first import. ``force`` (``--force``) imports them again on purpose (audited as forced).
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from core import idempotency
from core.audit import audit
from core.benefits import service
from core.benefits.calculation import benefit_year, person_category
from core.benefits.inputs import make_visit
from core.benefits.money import yuan
from core.context import Context
from core.extensions import db
from core.kernel.errors import Invalid, ServiceError
from core.kernel.roles import Role
from core.kernel.time import local_time, utcnow
from core.models import Recognition, User
from core.people.identity import normalise_id, normalise_login
from regions._loader import LINE, DataError, read_csv

COLUMNS = ("id_number", "institution", "disease", "visit_date", "eligible")
MAX_PROBLEMS = 50


def import_file(ctx: Context, path, username: str, *, force: bool = False) -> dict:
    """Check every row of the file, then settle them all (in the caller's transaction). A file whose
    rows were imported before is refused unless ``force``."""
    actor = db.session.scalar(select(User).where(User.username == normalise_login(username)))
    if actor is None or actor.role not in service.RECORDER_ROLES or not actor.is_enabled:
        raise ValueError(f"用户 {username} 不存在、已停用,或不是医院医保科/经办机构审核员。")
    ctx = ctx.acting_as(actor)
    try:
        rows = read_csv(path, COLUMNS)
    except DataError as e:
        raise ValueError(str(e)) from None
    except UnicodeDecodeError:
        raise ValueError("文件不是 UTF-8 编码的 CSV,请用 UTF-8 另存后再导入。") from None
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
    digest = idempotency.fingerprint([[normalise_id(r["id_number"]), *(r.get(c, "") for c in COLUMNS[1:]), r.get("note", "")]
                                      for r in rows])
    claim = None
    if not force:
        claim = idempotency.claim(ctx, "benefits.import", digest, {"sha256": digest}, per_actor=False, expires=False)
        if claim.repeated:
            raise ValueError(_already(claim.first.get("summary") or {}))
    summary = _sum(ctx, visits)  # a dry run is rolled back by the caller
    audit(ctx, "benefit.import_file", ("benefit_settlements", None),
          detail=f"sha256={digest} rows={summary['count']} forced={int(force)}")
    if claim is not None:
        idempotency.record(claim, summary={**summary, "by": actor.username,
                                                 "at": local_time(utcnow(), ctx.regions.default_timezone)})
    return summary


def _already(first: dict) -> str:
    return (f"导入未进行:同样内容的文件已于 {first.get('at', '')} 由 {first.get('by', '')} 导入过"
            f"({first.get('count', '?')} 笔,报销 {first.get('reimbursed', '?')} 元),再次导入会重复结算。"
            "如确需再次导入(例如已冲销原结算),请加 --force。")


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
