"""Flask CLI commands: `flask --app app demo`, `users` (core/cli_users.py), `files` (core/cli_files.py)."""
from __future__ import annotations

import click
from flask import Flask

from core.extensions import db


def init_app(app: Flask) -> None:
    from core import cli_files, cli_users

    cli_users.init_app(app)
    cli_files.init_app(app)

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
        click.echo(f"演示数据已写入。所有演示账号的密码均为: {demo_data.PASSWORD}")
        for username, role, name in logins:
            click.echo(f"  {username:<20} {role:<16} {name}")
