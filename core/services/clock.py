"""'Today' in the region's time zone; tests and demos may pin it with MTKIT_TODAY."""
from __future__ import annotations

from datetime import date

from flask import current_app

from core.services.calendar import local_today


def today(tz: str = "Asia/Shanghai") -> date:
    pinned = current_app.config.get("MTKIT_TODAY")
    if pinned:
        return pinned if isinstance(pinned, date) else date.fromisoformat(str(pinned))
    return local_today(tz)
