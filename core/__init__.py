"""mtkit core. Plugins import ``hookimpl`` and the data types they return from here.

Where things live: ``core/kernel`` (hooks, types, errors, statuses, the clock), ``core/regions.py``
(the one facade over the plugins), ``core/context.py`` (who acts, when, where), then one package per
feature, each with its rules, its service functions, its pages (``web.py``) and its JSON API
(``api.py``). See the README's architecture section.
"""
from core.kernel.hookspecs import PROJECT, hookimpl, hookspec  # noqa: F401  (re-exported for plugins)
from core.kernel.types import (  # noqa: F401  (re-exported for plugins)
    BenefitPolicy,
    Channel,
    Disease,
    Division,
    Institution,
    Material,
    NoticeTemplate,
    ReasonCode,
    RegionInfo,
    RenewalPolicy,
    ReviewStep,
    SmsResult,
)
