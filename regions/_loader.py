"""Read a region's data files (CSV + TOML) into the frozen types of ``core.kernel.types``.

A region plugin keeps every figure in ``regions/<code>/data/`` so that a bureau can edit it without
Python. This module reads and validates those files once, at import; a bad value stops start-up
with a ``DataError`` (a ``ValueError``) that names the file, the line and the problem.

Files of a data directory (columns are described in ``regions/README.md``):
  region.toml        code, name, short_name, intake, division_label, contact
  divisions.csv      code,name
  institutions.csv   code,name,division_code,kind,qualified,address,phone,sample
  diseases.csv       code,national_code,name,category,annual_limit,ratio_employed,ratio_retired,
                     validity_months,fast_track,renewal_allowed,valid_from,valid_to,sample
  materials.csv      disease,kind,code,name,required,original_needed,accept,note[,online]
  channels.toml      [[channel]] code,name,online,entry_points,strengths,weaknesses,suits
  review_steps.toml  [[normal]] and optional [[fast_track]] steps: code,name,role,kind,
                     sla_working_days,optional,min_title
  notices.toml       optional: renewal_reminder_days, [template.<kind>] title, body
  holidays.csv       optional: date,working,note (local holidays, or a year chinesecalendar lacks)
  benefits.toml      optional: [[policy]] per range of years: version,valid_from,valid_to,sample,
                     one_deductible_across_diseases,inpatient_excluded,chosen_institution_required,
                     year_rule,limit_basis and [policy.deductible] employed/retired/resident
  benefit_rates.csv  optional: disease,category,annual_limit,ratio,valid_from,valid_to,sample
                     (ratios/limits per benefit category; employees default to diseases.csv)
"""
from __future__ import annotations

import csv
from datetime import date
import hashlib
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.kernel.types import (
    BENEFIT_CATEGORIES,
    LIMIT_BASES,
    PHYSICIAN_TITLES,
    NoticeTemplate,
    YEAR_RULES,
    BenefitPolicy,
    BenefitRate,
    Channel,
    Disease,
    Division,
    Institution,
    Material,
    RegionInfo,
    ReviewStep,
)

LINE = "_line"  # key under which read_csv stores a row's physical line number

INTAKES = ("hospital", "office")
INSTITUTION_KINDS = ("hospital", "office")
MATERIAL_KINDS = ("new", "renewal")
FILE_TYPES = ("pdf", "jpg", "jpeg", "png")
STEP_ROLES = ("physician", "hospital_office", "agency_reviewer", "expert")
STEP_KINDS = ("accept", "review", "expert", "record")
CHANNEL_CODES = ("online", "window", "hospital")

_TRUE = {"true", "1", "yes", "y", "是", "t"}
_FALSE = {"false", "0", "no", "n", "否", "f"}
_DIVISION_CODE = re.compile(r"^\d{6}$")
_NATIONAL_CODE = re.compile(r"^M\d{5}$")
_CODE = re.compile(r"^[A-Za-z0-9_\-]+$")


class DataError(ValueError):
    """A region data file holds a value that cannot be used."""

    def __init__(self, path: Path | str, line: int | str | None, message: str):
        if line is None:
            where = f"{path}"
        elif isinstance(line, int):
            where = f"{path} 第 {line} 行"
        else:  # a TOML location such as "[[normal]] 第 2 步"
            where = f"{path} {line}"
        super().__init__(f"地区数据文件错误: {where}: {message}")
        self.path = str(path)
        self.line = line


