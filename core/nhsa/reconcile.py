"""Compare the platform's 5301 answers (备案查询) with local recognitions.

The file holds one answer per person: ``{"psn_no": ..., "feedetail": [{opsp_dise_code, opsp_dise_name,
begndate, enddate}, ...]}`` (JSON array or JSON lines; an empty ``feedetail`` means the platform has
nothing for that person), or a CSV with one filing per row and the columns psn_no, opsp_dise_code,
opsp_dise_name, begndate, enddate. Only the people in the file are compared.

Locally, every recognition except those stopped before their end date (which a 2504 cancels)
should be on the platform, including those that ran their whole period. Filings are matched by national code and start date; what is left over for the same code
is reported as a date difference, the rest as missing on one side.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import Invalid
from core.models import NhsaImport, Recognition, User
from core.nhsa.catalog import done_by
from core.nhsa.files import as_text, read_records, sha256, text_field
from core.nhsa.filings import chunks, stopped_early
from core.nhsa.messages import CODE, parse_date, validate
from core.people.identity import mask_name

MAX_PROBLEMS = 50
KINDS = {
    "unknown_person": "本地没有此人员编号",
    "platform_only": "平台有备案,本地没有对应认定",
    "local_only": "本地有认定,平台没有备案",
    "begin_differs": "开始日期不同",
    "end_differs": "结束日期不同",
}


@dataclass
class Difference:
    kind: str
    psn_no: str
    person: str  # masked name, or "" when unknown
    code: str = ""
    name: str = ""
    local: str = ""  # "2025-01-01 至 2026-12-31"
    platform: str = ""
    recognition_id: int | None = None

    @property
    def kind_name(self) -> str:
        return KINDS[self.kind]

    def line(self) -> str:
        parts = [f"[{self.kind_name}]", f"人员编号 {self.psn_no}"]
        if self.person:
            parts.append(self.person)
        if self.code:
            parts.append(f"{self.code} {self.name}".strip())
        if self.recognition_id:
            parts.append(f"认定 {self.recognition_id}")
        if self.local:
            parts.append(f"本地 {self.local}")
        if self.platform:
            parts.append(f"平台 {self.platform}")
        return " ".join(parts)


@dataclass
class Reconciliation:
    people: int
    matched: int
    differences: list[Difference]
    row: NhsaImport


def parse_5301(raw: bytes) -> dict[str, list[dict]]:
    """psn_no -> the platform's filings; Invalid lists every problem by line."""
    answers: dict[str, list[dict]] = defaultdict(list)
    problems, first_seen = [], {}
    for where, record in read_records(raw, list_keys=("data", "list")):
        if not isinstance(record, dict):
            problems.append(f"{where}:不是一个 JSON 对象")
            continue
        record = as_text(record)
        psn_no = text_field(record, "psn_no") or ""
        if not psn_no or len(psn_no) > 30 or not CODE.fullmatch(psn_no):
            problems.append(f"{where}:psn_no(人员编号)必填,最多 30 个字符,只能包含英文字母、数字和 . _ -")
            continue
        if "feedetail" in record:
            if psn_no in first_seen:
                problems.append(f"{where}:人员编号 {psn_no} 与{first_seen[psn_no]}重复")
                continue
            first_seen[psn_no] = where
            details = record["feedetail"]
            if not isinstance(details, list):
                problems.append(f"{where}:feedetail 应为列表")
                continue
        else:
            details = [record]  # CSV: one filing per row
        answers.setdefault(psn_no, [])
        for i, detail in enumerate(details, start=1):
            detail = as_text(detail) if isinstance(detail, dict) else detail
            errs = validate("5301", detail)
            if errs:
                problems.append(f"{where}" + (f" feedetail 第 {i} 项" if "feedetail" in record else "") + f":{';'.join(errs)}")
                continue
            answers[psn_no].append(detail)
    if problems:
        more = f"\n……另有 {len(problems) - MAX_PROBLEMS} 处问题" if len(problems) > MAX_PROBLEMS else ""
        raise Invalid("文件有问题,未核对:\n" + "\n".join(problems[:MAX_PROBLEMS]) + more)
    return dict(answers)


def _span(begin, end) -> str:
    return f"{begin} 至 {end or '长期'}"


def reconcile(ctx: Context, raw: bytes, file_name: str, region: str | None = None) -> Reconciliation:
    """Differences between the file's answers and local recognitions (only ``region``'s people if given)."""
    answers = parse_5301(raw)
    people = {}
    for part in chunks(list(answers)):
        query = select(User).where(User.psn_no.in_(part))
        if region:
            query = query.where(User.region_code == region)
        people.update({u.psn_no: u for u in db.session.scalars(query)})
    recs = defaultdict(list)
    for part in chunks([p.id for p in people.values()]):
        # Recognitions stopped before their end are cancelled on the platform (2504): not expected there.
        for rec in db.session.scalars(
            select(Recognition)
            .where(Recognition.person_id.in_(part), ~stopped_early())
            .order_by(Recognition.start_date, Recognition.id)
        ):
            recs[rec.person_id].append(rec)
    diffs, matched = [], 0
    for psn_no, platform in answers.items():
        person = people.get(psn_no)
        if person is None:
            diffs.append(Difference("unknown_person", psn_no, "", platform=f"{len(platform)} 条备案"))
            continue
        who = mask_name(person.name)
        local_by_code, platform_by_code = defaultdict(list), defaultdict(list)
        for rec in recs[person.id]:
            local_by_code[rec.national_code].append(rec)
        for row in platform:
            platform_by_code[row["opsp_dise_code"].strip()].append(row)
        for code in sorted(set(local_by_code) | set(platform_by_code)):
            local_left = list(local_by_code.get(code, []))
            platform_left = []
            for row in platform_by_code.get(code, []):
                begin = parse_date(row["begndate"])
                end = parse_date(row["enddate"]) if row.get("enddate") else None
                rec = next((r for r in local_left if r.start_date == begin), None)
                if rec is None:
                    platform_left.append((row, begin, end))
                    continue
                local_left.remove(rec)
                if rec.end_date != end:
                    diffs.append(Difference("end_differs", psn_no, who, code, rec.disease_name,
                                            _span(rec.start_date, rec.end_date), _span(begin, end), rec.id))
                else:
                    matched += 1
            # Same code, left on both sides: a start-date difference, paired in date order.
            while local_left and platform_left:
                rec = local_left.pop(0)
                row, begin, end = platform_left.pop(0)
                diffs.append(Difference("begin_differs", psn_no, who, code, rec.disease_name,
                                        _span(rec.start_date, rec.end_date), _span(begin, end), rec.id))
            for rec in local_left:
                diffs.append(Difference("local_only", psn_no, who, code, rec.disease_name,
                                        _span(rec.start_date, rec.end_date), "", rec.id))
            for row, begin, end in platform_left:
                diffs.append(Difference("platform_only", psn_no, who, code, row.get("opsp_dise_name", ""), "",
                                        _span(begin, end)))
    counts = {"people": len(answers), "matched": matched, "differences": len(diffs)}
    row = NhsaImport(kind="5301", region_code=region, file_name=file_name[:255], sha256=sha256(raw), counts=counts,
                     summary="\n".join(d.line() for d in diffs[:200]) or "无差异", created_by=done_by(ctx))
    db.session.add(row)
    db.session.flush()
    audit(ctx, "nhsa.reconcile_5301", row, detail=" ".join(f"{k}={v}" for k, v in counts.items()))
    return Reconciliation(len(answers), matched, diffs, row)
