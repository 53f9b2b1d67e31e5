"""Build the plugin manager for one app. Never at import time: tests build many apps.

Plugins are registered as objects. A module that defines ``make_plugin()`` (every region package
does) is asked for its plugin object here, so a region reads and checks its data files when the
app is built, not when Python imports it; a class is instantiated; any other module or object is
registered as it is (``plugins/*.py`` answer hooks with module-level functions).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import types

import pluggy

from core.kernel import hookspecs
from core.kernel.hookspecs import PROJECT

# Core behaviour and cross-region plugins, always registered.
DEFAULT_PLUGINS = ("core.kernel.defaults", "plugins.inbox", "plugins.sms", "plugins.sms_log", "plugins.letters")
# Regions that ship with mtkit, registered explicitly (no import-order discovery).
BUILTIN_REGIONS = ("regions.neimenggu", "regions.fangchenggang")
ENTRY_POINT_GROUP = "mtkit"


class PluginError(RuntimeError):
    """A plugin set-up problem that must stop start-up."""


def make_plugin_manager(enabled_regions: list[str] | None = None, extra_plugins=()) -> pluggy.PluginManager:
    """Register defaults, built-in regions, entry-point plugins and ``extra_plugins``.

    :param enabled_regions: region codes to keep (``MTKIT_REGIONS``); None keeps every region.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS + BUILTIN_REGIONS:
        pm.register(instantiate(importlib.import_module(name)), name=name)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.get_plugin(ep.name) is None and not pm.is_blocked(ep.name):
            pm.register(instantiate(ep.load()), name=ep.name)
    for plugin in extra_plugins:
        pm.register(instantiate(plugin))
    _drop_disabled_regions(pm, enabled_regions)
    # Catches hook implementations whose name is not a known hook (a typo would be silently ignored).
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"插件实现了不存在的钩子: {exc}") from exc
    _check_unique_regions(pm)
    return pm


def instantiate(obj):
    """The object to register for ``obj``: ``make_plugin()`` of a module that has one, an instance
    of a class, else ``obj`` itself."""
    if isinstance(obj, types.ModuleType) and callable(getattr(obj, "make_plugin", None)):
        return obj.make_plugin()
    if isinstance(obj, type):
        return obj()
    return obj


def region_plugins(pm: pluggy.PluginManager) -> dict[str, object]:
    """Map region code -> the plugin that provides it."""
    found: dict[str, object] = {}
    for impl in pm.hook.mtkit_region.get_hookimpls():
        info = impl.function()
        if info is None:
            continue
        if info.code in found:
            raise PluginError(
                f"地区编码 {info.code} 重复: 插件 {pm.get_name(found[info.code])} 与 "
                f"{impl.plugin_name} 都提供了它,请只启用其中一个。"
            )
        found[info.code] = impl.plugin
    return found


def _drop_disabled_regions(pm, enabled_regions):
    if enabled_regions is None:
        return
    known = region_plugins(pm)
    unknown = set(enabled_regions) - set(known)
    if unknown:
        raise PluginError(f"MTKIT_REGIONS 中的地区编码未找到对应插件: {', '.join(sorted(unknown))}")
    for code, plugin in known.items():
        if code not in enabled_regions:
            pm.unregister(plugin)


def _check_unique_regions(pm):
    codes = region_plugins(pm)
    if not codes:
        raise PluginError("没有启用任何地区插件,请检查 MTKIT_REGIONS。")
