"""Uploads a security assessor would pass: every bad file is refused with a Chinese message and
leaves no bytes and no row behind; good files are cleaned (EXIF) and measured (pages, pixels);
files are reachable only through authorised views."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import func, select

from core.extensions import db
from core.models import Application, AuditLog, Material
from tests.conftest import login
from tests.files import make_jpeg, make_pdf, make_png
from tests.conftest import as_


def stored_files(app) -> list[Path]:
    root = Path(app.config["MTKIT_UPLOAD_DIR"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def material_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Material))


@pytest.fixture
def draft(make):
    """张三's Inner Mongolia draft for 高血压病 with nothing uploaded yet."""
    person = make.person()
    application = make.application(person, ["M03900"], upload=False, submit=False)
    return person, application


def upload(client, application, data, name, code="diagnosis_cert", disease="*", **extra):
    files = data if isinstance(data, list) else [(io.BytesIO(data), name)]
    return client.post(
        f"/applications/{application.id}/materials",
        data={"disease_code": disease, "material_code": code, "file": files, **extra},
        content_type="multipart/form-data",
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims to be width x height: the shape of a decompression bomb (a few hundred
    bytes on disk, gigabytes once decoded)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + b"\x00" * width
    idat = zlib.compress(row * 4, 9)  # only 4 rows of data: the decoder must never get that far
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


BAD_FILES = {
    # case: (bytes, name, expected status, words in the message)
    "exe named .pdf": (b"MZ\x90\x00\x03" + b"\x00" * 200, "诊断书.pdf", 415, "类型不符合要求"),
    "html named .png": (b"<html><script>alert(1)</script></html>", "照片.png", 415, "类型不符合要求"),
    "zip named .pdf": (b"PK\x03\x04" + b"\x00" * 100, "报告.pdf", 415, "类型不符合要求"),
    "truncated pdf": (make_pdf(2)[:-300], "诊断书.pdf", 422, "已损坏或不完整"),
    "pdf header only": (b"%PDF-1.7\n%%EOF\n", "诊断书.pdf", 422, "已损坏或不完整"),
    "truncated jpeg": (make_jpeg(400, 300)[:-200], "照片.jpg", 422, "已损坏或不完整"),
    "truncated png": (make_png(300, 300)[:60], "照片.png", 422, "已损坏或不完整"),
    "zero bytes": (b"", "诊断书.pdf", 422, "空文件"),
    "png bomb": (png_header_only(30000, 30000), "照片.png", 413, "像素过大"),
    "png just over the pixel limit": (png_header_only(8000, 6000), "照片.png", 413, "像素过大"),
    "encrypted pdf": (encrypted_pdf(), "诊断书.pdf", 422, "设有密码"),
    "parent path in name": (make_pdf(), "../../etc/passwd.pdf", 422, "含有路径或特殊字符"),
    "windows path in name": (make_pdf(), "C:\\Users\\张三\\诊断书.pdf", 422, "含有路径或特殊字符"),
    "absolute path in name": (make_pdf(), "/etc/cron.d/x.pdf", 422, "含有路径或特殊字符"),
    "control character in name": (make_pdf(), "诊断\x1b[31m书.pdf", 422, "含有路径或特殊字符"),
    "right-to-left override in name": (make_pdf(), "诊断书\u202efdp.exe", 422, "含有路径或特殊字符"),
    "hidden file name": (make_pdf(), ".htaccess", 422, "含有路径或特殊字符"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_files_are_refused_and_leave_nothing_behind(app, client, draft, case):
    person, application = draft
    data, name, status, words = BAD_FILES[case]
    login(client, person.username)
    version = application.version
    r = upload(client, application, data, name)
    assert r.status_code == status, r.get_data(as_text=True)[:500]
    assert words in r.get_data(as_text=True)
    assert material_count() == 0
    assert stored_files(app) == []
    db.session.expire_all()
    assert db.session.get(Application, application.id).version == version  # the record did not change


def test_an_oversized_file_is_refused_before_it_is_read_whole(app, client, draft):
    person, application = draft
    app.config["MTKIT_MAX_FILE_BYTES"] = 50_000
    login(client, person.username)
    r = upload(client, application, make_pdf() + b"%" + b"x" * 60_000 + b"\n%%EOF\n", "大文件.pdf")
    assert r.status_code == 413 and "超过" in r.get_data(as_text=True)
    assert material_count() == 0 and stored_files(app) == []


def test_the_whole_application_has_a_size_limit(app, client, draft):
    person, application = draft
    login(client, person.username)
    assert upload(client, application, make_pdf(1), "身份证.pdf", code="id_copy").status_code in (200, 302)
    app.config["MTKIT_MAX_APPLICATION_BYTES"] = db.session.scalars(select(Material)).one().size + 100  # as stored
    r = upload(client, application, make_pdf(2), "诊断书.pdf")
    assert r.status_code == 413 and "合计超过" in r.get_data(as_text=True)
    assert material_count() == 1 and len(stored_files(app)) == 1


def test_a_region_may_narrow_the_accepted_types(client, make):
    """内蒙古's 基因检测报告 (tumour targeted therapy) is an electronic lab report: PDF only."""
    person = make.person()
    application = make.application(person, ["M00503"], upload=False, submit=False)
    login(client, person.username)
    r = upload(client, application, make_png(), "报告.png", code="gene_test_report", disease="M00503")
    assert r.status_code == 415 and "只接受 PDF 格式" in r.get_data(as_text=True)
    r = upload(client, application, make_pdf(), "报告.pdf", code="gene_test_report", disease="M00503")
    assert r.status_code in (200, 302) and material_count() == 1


def test_one_bad_file_among_several_refuses_them_all(app, client, draft):
    person, application = draft
    login(client, person.username)
    files = [(io.BytesIO(make_pdf()), "第1页.pdf"), (io.BytesIO(b"MZ" + b"\x00" * 99), "第2页.pdf")]
    r = upload(client, application, files, None)
    assert r.status_code == 415 and "第2页.pdf" in r.get_data(as_text=True)
    assert material_count() == 0 and stored_files(app) == []


def test_several_pages_at_once_and_page_counts(client, draft):
    person, application = draft
    login(client, person.username)
    files = [(io.BytesIO(make_pdf(3)), "病历1.pdf"), (io.BytesIO(make_png(40, 30)), "病历2.png")]
    r = upload(client, application, files, None, code="outpatient_record")
    assert r.status_code in (200, 302)
    rows = db.session.scalars(select(Material).order_by(Material.id)).all()
    assert [(m.original_name, m.pages, m.width, m.height) for m in rows] == [("病历1.pdf", 3, None, None), ("病历2.png", None, 40, 30)]
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "material.upload")) == 2


def test_photos_lose_their_exif_but_stay_upright(app, client, draft):
    person, application = draft
    login(client, person.username)
    original = make_jpeg(16, 12, orientation=6)  # a phone photo taken sideways, with GPS and camera
    assert b"Exif" in original and b"TestCam" in original
    assert upload(client, application, original, "身份证.jpg", code="id_copy").status_code in (200, 302)
    material = db.session.scalars(select(Material)).one()
    stored = (Path(app.config["MTKIT_UPLOAD_DIR"]) / material.sha256[:2] / material.sha256).read_bytes()
    assert b"Exif" not in stored and b"TestCam" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.getexif() == {} and "exif" not in image.info
        assert image.size == (12, 16)  # the orientation tag was applied before it was dropped
    assert (material.width, material.height, material.content_type) == (12, 16, "image/jpeg")


def test_png_text_chunks_are_dropped(app, client, draft):
    from PIL import PngImagePlugin

    person, application = draft
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "张三 13800001111")
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "PNG", pnginfo=info)
    login(client, person.username)
    assert upload(client, application, out.getvalue(), "扫描.png", code="id_copy").status_code in (200, 302)
    material = db.session.scalars(select(Material)).one()
    stored = (Path(app.config["MTKIT_UPLOAD_DIR"]) / material.sha256[:2] / material.sha256).read_bytes()
    assert b"Author" not in stored and "13800001111".encode() not in stored


