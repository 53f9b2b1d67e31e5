"""2503 filings and 2504 cancellations of recognitions for the national platform, and their serials.

A filing row (``NhsaFiling``) is written the first time a recognition's message is exported, and
keeps that message: exporting again gives the same lines. The platform answers a 2503 with a
``trt_dcla_detl_sn``; importing those answers stores the serial on the filing, and a 2504 can only
be written for a filing that has one. Messages that fail the field checks (FACTS.md section 4) are
never written; they are reported with the reason so staff can fix the record (e.g. a missing 人员编号).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import Invalid
from core.kernel.roles import Role
from core.kernel.status import Result, StepKind
from core.kernel.text import code as normal_code
from core.kernel.time import local_date, utcnow
from core.models import Application, Decision, NhsaFiling, NhsaImport, Recognition, User
from core.nhsa.catalog import current_name, done_by
from core.nhsa.files import as_text, read_records, sha256, text_field
from core.nhsa.messages import CODE, clean, parse_date, validate
from core.people.identity import mask_id, mask_name, normalise_id

# 险种类型 by the person's scheme (FACTS.md: 310 职工基本医疗保险, 390 城乡居民基本医疗保险).
INSUTYPE = {"employee": "310", "resident": "390"}
MAX_PROBLEMS = 50


@dataclass
class Export:
    kind: str
    messages: list[dict] = field(default_factory=list)
    new: int = 0
    problems: list[str] = field(default_factory=list)  # "认定 12(张**,M03900):人员编号必填"


EARLIEST = date(2000, 1, 1)  # before the national platform existed; also keeps time-zone arithmetic in range
CHUNK = 5000  # ids per IN (...) list: PostgreSQL takes at most 65,535 parameters per statement


def check_since(since: date | None) -> None:
    if since is not None and not EARLIEST <= since <= date(2100, 12, 31):
        raise Invalid(f"起始日期应在 {EARLIEST.isoformat()} 之后。")


def chunks(ids: list) -> list[list]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _since_utc(since: date, tz: str) -> datetime:
    return datetime.combine(since, time.min, ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def _label(rec: Recognition) -> str:
    return f"认定 {rec.id}({mask_name(rec.person.name)},{rec.national_code} {rec.disease_name})"


def deciding_decision(rec: Recognition) -> Decision | None:
    """The approval that made the recognition: the review or expert step's, not the 受理/备案 clerk's."""
    app = db.session.get(Application, rec.application_id)
    kinds = {s.get("code"): s.get("kind") for s in (app.steps or [])}
    approvals = db.session.scalars(
        select(Decision)
        .where(Decision.application_id == rec.application_id, Decision.disease_code == rec.disease_code,
               Decision.result == Result.APPROVED)
        .order_by(Decision.decided_at, Decision.id)
    ).all()
    clinical = [d for d in approvals if kinds.get(d.step_code) in (StepKind.REVIEW, StepKind.EXPERT)]
    return (clinical or approvals or [None])[-1]


def message_2503(ctx: Context, rec: Recognition) -> dict:
    """The 2503 `data` object for a recognition, from the record as it is now."""
    region = ctx.regions.get(rec.region_code)
    person = rec.person
    decision = deciding_decision(rec)
    doctor = decision.decided_by if decision else None
    institution = region.institution(rec.institution_code) if region else None
    data = {
        "psn_no": person.psn_no or "",
        "insutype": INSUTYPE.get(person.insured_scheme or "employee", ""),
        "opsp_dise_code": rec.national_code,
        "opsp_dise_name": current_name(rec.region_code, rec.national_code) or rec.disease_name,
        "tel": person.phone or "",
        "addr": person.address or "",
        "insu_optins": person.division_code or rec.division_code,
        "ide_fixmedins_no": rec.institution_code,
        "ide_fixmedins_name": institution.name if institution else "",
        "hosp_ide_date": local_date(decision.decided_at, region.timezone).isoformat() if decision else "",
        "diag_dr_codg": (doctor.practitioner_code or "") if doctor else "",
        "diag_dr_name": doctor.name if doctor else "",
        "begndate": rec.start_date.isoformat(),
        "enddate": rec.end_date.isoformat(),
    }
    return clean("2503", data)


def cancellation_reason(rec: Recognition) -> str:
    """The 2504 memo: benefits stopped before the filed end date."""
    return f"认定提前终止,待遇自 {rec.stop_date.isoformat()} 起停止(原有效期至 {rec.end_date.isoformat()})"


def stopped_early():
    """Recognitions whose benefits stop before their end date: their filing must be cancelled (2504).
    A recognition that ran its whole period (e.g. its renewal was rejected: stop = end + 1) keeps it."""
    return Recognition.stop_date.is_not(None) & (Recognition.stop_date <= Recognition.end_date)


def _scope(query, region: str | None):
    return query.where(Recognition.region_code == region) if region else query


def export_2503(ctx: Context, since: date, region: str | None = None, *, new_only: bool = False,
                dry_run: bool = False) -> Export:
    """2503 messages for recognitions made since ``since`` (in each region's own time zone).
    ``dry_run`` shows what an export would give without recording anything."""
    check_since(since)
    out = Export("2503")
    recs = []
    for info in ctx.regions.all() if region is None else [ctx.regions.get(region)]:
        recs += db.session.scalars(
            select(Recognition)
            .where(Recognition.region_code == info.code, Recognition.created_at >= _since_utc(since, info.timezone))
            .order_by(Recognition.id)
        ).all()
    filed = _filings("2503", [r.id for r in recs])
    for rec in recs:
        filing = filed.get(rec.id)
        if filing is None:
            data = message_2503(ctx, rec)
            problems = validate("2503", data)
            if problems:
                out.problems.append(f"{_label(rec)}:{';'.join(problems)}")
                continue
            filing = NhsaFiling(recognition_id=rec.id, region_code=rec.region_code, kind="2503", data=data,
                                exported_by=done_by(ctx))
            if not dry_run:
                db.session.add(filing)
            out.new += 1
        elif new_only:
            continue
        out.messages.append(filing.data)
    if not dry_run:
        _record(ctx, out)
    return out


def export_2504(ctx: Context, since: date | None = None, region: str | None = None, *, new_only: bool = False,
                dry_run: bool = False) -> Export:
    """2504 messages for filed recognitions stopped before their end date (stopped on or after ``since``)."""
    check_since(since)
    out = Export("2504")
    query = _scope(
        select(Recognition, NhsaFiling)
        .join(NhsaFiling, (NhsaFiling.recognition_id == Recognition.id) & (NhsaFiling.kind == "2503"))
        .where(stopped_early())
        .order_by(Recognition.id),
        region,
    )
    if since is not None:
        query = query.where(Recognition.stop_date >= since)
    rows = db.session.execute(query).all()
    cancelled = _filings("2504", [rec.id for rec, _ in rows])
    for rec, filing in rows:
        existing = cancelled.get(rec.id)
        if existing is None:
            data = clean("2504", {"trt_dcla_detl_sn": filing.trt_dcla_detl_sn or "", "psn_no": filing.data.get("psn_no", ""),
                                  "memo": cancellation_reason(rec)})
            problems = validate("2504", data)
            if not filing.trt_dcla_detl_sn:
                problems = ["尚无平台返回的待遇申报明细流水号(trt_dcla_detl_sn),请先导入 2503 的应答"]
            if problems:
                out.problems.append(f"{_label(rec)}:{';'.join(problems)}")
                continue
            existing = NhsaFiling(recognition_id=rec.id, region_code=rec.region_code, kind="2504", data=data,
                                  exported_by=done_by(ctx))
            if not dry_run:
                db.session.add(existing)
            out.new += 1
        elif new_only:
            continue
        out.messages.append(existing.data)
    if not dry_run:
        _record(ctx, out)
    return out


def _filings(kind: str, rec_ids) -> dict[int, NhsaFiling]:
    found = {}
    for part in chunks(list(rec_ids)):
        for f in db.session.scalars(select(NhsaFiling).where(NhsaFiling.kind == kind, NhsaFiling.recognition_id.in_(part))):
            found[f.recognition_id] = f
    return found


def _record(ctx: Context, out: Export) -> None:
    db.session.flush()
    if out.messages or out.problems:  # the lines hold phone numbers and addresses: every export is recorded
        audit(ctx, f"nhsa.export_{out.kind}", None,
              detail=f"new={out.new} lines={len(out.messages)} problems={len(out.problems)} by={done_by(ctx)}")


# --- answers from the platform ------------------------------------------------------------------
def import_serials(ctx: Context, raw: bytes, file_name: str, region: str | None = None) -> NhsaImport:
    """Store the platform's 2503 serials. Every line must match one exported filing; any problem
    stops the whole import and nothing is stored. With ``region``, only that region's filings match."""
    records = read_records(raw)
    problems, matched, seen, taken = [], [], {}, {}
    for where, record in records:
        record = as_text(record) if isinstance(record, dict) else record
        errs = validate("serial", record)
        if errs:
            problems.append(f"{where}:{';'.join(errs)}")
            continue
        serial = record["trt_dcla_detl_sn"].strip()
        if serial in seen:
            problems.append(f"{where}:流水号 {serial} 与{seen[serial]}重复")
            continue
        seen[serial] = where
        found = _filings_for(record, region)
        if not found:
            problems.append(f"{where}:找不到人员编号 {record['psn_no']}、病种 {record['opsp_dise_code']}、"
                            f"开始日期 {record['begndate']} 的已导出 2503 备案")
            continue
        if len(found) > 1:
            problems.append(f"{where}:人员编号 {record['psn_no']} 有多条病种 {record['opsp_dise_code']}、"
                            f"开始日期 {record['begndate']} 的备案,无法确定流水号属于哪一条,请人工核对")
            continue
        filing = found[0]
        if filing.id in taken:
            problems.append(f"{where}:与{taken[filing.id]}是同一条备案")
            continue
        taken[filing.id] = where
        if filing.trt_dcla_detl_sn and filing.trt_dcla_detl_sn != serial:
            problems.append(f"{where}:该备案已有流水号 {filing.trt_dcla_detl_sn},与文件中的 {serial} 不同")
            continue
        other = db.session.scalar(select(NhsaFiling).where(NhsaFiling.trt_dcla_detl_sn == serial, NhsaFiling.id != filing.id))
        if other is not None:
            problems.append(f"{where}:流水号 {serial} 已属于另一条备案")
            continue
        matched.append((filing, serial))
    _stop_on(problems)
    added = 0
    for filing, serial in matched:
        if filing.trt_dcla_detl_sn != serial:
            filing.trt_dcla_detl_sn, filing.serial_at = serial, utcnow()
            added += 1
    return _import_row(ctx, "serials", region, file_name, raw, {"added": added, "unchanged": len(matched) - added})


def _filings_for(record: dict, region: str | None) -> list[NhsaFiling]:
    """The 2503 filings a platform answer line can belong to (more than one means it is ambiguous)."""
    begin = parse_date(record["begndate"])
    query = select(NhsaFiling).where(NhsaFiling.region_code == region) if region else select(NhsaFiling)
    return list(db.session.scalars(
        query
        .join(Recognition, Recognition.id == NhsaFiling.recognition_id)
        .join(User, User.id == Recognition.person_id)
        .where(NhsaFiling.kind == "2503", User.psn_no == record["psn_no"].strip(),
               Recognition.national_code == record["opsp_dise_code"].strip(), Recognition.start_date == begin)
        .limit(2)
    ))


def import_person_numbers(ctx: Context, raw: bytes, file_name: str, region: str | None = None) -> NhsaImport:
    """Load 人员编号 (psn_no) by ID number: columns id_number, psn_no. All lines or none.
    With ``region``, only that region's insured people are looked up."""
    records = read_records(raw)
    problems, updates, seen, people_seen = [], [], {}, {}
    for where, record in records:
        if not isinstance(record, dict):
            problems.append(f"{where}:不是一个 JSON 对象")
            continue
        record = as_text(record)
        id_number = normalise_id(text_field(record, "id_number") or "")
        psn_no = normal_code(text_field(record, "psn_no"))  # NFKC: full-width digits become ASCII
        if not id_number or not psn_no:
            problems.append(f"{where}:id_number(身份证号)和 psn_no(人员编号)都必填,且应为文本")
            continue
        if len(psn_no) > 30 or not CODE.fullmatch(psn_no):
            problems.append(f"{where}:psn_no(人员编号)最多 30 个字符,只能包含英文字母、数字和 . _ -")
            continue
        if psn_no in seen:
            problems.append(f"{where}:人员编号 {psn_no} 与{seen[psn_no]}重复")
            continue
        seen[psn_no] = where
        if id_number in people_seen:
            problems.append(f"{where}:身份证号 {mask_id(id_number)} 与{people_seen[id_number]}重复")
            continue
        people_seen[id_number] = where
        person = db.session.scalar(select(User).where(User.id_number_is(id_number), User.role == Role.INSURED))
        if person is not None and region and person.region_code != region:
            person = None
        if person is None:
            problems.append(f"{where}:没有身份证号为 {mask_id(id_number)} 的参保人")
            continue
        if person.psn_no and person.psn_no != psn_no:
            problems.append(f"{where}:{mask_id(id_number)} 已有人员编号 {person.psn_no},与文件中的不同")
            continue
        holder = db.session.scalar(select(User).where(User.psn_no == psn_no, User.id != person.id))
        if holder is not None:
            problems.append(f"{where}:人员编号 {psn_no} 已属于另一位参保人")
            continue
        updates.append((person, psn_no))
    _stop_on(problems)
    added = 0
    for person, psn_no in updates:
        if person.psn_no != psn_no:
            person.psn_no = psn_no
            added += 1
    return _import_row(ctx, "psn_no", region, file_name, raw, {"added": added, "unchanged": len(updates) - added})


def _stop_on(problems: list[str]) -> None:
    if problems:
        shown = problems[:MAX_PROBLEMS]
        more = f"\n……另有 {len(problems) - MAX_PROBLEMS} 处问题" if len(problems) > MAX_PROBLEMS else ""
        raise Invalid("文件有问题,未导入任何数据:\n" + "\n".join(shown) + more)


def _import_row(ctx: Context, kind, region, file_name, raw, counts) -> NhsaImport:
    row = NhsaImport(kind=kind, region_code=region, file_name=file_name[:255], sha256=sha256(raw), counts=counts,
                     created_by=done_by(ctx))
    db.session.add(row)
    db.session.flush()
    audit(ctx, f"nhsa.import_{kind}", row, detail=" ".join(f"{k}={v}" for k, v in counts.items()))
    return row


# --- sending through a platform adapter ----------------------------------------------------------
def send_pending(ctx: Context, kind: str, region: str | None = None) -> dict:
    """Send exported-but-unsent filings of ``kind`` through the region's platform adapter plugin
    (hook ``mtkit_nhsa_send``); a 2503 answer's serial is stored. Stops at the first failure and
    reports it; what was sent before it stays recorded as sent."""
    query = select(NhsaFiling).where(NhsaFiling.kind == kind, NhsaFiling.sent_at.is_(None)).order_by(NhsaFiling.id)
    if kind == "2503":  # filed by file already when the platform's serial came back through import-serials
        query = query.where(NhsaFiling.trt_dcla_detl_sn.is_(None))
    if region:
        query = query.where(NhsaFiling.region_code == region)
    sent, error = 0, None
    for filing in db.session.scalars(query).all():
        try:
            answer = ctx.regions.nhsa_send(filing.region_code, kind, filing.data)
        except Exception as e:  # the adapter's own failure (network, platform error): report, keep what was sent
            error = f"认定 {filing.recognition_id} 报送失败:{e}"
            break
        if answer is None:
            if not sent:
                raise Invalid(f"地区 {filing.region_code} 没有安装国家医保平台接口适配器插件(mtkit_nhsa_send);"
                              "请用 export 命令导出文件,经平台报送后再导入应答。")
            error = f"地区 {filing.region_code} 没有国家医保平台接口适配器插件"
            break
        if kind == "2503":
            serial = str(answer.get("trt_dcla_detl_sn") or "").strip() if isinstance(answer, dict) else ""
            if not serial or len(serial) > 30:
                error = f"平台对认定 {filing.recognition_id} 的应答没有有效的 trt_dcla_detl_sn"
                break
            filing.trt_dcla_detl_sn, filing.serial_at = serial, utcnow()
        filing.sent_at = utcnow()
        sent += 1
        db.session.flush()
    if sent or error:
        audit(ctx, f"nhsa.send_{kind}", None, result="ok" if error is None else "error",
              detail=f"sent={sent} by={done_by(ctx)}" + (f" error={error}" if error else ""))
    return {"sent": sent, "error": error}


# --- what the administrator's page shows ---------------------------------------------------------
def overview(region: str, include_all_regions: bool = False) -> dict:
    """Counts of work waiting for the platform in ``region``, and the latest imports (those of other
    regions and the instance-wide CLI runs only for the instance administrator)."""
    filed = select(NhsaFiling.recognition_id).where(NhsaFiling.kind == "2503")
    cancelled = select(NhsaFiling.recognition_id).where(NhsaFiling.kind == "2504")
    count = lambda q: db.session.scalar(select(func.count()).select_from(q.subquery())) or 0  # noqa: E731
    in_region = select(Recognition.id).where(Recognition.region_code == region)
    mine = NhsaFiling.region_code == region
    imports = select(NhsaImport).order_by(NhsaImport.id.desc()).limit(10)
    if not include_all_regions:
        imports = imports.where(NhsaImport.region_code == region)
    return {
        "unfiled": count(in_region.where(Recognition.id.not_in(filed))),
        "no_serial": count(select(NhsaFiling.id).where(mine, NhsaFiling.kind == "2503", NhsaFiling.trt_dcla_detl_sn.is_(None))),
        "to_cancel": count(in_region.where(stopped_early(), Recognition.id.in_(filed), Recognition.id.not_in(cancelled))),
        "unsent": count(select(NhsaFiling.id).where(
            mine, NhsaFiling.sent_at.is_(None),
            (NhsaFiling.kind == "2504") | NhsaFiling.trt_dcla_detl_sn.is_(None))),
        "no_psn_no": count(select(User.id).where(User.region_code == region, User.role == Role.INSURED, User.psn_no.is_(None),
                                                 User.id.in_(select(Recognition.person_id)))),
        "imports": list(db.session.scalars(imports)),
    }
