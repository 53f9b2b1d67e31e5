"""The demo's timeline: every step of a demo record happens through the real service, at the moment
it would have happened (working days, office hours, within each step's time limit).

Services stamp what they do with ``ctx.now()`` and judge dates by ``ctx.today()``; a context whose
clock reads a chosen moment (``MomentClock``) replays history through them unchanged. Nothing is
written around the services, so every page, PDF and job reads the records as real ones.
"""
from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from markupsafe import escape
from werkzeug.datastructures import FileStorage

from core.applications import materials, review
from core.applications import service as apps
from core.calendar.service import extra_days
from core.context import Context
from core.documents.pdf import html_to_pdf
from core.kernel.time import Clock, add_working_days, is_working_day, local_date
from core.models import Application, Recognition

OPENS, CLOSES = time(8, 40), time(17, 20)  # office hours in which demo staff and visitors act
_DEMO_FILES: dict[str, bytes] = {}


def demo_pdf(title: str) -> bytes:
    """A one-page PDF standing in for a scanned document (real, so uploads and previews work)."""
    if title not in _DEMO_FILES:
        html = (
            '<html><head><meta charset="utf-8"></head><body>'
            f'<p class="issuer">演示数据</p><h1>{escape(title)}</h1>'
            '<p class="blank-mark">本文件由 mtkit 演示数据生成,代替参保人上传的扫描件。</p></body></html>'
        )
        _DEMO_FILES[title] = html_to_pdf(html)
    return _DEMO_FILES[title]


class MomentClock(Clock):
    """A clock that reads one set moment: today and now as they were when a past step happened."""

    def __init__(self, moment: datetime, default_tz: str):
        super().__init__({}, default_tz)
        self.moment = moment

    def today(self, tz: str) -> date:
        return local_date(self.moment, tz)

    def now(self) -> datetime:
        return self.moment


class Story:
    """Moments of the demo's history, counted back from today in each region's working days."""

    def __init__(self, ctx: Context, seed: int = 13):
        self.ctx = ctx
        self.rng = random.Random(seed)  # the same demo on every run
        self.today = ctx.today(None)
        self.real_now = ctx.now()
        self._extra: dict[str, dict[date, bool]] = {}
        self._agenda: list[tuple[datetime, int, object, Callable[[Context], object]]] = []

    def extra(self, region: str) -> dict[date, bool]:
        if region not in self._extra:
            self._extra[region] = extra_days(self.ctx, region, range(self.today.year - 3, self.today.year + 2))
        return self._extra[region]

    def is_working(self, region: str, day: date) -> bool:
        return is_working_day(day, self.extra(region))

    def back(self, region: str, days: int, start: date | None = None) -> date:
        """The working day ``days`` working days before ``start`` (today)."""
        day = start or self.today
        while days > 0:
            day -= timedelta(days=1)
            if self.is_working(region, day):
                days -= 1
        return day

    def on_or_before(self, region: str, day: date) -> date:
        while not self.is_working(region, day):
            day -= timedelta(days=1)
        return day

    def moment(self, region: str, day: date, after: time = OPENS, until: time = CLOSES) -> datetime:
        """A time in office hours on ``day`` (local), between ``after`` and ``until``."""
        lo = after.hour * 60 + after.minute
        hi = until.hour * 60 + until.minute
        minutes = self.rng.randint(lo, hi) if lo < hi else hi
        tz = ZoneInfo(self.ctx.regions.timezone(region))
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tz)
        return self._checked(local.astimezone(timezone.utc))

    def later(self, region: str, moment: datetime, working_days: int) -> datetime:
        """``working_days`` later in office hours; 0 = later the same day (the next morning if late)."""
        tz = self.ctx.regions.timezone(region)
        local = moment.astimezone(ZoneInfo(tz))
        if working_days == 0:
            nxt = local + timedelta(minutes=self.rng.randint(8, 75))
            if nxt.time() < CLOSES and nxt.date() == local.date():
                return self._checked(nxt.astimezone(timezone.utc))
            working_days = 1
        day = add_working_days(local.date(), working_days, self.extra(region))
        return self.moment(region, day)

    def _checked(self, moment: datetime) -> datetime:
        if moment >= self.real_now:  # a scenario bug: the demo never invents the future
            raise RuntimeError(f"demo history reaches {moment.isoformat()}, after now")
        return moment

    def plan(self, moment: datetime, actor, step: Callable[[Context], object]) -> None:
        self._agenda.append((moment, len(self._agenda), actor, step))

    def run(self) -> None:
        """Every planned step, oldest first, each in the context of its moment and actor."""
        for moment, _, actor, step in sorted(self._agenda, key=lambda a: a[:2]):
            step(self.at(moment, actor))
        self._agenda.clear()

    def at(self, moment: datetime, actor) -> Context:
        """The context a past step ran in: its actor and a clock reading its moment."""
        return replace(self.ctx, actor=actor, clock=MomentClock(moment, self.ctx.clock.default_tz))


