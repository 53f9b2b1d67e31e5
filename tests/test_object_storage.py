"""Uploads in an S3 bucket (MTKIT_STORAGE=s3), against moto's S3 server started here on loopback:
bytes land under the right key with their sha256, come back only through the authorised views,
a missing object or an unreachable store is a clear message, and `files migrate-to-s3` copies the
local store resumably, verified, without touching a local file."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.applications import previews, storage
from core.extensions import db
from core.kernel import s3store
from core.kernel.objectstore import StorageError
from core.models import Application, AuditLog, Material
from tests.conftest import as_, login
from tests.files import make_jpeg, make_pdf
from tests.s3 import free_port, keys_in, use_s3
from tests.test_uploads import stored_files, upload


@pytest.fixture
def draft(make):
    person = make.person()
    return person, make.application(person, ["M03900"], upload=False, submit=False)


def test_uploads_land_in_the_bucket_and_come_back_only_after_the_scope_check(
        app, client, make, nmg_staff, s3_endpoint, bucket, monkeypatch):
    name, s3 = bucket
    use_s3(app, s3_endpoint, name)
    person = make.person()
    application = make.application(person, ["M03900"], upload=False, submit=False)
    login(client, person.username)
    assert upload(client, application, make_pdf(2), "诊断书.pdf").status_code in (200, 302)
    assert upload(client, application, make_jpeg(20, 10), "身份证.jpg", code="id_copy").status_code in (200, 302)
    application = db.session.get(Application, application.id)
    pdf, photo = sorted(application.current_materials(), key=lambda m: m.id)
    # Content-addressed keys under the prefix, the bytes' sha256 kept with them; nothing on the local disk.
    assert keys_in(s3, name) == sorted(f"prov/uploads/{m.sha256[:2]}/{m.sha256}" for m in (pdf, photo))
    obj = s3.get_object(Bucket=name, Key=f"prov/uploads/{pdf.sha256[:2]}/{pdf.sha256}")
    body = obj["Body"].read()
    assert hashlib.sha256(body).hexdigest() == pdf.sha256 == obj["Metadata"]["sha256"] and len(body) == pdf.size
    assert stored_files(app) == []

    r = client.get(f"/materials/{pdf.id}")  # the owner downloads it: streamed by the app
    assert r.status_code == 200 and r.data == body and r.headers["Cache-Control"] == "no-store"
    make.upload_required(application, person)
    from core.applications import service as apps

    apps.submit(as_(person), application, application.version)
    db.session.commit()
    login(client, "yibao")  # the hospital's 医保科 previews the PDF (pdftoppm reads a temporary copy) and the photo
    r = client.get(f"/materials/{pdf.id}/pages/2.png")
    assert r.status_code == 200 and r.data.startswith(b"\x89PNG")
    page2 = r
    photo_r = client.get(f"/materials/{photo.id}/preview")
    assert photo_r.status_code == 200 and photo_r.mimetype == "image/jpeg"
    assert hashlib.sha256(photo_r.data).hexdigest() == photo.sha256
    # The page image is cached in the bucket for every host; the temporary copy and the render are gone here.
    assert f"prov/previews/{pdf.sha256[:2]}/{pdf.sha256}-2.png" in keys_in(s3, name)
    assert not [p for p in Path(app.config["MTKIT_PREVIEW_DIR"]).rglob("*") if p.is_file()]
    monkeypatch.setattr(previews, "_render", lambda *a: pytest.fail("rendered again instead of using the cache"))
    again = client.get(f"/materials/{pdf.id}/pages/2.png")
    assert again.status_code == 200 and again.data == page2.data
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "material.preview")) == 3
    login(client, "bt_yibao")  # another hospital: the bucket is no way around the scope check
    for url in (f"/materials/{pdf.id}", f"/materials/{pdf.id}/pages/1.png", f"/materials/{photo.id}/preview"):
        assert client.get(url).status_code == 404


def test_a_missing_object_is_a_clear_410_and_an_unreachable_store_a_503_with_nothing_saved(
        app, client, draft, s3_endpoint, bucket):
    name, s3 = bucket
    use_s3(app, s3_endpoint, name)
    person, application = draft
    login(client, person.username)
    upload(client, application, make_pdf(1), "诊断书.pdf")
    material = db.session.scalars(select(Material)).one()
    s3.delete_object(Bucket=name, Key=f"prov/uploads/{material.sha256[:2]}/{material.sha256}")
    for url in (f"/materials/{material.id}", f"/materials/{material.id}/pages/1.png"):
        r = client.get(url)
        text = r.get_data(as_text=True)
        assert r.status_code == 410 and "存储内容缺失" in text and name not in text and "NoSuchKey" not in text

    app.config["MTKIT_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    r = client.get(f"/materials/{material.id}")
    text = r.get_data(as_text=True)
    assert r.status_code == 503 and "文件存储暂时无法访问" in text and "127.0.0.1" not in text and "botocore" not in text
    r = upload(client, application, make_pdf(2), "第二份.pdf")
    assert r.status_code == 503 and "文件存储暂时无法访问" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Material)) == 1  # no row for bytes never stored


def test_sweep_removes_unreferenced_objects_from_the_bucket(app, client, draft, s3_endpoint, bucket):
    name, s3 = bucket
    use_s3(app, s3_endpoint, name)
    person, application = draft
    login(client, person.username)
    upload(client, application, make_pdf(1), "诊断书.pdf")
    material = db.session.scalars(select(Material)).one()
    orphan = storage.store(as_(None), make_pdf(3))  # bytes whose row failed to save
    assert storage.sweep(as_(None), {material.sha256}, 3600) == []  # too recent to judge
    assert storage.sweep(as_(None), {material.sha256}, -60) == [f"{orphan[:2]}/{orphan}"]
    assert keys_in(s3, name) == [f"prov/uploads/{material.sha256[:2]}/{material.sha256}"]


def test_s3_without_a_bucket_stops_the_start(db_url, tmp_path):
    from app import create_app
    from tests.conftest import base_config

    with pytest.raises(StorageError, match="MTKIT_S3_BUCKET"):
        create_app({**base_config(db_url, tmp_path), "MTKIT_STORAGE": "s3"})
    with pytest.raises(StorageError, match="local or s3"):
        create_app({**base_config(db_url, tmp_path), "MTKIT_STORAGE": "ftp"})


def local_uploads(client, application, n: int) -> list[Material]:
    for i in range(n):
        assert upload(client, application, make_pdf(1, width=500 + i), f"材料{i}.pdf").status_code in (200, 302)
    return list(db.session.scalars(select(Material).order_by(Material.id)))


def snapshot(app) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in stored_files(app)}


def test_migrate_to_s3_resumes_after_an_interruption_and_verifies_every_file(
        app, client, runner, draft, s3_endpoint, bucket, monkeypatch):
    name, s3 = bucket
    person, application = draft
    login(client, person.username)
    rows = local_uploads(client, application, 3)
    before = snapshot(app)
    use_s3(app, s3_endpoint, name, storage_backend="local")  # still serving from disk while copying

    real_put, calls = s3store.S3Store.put, []

    def put_then_die(self, key, data, **kw):
        calls.append(key)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the operator's Ctrl-C (or a killed host) mid-run
        return real_put(self, key, data, **kw)

    monkeypatch.setattr(s3store.S3Store, "put", put_then_die)
    result = runner.invoke(args=["files", "migrate-to-s3"])
    assert result.exit_code == 1 and "[1/3]" in result.output and "[2/3]" not in result.output
    assert len(keys_in(s3, name)) == 1
    monkeypatch.setattr(s3store.S3Store, "put", real_put)

    result = runner.invoke(args=["files", "migrate-to-s3"])
    assert result.exit_code == 0, result.output
    assert result.output.count("已在存储中,跳过") == 1 and result.output.count("已上传并校验") == 2
    assert "[3/3]" in result.output and "上传 2 个" in result.output and "跳过 1 个" in result.output
    assert keys_in(s3, name) == sorted(f"prov/uploads/{m.sha256[:2]}/{m.sha256}" for m in rows)
    assert snapshot(app) == before  # nothing local moved, changed or deleted

    again = runner.invoke(args=["files", "migrate-to-s3"])  # a third run has nothing left to do
    assert again.exit_code == 0 and again.output.count("已在存储中,跳过") == 3

    app.config["MTKIT_STORAGE"] = "s3"  # switched over: the same rows are served from the bucket
    for m in rows:
        r = client.get(f"/materials/{m.id}")
        assert r.status_code == 200 and hashlib.sha256(r.data).hexdigest() == m.sha256


def test_migrate_to_s3_reports_a_corrupted_local_file_and_a_bad_copy_and_exits_non_zero(
        app, client, runner, draft, s3_endpoint, bucket, monkeypatch):
    name, s3 = bucket
    person, application = draft
    login(client, person.username)
    rows = local_uploads(client, application, 3)
    use_s3(app, s3_endpoint, name, storage_backend="local")
    corrupted = storage.path_for(as_(None), rows[0].sha256)
    corrupted.write_bytes(corrupted.read_bytes()[:-10] + b"0123456789")  # bit rot on the disk
    before = snapshot(app)
    bad_key = f"{rows[1].sha256[:2]}/{rows[1].sha256}"
    real_get = s3store.S3Store.get

    def garbled_read_back(self, key):  # the store returns other bytes than were sent
        return b"garbled" if key == bad_key else real_get(self, key)

    monkeypatch.setattr(s3store.S3Store, "get", garbled_read_back)
    result = runner.invoke(args=["files", "migrate-to-s3"])
    assert result.exit_code == 1
    assert f"失败 {rows[0].sha256[:2]}/{rows[0].sha256}:本地文件内容与其 sha256 不符" in result.output
    assert f"失败 {bad_key}:上传后读回的内容校验不符" in result.output
    assert "上传 1 个" in result.output and "失败 2 个" in result.output
    # Only the good one is in the bucket: neither the corrupt file nor the unverified copy.
    assert keys_in(s3, name) == [f"prov/uploads/{rows[2].sha256[:2]}/{rows[2].sha256}"]
    assert snapshot(app) == before  # the corrupted file is left for the administrator to restore


def test_migrate_to_s3_names_an_unreachable_store(app, runner, s3_endpoint, client, draft):
    person, application = draft
    login(client, person.username)
    local_uploads(client, application, 1)
    use_s3(app, f"http://127.0.0.1:{free_port()}", "nowhere", storage_backend="local")
    result = runner.invoke(args=["files", "migrate-to-s3"])
    assert result.exit_code == 1 and "失败 1 个" in result.output and len(stored_files(app)) == 1


def test_printed_forms_are_cached_in_the_bucket_and_printing_survives_an_unreachable_cache(
        app, client, make, s3_endpoint, bucket, monkeypatch):
    from core.documents import pdf

    name, s3 = bucket
    use_s3(app, s3_endpoint, name)
    person = make.person()
    application = make.application(person, ["M03900"], upload=False, submit=False)
    renders = []
    real = pdf.html_to_pdf
    monkeypatch.setattr(pdf, "html_to_pdf", lambda html, *a: renders.append(1) or real(html, *a))
    login(client, person.username)
    first = client.get(f"/applications/{application.id}/forms/application.pdf")
    again = client.get(f"/applications/{application.id}/forms/application.pdf")
    assert first.status_code == 200 and first.data == again.data and len(renders) == 1
    cached = [k for k in keys_in(s3, name) if k.startswith("prov/pdf-cache/")]
    assert len(cached) == 1 and cached[0].startswith(f"prov/pdf-cache/application-{application.id}-v")
    assert s3.get_object(Bucket=name, Key=cached[0])["Body"].read() == first.data
    assert not Path(app.config["MTKIT_PDF_CACHE_DIR"]).exists()  # nothing on this host's disk

    app.config["MTKIT_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"  # the cache is unreachable
    r = client.get(f"/applications/{application.id}/forms/application.pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF") and len(renders) == 2


def test_readiness_checks_the_bucket_under_s3(app, client, s3_endpoint, bucket):
    name, _ = bucket
    use_s3(app, s3_endpoint, name)
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["checks"]["storage"] == "ok"
    app.config["MTKIT_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    r = client.get("/readyz")
    assert r.status_code == 503 and r.get_json()["checks"]["storage"] == "fail"
    assert "127.0.0.1" not in r.get_data(as_text=True)


@pytest.fixture
def s3_calls(s3_endpoint):
    """The operations the app's S3 client sends (botocore's own event hook on the shared client)."""
    calls: list[str] = []

    def record(model, **kwargs):
        calls.append(model.name)

    events = s3store.client(s3_endpoint, "us-east-1").meta.events
    events.register("before-call.s3", record)
    yield calls
    events.unregister("before-call.s3", record)


def test_a_streamed_download_is_one_get_and_a_presigned_one_redirects_only_after_the_check(
        app, client, draft, nmg_staff, s3_endpoint, bucket, s3_calls):
    import urllib.parse
    import urllib.request

    name, s3 = bucket
    use_s3(app, s3_endpoint, name)
    person, application = draft
    login(client, person.username)
    upload(client, application, make_pdf(1), "诊断书.pdf")
    material = db.session.scalars(select(Material)).one()
    calls = s3_calls
    calls.clear()
    r = client.get(f"/materials/{material.id}")
    assert r.status_code == 200 and hashlib.sha256(r.data).hexdigest() == material.sha256
    assert calls == ["GetObject"]  # no HEAD before it

    app.config["MTKIT_S3_PRESIGN_SECONDS"] = 60
    login(client, "bt_yibao")  # out of scope: a 404, no address, nothing audited
    calls.clear()
    r = client.get(f"/materials/{material.id}")
    assert r.status_code == 404 and "Location" not in r.headers and calls == []
    downloads = select(func.count()).select_from(AuditLog).where(AuditLog.action == "material.download")
    assert db.session.scalar(downloads) == 1

    login(client, person.username)
    r = client.get(f"/materials/{material.id}")
    assert r.status_code == 302 and r.headers["Cache-Control"] == "no-store"
    assert calls == ["HeadObject"]  # the 410 check; the signature itself is computed here
    assert db.session.scalar(downloads) == 2  # audited before the browser is sent away
    url = r.headers["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert url.startswith(f"{s3_endpoint}/{name}/prov/uploads/") and query["X-Amz-Expires"] == ["60"]
    with urllib.request.urlopen(url) as fetched:  # what the browser does next
        assert hashlib.sha256(fetched.read()).hexdigest() == material.sha256
        assert fetched.headers["Content-Type"] == "application/pdf"
        assert fetched.headers["Content-Disposition"] == (
            f"attachment; filename=\"___-{material.id}.pdf\"; "
            f"filename*=UTF-8''%E8%AF%8A%E6%96%AD%E4%B9%A6-{material.id}.pdf")

    s3.delete_object(Bucket=name, Key=f"prov/uploads/{material.sha256[:2]}/{material.sha256}")
    r = client.get(f"/materials/{material.id}")
    assert r.status_code == 410 and "Location" not in r.headers and db.session.scalar(downloads) == 2


def test_a_letter_batch_made_by_the_worker_is_kept_in_the_bucket_and_presigned_after_the_check(
        app, client, make, s3_endpoint, bucket):
    from core.notices.service import notify

    name, s3 = bucket
    use_s3(app, s3_endpoint, name)
    app.config["MTKIT_S3_PRESIGN_SECONDS"] = 30
    make.staff("fcg_review", "agency_reviewer", region="450600", office="O450600001")
    make.staff("dx_review", "agency_reviewer", region="450600", division="450681", office="O450681001")
    person = make.person(region="450600", division="450602")
    person.notice_letter, person.address = True, "防城港市港口区某路1号"
    db.session.commit()
    notify(as_(), person.id, "expired", "门特待遇已到期", "正文")
    db.session.commit()
    login(client, "fcg_review")
    status = client.post("/staff/letters/print").headers["Location"]  # rendered at the commit (immediate mode)
    [key] = [k for k in keys_in(s3, name) if k.startswith("prov/results/")]
    assert key.endswith(".pdf")
    login(client, "dx_review")  # a colleague: no address to the bucket
    assert client.get(status + "/download").status_code == 404
    login(client, "fcg_review")
    r = client.get(status + "/download")
    assert r.status_code == 302 and r.headers["Location"].startswith(f"{s3_endpoint}/{name}/{key}?")
    assert "X-Amz-Expires=30" in r.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "task.download")) == 1
    import urllib.request

    with urllib.request.urlopen(r.headers["Location"]) as fetched:
        assert fetched.read().startswith(b"%PDF") and fetched.headers["Content-Type"] == "application/pdf"
