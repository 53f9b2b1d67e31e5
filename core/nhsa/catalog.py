"""The national 门慢门特 disease catalogue (platform interface 1309) per region, with code history.

``import_1309`` loads a catalogue download. Every code that is new, changed, retired or restored
gets a new row; the previous row stays (``is_current`` moves to the new one). A full download
(the default) retires codes that are no longer in it; ``incremental=True`` only applies the rows
given. The whole file is checked before anything is written: one bad row and nothing is imported.

Recognitions keep the national code they were made under (``Recognition.national_code``): a code
retired later does not end them, and their filings still use it. ``mapping_report`` shows which
local diseases point at codes the catalogue lacks or has retired, and how many recognitions use them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import Invalid
from core.kernel.status import RecStatus
from core.models import NhsaDiseaseCode, NhsaImport, Recognition
from core.nhsa.files import as_text, read_records, sha256
from core.nhsa.messages import MESSAGES, validate

MAX_PROBLEMS = 50
# Fields whose change makes a new version of a code (ver/ver_name change with every download).
COMPARED = ("name", "majcls_code", "majcls_name", "subd_clss_name", "admdvs", "vali_flag")
REQUIRED_COLUMNS = tuple(f.name for f in MESSAGES["1309"] if f.required)


@dataclass
class CatalogueImport:
    row: NhsaImport
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: int = 0


def _values(record: dict) -> dict:
    get = lambda key: (record.get(key) or "").strip() or None  # noqa: E731
    return {
        "code": record["opsp_dise_code"].strip(),
        "name": record["opsp_dise_name"].strip(),
        "majcls_code": get("opsp_dise_majcls_code"),
        "majcls_name": get("opsp_dise_majcls_name"),
        "subd_clss_name": get("opsp_dise_subd_clss_name"),
        "admdvs": get("admdvs"),
        "vali_flag": record["vali_flag"].strip(),
        "ver": get("ver"),
        "ver_name": get("ver_name"),
    }


def parse_1309(raw: bytes) -> list[dict]:
    """Checked catalogue rows from a CSV/JSON download; Invalid lists every problem by line."""
    records = read_records(raw)
    first = records[0][1]
    if isinstance(first, dict):
        missing = [c for c in REQUIRED_COLUMNS if c not in first]
        if missing:
            raise Invalid(f"文件不是 1309 病种目录:缺少列 {', '.join(missing)}。需要的列:"
                          f"{', '.join(f.name for f in MESSAGES['1309'])}。")
    problems, rows, seen = [], [], {}
    for where, record in records:
        record = as_text(record) if isinstance(record, dict) else record
        errs = validate("1309", record)
        if not errs and record["vali_flag"].strip() not in ("0", "1"):
            errs = [f"vali_flag(有效标志)应为 1(有效)或 0(无效),收到 {record['vali_flag'][:10]!r}"]
        if errs:
            problems.append(f"{where}:{';'.join(errs)}")
            continue
        values = _values(record)
        if values["code"] in seen:
            problems.append(f"{where}:病种代码 {values['code']} 与{seen[values['code']]}重复")
            continue
        seen[values["code"]] = where
        rows.append(values)
    if problems:
        more = f"\n……另有 {len(problems) - MAX_PROBLEMS} 处问题" if len(problems) > MAX_PROBLEMS else ""
        raise Invalid("文件有问题,未导入任何数据:\n" + "\n".join(problems[:MAX_PROBLEMS]) + more)
    return rows


def done_by(ctx: Context) -> str:
    """Who an import or export is recorded as done by: the user, or "cli"/"job"."""
    return ctx.actor.username if ctx.actor is not None else ctx.origin


def current_codes(region: str) -> dict[str, NhsaDiseaseCode]:
    rows = db.session.scalars(
        select(NhsaDiseaseCode).where(NhsaDiseaseCode.region_code == region, NhsaDiseaseCode.is_current.is_(True))
    )
    return {r.code: r for r in rows}


def import_1309(ctx: Context, raw: bytes, file_name: str, region: str, *, incremental: bool = False,
                force: bool = False) -> CatalogueImport:
    if ctx.regions.get(region) is None:
        raise Invalid(f"没有地区 {region}。可用:{', '.join(ctx.regions.codes())}")
    rows = parse_1309(raw)
    current = current_codes(region)
    valid_now = {code for code, row in current.items() if row.is_valid}
    if not incremental and not force and len(valid_now) >= 10:
        kept = valid_now & {r["code"] for r in rows if r["vali_flag"] == "1"}
        if len(kept) < len(valid_now) / 2:
            raise Invalid(f"这个文件会停用 {len(valid_now) - len(kept)} 个现有代码(共 {len(valid_now)} 个有效代码),"
                          "像是不完整的目录。增量文件请选择“增量”;确认是完整目录请选择“确认停用”后再导入。")
    batch = NhsaImport(kind="1309", region_code=region, file_name=file_name[:255], sha256=sha256(raw), created_by=done_by(ctx))
    db.session.add(batch)
    db.session.flush()
    result = CatalogueImport(batch)

    def add(values: dict, change: str, previous: NhsaDiseaseCode | None):
        if previous is not None:
            previous.is_current = False
        db.session.add(NhsaDiseaseCode(region_code=region, change=change, is_current=True, import_id=batch.id, **values))
        getattr(result, change).append(values["code"])

    in_file = set()
    for values in rows:
        in_file.add(values["code"])
        old = current.get(values["code"])
        if old is None:
            add(values, "added", None)
        elif all(getattr(old, k) == values[k] for k in COMPARED):
            result.unchanged += 1
        elif old.vali_flag == "1" and values["vali_flag"] == "0":
            add(values, "retired", old)
        elif old.vali_flag == "0" and values["vali_flag"] == "1":
            add(values, "restored", old)
        else:
            add(values, "changed", old)
    if not incremental:
        for code, old in sorted(current.items()):
            if code not in in_file and old.vali_flag == "1":
                values = {k: getattr(old, k) for k in ("code", "name", "majcls_code", "majcls_name", "subd_clss_name",
                                                       "admdvs", "ver", "ver_name")}
                add({**values, "vali_flag": "0"}, "retired", old)
    batch.counts = {"added": len(result.added), "changed": len(result.changed), "retired": len(result.retired),
                    "restored": len(result.restored), "unchanged": result.unchanged}
    batch.summary = "\n".join(
        f"{label}:{', '.join(codes)}" for label, codes in
        (("新增", result.added), ("变更", result.changed), ("停用", result.retired), ("恢复", result.restored)) if codes
    ) or "无变化"
    db.session.flush()
    audit(ctx, "nhsa.import_1309", batch, detail=" ".join(f"{k}={v}" for k, v in batch.counts.items()))
    return result


def current_name(region: str, code: str) -> str | None:
    """The catalogue's newest name for a national code (retired or not), if the catalogue has it."""
    return db.session.scalar(
        select(NhsaDiseaseCode.name)
        .where(NhsaDiseaseCode.region_code == region, NhsaDiseaseCode.code == code)
        .order_by(NhsaDiseaseCode.id.desc())
        .limit(1)
    )


