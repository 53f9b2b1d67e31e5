"""mtkit core. Plugins import `hookimpl` and the data types from here."""
import pluggy

from core.types import (  # noqa: F401  (re-exported for plugins)
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

PROJECT = "mtkit"
hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)
