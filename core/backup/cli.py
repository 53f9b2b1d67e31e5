"""`flask --app app backup ...`: backups and a tested restore.

    flask --app app backup create DEST [--with-caches]     a new backup folder DEST
    flask --app app backup create --dated FOLDER           into FOLDER/mtkit-<UTC time> (the nightly timer)
    flask --app app backup verify DEST                     every file against the manifest's sha256
    flask --app app backup restore DEST                    into an empty database and an empty store, then check
"""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app

from core.backup import database, service
from core.backup.errors import BackupError
from core.context import for_app


def init_app(app: Flask) -> None:
    @app.cli.group("backup")
    def backup():
        """Backups of the database and the object store, their check, and a restore."""

    @backup.command("create")
    @click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
    @click.option("--with-caches", is_flag=True, help="同时备份页面预览与打印件缓存(可重新生成,默认不备份)")
    @click.option("--dated", is_flag=True, help="DEST 是存放备份的目录,本次备份写入其中的 mtkit-<UTC 时间>")
    def create(dest, with_caches, dated):
        """Back up the database (consistent while the app runs) and the uploads into a new folder."""
        if dated:
            dest = dest / f"mtkit-{database.stamp()}"
        try:
            made = service.create(for_app(current_app), dest, click.echo, caches=with_caches)
        except BackupError as e:
            raise click.ClickException(f"备份失败:{e}") from e
        count = sum(len(v) for v in made["objects"].values())
        size = sum(o["size"] for v in made["objects"].values() for o in v)
        click.echo(f"备份完成:{dest}(数据库 {made['database']['size']} 字节,对象 {count} 个、{size} 字节)。")
        click.echo(f"注意:{made['keys']}")

    @backup.command("verify")
    @click.argument("dest", type=click.Path(exists=True, file_okay=False, path_type=Path))
    def verify(dest):
        """Check every file of a backup against its manifest (size and sha256)."""
        try:
            made, problems = service.verify(dest)
        except BackupError as e:
            raise click.ClickException(str(e)) from e
        if problems:
            for line in problems:
                click.echo(f"  不符 {line}", err=True)
            raise click.ClickException(f"备份校验未通过:{len(problems)} 处不符。")
        count = sum(len(v) for v in made["objects"].values())
        click.echo(f"备份完整:数据库文件与 {count} 个对象均与清单一致(备份于 {made['created_at']})。")

    @backup.command("restore")
    @click.argument("dest", type=click.Path(exists=True, file_okay=False, path_type=Path))
    @click.option("--set-aside-database", is_flag=True, help="目标数据库已有表时,先把它改名保留(不删除),再恢复")
    @click.option("--into-store-with-uploads", is_flag=True,
                  help="对象存储已有上传文件时仍恢复:内容相同的跳过,内容不同的报错,不覆盖")
    def restore(dest, set_aside_database, into_store_with_uploads):
        """Restore a backup into the configured (empty) database and object store, then check the result."""
        try:
            results = service.restore(for_app(current_app), dest, click.echo,
                                      migrations_dir=current_app.extensions["migrate"].directory,
                                      set_aside_database=set_aside_database, into_store_with_uploads=into_store_with_uploads)
        except BackupError as e:
            raise click.ClickException(f"恢复失败:{e}") from e
        for name, ok, detail in results:
            click.echo(f"  {'通过' if ok else '未通过'} {name}:{detail}")
        if not all(ok for _, ok, _ in results):
            raise click.ClickException("恢复已完成,但检查未全部通过(见上)。")
        click.echo("恢复完成,全部检查通过。")
