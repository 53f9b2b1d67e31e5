"""Money: ``Decimal`` yuan with fen precision, never float; the database keeps integer fen.

The one computed amount that can have more digits, ``counted × ratio``, is rounded to the fen with
ROUND_HALF_UP at the end of its step; everything else is added or subtracted exactly.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.kernel.errors import Invalid
from core.kernel.text import nfkc

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_VISIT_AMOUNT = Decimal("1000000.00")  # one visit's eligible amount, a typing-error guard


def round_fen(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def to_fen(amount: Decimal) -> int:
    return int(round_fen(amount) * 100)


def from_fen(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) / 100).quantize(FEN)


def yuan(amount: Decimal | int) -> str:
    """"1234.50" from Decimal yuan or int fen (fen in integer arithmetic: exports format millions)."""
    if isinstance(amount, int):
        return f"{'-' if amount < 0 else ''}{abs(amount) // 100}.{abs(amount) % 100:02d}"
    return f"{amount:.2f}"


def percent(used: Decimal, total: Decimal) -> int:
    """How much of ``total`` is used, 0-100 (a bar on the balances page)."""
    if total <= 0:
        return 100
    return int(min(max(used / total * 100, Decimal(0)), Decimal(100)))


def ratio_text(ratio: Decimal | str | None) -> str:
    """0.85 (or the stored "0.85") -> "85%": every page shows a ratio this way. "" for none."""
    if ratio is None or ratio == "":
        return ""
    if isinstance(ratio, str):
        if ratio.endswith("%"):
            return ratio
        ratio = Decimal(ratio)
    return f"{(ratio * 100).normalize():f}%"


def parse_amount(text, label: str = "金额") -> Decimal:
    """A money amount typed by a person: "1234.5", "1,234.50", "1234.50元". Fen precision at most."""
    # NFKC turns full-width digits (and the full-width comma) into ASCII; other scripts' digits stay
    # and are refused like any other non-number (Decimal itself would read them).
    raw = nfkc(str(text or "")).strip().replace(",", "").removesuffix("元").strip()
    if not raw:
        raise Invalid(f"请填写{label}。")
    try:
        if not raw.isascii():
            raise InvalidOperation
        value = Decimal(raw)
    except InvalidOperation:
        raise Invalid(f"{label}「{str(text)[:20]}」不是有效的金额,请填写数字,如 1234.50。") from None
    if not value.is_finite() or value.as_tuple().exponent < -2:
        raise Invalid(f"{label}最多保留两位小数(精确到分)。")
    if value <= 0:
        raise Invalid(f"{label}应大于 0。")
    if value > MAX_VISIT_AMOUNT:
        raise Invalid(f"{label}超过单次就诊上限 {MAX_VISIT_AMOUNT:.0f} 元,请核对。")
    return value.quantize(FEN)