def test_replacing_a_file_keeps_the_old_row(client, draft):
    person, application = draft
    login(client, person.username)
    upload(client, application, make_pdf(1), "旧.pdf")
    old = db.session.scalars(select(Material)).one()
    r = upload(client, application, make_pdf(2), "新.pdf", replaces=str(old.id))
    assert r.status_code in (200, 302)
    db.session.expire_all()
    rows = db.session.scalars(select(Material).order_by(Material.id)).all()
    assert len(rows) == 2 and rows[0].replaced_by_id == rows[1].id and rows[1].replaced_by_id is None
    assert [m.original_name for m in db.session.get(Application, application.id).current_materials()] == ["新.pdf"]
    # Replacing it again, or a file of another item, is refused.
    r = upload(client, application, make_pdf(1), "再.pdf", replaces=str(old.id))
    assert r.status_code == 422 and "已被替换" in r.get_data(as_text=True)
    assert upload(client, application, make_pdf(1), "x.pdf", replaces="999999").status_code == 404


def test_downloads_are_attachments_with_a_safe_name(client, draft):
    person, application = draft
    login(client, person.username)
    upload(client, application, make_pdf(), '诊断"书;x.pdf')
    material = db.session.scalars(select(Material)).one()
    r = client.get(f"/materials/{material.id}")
    disposition = r.headers["Content-Disposition"]
    assert r.status_code == 200 and disposition.startswith("attachment;")
    assert '"' not in disposition.split("filename*=")[0].split("filename=")[1].strip('"') and ";x" not in disposition
    assert disposition.endswith(f"-{material.id}.pdf")
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"


