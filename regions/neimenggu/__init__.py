"""内蒙古自治区 (150000) region plugin.

Applications go to a designated hospital qualified for 门特 review (intake "hospital"): a responsible
physician (副主任医师 or above) reviews, the hospital's 医保科 records. Tumour radio/chemotherapy and
dialysis take a fast track. Every figure lives in ``data/``; the plugin only answers the hooks.
"""
from __future__ import annotations

from regions._plugin import DataRegion


def make_plugin() -> DataRegion:
    """Called when an app's plugin manager is built: data/ is read and checked then."""
    return DataRegion.of_package(__file__)
