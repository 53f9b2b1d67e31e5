"""The national platform's message fields (FACTS.md section 4) and their checks.

Every message mtkit writes for the platform, and every platform file it reads, goes through
``validate``: a required field must be present and non-empty, a string must fit its length
(counted in characters), a date must be ``yyyy-MM-dd``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from core.kernel.text import hidden_character

CODE = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)  # platform codes: ASCII letters, digits and . _ -
DIVISION = re.compile(r"[0-9]{6}", re.ASCII)  # 医保区划: six ASCII digits


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "str"  # str / date / code / division
    length: int | None = None
    required: bool = False


def _f(name, label, length=None, required=False, kind="str"):
    return Field(name, label, kind, length, required)


def _code(name, label, length, required=False):
    return Field(name, label, "code", length, required)


def _division(name, label, required=False):
    return Field(name, label, "division", 6, required)


MESSAGES: dict[str, tuple[Field, ...]] = {
    # 2503 人员慢特病备案, input `data`.
    "2503": (
        _code("psn_no", "人员编号", 30, True),
        _code("insutype", "险种类型", 6, True),
        _code("opsp_dise_code", "门慢门特病种目录代码", 30, True),
        _f("opsp_dise_name", "门慢门特病种名称", 300, True),
        _f("tel", "联系电话", 50),
        _f("addr", "联系地址", 200),
        _division("insu_optins", "参保机构医保区划", True),
        _code("ide_fixmedins_no", "鉴定定点医药机构编号", 30, True),
        _f("ide_fixmedins_name", "鉴定定点医药机构名称", 200, True),
        _f("hosp_ide_date", "医院鉴定日期", required=True, kind="date"),
        _code("diag_dr_codg", "诊断医师编码", 30, True),
        _f("diag_dr_name", "诊断医师姓名", 50, True),
        _f("begndate", "开始日期", required=True, kind="date"),
        _f("enddate", "结束日期", kind="date"),
    ),
    # 2504 备案撤销.
    "2504": (
        _code("trt_dcla_detl_sn", "待遇申报明细流水号", 30, True),
        _code("psn_no", "人员编号", 30, True),
        _f("memo", "撤销原因", 500),
    ),
    # 5301 备案查询, one row of the output list `feedetail`.
    "5301": (
        _code("opsp_dise_code", "门慢门特病种目录代码", 30, True),
        _f("opsp_dise_name", "门慢门特病种名称", 300),
        _f("begndate", "开始日期", required=True, kind="date"),
        _f("enddate", "结束日期", kind="date"),
    ),
    # 1309 门慢门特病种目录 download, one row.
    "1309": (
        _code("opsp_dise_code", "门慢门特病种目录代码", 30, True),
        _f("opsp_dise_name", "门慢门特病种名称", 300, True),
        _code("opsp_dise_majcls_code", "病种大类代码", 30),
        _f("opsp_dise_majcls_name", "病种大类名称", 300),
        _f("opsp_dise_subd_clss_name", "病种细分类名称", 300),
        _division("admdvs", "医保区划"),
        _f("vali_flag", "有效标志", 3, True),
        _f("ver", "版本号", 30),
        _f("ver_name", "版本名称", 100),
    ),
    # The platform's answer to a 2503, as imported back: which filing got which serial.
    "serial": (
        _code("psn_no", "人员编号", 30, True),
        _code("opsp_dise_code", "门慢门特病种目录代码", 30, True),
        _f("begndate", "开始日期", required=True, kind="date"),
        _code("trt_dcla_detl_sn", "待遇申报明细流水号", 30, True),
    ),
}


def validate(kind: str, data: dict) -> list[str]:
    """Problems with one message of ``kind``, in Chinese; an empty list means it is valid."""
    problems = []
    if not isinstance(data, dict):
        return ["不是一个 JSON 对象"]
    for field in MESSAGES[kind]:
        value = data.get(field.name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            if field.required:
                problems.append(f"{field.name}({field.label})必填")
            continue
        if not isinstance(value, str):
            problems.append(f"{field.name}({field.label})应为字符串")
            continue
        if hidden_character(value) is not None:  # control, bidi and zero-width characters alike
            problems.append(f"{field.name}({field.label})含有不可见或控制字符")
            continue
        if field.kind == "date":
            if parse_date(value) is None:
                problems.append(f"{field.name}({field.label})应为 yyyy-MM-dd 格式的日期,收到 {value[:20]!r}")
        elif field.length is not None and len(value) > field.length:
            problems.append(f"{field.name}({field.label})超过 {field.length} 个字符")
        elif field.kind == "code" and not CODE.fullmatch(value.strip()):
            problems.append(f"{field.name}({field.label})只能包含英文字母、数字和 . _ -")
        elif field.kind == "division" and not DIVISION.fullmatch(value.strip()):
            problems.append(f"{field.name}({field.label})应为 6 位数字")
    return problems


def parse_date(value: str) -> date | None:
    """A ``yyyy-MM-dd`` date, strictly (no times, no other separators); None when it is not one."""
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def clean(kind: str, data: dict) -> dict:
    """The message with only its own fields, empty optional ones left out (the platform's `data` shape)."""
    return {f.name: data[f.name] for f in MESSAGES[kind] if data.get(f.name) not in (None, "")}
