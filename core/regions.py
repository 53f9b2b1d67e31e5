"""The one facade over the plugin manager: nothing else in mtkit calls ``pm.hook``.

Region data (divisions, institutions, catalogue per year, materials, channels, review steps,
renewal and benefit policies, holidays, printed-form templates, reason codes) is read through it
and cached per app, with the checks (duplicate codes, one answering plugin per region) in one
place. The hooks that act (validate an application, choose notice channels, word a notice, send an
SMS, send to the national platform) are called through it too, so a plugin's contract is enforced
here and services never reach for the plugin manager.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.kernel.types import (
    BenefitPolicy,
    Channel,
    Disease,
    Material,
    NoticeTemplate,
    RecoveryPolicy,
    RegionInfo,
    RenewalPolicy,
    ReviewStep,
    SmsResult,
)
from core.plugins import PluginError, region_plugins


class Regions:
    def __init__(self, pm):
        self.pm = pm
        self._infos: dict[str, RegionInfo] = {}
        for code, plugin in region_plugins(pm).items():
            self._infos[code] = plugin.mtkit_region()
        # Cached per instance: plugins read their data files once.
        self.catalogue = lru_cache(maxsize=64)(self._catalogue)
        self.materials = lru_cache(maxsize=1024)(self._materials)
        self.steps = lru_cache(maxsize=16)(self._steps)
        self.benefit_policy = lru_cache(maxsize=64)(self._benefit_policy)
        self._indexes: dict[tuple[str, int], dict[str, Disease]] = {}
        self._institution_names = {
            code: {i.code: i.name for i in info.institutions} for code, info in self._infos.items()
        }

    # --- regions -------------------------------------------------------------------------
    def all(self) -> list[RegionInfo]:
        return list(self._infos.values())

    def codes(self) -> list[str]:
        return list(self._infos)

    def get(self, code: str | None) -> RegionInfo | None:
        return self._infos.get(code or "")

    @property
    def default_timezone(self) -> str:
        """The time zone of instance-wide dates (a job's run date, the instance administrator's pages)."""
        first = next(iter(self._infos.values()), None)
        return first.timezone if first else "Asia/Shanghai"

    def timezone(self, code: str | None) -> str:
        info = self.get(code)
        return info.timezone if info else self.default_timezone

    def institution_name(self, region: str, code: str) -> str:
        """An institution's name, or its code when the region does not know it."""
        return self._institution_names.get(region, {}).get(code, code)

    def __contains__(self, code) -> bool:
        return code in self._infos

    def template_folders(self) -> list[str]:
        """Folders of region templates (``regions/<name>/templates``), for the app's Jinja loader."""
        folders = []
        for plugin in self.pm.get_plugins():
            folder = getattr(plugin, "template_folder", None)
            if folder is None and getattr(plugin, "__file__", None):
                folder = Path(plugin.__file__).parent / "templates"
            if folder is not None and Path(folder).is_dir() and str(folder) not in folders:
                folders.append(str(folder))
        return folders

    # --- catalogue -----------------------------------------------------------------------
    def _catalogue(self, region: str, year: int) -> tuple[Disease, ...]:
        rows = self.pm.hook.mtkit_disease_catalog(region=region, year=year) or []
        seen: set[str] = set()
        for d in rows:
            if d.code in seen:
                raise PluginError(f"地区 {region} {year} 年病种目录中病种编码 {d.code} 重复。")
            seen.add(d.code)
        return tuple(rows)

    def disease(self, region: str, code: str, year: int) -> Disease | None:
        return self._catalogue_index(region, year).get(code)

    def _catalogue_index(self, region: str, year: int) -> dict[str, Disease]:
        key = (region, year)
        index = self._indexes.get(key)
        if index is None:  # built once per (region, year); the catalogue itself is cached
            index = self._indexes[key] = {d.code: d for d in self.catalogue(region, year)}
        return index

    def _materials(self, region: str, disease: str, kind: str) -> tuple[Material, ...]:
        return tuple(self.pm.hook.mtkit_material_rules(region=region, disease=disease, kind=kind) or [])

    def checklist(self, region: str, diseases: list[str], kind: str) -> list[tuple[str, Material]]:
        """The materials an application needs: common items once, then each disease's own items.

        Returns (disease_code or "*", material) pairs in display order.
        """
        items: list[tuple[str, Material]] = []
        common_seen: set[str] = set()
        for code in diseases:
            for m in self.materials(region, code, kind):
                if m.disease == "*":
                    if m.code not in common_seen:
                        common_seen.add(m.code)
                        items.append(("*", m))
                else:
                    items.append((code, m))
        items.sort(key=lambda pair: pair[0] != "*")  # common first, stable otherwise
        return items

    def channels(self, region: str) -> list[Channel]:
        return list(self.pm.hook.mtkit_channels(region=region) or [])

    def channel_name(self, region: str, code: str) -> str:
        return next((c.name for c in self.channels(region) if c.code == code), code or "")

    def _steps(self, region: str, fast_track: bool) -> tuple[ReviewStep, ...]:
        return tuple(self.pm.hook.mtkit_review_steps(region=region, fast_track=fast_track) or [])

    def extra_days(self, region: str, year: int) -> dict:
        """Local holidays and make-up working days from every plugin: date -> is a working day."""
        merged: dict = {}
        for answer in self.pm.hook.mtkit_holidays(region=region, year=year):
            merged.update(answer or {})
        return merged

    def _benefit_policy(self, region: str, year: int) -> BenefitPolicy:
        """The region's 门特 benefit policy for ``year`` (an unconfigured one has an empty version)."""
        return self.pm.hook.mtkit_benefit_policy(region=region, year=year) or BenefitPolicy()

    def renewal_policy(self, region: str, disease: str) -> RenewalPolicy:
        return self.pm.hook.mtkit_renewal_policy(region=region, disease=disease)

    def recovery_policy(self, region: str, disease: str, amount_fen: int) -> RecoveryPolicy:
        """What may become of a settlement paid after a failed renewal's stop date (see the hookspec)."""
        policy = self.pm.hook.mtkit_recovery_policy(region=region, disease=disease, amount_fen=amount_fen)
        if policy.default not in policy.allowed:
            raise PluginError(f"地区 {region} 的追回政策:默认处理方式 {policy.default} 不在允许的方式中。")
        return policy

    def pdf_template(self, region: str, form: str) -> str:
        """The region's template for a printed form, else the core one (templates/pdf/<form>.html)."""
        mapping = self.pm.hook.mtkit_pdf_templates(region=region) or {}
        return mapping.get(form) or f"pdf/{form}.html"

    def reason_codes(self, region: str):
        return self.pm.hook.mtkit_reason_codes(region=region)

    def reason_text(self, region: str, code: str | None) -> str:
        return next((r.text for r in self.reason_codes(region) if r.code == code), code or "")

    # --- hooks that act ------------------------------------------------------------------
    def validate_application(self, application) -> list[str]:
        """Problems every plugin finds with ``application`` (empty: it may be submitted)."""
        return [p for group in self.pm.hook.mtkit_validate_application(application=application) for p in group or []]

    def notice_channels(self, notice, person) -> list[str]:
        """The channels the notification plugins want ``notice`` delivered through (sorted, unique)."""
        return sorted({c for c in self.pm.hook.mtkit_notify(notice=notice, person=person) if c})

    def notice_template(self, region: str, kind: str) -> NoticeTemplate:
        return self.pm.hook.mtkit_notice_template(region=region, kind=kind)

    def send_sms(self, phone: str, text: str, ref: str) -> SmsResult | None:
        return self.pm.hook.mtkit_sms_send(phone=phone, text=text, ref=ref)

    def nhsa_send(self, region: str, infno: str, data: dict) -> dict | None:
        return self.pm.hook.mtkit_nhsa_send(region=region, infno=infno, data=data)

    # --- start-up ------------------------------------------------------------------------
    def check(self, year: int) -> None:
        """Start-up checks: every region answers its core hooks, exactly once, with unique codes."""
        for code in self._infos:
            for hook in ("mtkit_disease_catalog",):
                answering = [
                    impl.plugin_name
                    for impl in getattr(self.pm.hook, hook).get_hookimpls()
                    if impl.function(region=code, year=year) is not None
                ]
                if len(answering) > 1:
                    raise PluginError(f"地区 {code} 的病种目录由多个插件提供: {', '.join(answering)}")
            self.catalogue.cache_clear()  # re-read: the check must see what the plugins give now
            self._indexes.clear()
            if not self.catalogue(code, year):
                raise PluginError(f"地区 {code} 没有 {year} 年的病种目录。")
            if not self.steps(code, False):
                raise PluginError(f"地区 {code} 没有定义审核步骤。")
