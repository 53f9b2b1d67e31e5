"""`flask --app app benefits import FILE --by USER [--dry-run]`: settle a day's visits from a CSV file."""
from __future__ import annotations

import click
from flask import Flask, current_app

from core.benefits.importer import import_file
from core.benefits.yearend import export_year
from core.context import for_app
from core.extensions import db
from core.kernel.errors import ServiceError


def init_app(app: Flask) -> None:
    group = click.Group("benefits", help="门特结算台账")
    app.cli.add_command(group)

    @group.command("import")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--by", "username", required=True, help="登记人(医院医保科或经办机构审核员)的用户名")
    @click.option("--dry-run", is_flag=True, help="只检查和试算,不保存")
    @click.option("--force", is_flag=True, help="同样内容的文件已导入过时仍再次导入(会再次结算,记入审计日志)")
    def import_visits(path, username, dry_run, force):
        """Settle a day's visits from a CSV file (UTF-8): id_number,institution,disease,visit_date,eligible[,note].

        All or nothing: any bad row stops the import with every problem listed by line, nothing saved.
        A file with the same rows as one imported before is refused unless --force.
        """
        try:
            summary = import_file(for_app(current_app, origin="cli"), path, username, force=force)
        except (ValueError, ServiceError) as e:
            db.session.rollback()
            raise click.ClickException(str(e)) from None
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        click.echo(("试算(未保存)" if dry_run else "已导入") + f": {summary['count']} 笔,支付 {summary['covered']} 笔,"
                   f"不予支付 {summary['not_covered']} 笔;费用 {summary['eligible']} 元,报销 {summary['reimbursed']} 元,"
                   f"个人负担 {summary['own']} 元。")

    @group.command("export-year")
    @click.option("--region", required=True, help="统筹区代码,如 450600")
    @click.option("--year", type=int, required=True, help="待遇年度")
    @click.option("--out", type=click.Path(dir_okay=False, writable=True), help="输出文件(UTF-8 CSV);不填则输出到标准输出")
    def export_year_command(region, year, out):
        """Every settlement of a benefit year in a region, as CSV (年度门特结算明细), streamed; read from
        the read replica when MTKIT_REPLICA_DATABASE_URL is set."""
        try:
            lines = export_year(for_app(current_app, origin="cli"), region, year)
        except ServiceError as e:
            db.session.rollback()
            raise click.ClickException(str(e)) from None
        db.session.commit()  # the audit row, before any row is read
        stream = open(out, "w", encoding="utf-8-sig", newline="") if out else click.get_text_stream("stdout")
        count = -1
        try:
            for chunk in lines:
                stream.write(chunk)
                count += chunk.count("\n")
        finally:
            if out:
                stream.close()
        if out:
            click.echo(f"已导出 {region} {year} 年度结算 {count} 笔到 {out}。")
