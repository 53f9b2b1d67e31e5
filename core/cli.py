"""Flask CLI commands: `flask --app app demo`, `jobs run|list`, `benefits import FILE --by USER`,
`users` (core/cli_users.py), `files` (core/cli_files.py),
`nhsa` (core/cli_nhsa.py)."""
from __future__ import annotations

import click
from flask import Flask

from core.extensions import db


def init_app(app: Flask) -> None:
    from core import cli_files, cli_nhsa, cli_users

    cli_users.init_app(app)
    cli_files.init_app(app)
    cli_nhsa.init_app(app)

    @app.cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="只在数据库为空时写入演示数据")
    def demo(if_empty):
        """Seed demo staff, insured people and applications in every status (both regions)."""
        from core import demo as demo_data

        if not demo_data.database_is_empty():
            if if_empty:
                click.echo("数据库已有数据,跳过演示数据。")
                return
            raise click.ClickException("数据库已有数据;演示数据只能写入空数据库。")
        logins = demo_data.seed()
        db.session.commit()
        # Run the daily jobs once, so the demo shows reminders, the expiry sweep and deadline digests.
        from core.services import jobs

        jobs.run_due(echo=lambda line: None)
        click.echo(f"演示数据已写入。所有演示账号的密码均为: {demo_data.PASSWORD}")
        for username, role, name in logins:
            click.echo(f"  {username:<20} {role:<16} {name}")

    @app.cli.group("jobs")
    def jobs_group():
        """Scheduled jobs (run by cron or a systemd timer)."""

    @jobs_group.command("run")
    @click.argument("name", required=False)
    @click.option("--force", is_flag=True, help="即使今天已运行也再运行一次(不会重复发送)")
    def jobs_run(name, force):
        """Run every due job, or only NAME."""
        from core.services import jobs, sweeps  # noqa: F401

        if name and name not in jobs.JOBS:
            raise click.ClickException(f"没有名为 {name} 的任务。可用: {', '.join(jobs.JOBS)}")
        results = {name: jobs.run(name, click.echo, force)} if name else jobs.run_due(click.echo, force)
        if "failed" in results.values():
            raise SystemExit(1)

    @jobs_group.command("list")
    def jobs_list():
        """List jobs, whether each is due, and its last run."""
        from core.services import jobs, sweeps  # noqa: F401
        from core.filters import local_time

        for j in jobs.JOBS.values():
            last = jobs.last_done(j.name)
            when = local_time(last.finished_at) if last else "从未运行"
            every = "每天" if j.every_minutes is None else f"每 {j.every_minutes} 分钟"
            click.echo(f"{j.name:<24} {'到期' if jobs.is_due(j) else '未到期':<4} {every:<8} 上次完成 {when}  {j.title}")
    benefits_cli = click.Group("benefits", help="门特结算台账")
    app.cli.add_command(benefits_cli)

    @benefits_cli.command("import")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--by", "username", required=True, help="登记人(医院医保科或经办机构审核员)的用户名")
    @click.option("--dry-run", is_flag=True, help="只检查和试算,不保存")
    def import_visits(path, username, dry_run):
        """Settle a day's visits from a CSV file (UTF-8): id_number,institution,disease,visit_date,eligible[,note].

        All or nothing: any bad row stops the import with every problem listed by line, nothing saved.
        """
        from core.services.benefits_import import import_file

        try:
            summary = import_file(path, username)
        except ValueError as e:
            db.session.rollback()
            raise click.ClickException(str(e)) from None
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        click.echo(("试算(未保存)" if dry_run else "已导入") + f": {summary['count']} 笔,支付 {summary['covered']} 笔,"
                   f"不予支付 {summary['not_covered']} 笔;费用 {summary['eligible']} 元,报销 {summary['reimbursed']} 元,"
                   f"个人负担 {summary['own']} 元。")