def code_history(region: str, code: str) -> list[NhsaDiseaseCode]:
    """Every version of a code in the region's catalogue, oldest first."""
    return list(db.session.scalars(
        select(NhsaDiseaseCode)
        .where(NhsaDiseaseCode.region_code == region, NhsaDiseaseCode.code == code)
        .order_by(NhsaDiseaseCode.id)
    ))


@dataclass
class MappingProblem:
    disease_code: str
    disease_name: str
    national_code: str
    problem: str  # 目录中没有 / 已停用
    recognitions: int  # recognitions still in force under the code


def mapping_report(ctx: Context, region: str) -> list[MappingProblem]:
    """Local diseases (this year's catalogue) whose national code is missing from, or retired in, the
    imported national catalogue. Empty when no catalogue has been imported yet."""
    current = current_codes(region)
    if not current:
        return []
    year = ctx.today(region).year
    out = []
    for disease in ctx.regions.catalogue(region, year):
        row = current.get(disease.national_code)
        if row is not None and row.is_valid:
            continue
        count = db.session.scalar(
            select(func.count(Recognition.id)).where(
                Recognition.region_code == region, Recognition.national_code == disease.national_code,
                Recognition.status == RecStatus.ACTIVE)
        )
        out.append(MappingProblem(disease.code, disease.name, disease.national_code,
                                  "国家目录中没有此代码" if row is None else "国家目录已停用此代码", count or 0))
    return out