def test_reviewers_preview_pdf_pages_and_photos_in_place(client, make, nmg_staff):
    person = make.person()
    application = make.application(person, ["M03900"], upload=False, submit=False)
    login(client, person.username)
    upload(client, application, make_pdf(2), "诊断书.pdf")
    upload(client, application, make_jpeg(20, 10), "身份证.jpg", code="id_copy")
    db.session.expire_all()
    application = db.session.get(Application, application.id)
    pdf, photo = sorted(application.current_materials(), key=lambda m: m.id)
    from core.applications import service as apps

    make.upload_required(application, person)
    apps.submit(as_(person), application, application.version)
    db.session.commit()
    login(client, "yibao")  # the hospital's 医保科 sees it once submitted
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert f"/materials/{pdf.id}/pages/1.png" in page and f"/materials/{pdf.id}/pages/2.png" in page
    assert f"/materials/{photo.id}/preview" in page
    r = client.get(f"/materials/{pdf.id}/pages/2.png")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data.startswith(b"\x89PNG")
    assert r.headers["Content-Disposition"] == "inline" and "sandbox" in r.headers["Content-Security-Policy"]
    assert client.get(f"/materials/{pdf.id}/pages/3.png").status_code == 404  # only 2 pages
    r = client.get(f"/materials/{photo.id}/preview")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    # Every page looked at is a view of medical data: one audit row each (page 2, the photo).
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "material.preview")) == 2
    # Another hospital, and another insured person, cannot fetch them by guessing ids.
    login(client, "bt_yibao")
    for url in (f"/materials/{pdf.id}", f"/materials/{pdf.id}/pages/1.png", f"/materials/{photo.id}/preview"):
        assert client.get(url).status_code == 404
    other = make.person(name="李四", phone="13800002222")
    login(client, other.username)
    assert client.get(f"/materials/{photo.id}").status_code == 404


