"""防城港市 (450600, Guangxi) region plugin.

Applications and renewals go to the agency offices (市本级 and each district's 医保中心, at the window
or online, intake "office"): 受理 -> 初审 -> 专家评审 when needed -> 结果通知. There is no fast track.
The catalogue changes by year (valid_from/valid_to in data/diseases.csv). Every figure lives in
``data/``; the plugin only answers the hooks.
"""
from __future__ import annotations

from regions._plugin import DataRegion


def make_plugin() -> DataRegion:
    """Called when an app's plugin manager is built: data/ is read and checked then."""
    return DataRegion.of_package(__file__)
