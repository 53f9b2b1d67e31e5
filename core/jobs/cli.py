"""`flask --app app jobs run [NAME] [--force]` and `jobs list`: scheduled jobs, for cron or a systemd timer."""
from __future__ import annotations

import click
from flask import Flask, current_app

from core.context import for_app
from core.jobs import runner
from core.jobs.schedule import JOBS
from core.kernel.time import local_time


def init_app(app: Flask) -> None:
    @app.cli.group("jobs")
    def jobs_group():
        """Scheduled jobs (run by cron or a systemd timer)."""

    @jobs_group.command("run")
    @click.argument("name", required=False)
    @click.option("--force", is_flag=True, help="即使今天已运行也再运行一次(不会重复发送)")
    def jobs_run(name, force):
        """Run every due job, or only NAME."""
        if name and name not in JOBS:
            raise click.ClickException(f"没有名为 {name} 的任务。可用: {', '.join(JOBS)}")
        ctx = for_app(current_app, origin="job")
        chosen = [JOBS[name]] if name else list(JOBS.values())
        results = runner.run_due(ctx, chosen, click.echo, force)
        if "failed" in results.values():
            raise SystemExit(1)

    @jobs_group.command("list")
    def jobs_list():
        """List jobs, whether each is due, and its last run."""
        ctx = for_app(current_app, origin="job")
        for j in JOBS.values():
            last = runner.last_done(j.name)
            when = local_time(last.finished_at, ctx.regions.default_timezone) if last else "从未运行"
            every = "每天" if j.every_minutes is None else f"每 {j.every_minutes} 分钟"
            click.echo(f"{j.name:<24} {'到期' if runner.is_due(ctx, j) else '未到期':<4} {every:<8} 上次完成 {when}  {j.title}:{j.about}")
