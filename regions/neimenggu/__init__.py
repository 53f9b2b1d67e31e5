"""内蒙古自治区 (150000) region plugin.

Applications go to a designated hospital qualified for 门特 review (intake "hospital"): a responsible
physician (副主任医师 or above) reviews, the hospital's 医保科 records. Tumour radio/chemotherapy and
dialysis take a fast track. Every figure lives in ``data/``; this module only answers the hooks.
"""
from __future__ import annotations

from pathlib import Path

from core import hookimpl
from regions._loader import RegionData

DATA = RegionData(Path(__file__).parent / "data")
CODE = DATA.code  # "150000"
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
