"""`flask --app app nhsa ...`: interchange with the national medical-insurance platform.

    export-2503 --since DATE [--region CODE] [--new-only] [--out FILE]   filings (JSON lines, `data` shape)
    export-2504 [--since DATE] [--region CODE] [--new-only] [--out FILE] cancellations of ended recognitions
    import-serials FILE          the platform's trt_dcla_detl_sn for exported 2503 filings
    import-psn FILE              人员编号 by ID number (id_number, psn_no)
    import-1309 FILE --region CODE [--incremental]   the national disease catalogue
    reconcile-5301 FILE          compare the platform's 5301 answers with local recognitions
    send 2503|2504 [--region CODE]   send unsent filings through an installed adapter plugin
    code CODE --region CODE      a national code's history in the region's catalogue

Messages go to stdout (or --out); reports and problems to stderr. Imports are all-or-nothing.
"""
from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app

from core.context import Context, for_app
from core.extensions import db
from core.kernel.errors import Invalid
from core.kernel.time import local_time
from core.nhsa import catalog as nhsa_catalog
from core.nhsa import filings as nhsa_filings
from core.nhsa import reconcile as nhsa_reconcile
from core.nhsa.files import jsonl


CHANGES = {"added": "新增", "changed": "变更", "retired": "停用", "restored": "恢复"}


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日期应为 YYYY-MM-DD 格式,收到 {value!r}") from None
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        raise click.BadParameter("日期应在 2000-01-01 至 2100-12-31 之间")
    return day


