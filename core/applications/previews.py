"""Page images for reviewing uploaded PDFs inside the review page.

A PDF page is rasterised by poppler's pdftoppm in a separate process with a time and memory
limit, so a hostile or broken PDF cannot hang or exhaust the web worker; browsers then show a
plain PNG (no PDF viewer, no scripts, works on every phone). Images are cached by content hash
(on this host's disk, or in the S3 bucket when MTKIT_STORAGE=s3).

An upload's pages are rendered ahead by the worker (``note_ahead`` in the upload's transaction,
``render_ahead`` in the worker once it commits: core/queue/commit.py), so the review page's images
are usually ready; a page not rendered yet (a long scan, the worker behind) renders on first view.
"""
from __future__ import annotations

import io
import logging
import os
import resource
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from core.applications import storage
from core.context import Context
from core.extensions import db
from core.kernel.errors import ServiceError
from core.kernel.files import keep_newest, private_dir
from core.kernel.objectstore import StorageError
from core.kernel.stores import open_store
from core.models import Material

log = logging.getLogger(__name__)
RENDER_SECONDS = 20
RENDER_MEMORY = 1024 * 1024 * 1024  # address space for pdftoppm: 1 GiB
PAGE_PIXELS = 1400  # the longer side of a page image: readable on a reviewer's screen
# Renders at once per worker process: a reviewer paging through a long scan cannot starve the rest.
_RENDERS = threading.BoundedSemaphore(2)


def _limits():  # runs in the child before pdftoppm starts
    os.umask(0o077)  # the page image (a medical document) 0600
    resource.setrlimit(resource.RLIMIT_CPU, (RENDER_SECONDS, RENDER_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (RENDER_MEMORY, RENDER_MEMORY))


def pdf_page(ctx: Context, material: Material, page: int) -> Path | BinaryIO | None:
    """The PNG of one page of an uploaded PDF, rendered once and cached (MTKIT_PREVIEW_DIR, or
    ``previews/`` in the S3 bucket, shared by every app host); None if it cannot be."""
    if material.content_type != "application/pdf" or not (1 <= page <= (material.pages or 1)):
        return None
    root = Path(ctx.settings["MTKIT_PREVIEW_DIR"])
    cache = open_store(ctx.settings, "previews", root)
    name = f"{material.sha256[:2]}/{material.sha256}-{page}"
    folder = root / material.sha256[:2]  # pdftoppm works here (on this host) whatever the cache is
    try:
        if cache.exists(f"{name}.png"):
            return cache.local_path(f"{name}.png") or cache.open(f"{name}.png")
        if cache.exists(f"{name}.failed"):  # tried before and failed: do not spend the CPU again
            return None
        private_dir(folder)
        if not _RENDERS.acquire(timeout=RENDER_SECONDS):
            return None
        try:
            # The PDF may be in the object store: then pdftoppm reads a private temporary copy.
            with storage.local_copy(ctx, material.sha256, folder) as source:
                rendered = _render(source, material, page, root / f"{name}.png")
        finally:
            _RENDERS.release()
        if rendered is None:
            cache.put(f"{name}.failed", b"")
            return None
        if cache.local_path(f"{name}.png") is None:  # into the bucket; in a bucket a lifecycle rule expires it
            data = rendered.read_bytes()
            rendered.unlink()
            cache.put(f"{name}.png", data)
            return io.BytesIO(data)
    except StorageError as e:  # the store is unreachable: try again next time, do not mark it failed
        log.error("preview of material %s: stored file could not be read: %s", material.id, e)
        raise ServiceError("文件存储暂时无法访问,请稍后再试;如一直如此,请联系系统管理员。", status=503) from e
    keep_newest(root, "??/*.png", ctx.settings["MTKIT_PREVIEW_FILES"])
    return rendered


AHEAD_KEY = "mtkit.previews_ahead"  # Session.info: PDF materials this transaction stored


def note_ahead(ctx: Context, materials: list[Material]) -> None:
    """Remember the PDFs this transaction stored, for the worker to render once it commits."""
    if ctx.settings.get("MTKIT_PREVIEWS_AHEAD"):
        ids = [m.id for m in materials if m.content_type == "application/pdf"]
        if ids:
            db.session.info.setdefault(AHEAD_KEY, []).extend(ids)


def take_ahead(session) -> list[int]:
    return session.info.pop(AHEAD_KEY, None) or []


def render_ahead(ctx: Context, material_ids: list[int]) -> int:
    """Render the first MTKIT_PREVIEW_AHEAD_PAGES pages of each material into the cache (the
    worker's task); returns how many pages are ready. Nobody sees anything here, so no audit row."""
    ready = 0
    limit = int(ctx.settings.get("MTKIT_PREVIEW_AHEAD_PAGES") or 0)
    for material in db.session.scalars(select(Material).where(Material.id.in_(material_ids))):
        for page in range(1, min(material.pages or 1, limit) + 1):
            try:
                if pdf_page(ctx, material, page) is not None:
                    ready += 1
            except ServiceError:  # the store is down: the reviewer's view renders it later
                log.warning("preview ahead of material %s stopped: the store is unreachable", material.id)
                return ready
    return ready


def _render(source: Path, material: Material, page: int, target: Path) -> Path | None:
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        prefix = os.path.join(tmp, "page")
        command = [
            "pdftoppm", "-png", "-f", str(page), "-l", str(page), "-singlefile",
            "-scale-to", str(PAGE_PIXELS), str(source), prefix,
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=RENDER_SECONDS + 5, preexec_fn=_limits)
        except (subprocess.SubprocessError, OSError) as e:
            log.warning("preview of material %s page %s failed: %s", material.id, page, e)
            return None
        os.replace(prefix + ".png", target)
    return target

