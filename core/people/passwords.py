"""Password rules (OWASP ASVS 5.0 §6.2): length, no composition rules, not a common or breached
password, nothing taken from the account itself (user name, ID number, its birth date or last six
characters, phone number).

The common-password list is zxcvbn's (pinned in requirements.txt): 30,000 passwords ranked by how
often they appeared in leaked password sets; the check is on the lower-cased password.
"""
from __future__ import annotations

from functools import lru_cache

MIN_PASSWORD = 8
MAX_PASSWORD = 128


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"] if len(p) >= MIN_PASSWORD)


def _trivial(p: str) -> bool:
    """One character or a short block repeated (88888888, abcabcab), or a run of consecutive digits
    or letters up or down (12345678, 98765432, abcdefgh)."""
    low = p.lower()
    for size in range(1, 4):
        if len(low) >= 2 * size and (low[:size] * (len(low) // size + 1)).startswith(low):
            return True
    steps = {ord(b) - ord(a) for a, b in zip(low, low[1:])}
    return len(steps) == 1 and steps <= {1, -1} and (low.isdigit() or low.isalpha())


def password_problem(password: str | None, *, username: str | None = None, id_number: str | None = None,
                     phone: str | None = None) -> str | None:
    """What is wrong with ``password`` for this account, or None. Any characters are allowed
    (spaces and Chinese included); no mix of letters and digits is demanded."""
    p = password or ""
    if len(p) < MIN_PASSWORD:
        return f"密码至少 {MIN_PASSWORD} 位。"
    if len(p) > MAX_PASSWORD:
        return f"密码过长(最多{MAX_PASSWORD}位)。"
    low = p.lower()
    personal = [username, id_number, phone]
    if id_number and len(id_number) == 18:
        personal += [id_number[6:14], id_number[-6:]]  # birth date, the last six (a classic default)
    if any(part and len(part) >= 4 and part.lower() in low for part in personal):
        return "密码不能包含用户名、身份证号码(含出生日期、后六位)或手机号码。"
    if low in _common() or _trivial(p):
        return "该密码过于常见,容易被猜中,请换一个(可以用几个词组成的较长密码)。"
    return None
