"""Who acts, in which region, with which clock: what every service function gets first.

A ``Context`` is built per request (``core/web/context.py``), per CLI command and per job run
(``for_app``), so the same service function runs in all three and never reads Flask globals.
It carries the acting user (None for the system: a job, an anonymous visitor), the facade over the
plugins, the clock, the settings, the Jinja environment printed documents render with, the public
address QR codes point at, and the client's address for the audit trail.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from core.kernel.time import Clock

if TYPE_CHECKING:  # pragma: no cover
    from jinja2 import Environment

    from core.models import User
    from core.regions import Regions


@dataclass(frozen=True)
class Context:
    actor: User | None
    regions: Regions
    clock: Clock
    settings: Mapping[str, Any]
    templates: Environment | None = None
    static_folder: str = ""
    public_url: str = ""  # MTKIT_PUBLIC_URL, else the address the request came to
    ip: str | None = None
    origin: str = "web"  # web / api / cli / job: who built the context

    def today(self, region: str | None) -> date:
        """Today in ``region``'s time zone (the instance's for None)."""
        return self.clock.today(self.regions.timezone(region))

    def now(self) -> datetime:
        """The business moment to stamp on records (pinned with the date in tests and demos)."""
        return self.clock.now()

    def acting_as(self, user: User | None) -> Context:
        return replace(self, actor=user)

    @property
    def actor_id(self) -> int | None:
        return getattr(self.actor, "id", None)


def for_app(app, actor: User | None = None, *, origin: str = "cli", ip: str | None = None,
            public_url: str | None = None) -> Context:
    """A context from an app (CLI commands, jobs, tests): no request needed."""
    return Context(
        actor=actor,
        regions=app.extensions["mtkit_regions"],
        clock=app.extensions["mtkit_clock"],
        settings=app.config,
        templates=app.jinja_env,
        static_folder=app.static_folder or "",
        public_url=public_url if public_url is not None else app.config.get("MTKIT_PUBLIC_URL", ""),
        ip=ip,
        origin=origin,
    )
