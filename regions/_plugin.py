"""A region whose every answer comes from its data files: the hooks as methods of one object.

A region package's ``make_plugin()`` returns ``DataRegion.of_package(__file__)``; the plugin manager
calls it when an app is built and registers the object, so the data files are read and checked
then (a bad file stops start-up). A region that needs behaviour of its own subclasses DataRegion.
"""
from __future__ import annotations

from pathlib import Path

from core.kernel.hookspecs import hookimpl
from core.kernel.types import RenewalPolicy
from regions._loader import RegionData
from regions._recovery import load_recovery_rules


class DataRegion:
    def __init__(self, data_dir: Path | str):
        data_dir = Path(data_dir)
        self.data = RegionData(data_dir)
        self.code = self.data.code
        self.recovery = load_recovery_rules(data_dir / "recoveries.toml")
        self.template_folder = data_dir.parent / "templates"  # joins the app's Jinja loader
        # Printed forms: regions/<name>/templates/<name>/pdf/<form>.html (the app's loader sees
        # regions/<name>/templates/, so the template name is "<name>/pdf/<form>.html").
        name = data_dir.parent.name
        folder = data_dir.parent / "templates" / name / "pdf"
        self.pdf_templates = (
            {p.stem: f"{name}/pdf/{p.name}" for p in sorted(folder.glob("*.html")) if not p.stem.startswith("_")}
            if folder.is_dir()
            else {}
        )

    @classmethod
    def of_package(cls, init_file: str) -> "DataRegion":
        """The region whose package ``__init__.py`` is ``init_file``: its ``data/`` folder."""
        return cls(Path(init_file).resolve().parent / "data")

    def __repr__(self) -> str:
        return f"<DataRegion {self.code}>"

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
    def mtkit_renewal_policy(self, region, disease):
        # Only when the region sets its reminder days (notices.toml); otherwise the core default.
        if region != self.code or self.data.reminder_days is None:
            return None
        return RenewalPolicy(reminder_days=self.data.reminder_days)

    @hookimpl
    def mtkit_notice_template(self, region, kind):
        return self.data.notice_templates.get(kind) if region == self.code else None

    @hookimpl
    def mtkit_holidays(self, region, year):
        if region != self.code:
            return None
        return {d: w for d, w in self.data.holidays.items() if d.year == year}

    @hookimpl
    def mtkit_pdf_templates(self, region):
        return dict(self.pdf_templates) if region == self.code else None

    @hookimpl
    def mtkit_benefit_policy(self, region, year):
        return self.data.benefit_policy(year) if region == self.code else None

    @hookimpl
    def mtkit_recovery_policy(self, region, disease, amount_fen):
        # Without recoveries.toml the core default (recover by reversal) answers.
        if region != self.code or self.recovery is None:
            return None
        return self.recovery.decide(amount_fen)
