"""内蒙古自治区 (150000) region plugin.

Applications go to a designated hospital qualified for 门特 review (intake "hospital"): a responsible
physician (副主任医师 or above) reviews, the hospital's 医保科 records. Tumour radio/chemotherapy and
dialysis take a fast track. Every figure lives in ``data/``; this module only answers the hooks.
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
