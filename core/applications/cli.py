"""`flask --app app files ...`: upkeep of the uploaded-file store.

    flask --app app files sweep [--older-than-minutes 60]   remove bytes no record points at
    flask --app app files backfill                          page counts and sizes of older uploads
    flask --app app files migrate-to-s3                     copy uploads from the local disk to the bucket
"""
from __future__ import annotations

import click
from flask import Flask, current_app

from core.applications import materials, storage, tos3
from core.context import for_app
from core.extensions import db
from core.kernel.objectstore import StorageError


def init_app(app: Flask) -> None:
    @app.cli.group("files")
    def files():
        """Upkeep of uploaded files."""

    @files.command("sweep")
    @click.option("--older-than-minutes", default=60, show_default=True, type=click.IntRange(min=5))
    def sweep(older_than_minutes):
        """Remove stored files that no material row references (left by uploads whose save failed)."""
        referenced = materials.stored_digests()
        removed = storage.sweep(for_app(current_app), referenced, older_than_minutes * 60)
        click.echo(f"已清理 {len(removed)} 个无记录引用的文件(保留 {len(referenced)} 个被引用的文件)。")

    @files.command("backfill")
    def backfill():
        """Fill in page counts (PDF) and pixel sizes (images) for files uploaded before they were recorded."""
        done, skipped = materials.backfill(for_app(current_app), click.echo)
        db.session.commit()
        click.echo(f"已补记 {done} 个文件的页数或尺寸;{skipped} 个未能读取(见上)。")

    @files.command("migrate-to-s3")
    def migrate_to_s3():
        """Copy every upload from MTKIT_UPLOAD_DIR to the S3 bucket (MTKIT_S3_*): resumable, each sha256
        verified, local files never changed. Set MTKIT_STORAGE=s3 afterwards."""
        try:
            out = tos3.migrate_to_s3(for_app(current_app), click.echo)
        except StorageError as e:
            raise click.ClickException(f"无法连接对象存储:{e}") from e
        click.echo(f"共 {out.total} 个文件:上传 {out.copied} 个({out.bytes_copied} 字节),已存在跳过 {out.skipped} 个,"
                   f"失败 {len(out.failures)} 个。本地文件未作任何改动。")
        if out.failures:
            for key, why in out.failures:
                click.echo(f"  失败 {key}:{why}", err=True)
            raise click.exceptions.Exit(1)