def test_bytes_left_by_a_failed_save_are_swept_later_never_in_the_request(app, client, runner, draft, monkeypatch):
    """A request whose rows fail keeps its bytes (another request may have just saved the same
    content); `flask files sweep` removes what no row references once it is old enough."""
    import os
    import time

    from werkzeug.datastructures import FileStorage

    from core.applications import materials

    person, application = draft
    login(client, person.username)
    assert upload(client, application, make_pdf(1), "留下.pdf").status_code in (200, 302)
    kept = stored_files(app)

    def boom(*_):
        raise RuntimeError("database went away")

    monkeypatch.setattr(materials, "flush_or_conflict", boom)
    with pytest.raises(RuntimeError):
        materials.add(as_(person), application, disease_code="*", material_code="diagnosis_cert",
                          files=[FileStorage(io.BytesIO(make_pdf(3)), filename="诊断书.pdf")])
    db.session.rollback()
    orphan = [p for p in stored_files(app) if p not in kept]
    assert len(orphan) == 1 and material_count() == 1
    assert "已清理 0 个" in runner.invoke(args=["files", "sweep"]).output  # too recent to judge
    old = time.time() - 2 * 3600
    for path in stored_files(app):
        os.utime(path, (old, old))
    result = runner.invoke(args=["files", "sweep"])
    assert "已清理 1 个" in result.output
    assert stored_files(app) == kept  # the referenced file stays


def test_a_missing_stored_file_is_a_clear_410_not_a_crash(app, client, draft):
    person, application = draft
    login(client, person.username)
    upload(client, application, make_pdf(1), "诊断书.pdf")
    material = db.session.scalars(select(Material)).one()
    for path in stored_files(app):
        path.unlink()
    r = client.get(f"/materials/{material.id}")
    assert r.status_code == 410 and "存储内容缺失" in r.get_data(as_text=True)
    assert client.get(f"/materials/{material.id}/pages/1.png").status_code == 410


def test_scripts_hidden_by_escaped_names_are_taken_out(app, client, draft):
    """Every PDF is stored as qpdf's rewrite without scripts and actions (tests/test_upload_hardening.py
    has the hostile shapes); an escaped name is no way around it."""
    import pikepdf

    from tests.files import raw_pdf

    person, application = draft
    escaped = raw_pdf("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] "
                      "/AA << /O << /S /Java#53cript /J#53 (app.alert(1)) >> >> >>")
    assert b"/JavaScript" not in escaped and b"/JS " not in escaped
    launch = raw_pdf("<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                     "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>", "<< /S /#4caunch /F (cmd.exe) >>")
    login(client, person.username)
    for data in (escaped, launch):
        assert upload(client, application, data, "诊断书.pdf").status_code in (200, 302)
    for material in db.session.scalars(select(Material)):
        with pikepdf.open(Path(app.config["MTKIT_UPLOAD_DIR"]) / material.sha256[:2] / material.sha256) as pdf:
            assert "/OpenAction" not in pdf.Root and "/AA" not in pdf.pages[0]
            assert all(o.get("/S") not in ("/JavaScript", "/Launch") for o in pdf.objects if isinstance(o, pikepdf.Dictionary))
    assert material_count() == 2


def test_a_tiny_pdf_whose_page_tree_repeats_is_refused_at_once(client, draft):
    from tests.files import raw_pdf

    person, application = draft
    levels = 8  # 10 kids per level, all the same node: 10**8 leaves if expanded
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(levels):
        objects.append(f"<< /Type /Pages /Kids [{' '.join([f'{level + 3} 0 R'] * 10)}] /Count 1 >>")
    objects.append("<< /Type /Page /MediaBox [0 0 10 10] >>")
    login(client, person.username)
    r = upload(client, application, raw_pdf(*objects), "诊断书.pdf")
    assert r.status_code == 422 and material_count() == 0
    many = raw_pdf("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 100000 >>",
                   "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>")
    r = upload(client, application, many, "诊断书.pdf")
    assert r.status_code == 413 and "页的上限" in r.get_data(as_text=True)


def test_upload_and_remove_in_a_loop_cannot_fill_the_disk(app, client, draft):
    person, application = draft
    login(client, person.username)
    one = make_pdf(1)
    app.config["MTKIT_MAX_APPLICATION_BYTES"] = len(one) * 2
    accepted = 0
    for i in range(10):
        r = upload(client, application, make_pdf(1, width=500 + i), f"第{i}次.pdf")
        assert r.status_code in (200, 302, 413), __import__("re").findall(r"「[^」]*」[^<]*", r.get_data(as_text=True))[:3]
        if r.status_code == 413:
            assert "过多" in r.get_data(as_text=True)
            break
        accepted += 1
        db.session.expire_all()
        current = db.session.get(Application, application.id).current_materials()[0]
        client.post(f"/applications/{application.id}/materials/{current.id}/remove")
    assert accepted <= 6


def test_jpeg_comments_are_dropped(app, client, draft):
    person, application = draft
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "JPEG", comment=b"SECRET 13800001111")
    login(client, person.username)
    assert upload(client, application, out.getvalue(), "扫描.jpg", code="id_copy").status_code in (200, 302)
    material = db.session.scalars(select(Material)).one()
    stored = (Path(app.config["MTKIT_UPLOAD_DIR"]) / material.sha256[:2] / material.sha256).read_bytes()
    assert b"SECRET" not in stored


