"""An application's materials: the checklist the region asks for, adding, replacing and removing
files, and opening a stored file for someone in the record's scope.

Every file of a request is checked (``uploads.py``) before any byte is written, within the
decoding budget of the request, the account and the server (``budget.py``). Replacing or
removing a file keeps the old row and bytes (nothing is destroyed); limits per file, per request,
per application and over the application's whole history come from the settings.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import or_, select
from werkzeug.datastructures import FileStorage

from core.applications import budget, online, previews, rules, storage, uploads
from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import NOT_FOUND, Forbidden, Invalid, NotFound, ServiceError
from core.kernel.objectstore import MissingObject, StorageError
from core.kernel.types import Material as MaterialRule
from core.models import Application, Material
from core.models.base import flush_or_conflict
from core.people.scope import can_see

log = logging.getLogger(__name__)


@dataclass
class ChecklistItem:
    disease_code: str  # "*" for items common to every disease
    disease_name: str
    rule: MaterialRule
    files: list[Material] = field(default_factory=list)
    # Online only (``online.py``): "system" (the system attaches its own record) or "declaration"
    # (the applicant's electronic confirmation stands in for a signed scan).
    supplied: str | None = None
    declared_at: object = None  # when the declaration was given (None: not yet)
    system_record: int | None = None  # the application whose approval the system attaches

    @property
    def satisfied(self) -> bool:
        if self.supplied == "system" or (self.supplied == "declaration" and self.declared_at is not None):
            return True
        return bool(self.files) or not self.rule.required

    @property
    def label(self) -> str:
        return self.rule.name if self.disease_code == "*" else f"{self.disease_name}:{self.rule.name}"


def checklist(ctx: Context, app: Application) -> list[ChecklistItem]:
    names = {ad.disease_code: ad.disease_name for ad in app.diseases}
    current = app.current_materials()
    items = []
    for disease_code, rule in ctx.regions.checklist(app.region_code, list(names), app.kind):
        files = [m for m in current if m.material_code == rule.code and m.disease_code == disease_code]
        how = online.supplied(ctx, app, rule)
        items.append(ChecklistItem(disease_code, names.get(disease_code, ""), rule, files, how,
                                   app.declared_at if how == "declaration" else None,
                                   online.system_record(app) if how == "system" else None))
    return items


def missing(ctx: Context, app: Application) -> list[str]:
    return [i.label for i in checklist(ctx, app) if not i.satisfied]


def add(ctx: Context, app: Application, *, disease_code: str, material_code: str, files: list,
        replaces_id: int | None = None) -> list[Material]:
    """Add files to a checklist item, or one file in place of material ``replaces_id``.

    Every file is checked before anything is written; one bad file refuses the whole request.
    """
    actor, settings = ctx.actor, ctx.settings
    if not rules.can_edit_materials(app, actor):
        raise Forbidden("当前状态下不能上传材料(只有草稿或退回补正的申请可以上传)。")
    replaces = None
    if replaces_id is not None:
        replaces = db.session.get(Material, replaces_id)
        if replaces is None or replaces.application_id != app.id:
            raise NotFound("要替换的文件不存在。", fields={"replaces": "未找到"})
    item = next((i for i in checklist(ctx, app) if i.disease_code == disease_code and i.rule.code == material_code), None)
    if item is None:
        raise Invalid("该材料不在本申请的材料清单中。")
    files = [f for f in files if f is not None and getattr(f, "filename", "")]
    if not files:
        raise Invalid("请选择要上传的文件。")
    if len(files) > settings["MTKIT_MAX_FILES_PER_UPLOAD"]:
        raise Invalid(f"一次最多上传 {settings['MTKIT_MAX_FILES_PER_UPLOAD']} 个文件,请分几次上传。")
    if replaces is not None and (
        replaces.replaced_by_id is not None
        or (replaces.disease_code, replaces.material_code) != (disease_code, material_code) or len(files) != 1
    ):
        raise Invalid("要替换的文件不存在或已被替换,请刷新页面后重试。")
    limits = {"max_bytes": settings["MTKIT_MAX_FILE_BYTES"], "max_pixels": settings["MTKIT_MAX_IMAGE_PIXELS"]}
    received = [uploads.receive(f, item.rule.accept, **limits) for f in files]  # cheap: nothing decoded yet
    budget.check_request_pixels(ctx, received)
    with budget.upload_slot(ctx, actor.id):
        checked = [uploads.finish(r, **limits, max_pages=settings["MTKIT_MAX_PDF_PAGES"]) for r in received]
    incoming = sum(len(c.data) for c in checked)
    limit = settings["MTKIT_MAX_APPLICATION_BYTES"]
    total = sum(m.size for m in app.current_materials() if m is not replaces) + incoming
    if total > limit:
        raise Invalid(f"本申请的材料合计超过 {limit // (1024 * 1024)} MB 的上限,请压缩图片或删去重复的文件后再上传。", status=413)
    # Replaced and removed files are kept (nothing is destroyed), so they count too, up to 3x the
    # limit: uploading and removing in a loop cannot fill the disk.
    if sum(m.size for m in app.materials) + incoming > 3 * limit:
        raise Invalid("本申请上传、替换的文件已过多,请到窗口或联系经办机构处理。", status=413)
    materials = []
    for c in checked:
        # Written before the row: a row never points at missing bytes. If the rows then fail to save,
        # the bytes stay unreferenced until `flask files sweep` (never deleted here: another request
        # may have just saved a row for the same content).
        digest = _store(ctx, c.data)
        material = Material(
            disease_code=disease_code, material_code=material_code, original_name=c.name, sha256=digest,
            size=len(c.data), content_type=c.content_type, pages=c.pages, width=c.width, height=c.height,
            uploaded_by_id=actor.id, uploaded_at=ctx.now(),
        )
        app.materials.append(material)
        materials.append(material)
    app.materials_changed_at = ctx.now()  # bumps the version: a concurrent submit/review conflicts
    flush_or_conflict(rules.STALE)
    if replaces is not None:
        replaces.replaced_by_id = materials[0].id
        flush_or_conflict(rules.STALE)
    for m, c in zip(materials, checked):
        what = f"replaces={replaces.id} " if replaces is not None else ""
        cleaned = f" removed={','.join(c.removed)}" if c.removed else ""  # active content taken out of a PDF
        audit(ctx, "material.upload", app, detail=f"{disease_code}/{material_code} {what}sha256={m.sha256}{cleaned}")
    previews.note_ahead(ctx, materials)
    return materials


MISSING = "该文件的存储内容缺失,请联系系统管理员从备份恢复。"
UNAVAILABLE = "文件存储暂时无法访问,请稍后再试;如一直如此,请联系系统管理员。"


def _store(ctx: Context, data: bytes) -> str:
    try:
        return storage.store(ctx, data)
    except StorageError as e:  # logged in full for the administrator; the person sees a plain 503
        log.error("upload could not be stored: %s", e)
        raise ServiceError(UNAVAILABLE, status=503) from e


def _exists(ctx: Context, digest: str) -> bool:
    try:
        return storage.exists(ctx, digest)
    except StorageError as e:
        log.error("stored file %s could not be checked: %s", digest, e)
        raise ServiceError(UNAVAILABLE, status=503) from e


def remove(ctx: Context, app: Application, material_id: int) -> Material:
    """Take a file off the checklist. The row and the bytes stay (nothing is destroyed)."""
    material = db.session.get(Material, material_id)
    if material is None or material.application_id != app.id:
        raise NotFound(NOT_FOUND)
    if not rules.can_edit_materials(app, ctx.actor):
        raise Forbidden("当前状态下不能修改材料。")
    material.replaced_by_id = material.id
    app.materials_changed_at = ctx.now()
    flush_or_conflict(rules.STALE)
    audit(ctx, "material.remove", app, detail=f"material={material.id}")
    return material


def _visible(ctx: Context, material_id: int) -> Material:
    material = db.session.get(Material, material_id)
    if material is None or not can_see(ctx.actor, material.application):
        raise NotFound(NOT_FOUND)
    return material


@dataclass
class Download:
    """What a download answers with: the bytes to stream, or a short-lived presigned address."""

    material: Material
    body: Path | BinaryIO | None = None
    url: str | None = None


def download(ctx: Context, material_id: int) -> Download:
    """Someone in the record's scope downloads a stored file, audited: streamed by the app, or with
    MTKIT_S3_PRESIGN_SECONDS on S3 a short-lived presigned address (a missing file is still the
    app's 410)."""
    material = _visible(ctx, material_id)
    out = _hand_out(ctx, material, presign_seconds=int(ctx.settings.get("MTKIT_S3_PRESIGN_SECONDS") or 0))
    audit(ctx, "material.download", material.application, detail=f"material={material.id}")
    return Download(material, body=out.body, url=out.url)


def _hand_out(ctx: Context, material: Material, presign_seconds: int = 0):
    try:
        return storage.hand_out(ctx, material.sha256, presign_seconds=presign_seconds,
                                filename=download_name(material), content_type=material.content_type)
    except MissingObject as e:
        log.error("material %s: stored file %s is missing", material.id, material.sha256)
        raise ServiceError(MISSING, status=410) from e
    except StorageError as e:  # logged in full for the administrator; the person sees a plain 503
        log.error("material %s: stored file %s could not be read: %s", material.id, material.sha256, e)
        raise ServiceError(UNAVAILABLE, status=503) from e


def open_material(ctx: Context, material_id: int, *, purpose: str, page: int | None = None) -> Material:
    """A stored file someone in the record's scope opens (a preview): audited, since a medical
    document is full personal data. A row whose bytes are missing is a 410, not a 500."""
    material = _visible(ctx, material_id)
    if not _exists(ctx, material.sha256):
        log.error("material %s: stored file %s is missing", material.id, material.sha256)
        raise ServiceError(MISSING, status=410)
    detail = f"material={material.id}" + (f" page={page}" if page is not None else "")
    audit(ctx, f"material.{purpose}", material.application, detail=detail)
    return material


def content(ctx: Context, material: Material):
    """The bytes of an opened material to stream: a local path or a stream from the object store."""
    return _hand_out(ctx, material).body


def download_name(material: Material) -> str:
    """The uploader's name for the file, minus anything a file system or header could trip on,
    with the extension of what the file really is."""
    ext = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(material.content_type, "bin")
    stem = material.original_name.rsplit(".", 1)[0] if "." in material.original_name else material.original_name
    stem = "".join(ch for ch in stem if ch.isprintable() and ch not in '/\\:*?"<>|;').strip(" .")[:60]
    return f"{stem or 'material'}-{material.id}.{ext}"


# --- upkeep (the files CLI) ------------------------------------------------------------------------
KINDS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def stored_digests() -> set[str]:
    """Every file content some material row points at (replaced and removed ones included)."""
    return set(db.session.scalars(select(Material.sha256).distinct()))


def backfill(ctx: Context, echo: Callable[[str], None]) -> tuple[int, int]:
    """Fill in page counts (PDF) and pixel sizes (images) of files uploaded before they were
    recorded, by checking each stored file again; returns (filled, unreadable)."""
    settings = ctx.settings
    done = skipped = 0
    rows = db.session.scalars(
        select(Material).where(or_(Material.content_type == "application/pdf", Material.content_type.like("image/%")))
        .where(Material.pages.is_(None), Material.width.is_(None))
    ).all()
    for m in rows:
        kind = KINDS[m.content_type]
        try:
            data = storage.read(ctx, m.sha256)
            checked = uploads.check(FileStorage(io.BytesIO(data), filename="stored." + kind), (kind,),
                                    max_bytes=max(settings["MTKIT_MAX_FILE_BYTES"], len(data)),
                                    max_pixels=settings["MTKIT_MAX_IMAGE_PIXELS"], max_pages=settings["MTKIT_MAX_PDF_PAGES"])
        except (Invalid, OSError, StorageError) as e:
            skipped += 1
            echo(f"  材料 {m.id}:{getattr(e, 'message', e)}")
            continue
        m.pages, m.width, m.height = checked.pages, checked.width, checked.height
        done += 1
    return done, skipped
