"""防城港市 (450600, Guangxi) region plugin.

Applications and renewals go to the agency offices (市本级 and each district's 医保中心, at the window
or online, intake "office"): 受理 -> 初审 -> 专家评审 when needed -> 结果通知. There is no fast track.
The catalogue changes by year (valid_from/valid_to in data/diseases.csv). Every figure lives in
``data/``; this module only answers the hooks.
"""
from __future__ import annotations

from pathlib import Path

from core import hookimpl
from regions._loader import RegionData

DATA = RegionData(Path(__file__).parent / "data")
CODE = DATA.code  # "450600"
INFO = DATA.info
CATALOGUE_ROWS = DATA.catalogue_rows
MATERIAL_ROWS = DATA.material_rows
CHANNELS = DATA.channels
STEPS = DATA.steps


@hookimpl
def mtkit_region():
    return INFO


@hookimpl
def mtkit_disease_catalog(region, year):
    if region != CODE:
        return None
    return DATA.catalogue(year)


@hookimpl
def mtkit_material_rules(region, disease, kind):
    if region != CODE:
        return None
    return DATA.material_rules(disease, kind)


@hookimpl
def mtkit_channels(region):
    if region != CODE:
        return None
    return list(CHANNELS)


@hookimpl
def mtkit_review_steps(region, fast_track):
    if region != CODE:
        return None
    return list(STEPS[bool(fast_track)])