# --- raw readers ---------------------------------------------------------------------------
def read_csv(path: Path | str, columns: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a UTF-8 CSV file (an Excel BOM is fine) as dicts, values stripped.

    Blank rows and rows whose first cell starts with ``#`` are skipped. Each dict carries the
    physical line number under ``_line`` for error messages. Missing ``columns`` raise DataError.
    """
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        rows: list[dict[str, Any]] = []
        for cells in reader:
            line = reader.line_num
            if not cells or not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            cells = [c.strip() for c in cells]
            if header is None:
                header = cells
                missing = [c for c in columns if c not in header]
                if missing:
                    raise DataError(path, line, f"表头缺少列 {', '.join(missing)}(应有: {','.join(columns)})")
                if len(set(header)) != len(header):
                    raise DataError(path, line, "表头中有重复的列名")
                continue
            if len(cells) > len(header):
                raise DataError(path, line, f"列数 {len(cells)} 多于表头的 {len(header)} 列(含逗号的值请加英文双引号)")
            cells += [""] * (len(header) - len(cells))
            row: dict[str, Any] = dict(zip(header, cells))
            row[LINE] = line
            rows.append(row)
    if header is None:
        raise DataError(path, None, "文件为空,缺少表头")
    return rows


def read_toml(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, None, f"TOML 格式错误: {exc}") from exc


# --- value parsers (each raises DataError naming the file and line) ---------------------------
def parse_bool(value: Any, path, line, column: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DataError(path, line, f"列 {column} 的值 {value!r} 不是 true/false")


def parse_money(value: str, path, line, column: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise DataError(path, line, f"列 {column} 的金额 {value!r} 不是数字(不要带逗号或单位)") from None
    if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:
        raise DataError(path, line, f"列 {column} 的金额 {value!r} 应为不小于 0、最多两位小数的数")
    return amount


def parse_ratio(value: str, path, line, column: str) -> Decimal:
    """A reimbursement ratio: "0.70" (or "70%"), strictly above 0 and at most 1."""
    text = str(value).strip()
    try:
        ratio = Decimal(text[:-1].strip()).scaleb(-2) if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        raise DataError(path, line, f"列 {column} 的比例 {value!r} 不是数字(应写作 0.70)") from None
    if not ratio.is_finite() or not (0 < ratio <= 1):
        raise DataError(path, line, f"列 {column} 的比例 {value!r} 应大于 0 且不超过 1(如 0.70)")
    return ratio


def parse_int(value: Any, path, line, column: str, lo: int, hi: int, allow_empty=False) -> int | None:
    text = str(value).strip() if value is not None else ""
    if text == "" and allow_empty:
        return None
    try:
        number = int(text)
    except ValueError:
        raise DataError(path, line, f"列 {column} 的值 {value!r} 不是整数") from None
    if not lo <= number <= hi:
        raise DataError(path, line, f"列 {column} 的值 {number} 应在 {lo} 到 {hi} 之间")
    return number


# Longest values the database keeps (core/models): checked here so an over-long edit stops
# start-up with a clear message on every database, not a failed write on PostgreSQL later.
MAX_CODE = 30
MAX_DISEASE_NAME = 100
MAX_STEP_NAME = 50


def _need(row: dict, column: str, path, max_len: int | None = None) -> str:
    value = row.get(column, "")
    if value == "":
        raise DataError(path, row[LINE], f"列 {column} 不能为空")
    if max_len is not None and len(value) > max_len:
        raise DataError(path, row[LINE], f"列 {column} 最多 {max_len} 个字符(现为 {len(value)} 个)")
    return value


def _code(row: dict, column: str, path) -> str:
    value = _need(row, column, path, MAX_CODE)
    if not _CODE.match(value):
        raise DataError(path, row[LINE], f"列 {column} 的编码 {value!r} 只能含字母、数字、下划线和连字符")
    return value


# --- file loaders ----------------------------------------------------------------------------
def load_divisions(path: Path, region_code: str) -> tuple[Division, ...]:
    prefix = region_code.rstrip("0")
    out: list[Division] = []
    seen: set[str] = set()
    for row in read_csv(path, ("code", "name")):
        code, name = _need(row, "code", path), _need(row, "name", path)
        if not _DIVISION_CODE.match(code) or not code.startswith(prefix) or code == region_code:
            raise DataError(path, row[LINE], f"区划编码 {code!r} 应为以 {prefix} 开头的 6 位行政区划代码")
        if code in seen:
            raise DataError(path, row[LINE], f"区划编码 {code} 重复")
        seen.add(code)
        out.append(Division(code=code, name=name))
    if not out:
        raise DataError(path, None, "没有任何区划")
    return tuple(out)


INSTITUTION_COLUMNS = ("code", "name", "division_code", "kind", "qualified", "address", "phone", "sample")


def load_institutions(path: Path, divisions: tuple[Division, ...], region_code: str) -> tuple[Institution, ...]:
    # The region's own code marks a city-level institution (市本级) that serves every division.
    division_codes = {d.code for d in divisions} | {region_code}
    out: list[Institution] = []
    seen: set[str] = set()
    for row in read_csv(path, INSTITUTION_COLUMNS):
        line = row[LINE]
        code = _code(row, "code", path)
        if code in seen:
            raise DataError(path, line, f"机构编码 {code} 重复")
        seen.add(code)
        division = _need(row, "division_code", path)
        if division not in division_codes:
            raise DataError(path, line, f"区划编码 {division} 不在 divisions.csv 中(市本级机构填本地区编码 {region_code})")
        kind = _need(row, "kind", path)
        if kind not in INSTITUTION_KINDS:
            raise DataError(path, line, f"列 kind 的值 {kind!r} 应为 {' 或 '.join(INSTITUTION_KINDS)}")
        parse_bool(row["sample"] or "true", path, line, "sample")
        out.append(
            Institution(
                code=code,
                name=_need(row, "name", path),
                division_code=division,
                kind=kind,
                qualified=parse_bool(row["qualified"] or "true", path, line, "qualified"),
                address=row["address"],
                phone=row["phone"],
            )
        )
    return tuple(out)


DISEASE_COLUMNS = (
    "code", "national_code", "name", "category", "annual_limit", "ratio_employed", "ratio_retired",
    "validity_months", "fast_track", "renewal_allowed", "valid_from", "valid_to", "sample",
)


@dataclass(frozen=True)
class CatalogueRow:
    """A catalogue row with the years it is valid in (valid_to None: still valid)."""

    disease: Disease
    valid_from: int
    valid_to: int | None
    line: int

    def valid_in(self, year: int) -> bool:
        return self.valid_from <= year and (self.valid_to is None or year <= self.valid_to)


def load_diseases(path: Path) -> tuple[CatalogueRow, ...]:
    """Catalogue rows. A code may appear on several rows only if their year ranges do not overlap
    (e.g. a limit changed from 2027: end the old row with valid_to 2026, add a row from 2027)."""
    out: list[CatalogueRow] = []
    for row in read_csv(path, DISEASE_COLUMNS):
        line = row[LINE]
        code = _code(row, "code", path)
        national = _need(row, "national_code", path)
        if not _NATIONAL_CODE.match(national):
            raise DataError(path, line, f"国家病种编码 {national!r} 应为 M 加 5 位数字,如 M03900")
        valid_from = parse_int(row["valid_from"], path, line, "valid_from", 2000, 2100)
        valid_to = parse_int(row["valid_to"], path, line, "valid_to", 2000, 2100, allow_empty=True)
        if valid_to is not None and valid_to < valid_from:
            raise DataError(path, line, f"valid_to {valid_to} 早于 valid_from {valid_from}")
        disease = Disease(
            code=code,
            national_code=national,
            name=_need(row, "name", path, MAX_DISEASE_NAME),
            category=row["category"],
            annual_limit=parse_money(_need(row, "annual_limit", path), path, line, "annual_limit"),
            ratio_employed=parse_ratio(_need(row, "ratio_employed", path), path, line, "ratio_employed"),
            ratio_retired=parse_ratio(_need(row, "ratio_retired", path), path, line, "ratio_retired"),
            validity_months=parse_int(row["validity_months"], path, line, "validity_months", 1, 1200),
            fast_track=parse_bool(row["fast_track"] or "false", path, line, "fast_track"),
            renewal_allowed=parse_bool(row["renewal_allowed"] or "true", path, line, "renewal_allowed"),
            sample=parse_bool(row["sample"] or "true", path, line, "sample"),
        )
        entry = CatalogueRow(disease, valid_from, valid_to, line)
        for other in out:
            if other.disease.code == code and _overlap(other, entry):
                raise DataError(
                    path, line,
                    f"病种编码 {code} 重复(与第 {other.line} 行的有效年度重叠;同一编码分多行时年度不能重叠)",
                )
        out.append(entry)
    if not out:
        raise DataError(path, None, "病种目录为空")
    return tuple(out)


def _overlap(a: CatalogueRow, b: CatalogueRow) -> bool:
    a_end = a.valid_to if a.valid_to is not None else 10**6
    b_end = b.valid_to if b.valid_to is not None else 10**6
    return a.valid_from <= b_end and b.valid_from <= a_end


MATERIAL_COLUMNS = ("disease", "kind", "code", "name", "required", "original_needed", "accept", "note")  # online: optional
MATERIAL_ONLINE = ("upload", "system", "declaration")


@dataclass(frozen=True)
class MaterialRow:
    material: Material
    kinds: tuple[str, ...]  # the application kinds it applies to


def load_materials(path: Path, disease_codes: set[str]) -> tuple[MaterialRow, ...]:
    out: list[MaterialRow] = []
    seen: dict[tuple[str, str, str], int] = {}
    for row in read_csv(path, MATERIAL_COLUMNS):
        line = row[LINE]
        disease = _need(row, "disease", path)
        if disease != "*" and disease not in disease_codes:
            raise DataError(path, line, f"病种编码 {disease} 不在 diseases.csv 中(通用材料请写 *)")
        kind = _need(row, "kind", path)
        if kind != "*" and kind not in MATERIAL_KINDS:
            raise DataError(path, line, f"列 kind 的值 {kind!r} 应为 new、renewal 或 *")
        kinds = MATERIAL_KINDS if kind == "*" else (kind,)
        code = _code(row, "code", path)
        for k in kinds:
            if (disease, k, code) in seen:
                raise DataError(path, line, f"材料 {code}(病种 {disease}、{k})与第 {seen[(disease, k, code)]} 行重复")
            seen[(disease, k, code)] = line
        accept = tuple(t.strip().lower().lstrip(".") for t in re.split(r"[;;|/、\s]+", row["accept"]) if t.strip())
        if not accept:
            accept = ("pdf", "jpg", "png")
        bad = [t for t in accept if t not in FILE_TYPES]
        if bad:
            raise DataError(path, line, f"列 accept 中的文件类型 {', '.join(bad)} 不支持(可用: {';'.join(FILE_TYPES)})")
        online = (row.get("online") or "upload").lower()
        if online not in MATERIAL_ONLINE:
            raise DataError(path, line, f"列 online 的值 {online!r} 应为 {'、'.join(MATERIAL_ONLINE)} 或留空")
        material = Material(
            code=code,
            name=_need(row, "name", path),
            required=parse_bool(_need(row, "required", path), path, line, "required"),
            original_needed=parse_bool(row["original_needed"] or "false", path, line, "original_needed"),
            note=row["note"],
            accept=accept,
            disease=disease,
            online=online,
        )
        out.append(MaterialRow(material, kinds))
    return tuple(out)


def _toml_str(table: dict, key: str, path, where: str, required=True, max_len: int | None = None) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise DataError(path, where, f"{key} 应为字符串")
    value = value.strip()
    if required and not value:
        raise DataError(path, where, f"缺少 {key}")
    if max_len is not None and len(value) > max_len:
        raise DataError(path, where, f"{key} 最多 {max_len} 个字符(现为 {len(value)} 个)")
    return value


def load_region(path: Path, divisions: tuple[Division, ...], institutions: tuple[Institution, ...]) -> RegionInfo:
    data = read_toml(path)
    code = _toml_str(data, "code", path, "region")
    if not _DIVISION_CODE.match(code):
        raise DataError(path, "code", f"地区编码 {code!r} 应为 6 位行政区划代码")
    intake = _toml_str(data, "intake", path, "region")
    if intake not in INTAKES:
        raise DataError(path, "intake", f"intake 应为 {' 或 '.join(INTAKES)}")
    return RegionInfo(
        code=code,
        name=_toml_str(data, "name", path, "region"),
        short_name=_toml_str(data, "short_name", path, "region"),
        divisions=divisions,
        intake=intake,
        timezone=_toml_str(data, "timezone", path, "region", required=False) or "Asia/Shanghai",
        locale=_toml_str(data, "locale", path, "region", required=False) or "zh_CN",
        contact=_toml_str(data, "contact", path, "region", required=False),
        division_label=_toml_str(data, "division_label", path, "region", required=False) or "地区",
        institutions=institutions,
        issuer=_toml_str(data, "issuer", path, "region", required=False) or f"{data.get('name', '')}医疗保障局",
    )


def load_channels(path: Path) -> tuple[Channel, ...]:
    data = read_toml(path)
    tables = data.get("channel")
    if not isinstance(tables, list) or not tables:
        raise DataError(path, None, "至少需要一个 [[channel]]")
    out: list[Channel] = []
    for i, t in enumerate(tables, 1):
        where = f"第 {i} 个 [[channel]]"
        code = _toml_str(t, "code", path, where)
        if code not in CHANNEL_CODES:
            raise DataError(path, where, f"code {code!r} 应为 {'、'.join(CHANNEL_CODES)} 之一")
        if any(c.code == code for c in out):
            raise DataError(path, where, f"渠道 {code} 重复")
        online = t.get("online")
        if not isinstance(online, bool):
            raise DataError(path, where, "online 应为 true 或 false")
        out.append(
            Channel(
                code=code,
                name=_toml_str(t, "name", path, where),
                online=online,
                entry_points=_toml_str(t, "entry_points", path, where),
                strengths=_toml_str(t, "strengths", path, where),
                weaknesses=_toml_str(t, "weaknesses", path, where),
                suits=_toml_str(t, "suits", path, where),
            )
        )
    return tuple(out)


def load_review_steps(path: Path) -> dict[bool, tuple[ReviewStep, ...]]:
    """{False: normal steps, True: fast-track steps}; without [[fast_track]] both are the same."""
    data = read_toml(path)
    normal = _steps(data.get("normal"), path, "normal")
    fast = _steps(data["fast_track"], path, "fast_track") if "fast_track" in data else normal
    return {False: normal, True: fast}


def _steps(tables, path, section: str) -> tuple[ReviewStep, ...]:
    if not isinstance(tables, list) or not tables:
        raise DataError(path, section, f"至少需要一个 [[{section}]] 步骤")
    out: list[ReviewStep] = []
    for i, t in enumerate(tables, 1):
        where = f"[[{section}]] 第 {i} 步"
        code = _toml_str(t, "code", path, where)
        if any(s.code == code for s in out):
            raise DataError(path, where, f"步骤编码 {code} 重复")
        role = _toml_str(t, "role", path, where)
        if role not in STEP_ROLES:
            raise DataError(path, where, f"role {role!r} 应为 {'、'.join(STEP_ROLES)} 之一")
        kind = _toml_str(t, "kind", path, where)
        if kind not in STEP_KINDS:
            raise DataError(path, where, f"kind {kind!r} 应为 {'、'.join(STEP_KINDS)} 之一")
        sla = t.get("sla_working_days")
        if sla is not None and (isinstance(sla, bool) or not isinstance(sla, int) or not 0 < sla <= 90):
            raise DataError(path, where, "sla_working_days 应为 1 到 90 的整数,或省略(不限时)")
        optional = t.get("optional", False)
        if not isinstance(optional, bool):
            raise DataError(path, where, "optional 应为 true 或 false")
        min_title = t.get("min_title") or None
        if min_title is not None and min_title not in PHYSICIAN_TITLES:
            raise DataError(path, where, f"min_title {min_title!r} 应为 {'、'.join(PHYSICIAN_TITLES)} 之一")
        name = _toml_str(t, "name", path, where, max_len=MAX_STEP_NAME)
        out.append(ReviewStep(code, name, role, kind, sla, optional, min_title))
    if not any(s.kind == "review" for s in out):
        raise DataError(path, section, "至少需要一个 kind = \"review\" 的步骤")
    if out[-1].kind != "record" or out[-1].optional:
        raise DataError(path, section, "最后一步应为必经的 kind = \"record\"(备案/结果通知)")
    return tuple(out)


# Fields each notice template may use (see core/kernel/hookspecs.py mtkit_notice_template).
TEMPLATE_FIELDS = {
    "renewal_reminder": ("name", "disease", "end_date", "days_left", "opens", "closes"),
    "expired": ("name", "disease", "end_date", "stop_date"),
    "lapsed": ("name", "app_id", "deadline"),
    "sla_digest": ("name", "overdue", "due_soon", "lines"),
    "result_due": ("name", "count", "lines"),
}


def load_notices(path: Path) -> tuple[tuple[int, ...] | None, dict[str, NoticeTemplate]]:
    """(reminder days, largest first, or None for the default; templates by kind)."""
    if not path.exists():
        return None, {}
    data = read_toml(path)
    days = data.get("renewal_reminder_days")
    if days is not None:
        if not isinstance(days, list) or not days or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 366 for d in days):
            raise DataError(path, "renewal_reminder_days", "应为 1 到 366 之间的整数列表,如 [90, 30, 7]")
        if len(set(days)) != len(days):
            raise DataError(path, "renewal_reminder_days", "天数不能重复")
        days = tuple(sorted(days, reverse=True))
    templates = {}
    for kind, table in (data.get("template") or {}).items():
        where = f"[template.{kind}]"
        if kind not in TEMPLATE_FIELDS:
            raise DataError(path, where, f"未知的通知类型 {kind},应为 {'、'.join(TEMPLATE_FIELDS)} 之一")
        t = NoticeTemplate(_toml_str(table, "title", path, where, max_len=100), _toml_str(table, "body", path, where, max_len=1000))
        try:
            t.render(**{f: "x" for f in TEMPLATE_FIELDS[kind]})
        except (KeyError, IndexError, ValueError) as exc:
            raise DataError(path, where, f"模板中的占位符 {exc} 无效,可用: {'、'.join('{' + f + '}' for f in TEMPLATE_FIELDS[kind])}") from exc
        templates[kind] = t
    return days, templates


def load_holidays(path: Path) -> dict[date, bool]:
    """Local days off and make-up working days: date -> True if it is a working day."""
    if not path.exists():
        return {}
    out: dict[date, bool] = {}
    for row in read_csv(path, ("date", "working", "note")):
        line = row[LINE]
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            raise DataError(path, line, f"日期 {row['date']!r} 应写成 2027-01-01 的格式") from None
        if day in out:
            raise DataError(path, line, f"日期 {day} 重复")
        out[day] = parse_bool(row["working"], path, line, "working")
    return out
# --- benefit policy (门特待遇) ----------------------------------------------------------------
@dataclass(frozen=True)
class PolicyRow:
    """One [[policy]] of benefits.toml: the rules for a range of years."""

    label: str
    valid_from: int
    valid_to: int | None
    sample: bool
    deductible: dict[str, Decimal]
    flags: dict[str, Any]

    def valid_in(self, year: int) -> bool:
        return self.valid_from <= year and (self.valid_to is None or year <= self.valid_to)


POLICY_FLAGS = ("one_deductible_across_diseases", "inpatient_excluded", "chosen_institution_required")


def load_benefit_policies(path: Path) -> tuple[PolicyRow, ...]:
    data = read_toml(path)
    tables = data.get("policy")
    if not isinstance(tables, list) or not tables:
        raise DataError(path, None, "至少需要一个 [[policy]]")
    out: list[PolicyRow] = []
    for i, t in enumerate(tables, 1):
        where = f"第 {i} 个 [[policy]]"
        label = _toml_str(t, "version", path, where, max_len=20)
        years = []
        for key in ("valid_from", "valid_to"):
            value = t.get(key)
            if value is None and key == "valid_to":
                years.append(None)
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 2000 <= value <= 2100:
                raise DataError(path, where, f"{key} 应为 2000 到 2100 之间的年份")
            years.append(value)
        valid_from, valid_to = years
        if valid_to is not None and valid_to < valid_from:
            raise DataError(path, where, f"valid_to {valid_to} 早于 valid_from {valid_from}")
        flags: dict[str, Any] = {}
        for key in POLICY_FLAGS + ("sample",):
            value = t.get(key, True if key in ("one_deductible_across_diseases", "inpatient_excluded", "sample") else False)
            if not isinstance(value, bool):
                raise DataError(path, where, f"{key} 应为 true 或 false")
            flags[key] = value
        for key, allowed in (("year_rule", YEAR_RULES), ("limit_basis", LIMIT_BASES)):
            value = t.get(key, next(iter(allowed)))
            if value not in allowed:
                raise DataError(path, where, f"{key} 的值 {value!r} 应为 {'、'.join(allowed)} 之一")
            flags[key] = value
        table = t.get("deductible")
        if not isinstance(table, dict):
            raise DataError(path, where, "缺少 [policy.deductible](各类人员的起付标准,元)")
        deductible: dict[str, Decimal] = {}
        for category, value in table.items():
            if category not in BENEFIT_CATEGORIES:
                raise DataError(path, where, f"起付标准的人员类别 {category!r} 应为 {'、'.join(BENEFIT_CATEGORIES)} 之一")
            deductible[category] = parse_money(str(value), path, where, f"deductible.{category}")
        missing = [c for c in BENEFIT_CATEGORIES if c not in deductible]
        if missing:
            raise DataError(path, where, f"[policy.deductible] 缺少 {', '.join(missing)}")
        row = PolicyRow(label, valid_from, valid_to, flags.pop("sample"), deductible, flags)
        for other in out:
            if _overlap(other, row):
                raise DataError(path, where, f"与版本 {other.label} 的有效年度重叠")
        out.append(row)
    return tuple(out)


RATE_COLUMNS = ("disease", "category", "annual_limit", "ratio", "valid_from", "valid_to", "sample")


@dataclass(frozen=True)
class RateRow:
    disease: str  # a disease code or "*" (every disease)
    category: str
    annual_limit: Decimal | None  # None: the catalogue's annual limit
    ratio: Decimal
    valid_from: int
    valid_to: int | None
    sample: bool
    line: int

    def valid_in(self, year: int) -> bool:
        return self.valid_from <= year and (self.valid_to is None or year <= self.valid_to)


def load_benefit_rates(path: Path, disease_codes: set[str]) -> tuple[RateRow, ...]:
    out: list[RateRow] = []
    for row in read_csv(path, RATE_COLUMNS):
        line = row[LINE]
        disease = _need(row, "disease", path)
        if disease != "*" and disease not in disease_codes:
            raise DataError(path, line, f"病种编码 {disease} 不在 diseases.csv 中(所有病种请写 *)")
        category = _need(row, "category", path)
        if category not in BENEFIT_CATEGORIES:
            raise DataError(path, line, f"人员类别 {category!r} 应为 {'、'.join(BENEFIT_CATEGORIES)} 之一")
        limit = parse_money(row["annual_limit"], path, line, "annual_limit") if row["annual_limit"] else None
        valid_from = parse_int(row["valid_from"], path, line, "valid_from", 2000, 2100)
        valid_to = parse_int(row["valid_to"], path, line, "valid_to", 2000, 2100, allow_empty=True)
        entry = RateRow(
            disease, category, limit, parse_ratio(_need(row, "ratio", path), path, line, "ratio"),
            valid_from, valid_to, parse_bool(row["sample"] or "true", path, line, "sample"), line,
        )
        for other in out:
            if (other.disease, other.category) == (disease, category) and _overlap(other, entry):
                raise DataError(path, line, f"与第 {other.line} 行重复(同一病种和人员类别的年度不能重叠)")
        out.append(entry)
    return tuple(out)


def build_benefit_policy(region_code: str, year: int, policy: PolicyRow, rates: tuple[RateRow, ...],
                         catalogue: list[Disease]) -> BenefitPolicy:
    """The policy of ``year``: employees' ratios and limits from the catalogue, then the rates file
    (a row for "*" applies to every disease, a row for one disease wins over "*")."""
    table: dict[tuple[str, str], BenefitRate] = {}
    for d in catalogue:
        table[(d.code, "employed")] = BenefitRate(d.annual_limit, d.ratio_employed, d.sample)
        table[(d.code, "retired")] = BenefitRate(d.annual_limit, d.ratio_retired, d.sample)
    valid = [r for r in rates if r.valid_in(year)]
    for specific in (False, True):
        for r in valid:
            if (r.disease != "*") != specific:
                continue
            for d in catalogue:
                if r.disease in ("*", d.code):
                    limit = r.annual_limit if r.annual_limit is not None else d.annual_limit
                    table[(d.code, r.category)] = BenefitRate(limit, r.ratio, r.sample)
    # The version names the file's label and a digest of every figure, so an edit that forgets to
    # change the label still shows as another version on the settlements made with it.
    figures = repr((sorted(policy.deductible.items()), sorted(policy.flags.items()), sorted(table.items())))
    digest = hashlib.sha256(figures.encode()).hexdigest()[:8]
    return BenefitPolicy(
        version=f"{policy.label}/{digest}",
        year=year,
        deductible=dict(policy.deductible),
        rates=table,
        sample=policy.sample,
        **policy.flags,
    )


# --- everything of one region ------------------------------------------------------------------
class RegionData:
    """All data files of one region, read and checked once. Attributes are tuples (read-only)."""

    def __init__(self, data_dir: Path | str):
        d = Path(data_dir)
        region_code = _toml_str(read_toml(d / "region.toml"), "code", d / "region.toml", "region")
        self.divisions = load_divisions(d / "divisions.csv", region_code)
        self.institutions = load_institutions(d / "institutions.csv", self.divisions, region_code)
        self.info = load_region(d / "region.toml", self.divisions, self.institutions)
        self.code = self.info.code
        self.catalogue_rows = load_diseases(d / "diseases.csv")
        self.disease_codes = frozenset(r.disease.code for r in self.catalogue_rows)
        self.first_year = min(r.valid_from for r in self.catalogue_rows)
        self.material_rows = load_materials(d / "materials.csv", set(self.disease_codes))
        self.channels = load_channels(d / "channels.toml")
        self.steps = load_review_steps(d / "review_steps.toml")
        self.reminder_days, self.notice_templates = load_notices(d / "notices.toml")
        self.holidays = load_holidays(d / "holidays.csv")
        # Benefit rules are optional: a region without them cannot settle 门特 visits yet.
        self.policies = load_benefit_policies(d / "benefits.toml") if (d / "benefits.toml").exists() else ()
        rates_file = d / "benefit_rates.csv"
        self.rate_rows = load_benefit_rates(rates_file, set(self.disease_codes)) if rates_file.exists() else ()

    def benefit_policy(self, year: int) -> BenefitPolicy | None:
        """The benefit policy of ``year``; None when the data has none for that year."""
        row = next((p for p in self.policies if p.valid_in(year)), None)
        if row is None:
            return None
        return build_benefit_policy(self.code, year, row, self.rate_rows, self.catalogue(year))

    def catalogue(self, year: int) -> list[Disease]:
        """The diseases valid in ``year``, in file order ([] before the first year in the data)."""
        return [r.disease for r in self.catalogue_rows if r.valid_in(year)]

    def material_rules(self, disease: str, kind: str) -> list[Material] | None:
        """Common items (disease "*") first, then the disease's own; None for an unknown disease."""
        if kind not in MATERIAL_KINDS:
            raise ValueError(f"材料类型 {kind!r} 应为 new 或 renewal")
        if disease not in self.disease_codes:
            return None
        rows = [r.material for r in self.material_rows if kind in r.kinds]
        return [m for m in rows if m.disease == "*"] + [m for m in rows if m.disease == disease]
