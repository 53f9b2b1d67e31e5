"""Flask CLI commands: `flask --app app demo`, `flask --app app benefits import FILE --by USER`."""
from __future__ import annotations

import click
from flask import Flask

from core.extensions import db


def init_app(app: Flask) -> None:
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
