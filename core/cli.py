"""The command line: each feature's commands, and `flask --app app demo`.

    users (core/people/cli.py), files (core/applications/cli.py), jobs (core/jobs/cli.py), queue (core/queue/cli.py),
    benefits (core/benefits/cli.py), nhsa (core/nhsa/cli.py), keys (core/keys/cli.py),
    audit (core/audit_chain/cli.py), backup (core/backup/cli.py)
"""
from __future__ import annotations

import click
from flask import Flask, current_app

from core import demo as demo_data
from core.applications import cli as files_cli
from core.audit_chain import cli as audit_cli
from core.backup import cli as backup_cli
from core.benefits import cli as benefits_cli
from core.context import for_app
from core.extensions import db
from core.jobs import cli as jobs_cli
from core.jobs import runner
from core.jobs.schedule import JOBS
from core.keys import cli as keys_cli
from core.nhsa import cli as nhsa_cli
from core.people import cli as users_cli
from core.queue import cli as queue_cli


def init_app(app: Flask) -> None:
    for module in (users_cli, files_cli, jobs_cli, queue_cli, benefits_cli, nhsa_cli, keys_cli, audit_cli, backup_cli):
        module.init_app(app)

    @app.cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="只在数据库为空时写入演示数据")
    def demo(if_empty):
        """Seed demo staff, insured people and applications in every status (both regions)."""
        if not demo_data.database_is_empty():
            if if_empty:
                click.echo("数据库已有数据,跳过演示数据。")
                return
            raise click.ClickException("数据库已有数据;演示数据只能写入空数据库。")
        logins = demo_data.seed(for_app(current_app, origin="cli"))
        db.session.commit()
        # Run the daily jobs once, so the demo shows reminders, the expiry sweep and deadline digests.
        runner.run_due(for_app(current_app, origin="job"), JOBS.values(), echo=lambda line: None)
        click.echo(f"演示数据已写入。所有演示账号的密码均为: {demo_data.PASSWORD}")
        for username, role, name in logins:
            click.echo(f"  {username:<20} {role:<16} {name}")