def _read(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise click.ClickException(f"找不到文件 {path}")
    return p.read_bytes()


def _write(out: str | None, text: str) -> None:
    """Write the whole file or nothing: a temporary file renamed into place."""
    if out is None:
        click.echo(text, nl=False)
        return
    target = Path(out)
    if not target.parent.is_dir():
        raise click.ClickException(f"文件夹 {target.parent} 不存在。")
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".nhsa-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as e:
        raise click.ClickException(f"无法写入 {out}:{e.strerror}") from None


def _run(action):
    """Run a service call; on a refusal roll everything back and explain (the caller commits)."""
    try:
        result = action()
    except Invalid as e:
        db.session.rollback()
        raise click.ClickException(str(e)) from None
    return result


def _ctx() -> Context:
    return for_app(current_app, origin="cli")


def _region(code):
    regions = current_app.extensions["mtkit_regions"]
    if code is not None and regions.get(code) is None:
        raise click.BadParameter(f"没有地区 {code}。可用:{', '.join(regions.codes())}")
    return code


def init_app(app: Flask) -> None:
    @app.cli.group("nhsa")
    def nhsa():
        """国家医保平台数据交换(2503/2504 备案、1309 目录、5301 核对)。"""

    def _export(kind, fn, out):
        result = _run(fn)
        for problem in result.problems:
            click.echo(f"未导出 {problem}", err=True)
        try:
            _write(out, jsonl(result.messages))
        except click.ClickException:
            db.session.rollback()  # nothing written, nothing recorded as exported
            raise
        db.session.commit()
        click.echo(f"{kind}:导出 {len(result.messages)} 条(其中首次导出 {result.new} 条),"
                   f"因数据不全未导出 {len(result.problems)} 条。", err=True)

    @nhsa.command("export-2503")
    @click.option("--since", required=True, callback=_date, help="导出此日期(含)以后作出的认定")
    @click.option("--region", default=None, help="只导出一个地区")
    @click.option("--new-only", is_flag=True, help="只导出以前没有导出过的")
    @click.option("--out", default=None, help="写入文件(默认输出到屏幕)")
    def export_2503(since, region, new_only, out):
        """Write 2503 filing messages for recognitions made since DATE."""
        _region(region)
        _export("2503", lambda: nhsa_filings.export_2503(_ctx(), since, region, new_only=new_only), out)

    @nhsa.command("export-2504")
    @click.option("--since", default=None, callback=_date, help="只导出停止日期在此日期(含)以后的")
    @click.option("--region", default=None)
    @click.option("--new-only", is_flag=True)
    @click.option("--out", default=None)
    def export_2504(since, region, new_only, out):
        """Write 2504 cancellations for filed recognitions that ended early."""
        _region(region)
        _export("2504", lambda: nhsa_filings.export_2504(_ctx(), since, region, new_only=new_only), out)

    @nhsa.command("import-serials")
    @click.argument("file")
    @click.option("--region", default=None, help="只匹配一个地区的备案")
    def import_serials(file, region):
        """Store the platform's trt_dcla_detl_sn (columns psn_no, opsp_dise_code, begndate, trt_dcla_detl_sn)."""
        row = _run(lambda: nhsa_filings.import_serials(_ctx(), _read(file), Path(file).name, region=_region(region)))
        db.session.commit()
        click.echo(f"已导入流水号:新增 {row.counts['added']} 条,已有相同 {row.counts['unchanged']} 条。")

    @nhsa.command("import-psn")
    @click.argument("file")
    @click.option("--region", default=None, help="只查找一个地区的参保人")
    def import_psn(file, region):
        """Store 人员编号 by ID number (columns id_number, psn_no)."""
        row = _run(lambda: nhsa_filings.import_person_numbers(_ctx(), _read(file), Path(file).name, region=_region(region)))
        db.session.commit()
        click.echo(f"已导入人员编号:新增 {row.counts['added']} 人,已有相同 {row.counts['unchanged']} 人。")

    @nhsa.command("import-1309")
    @click.argument("file")
    @click.option("--region", required=True, help="目录所属地区编码,如 450600")
    @click.option("--incremental", is_flag=True, help="增量文件:不在文件中的代码保持不变(默认视为完整目录,缺少的代码停用)")
    @click.option("--force", is_flag=True, help="完整目录将停用一半以上的现有代码时仍然导入")
    def import_1309(file, region, incremental, force):
        """Load a 1309 catalogue download (CSV or JSON) into the region's national code table."""
        _region(region)
        result = _run(lambda: nhsa_catalog.import_1309(_ctx(), _read(file), Path(file).name, region, incremental=incremental,
                                                        force=force))
        problems = nhsa_catalog.mapping_report(_ctx(), region)
        db.session.commit()
        c = result.row.counts
        click.echo(f"病种目录已导入(地区 {region}):新增 {c['added']},变更 {c['changed']},停用 {c['retired']},"
                   f"恢复 {c['restored']},未变 {c['unchanged']}。")
        for label, codes in (("新增", result.added), ("变更", result.changed), ("停用", result.retired),
                             ("恢复", result.restored)):
            if codes:
                click.echo(f"  {label}:{', '.join(codes)}")
        for p in problems:
            click.echo(f"注意:本地病种 {p.disease_code} {p.disease_name} 对应的国家代码 {p.national_code} {p.problem};"
                       f"已有 {p.recognitions} 个有效认定不受影响,仍按原代码备案。", err=True)

    @nhsa.command("reconcile-5301")
    @click.argument("file")
    @click.option("--region", default=None, help="只核对一个地区的参保人")
    def reconcile_5301(file, region):
        """Compare the platform's 5301 answers with local recognitions and print the differences."""
        result = _run(lambda: nhsa_reconcile.reconcile(_ctx(), _read(file), Path(file).name, region=_region(region)))
        db.session.commit()
        for d in result.differences:
            click.echo(d.line())
        click.echo(f"核对 {result.people} 人:一致 {result.matched} 条,差异 {len(result.differences)} 处。")

    @nhsa.command("send")
    @click.argument("kind", type=click.Choice(["2503", "2504"]))
    @click.option("--region", default=None)
    def send(kind, region):
        """Send exported, unsent filings through the installed platform adapter plugin."""
        _region(region)
        result = _run(lambda: nhsa_filings.send_pending(_ctx(), kind, region))
        db.session.commit()
        click.echo(f"{kind}:已报送 {result['sent']} 条。")
        if result["error"]:
            raise click.ClickException(result["error"] + ";其余未报送,可稍后再运行。")

    @nhsa.command("code")
    @click.argument("code")
    @click.option("--region", required=True)
    def code_history(code, region):
        """Show every version of a national code in the region's catalogue."""
        _region(region)
        tz = current_app.extensions["mtkit_regions"].timezone(region)
        rows = nhsa_catalog.code_history(region, code)
        if not rows:
            raise click.ClickException(f"地区 {region} 的国家病种目录中没有 {code}。")
        for r in rows:
            state = "有效" if r.is_valid else "停用"
            click.echo(f"{local_time(r.created_at, tz)}  {CHANGES.get(r.change, r.change)}  {state}  {r.name}  版本 {r.ver or '-'}"
                       + ("  (当前)" if r.is_current else ""))
