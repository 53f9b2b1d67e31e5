"""`flask --app app files ...`: upkeep of the uploaded-file store.

    flask --app app files sweep [--older-than-minutes 60]   remove bytes no record points at
    flask --app app files backfill                          page counts and sizes of older uploads
"""
from __future__ import annotations

import io

import click
from flask import Flask, current_app
from sqlalchemy import or_, select
from werkzeug.datastructures import FileStorage

from core.applications import storage, uploads
from core.context import for_app
from core.extensions import db
from core.kernel.errors import Invalid
from core.models import Material

KINDS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def init_app(app: Flask) -> None:
    @app.cli.group("files")
    def files():
        """Upkeep of uploaded files."""

    @files.command("sweep")
    @click.option("--older-than-minutes", default=60, show_default=True, type=click.IntRange(min=5))
    def sweep(older_than_minutes):
        """Remove stored files that no material row references (left by uploads whose save failed)."""
        referenced = set(db.session.scalars(select(Material.sha256).distinct()))
        removed = storage.sweep(for_app(current_app), referenced, older_than_minutes * 60)
        click.echo(f"已清理 {len(removed)} 个无记录引用的文件(保留 {len(referenced)} 个被引用的文件)。")

    @files.command("backfill")
    def backfill():
        """Fill in page counts (PDF) and pixel sizes (images) for files uploaded before they were recorded."""
        ctx = for_app(current_app)
        settings = ctx.settings
        done = skipped = 0
        rows = db.session.scalars(
            select(Material).where(or_(
                Material.content_type == "application/pdf", Material.content_type.like("image/%")
            )).where(Material.pages.is_(None), Material.width.is_(None))
        ).all()
        for m in rows:
            path = storage.path_for(ctx, m.sha256)
            kind = KINDS[m.content_type]
            try:
                checked = uploads.check(FileStorage(io.BytesIO(path.read_bytes()), filename="stored." + kind), (kind,),
                                        max_bytes=max(settings["MTKIT_MAX_FILE_BYTES"], path.stat().st_size),
                                        max_pixels=settings["MTKIT_MAX_IMAGE_PIXELS"],
                                        max_pages=settings["MTKIT_MAX_PDF_PAGES"])
            except (Invalid, OSError) as e:
                skipped += 1
                click.echo(f"  材料 {m.id}:{getattr(e, 'message', e)}")
                continue
            m.pages, m.width, m.height = checked.pages, checked.width, checked.height
            done += 1
        db.session.commit()
        click.echo(f"已补记 {done} 个文件的页数或尺寸;{skipped} 个未能读取(见上)。")
