"""GB/T 2260 administrative division codes, the first six digits of a resident ID number (GB 11643).

The list is python-stdnum's table (``stdnum/cn/loc.dat``, compiled from the GB/T 2260 editions since
1980), read through its ``numdb`` module rather than copied into this repository: a newer python-stdnum
brings newer codes. It keeps codes abolished or renamed since 1980, because an ID number carries the
division where the person was first registered when it was issued and is never re-numbered when that
division is later merged or renamed (e.g. 110103 崇文区, abolished 2010). So a code is valid when it is
in the table, current or historical; it need not be one of the regions' divisions, since where one was
born is not where one is insured (a Beijing-born person insured in 防城港 registers with 110105...).
"""
from __future__ import annotations

import re
from functools import lru_cache

from stdnum import numdb

# Province-level codes: 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71 台湾, 81 香港, 82 澳门.
PROVINCES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
                       "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
                       "65", "71", "81", "82"})
# A table entry is its names over time, latest last: "[1980-1983]甲县,[1983-]乙市".
_LAST_NAME = re.compile(r"(?:\[\d{0,4}-\d{0,4}\])?([^,]+)$")


@lru_cache(maxsize=4096)
def division_name(code: str) -> str | None:
    """The (latest) name of a GB/T 2260 code, current or historical; None when there is no such code."""
    if not re.fullmatch(r"\d{6}", code or ""):
        return None
    parts = numdb.get("cn/loc").info(code)
    if len(parts) != 2 or "county" not in parts[1][1]:
        return None
    return _LAST_NAME.search(parts[1][1]["county"]).group(1)


def division_problem(code: str) -> str | None:
    """A Chinese message when six digits are not a GB/T 2260 division code, else None."""
    if code[:2] not in PROVINCES:
        return f"身份证号前六位 {code} 不是有效的行政区划代码(前两位 {code[:2]} 不是省级行政区代码),请核对。"
    if division_name(code) is None:
        return f"身份证号前六位 {code} 不是有效的行政区划代码,请核对。"
    return None
