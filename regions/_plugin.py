"""A region whose every answer comes from its data files: the hooks as methods of one object.

A region module creates one ``DataRegion`` and exposes its bound methods as module-level hooks
(pluggy registers modules), so a new region is its data folder plus a few lines of Python.
"""
from __future__ import annotations

from pathlib import Path

from core import hookimpl
from regions._loader import RegionData


class DataRegion:
    def __init__(self, data_dir: Path):
        self.data = RegionData(data_dir)
        self.code = self.data.code

    @hookimpl
    def mtkit_region(self):
        return self.data.info

    @hookimpl
    def mtkit_disease_catalog(self, region, year):
        return self.data.catalogue(year) if region == self.code else None

    @hookimpl
    def mtkit_material_rules(self, region, disease, kind):
        return self.data.material_rules(disease, kind) if region == self.code else None

    @hookimpl
    def mtkit_channels(self, region):
        return list(self.data.channels) if region == self.code else None

    @hookimpl
    def mtkit_review_steps(self, region, fast_track):
        return list(self.data.steps[bool(fast_track)]) if region == self.code else None

    @hookimpl
    def mtkit_benefit_policy(self, region, year):
        return self.data.benefit_policy(year) if region == self.code else None
