"""What the worker runs: each scheduled job as a periodic task calling the same ``runner.run`` that
``flask --app app jobs run`` calls, so job leases and run records (job_locks, job_runs) stay the one
guard: the same job started by the worker on two hosts, or by the worker and cron, runs once.

A job that fails is retried by Huey (RETRIES times, RETRY_DELAY seconds apart); after the last
attempt it is written to ``queue_failures``, the dead-letter list on 通知发送 (/staff/deliveries).
"""
from __future__ import annotations

import logging

from huey import crontab
from huey.signals import SIGNAL_ERROR

from core.applications import previews
from core.context import for_app
from core.jobs import runner
from core.jobs.schedule import JOBS, Job
from core.nhsa import exports as nhsa_exports
from core.notices import letters
from core.notices.delivery import deliver_due
from core.queue import results

log = logging.getLogger("mtkit.queue")

RETRIES = 3
RETRY_DELAY = 60  # seconds between attempts
SEND_RETRY_DELAY = 10
DAILY_CHECK_MINUTES = 15  # a daily job is checked this often; runner.run skips it once done today


# What a user may ask the worker to make (core/queue/results.py): the same service functions a
# synchronous caller uses.
KINDS = {"letters": letters.batch_file, "nhsa_export": nhsa_exports.export_file}
GAVE_UP = "生成失败,已重试多次。请重新生成;如仍失败,请联系系统管理员。"


class JobFailed(Exception):
    """A job body raised; runner.run recorded it as failed. Raised again so Huey retries."""


def cadence(job: Job) -> crontab:
    """When the worker starts ``job``: interval jobs (sending SMS) every minute, daily jobs every
    quarter hour (a run that is not due is skipped in one query, so a worker started late or a
    failed run still gets its day's run)."""
    if job.every_minutes is not None:
        return crontab(minute="*")
    return crontab(minute=f"*/{DAILY_CHECK_MINUTES}")


def run_named(app, name: str) -> str:
    """Run one scheduled job in a fresh app context, as ``jobs run NAME`` does."""
    job = JOBS[name]
    with app.app_context():
        ctx = for_app(app, origin="job")
        # An interval job started by the worker runs at once (sending only what is due anyway); a
        # daily job still runs once per local day.
        result = runner.run(ctx, job, echo=log.info, force=job.every_minutes is not None)
        if result == "failed":
            last = runner.recent_runs(1)
            raise JobFailed(last[0].detail if last and last[0].name == name and last[0].detail else f"{name} 失败")
        return result


def send_now(app, ids: list[int] | None) -> int:
    """Send the SMS deliveries ``ids`` (None: all that are due) at once; returns how many were sent.
    Rows the sweep or another worker already took are skipped (deliver_due claims each row once)."""
    with app.app_context():
        _, sent = deliver_due(for_app(app, origin="job"), ids=ids)
        return sent


def register(huey, app):
    """Put mtkit's tasks on ``huey``; returns the tasks the app enqueues by hand: ``run_job`` (what
    the retry button enqueues), ``send_sms``, ``run_task`` and ``render_previews`` (after a commit that queued them)."""

    @huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, name="run_job")
    def run_job(name: str) -> str:
        return run_named(app, name)

    # Retried sooner than a job: a gateway error is handled inside (back-off on the row); what
    # raises here is the database or the worker itself.
    @huey.task(retries=RETRIES, retry_delay=SEND_RETRY_DELAY, name="send_sms")
    def send_sms(ids: list[int] | None) -> int:
        return send_now(app, ids)

    @huey.task(retries=RETRIES, retry_delay=SEND_RETRY_DELAY, name="run_task")
    def run_task(task_id: int) -> str:
        with app.app_context():
            return results.run(for_app(app, origin="job"), task_id, KINDS)

    # Not retried: a PDF pdftoppm cannot render is marked failed in the cache; an unreachable store
    # leaves the pages to render on first view.
    @huey.task(name="render_previews")
    def render_previews(ids: list[int]) -> int:
        with app.app_context():
            return previews.render_ahead(for_app(app, origin="job"), ids)

    @huey.periodic_task(crontab(minute="*"), name="requeue_tasks")
    def requeue_tasks() -> int:
        """The safety net of the hand-over at commit, as the sweep is for SMS."""
        with app.app_context():
            ids = results.stranded()
        for task_id in ids:
            run_task(task_id)
        return len(ids)

    for job in JOBS.values():
        def periodic(name=job.name):
            return run_named(app, name)
        huey.periodic_task(cadence(job), retries=RETRIES, retry_delay=RETRY_DELAY, name=f"job:{job.name}")(periodic)

    @huey.signal(SIGNAL_ERROR)
    def dead_letter(signal, task, exc=None):
        if task.retries:  # Huey will try again
            return
        from core.queue import service

        with app.app_context():
            service.record_failure(task.name, job_of(task), exc, attempts=type(task).default_retries + 1)
            if task.name == "run_task" and task.args:
                results.mark_failed(task.args[0], GAVE_UP)

    return run_job, send_sms, run_task, render_previews


def job_of(task) -> str | None:
    if task.name.startswith("job:"):
        return task.name[len("job:"):]
    if task.name == "run_job" and task.args:
        return str(task.args[0])
    if task.name == "send_sms":  # sent back as the sweep, which sends every delivery that is due
        return "deliver_notices"
    return None


def periodic_jobs(huey) -> dict:
    """Job name -> the periodic task class the worker runs it with (its ``validate_datetime`` is the crontab)."""
    return {cls.__name__[len("job:"):]: cls for cls in huey._registry._periodic_tasks if cls.__name__.startswith("job:")}
