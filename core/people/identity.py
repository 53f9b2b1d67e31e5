"""Resident ID numbers (GB 11643-1999), phone numbers and log-in names: normalising, checking, masking.

Every ID number, phone number and log-in name that enters (pages, API, CLI, imports, look-ups) goes
through ``normalise_id`` / ``normalise_phone`` / ``normalise_login`` first: NFKC (full-width digits
become ASCII), no spaces, ``x`` -> ``X``; the checks then accept ASCII digits only (``[0-9]`` with
re.ASCII, never ``\\d``), so another script's digits can never make a second account for one person.
"""
from __future__ import annotations

import re
from datetime import date

from core.kernel.text import identifier, nfkc
from core.people.divisions import division_problem

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_RE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_PHONE_RE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)
_ID_LIKE = re.compile(r"[0-9]{17}[0-9Xx]", re.ASCII)


def normalise_id(value: str | None) -> str:
    """An ID number as stored and compared: NFKC, no spaces, upper-case X."""
    return identifier(value)


def normalise_phone(value: str | None) -> str:
    """A phone number as stored: NFKC, without spaces or hyphens (138-0000-1111 -> 13800001111)."""
    return "".join(nfkc(value).split()).replace("-", "")


def normalise_login(value: str | None) -> str:
    """What a person typed as their user name, as stored: NFKC and stripped; an ID number as
    ``normalise_id`` stores it (insured people log in with theirs)."""
    text = nfkc(value).strip()
    return normalise_id(text) if _ID_LIKE.fullmatch(normalise_id(text)) else text


def looks_like_id(value: str | None) -> bool:
    """18 ASCII characters shaped like an ID number (for masking what was typed)."""
    return bool(value) and _ID_LIKE.fullmatch(value) is not None


def id_number_problem(value: str | None, today: date) -> str | None:
    """Return a Chinese message describing what is wrong with an ID number, or None when valid.

    ``today`` (the region's, from the clock) bounds the birth date."""
    v = normalise_id(value)
    if not v:
        return "请填写身份证号码。"
    if not _ID_RE.fullmatch(v):
        if len(v) == 18 and not v.isascii():
            return "身份证号码只能使用数字 0–9 和字母 X,请检查输入法是否切换到了其他文字的数字。"
        return "身份证号码应为18位,前17位为数字,最后一位为数字或X。"
    if problem := division_problem(v[:6]):  # where the number was issued, not where one is insured
        return problem
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
    v = normalise_phone(value)
    if not v:
        return "请填写手机号码。"
    if not _PHONE_RE.fullmatch(v):
        return "手机号码应为11位数字(0–9),以1开头。"
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
