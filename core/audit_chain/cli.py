"""`flask --app app audit verify` and `audit anchors`: check the audit chain, print or export daily anchors."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app

from core.audit_chain import anchors as anchor_service
from core.audit_chain.verify import db_anchors, describe, first_id_on_or_after, verify
from core.context import for_app
from core.extensions import db


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日期格式应为 YYYY-MM-DD,而不是 {value}") from None


def init_app(app: Flask) -> None:
    @app.cli.group("audit")
    def audit_group():
        """The audit trail: verify its hash chain, print or export daily anchors."""

    @audit_group.command("verify")
    @click.option("--from-date", "from_date", help="从这一天(本地日期 YYYY-MM-DD)的第一条记录起核验")
    @click.option("--anchor", "anchor_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
                  help="对照导出并保存在系统之外的锚点文件(CSV 或 JSON,可多次指定)")
    @click.option("--no-db-anchors", is_flag=True, help="不对照数据库中的锚点")
    def verify_cmd(from_date, anchor_files, no_db_anchors):
        """Walk the chain; exit 0 with the count, or 1 naming the first row that does not match."""
        ctx = for_app(current_app, origin="cli")
        held = [] if no_db_anchors else db_anchors()
        for name in anchor_files:
            try:
                held += anchor_service.parse(Path(name).read_text("utf-8-sig"), Path(name).name)
            except (ValueError, UnicodeDecodeError) as exc:
                raise click.ClickException(str(exc)) from None
        start = None
        if from_date:
            start = first_id_on_or_after(ctx, _day(from_date))
            if start is None:
                click.echo(f"{from_date} 起没有审计记录。")
                return
        report = verify(ctx, start_id=start, anchors=held)
        db.session.rollback()
        if report.ok:
            click.echo(describe(ctx, report))
            return
        click.echo(describe(ctx, report), err=True)
        sys.exit(1)

    @audit_group.command("anchors")
    @click.option("--date", "day", help="只列出这一天(YYYY-MM-DD)")
    @click.option("--since", help="从这一天起(YYYY-MM-DD)")
    @click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]),
                  help="默认:屏幕上为 text;写入文件时按扩展名为 json 或 csv")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="写入文件而不是屏幕")
    @click.option("--no-update", is_flag=True, help="不补写已结束各天的锚点,只列出已有的")
    def anchors_cmd(day, since, fmt, output, no_update):
        """Write the anchors of finished days that have none, then print or export them."""
        ctx = for_app(current_app, origin="cli")
        if not no_update:
            try:
                made, _ = anchor_service.make_due(ctx)
            except anchor_service.ChainBroken as exc:
                click.echo(f"没有写入新锚点:{exc}", err=True)
                sys.exit(1)
            db.session.commit()
            if made:
                click.echo(f"已写入 {len(made)} 个新锚点。", err=True)
        fmt = fmt or (("json" if output.lower().endswith(".json") else "csv") if output else "text")
        one = _day(day)
        rows = anchor_service.listing(since=one or _day(since), until=one)
        if fmt == "csv":
            text = anchor_service.to_csv(rows)
        elif fmt == "json":
            text = anchor_service.to_json(rows)
        else:
            lines = ["日期\t最后一条记录\t当日条数\t累计条数\t最后一条的哈希"]
            lines += [f"{a.day.isoformat()}\t#{a.last_id}\t{a.rows}\t{a.total}\t{a.last_hash}"
                      for a in sorted(rows, key=lambda a: a.day)]
            text = "\n".join(lines) + "\n" if rows else "还没有锚点(锚点在每天结束后由 audit_anchors 任务写入)。\n"
        if output:
            Path(output).write_text(text, "utf-8")
            click.echo(f"已导出 {len(rows)} 个锚点到 {output}。", err=True)
        else:
            click.echo(text, nl=False)
