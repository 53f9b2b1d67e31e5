"""防城港市 (450600, Guangxi) region plugin.

Applications and renewals go to the agency offices (市本级 and each district's 医保中心, at the window
or online, intake "office"): 受理 -> 初审 -> 专家评审 when needed -> 结果通知. There is no fast track.
The catalogue changes by year (valid_from/valid_to in data/diseases.csv). Every figure lives in
``data/``; this module only answers the hooks.
"""
from __future__ import annotations

from pathlib import Path

from regions._plugin import DataRegion

REGION = DataRegion(Path(__file__).parent / "data")
# The hooks this region answers, all from data/.
mtkit_region = REGION.mtkit_region
mtkit_disease_catalog = REGION.mtkit_disease_catalog
mtkit_material_rules = REGION.mtkit_material_rules
mtkit_channels = REGION.mtkit_channels
mtkit_review_steps = REGION.mtkit_review_steps
mtkit_renewal_policy = REGION.mtkit_renewal_policy
mtkit_notice_template = REGION.mtkit_notice_template
mtkit_holidays = REGION.mtkit_holidays
mtkit_pdf_templates = REGION.mtkit_pdf_templates
mtkit_benefit_policy = REGION.mtkit_benefit_policy
