"""Resident ID numbers (GB 11643-1999) and phone numbers: checking and masking."""
from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalise_id(value: str | None) -> str:
    return (value or "").strip().upper().replace(" ", "")


def id_number_problem(value: str | None, today: date) -> str | None:
    """Return a Chinese message describing what is wrong with an ID number, or None when valid.

    ``today`` (the region's, from the clock) bounds the birth date."""
    v = normalise_id(value)
    if not v:
        return "请填写身份证号码。"
    if not _ID_RE.match(v):
        return "身份证号码应为18位,前17位为数字,最后一位为数字或X。"
    try:
        born = date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return "身份证号码中的出生日期不存在,请核对。"
    if born.year < 1880 or born > today:
        return "身份证号码中的出生日期不合理,请核对。"
    total = sum(int(d) * w for d, w in zip(v[:17], _WEIGHTS))
    if _CHECK[total % 11] != v[17]:
        return "身份证号码校验位不正确,请核对是否输错。"
    return None


def phone_problem(value: str | None) -> str | None:
    v = (value or "").strip()
    if not v:
        return "请填写手机号码。"
    if not _PHONE_RE.match(v):
        return "手机号码应为11位数字,以1开头。"
    return None


def mask_id(value: str | None) -> str:
    """150102********1234: division code kept, birth date and sequence hidden."""
    if not value:
        return ""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str:
    """138****5678."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    """张*, 欧阳**: public pages, and insured people's names on staff screens unless revealed."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1) if len(value) > 1 else value
