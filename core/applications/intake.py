"""Where a person can hand in an application, and what to tell them when their division has nowhere.

A division with no qualified institution of the region's intake kind (e.g. a 盟市 with no hospital
qualified to review 门特) is said so up front, on registration and on the application form, with the
agency windows and the hotline from region data, rather than by a refusal when the form is submitted."""
from __future__ import annotations

from core.kernel.types import RegionInfo


def intake_label(info: RegionInfo) -> str:
    return "定点医疗机构" if info.intake == "hospital" else "医保经办机构"


def no_intake_notice(info: RegionInfo, division: str | None) -> str | None:
    """None when ``division`` has a place to apply; otherwise what to do instead, in Chinese."""
    place = info.division(division)
    if place is None or info.intake_institutions(division):
        return None
    windows = [w for w in info.windows(division) if w.kind != info.intake]
    where = ";".join(f"{w.name}({w.address})" if w.address else w.name for w in windows)
    instead = f"请到医保经办窗口咨询办理:{where}" if where else "请向当地医保经办窗口咨询办理"
    contact = f";也可咨询{info.contact}" if info.contact else ""
    return (f"{place.name}目前没有可受理门特申请的{intake_label(info)},暂不能在网上申请。"
            f"{instead}{contact}。")
