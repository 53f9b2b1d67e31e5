"""Prometheus metrics (prometheus_client): what the web process counts itself, and what is read from
the database when /metrics is scraped.

Counted in the process (``web.py`` records every request):
- ``mtkit_http_request_duration_seconds{route,method,status}``: a histogram by URL rule
  (``/applications/<id:app_id>``, never the path itself: no ids, names or numbers in labels),
  method and status class (2xx..5xx); ``<unmatched>`` for paths no rule matched;
- ``mtkit_http_requests_in_flight``.

Read at scrape time (once per scrape, whatever the worker count):
- ``mtkit_notice_deliveries_failed{channel,status}``: deliveries failed (retrying) or given up;
- ``mtkit_job_last_success_timestamp_seconds{job}``, ``mtkit_job_last_duration_seconds{job}`` and
  ``mtkit_job_last_run_failed{job}`` from the ``job_runs`` records;
- ``mtkit_metrics_database_up``: 0 when those reads failed;
- every gauge registered with ``register_gauge`` (the hook point for, e.g., a job queue's depth).

Several worker processes (gunicorn -w N): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder
writable by the app before the server starts (emptied at each start) and call
``prometheus_client.multiprocess.mark_process_dead(worker.pid)`` in gunicorn's ``child_exit`` hook;
/metrics then adds up every worker's counts. Without it each worker reports only its own.
"""
from __future__ import annotations

import logging
import os
from datetime import timezone
from typing import Callable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
# The classic text format (0.0.4): every Prometheus version reads it; the names here all fit it.
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from core.kernel.status import DeliveryStatus
from core.models import JobRun, NoticeDelivery

log = logging.getLogger(__name__)
UNMATCHED = "<unmatched>"

REQUEST_SECONDS = Histogram(
    "mtkit_http_request_duration_seconds", "Time to answer a request, by URL rule, method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
IN_FLIGHT = Gauge("mtkit_http_requests_in_flight", "Requests being answered now.", multiprocess_mode="livesum")
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def observe(route: str | None, method: str, status: int, seconds: float) -> None:
    """Record one answered request. ``route`` is the URL rule (None: no rule matched)."""
    REQUEST_SECONDS.labels(route or UNMATCHED, method if method in METHODS else "OTHER", f"{status // 100}xx").observe(seconds)


# --- the hook point: gauges other parts provide, read at scrape time --------------------------------
# name -> (documentation, label name or None, callback). The callback returns a number, or with a
# label name a mapping {label value: number}. Keep label values free of personal data.
_GAUGES: dict[str, tuple[str, str | None, Callable[[], float | Mapping[str, float]]]] = {}


def register_gauge(name: str, documentation: str, callback: Callable[[], float | Mapping[str, float]],
                   label: str | None = None) -> None:
    """Publish ``callback()`` as the gauge ``name`` on /metrics, read at each scrape, e.g. a queue's
    depth: ``register_gauge("mtkit_queue_depth", "Tasks waiting.", lambda: huey.pending_count())``.
    Registering a name again replaces the callback. A callback that raises is skipped (and logged)."""
    _GAUGES[name] = (documentation, label, callback)


class LiveCollector:
    """Reads the database (and the registered callbacks) when scraped."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self):
        up = GaugeMetricFamily("mtkit_metrics_database_up", "1 when the database figures below could be read.")
        try:
            families = self._from_database()
            up.add_metric([], 1)
        except Exception as e:  # the scrape still answers; the gap shows as database_up 0
            log.warning("metrics: database figures unavailable: %s", e)
            families = []
            up.add_metric([], 0)
        yield from families
        yield up
        yield from _callback_families()

    def _from_database(self) -> list:
        failed = GaugeMetricFamily("mtkit_notice_deliveries_failed",
                                   "Notice deliveries (SMS, letters) failed and retrying, or given up.", labels=["channel", "status"])
        success = GaugeMetricFamily("mtkit_job_last_success_timestamp_seconds",
                                    "When each scheduled job last finished successfully (Unix time).", labels=["job"])
        duration = GaugeMetricFamily("mtkit_job_last_duration_seconds",
                                     "How long each scheduled job's last finished run took.", labels=["job"])
        last_failed = GaugeMetricFamily("mtkit_job_last_run_failed", "1 when each job's last finished run failed.",
                                        labels=["job"])
        bad = (DeliveryStatus.FAILED, DeliveryStatus.GAVE_UP)
        with self.engine.connect() as conn:
            counts = {(c, s): n for c, s, n in conn.execute(
                select(NoticeDelivery.channel, NoticeDelivery.status, func.count())
                .where(NoticeDelivery.status.in_(bad)).group_by(NoticeDelivery.channel, NoticeDelivery.status))}
            last_ok = conn.execute(select(JobRun.name, func.max(JobRun.id)).where(JobRun.status == "done")
                                   .group_by(JobRun.name)).all()
            last_any = conn.execute(select(JobRun.name, func.max(JobRun.id)).where(JobRun.finished_at.is_not(None))
                                    .group_by(JobRun.name)).all()
            ids = {i for _, i in last_ok} | {i for _, i in last_any}
            runs = {r.id: r for r in conn.execute(select(JobRun.id, JobRun.status, JobRun.started_at, JobRun.finished_at)
                                                  .where(JobRun.id.in_(ids)))} if ids else {}
            conn.rollback()
        for channel in ("sms", "letter"):  # always present, so an alert on "> 0" has a series to watch
            for status in bad:
                failed.add_metric([channel, str(status)], counts.pop((channel, str(status)), 0))
        for (channel, status), n in sorted(counts.items()):
            failed.add_metric([channel, status], n)
        for name, run_id in sorted(last_ok):
            success.add_metric([name], _timestamp(runs[run_id].finished_at))
        for name, run_id in sorted(last_any):
            run = runs[run_id]
            duration.add_metric([name], max(0.0, (run.finished_at - run.started_at).total_seconds()))
            last_failed.add_metric([name], 1 if run.status == "failed" else 0)
        return [failed, success, duration, last_failed]


def _timestamp(moment) -> float:
    if moment is None:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _callback_families():
    for name, (documentation, label, callback) in sorted(_GAUGES.items()):
        try:
            value = callback()
        except Exception as e:
            log.warning("metrics: gauge %s failed: %s", name, e)
            continue
        family = GaugeMetricFamily(name, documentation, labels=[label] if label else None)
        if label:
            for key, number in sorted(dict(value).items()):
                family.add_metric([str(key)], float(number))
        else:
            family.add_metric([], float(value))
        yield family


def render(engine: Engine) -> tuple[bytes, str]:
    """The text exposition: the process's (or, in multiprocess mode, every worker's) counts, then
    the figures read now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    live = CollectorRegistry(auto_describe=False)  # no describe(): registering does not query yet
    live.register(LiveCollector(engine))
    return generate_latest(registry) + generate_latest(live), CONTENT_TYPE_PLAIN_0_0_4
