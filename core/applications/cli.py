"""`flask --app app files ...`: upkeep of the uploaded-file store.

    flask --app app files sweep [--older-than-minutes 60]   remove bytes no record points at
    flask --app app files backfill                          page counts and sizes of older uploads
"""
from __future__ import annotations

import click
from flask import Flask, current_app

from core.applications import materials, storage
from core.context import for_app
from core.extensions import db


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