class Case:
    """One application's history, each step through the service the page would call.

    Steps are planned here and run later by ``Story.run`` in the order they happened across all
    cases, so ids, notices and the audit trail follow the calendar."""

    def __init__(self, story: Story, person, inst: str | None, diseases: list[str], day: date, *, channel="online",
                 filer=None, renewal_of: Callable[[], Recognition] | None = None):
        self.story, self.person, self.filer = story, person, filer or person
        self.region = person.region_code
        self.app: Application | None = None
        self.t = story.moment(self.region, day, until=time(14, 30))  # the same-day steps fit before closing

        def start(ctx):
            if renewal_of is not None:
                self.app = apps.start_renewal(ctx, renewal_of(), channel=channel)
            else:
                self.app = apps.start(ctx, person, region=self.region, division=person.division_code,
                                      institution=inst, channel=channel, diseases=diseases)
        story.plan(self.t, self.filer, start)

    def _then(self, actor, working_days: int, step: Callable[[Context], object]) -> Case:
        self.t = self.story.later(self.region, self.t, working_days)
        self.story.plan(self.t, actor, step)
        return self

    def upload(self, days: int = 0) -> Case:
        """Every required material, uploaded one after another by whoever files the application."""
        def step(ctx):
            for item in materials.checklist(ctx, self.app):
                if item.rule.required:
                    name = item.rule.name.replace("/", "、")
                    materials.add(ctx, self.app, disease_code=item.disease_code, material_code=item.rule.code,
                                  files=[FileStorage(io.BytesIO(demo_pdf(name)), filename=f"{name}.pdf")])
        return self._then(self.filer, days, step)

    def submit(self, days: int = 0) -> Case:
        return self._then(self.filer, days, lambda ctx: apps.submit(ctx, self.app, self.app.version))

    def act(self, staff, action: str, days: int = 1, **fields) -> Case:
        return self._then(staff, days, lambda ctx: review.act(ctx, self.app, action, self.app.version, **fields))

    def decide(self, staff, result: str, days: int = 1, reason: str | None = None) -> Case:
        def step(ctx):
            results = {ad.disease_code: result for ad in self.app.diseases}
            review.act(ctx, self.app, "decide", self.app.version, results=results, reason_code=reason)
        return self._then(staff, days, step)

    def withdraw(self, reason: str, days: int = 1) -> Case:
        return self._then(self.person, days, lambda ctx: apps.withdraw(ctx, self.app, self.app.version, reason))

    def lapse(self, disease_code: str) -> Case:
        """After a return: the expiry sweep's early-morning run the day after the supplement deadline."""
        days = self.story.ctx.regions.renewal_policy(self.region, disease_code).return_deadline_days
        tz = ZoneInfo(self.story.ctx.regions.timezone(self.region))
        day = local_date(self.t, str(tz)) + timedelta(days=days + 1)
        self.t = self.story._checked(datetime.combine(day, time(2, 5), tz).astimezone(timezone.utc))
        self.story.plan(self.t, None, lambda ctx: apps.lapse(ctx, self.app))
        return self