def test_previews_that_fail_are_not_retried_and_page_zero_is_not_a_page(app, client, draft, monkeypatch):
    import subprocess

    from core.applications import previews

    person, application = draft
    login(client, person.username)
    upload(client, application, make_pdf(2), "诊断书.pdf")
    material = db.session.scalars(select(Material)).one()
    calls = []
    real = subprocess.run

    def failing(*a, **k):
        calls.append(a)
        raise subprocess.CalledProcessError(1, a[0])

    monkeypatch.setattr(previews.subprocess, "run", failing)
    assert client.get(f"/materials/{material.id}/pages/1.png").status_code == 404
    assert client.get(f"/materials/{material.id}/pages/1.png").status_code == 404
    assert len(calls) == 1  # the failure was remembered
    monkeypatch.setattr(previews.subprocess, "run", real)
    assert client.get(f"/materials/{material.id}/pages/0.png").status_code == 404
    assert client.get(f"/materials/{material.id}/pages/2.png").status_code == 200


def test_backfill_records_pages_of_older_uploads(app, runner, client, draft):
    person, application = draft
    login(client, person.username)
    upload(client, application, make_pdf(4), "诊断书.pdf")
    material = db.session.scalars(select(Material)).one()
    material.pages = None  # as rows uploaded before page counts were kept
    db.session.commit()
    result = runner.invoke(args=["files", "backfill"])
    assert "已补记 1 个" in result.output
    db.session.expire_all()
    assert db.session.get(Material, material.id).pages == 4


def test_the_worker_renders_an_uploaded_pdfs_pages_before_anyone_opens_them(app, client, draft, monkeypatch):
    """Rendered ahead once the upload commits (the test queue runs tasks at once), up to
    MTKIT_PREVIEW_AHEAD_PAGES; a reviewer's view of those pages then runs no pdftoppm, and pages past
    the limit still render on first view. A refused upload renders nothing."""
    import subprocess

    from core.applications import previews

    app.config.update(MTKIT_PREVIEWS_AHEAD=True, MTKIT_PREVIEW_AHEAD_PAGES=2)
    person, application = draft
    login(client, person.username)
    calls = []
    real = subprocess.run

    def counting(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(previews.subprocess, "run", counting)
    assert upload(client, application, make_pdf(3), "诊断书.pdf").status_code in (200, 302)
    material = db.session.scalars(select(Material)).one()
    cache = Path(app.config["MTKIT_PREVIEW_DIR"]) / material.sha256[:2]
    assert sorted(p.name for p in cache.glob("*.png")) == [f"{material.sha256}-1.png", f"{material.sha256}-2.png"]
    assert len(calls) == 2
    # The person who uploaded it opens page 1: served from the cache, no render in the request.
    assert client.get(f"/materials/{material.id}/pages/1.png").data.startswith(b"\x89PNG")
    assert len(calls) == 2
    assert client.get(f"/materials/{material.id}/pages/3.png").status_code == 200  # past the limit: on first view
    assert len(calls) == 3
    # A file refused at upload leaves no row, so nothing is queued or rendered.
    assert upload(client, application, make_pdf(2)[:-300], "坏.pdf").status_code == 422
    assert len(calls) == 3
