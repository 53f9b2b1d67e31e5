"""A region's recovery policy (data/recoveries.toml): what becomes of a settlement paid during a
renewal that then failed. Read and checked once when the plugin is built; the answer per settlement
is a pure function of the figures (plugins only decide).

recoveries.toml (optional; without it the core default applies: recover by reversal):
  sample        true when the figures are not official
  allowed       outcomes staff may record: "recovered" (冲销追回), "waived" (免予追回)
  default       the outcome proposed to staff
  waive_below   a fund payment below this many yuan is waived when the case is opened ("0": never)
  waive_reason  the reason recorded for such a waiver (required with a threshold above 0)
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from core.kernel.types import RECOVERY_OUTCOMES, RecoveryPolicy
from regions._loader import DataError, _toml_str, parse_money, read_toml


@dataclass(frozen=True)
class RecoveryRules:
    allowed: tuple[str, ...]
    default: str
    waive_below_fen: int
    waive_reason: str
    sample: bool

    def decide(self, amount_fen: int) -> RecoveryPolicy:
        if self.waive_below_fen and amount_fen < self.waive_below_fen and "waived" in self.allowed:
            return RecoveryPolicy(self.allowed, "waived", True, self.waive_reason, self.sample)
        return RecoveryPolicy(self.allowed, self.default, False, "", self.sample)


def load_recovery_rules(path: Path) -> RecoveryRules | None:
    if not path.exists():
        return None
    data = read_toml(path)
    allowed = data.get("allowed", list(RECOVERY_OUTCOMES))
    if not isinstance(allowed, list) or not allowed or any(a not in RECOVERY_OUTCOMES for a in allowed):
        raise DataError(path, "allowed", f"应为 {'、'.join(RECOVERY_OUTCOMES)} 中的一个或多个")
    default = data.get("default", allowed[0])
    if default not in allowed:
        raise DataError(path, "default", f"默认处理方式 {default!r} 应在 allowed 中")
    sample = data.get("sample", True)
    if not isinstance(sample, bool):
        raise DataError(path, "sample", "应为 true 或 false")
    below = parse_money(str(data.get("waive_below", "0")), path, "waive_below", "waive_below")
    reason = _toml_str(data, "waive_reason", path, "waive_reason", required=False, max_len=200)
    if below > 0 and ("waived" not in allowed or not reason):
        raise DataError(path, "waive_below", "设置了自动免予追回的金额时,allowed 须包含 waived,并填写 waive_reason")
    return RecoveryRules(tuple(allowed), default, int(below * Decimal(100)), reason, sample)
