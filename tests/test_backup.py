"""Backups and a tested restore (`flask --app app backup create|verify|restore`): real data backed up,
restored into a fresh database and an empty store, and the restored app serves it (log in, open the
application, the material's bytes identical); row counts and the audit chain hold. A restore refuses
a database or store that is not empty and changes nothing; a tampered file fails verify and restore.
On SQLite, and on PostgreSQL when the suite runs there (the restore target is a database created
beside MTKIT_TEST_DATABASE_URL's)."""
from __future__ import annotations

import json
import shlex
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app import create_app
from core import demo as demo_data
from core.applications import storage
from core.backup import database
from core.backup.errors import BackupError
from core.context import for_app
from core.extensions import db
from core.models import AuditLog, Material, User
from tests.conftest import PG_URL, STORED_PDF, base_config, login, serving
from tests.s3 import keys_in, use_s3

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def target_url(tmp_path):
    """An empty database to restore into: a new SQLite file, or a new PostgreSQL database beside the suite's."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    url = make_url(PG_URL)
    name = f"{url.database}_restore"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def other_app(url: str, folder: Path, **settings):
    """A second app (its own database and store) in its own app context, as on the machine restored to."""
    app = create_app({**base_config(url, folder), **settings})
    with contextmanager(serving)(app) as served:
        yield served


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return database.facts(conn)["row_counts"]


def uploads_of(app) -> list[Path]:
    return sorted(p for p in Path(app.config["MTKIT_UPLOAD_DIR"]).rglob("*") if p.is_file())


def backup(runner, dest: Path, *args: str):
    return runner.invoke(args=["backup", "create", str(dest), *args])


def seed_demo(app):
    demo_data.seed(for_app(app, origin="cli"))
    db.session.commit()


def test_back_up_the_demo_and_restore_it_into_a_fresh_database_and_store(app, runner, tmp_path, target_url):
    seed_demo(app)
    source_counts = counts(db.engine)
    material = db.session.scalars(sa.select(Material).order_by(Material.id)).first()
    original = storage.read(for_app(app), material.sha256)
    owner = db.session.get(User, material.application.person_id).username
    # Plain values: an ORM object of this app's session would reload from the other app's database.
    material_id, app_id = material.id, material.application_id
    dest = tmp_path / "backups" / "tonight"

    made = backup(runner, dest)
    assert made.exit_code == 0, made.output
    assert "[uploads 1/" in made.output and "备份完成" in made.output and "不含加密密钥" in made.output
    assert sorted(p.name for p in dest.parent.iterdir()) == ["tonight"]  # no temporary folder left
    manifest = json.loads((dest / "manifest.json").read_text("utf-8"))
    assert manifest["database"]["kind"] == ("postgresql" if PG_URL else "sqlite")
    assert manifest["row_counts"] == source_counts and manifest["row_counts"]["materials"] > 0
    live = {p.relative_to(app.config["MTKIT_UPLOAD_DIR"]).as_posix(): storage.sha256_of_file(p) for p in uploads_of(app)}
    assert {o["key"]: o["sha256"] for o in manifest["objects"]["uploads"]} == live
    assert manifest["audit"]["last_hash"] and "previews" not in manifest["objects"]
    # The keys stay out of the backup: neither the audit key nor the key file's content is in any file.
    key_file = Path(app.config["MTKIT_KEY_FILE"]).read_bytes()
    for path in (p for p in dest.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert app.config["MTKIT_AUDIT_KEY"].encode() not in data and key_file not in data
    assert runner.invoke(args=["backup", "verify", str(dest)]).exit_code == 0
    # Who copied every record, and where to, is in the audit trail (after the snapshot: not in it).
    made_row = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert made_row.action == "backup.create" and str(dest) in made_row.detail

    with other_app(target_url, tmp_path / "restored") as restored:
        result = restored.test_cli_runner().invoke(args=["backup", "restore", str(dest)])
        assert result.exit_code == 0, result.output
        assert "全部检查通过" in result.output and "未通过" not in result.output
        # Checked here again without the restore's own checks: the same rows (and the restore's own
        # audit row, written once the checks passed), an intact chain, the same bytes.
        assert counts(db.engine) == {**source_counts, "audit_log": source_counts["audit_log"] + 1}
        last = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id.desc())).first()
        assert last.action == "backup.restore" and "checks=ok" in last.detail and str(dest) in last.detail
        chain = restored.test_cli_runner().invoke(args=["audit", "verify"])
        assert chain.exit_code == 0, chain.output
        client = restored.test_client()
        assert login(client, owner, demo_data.PASSWORD).status_code == 302
        assert client.get(f"/applications/{app_id}").status_code == 200
        download = client.get(f"/materials/{material_id}")
        assert download.status_code == 200 and download.data == original
        assert len(uploads_of(restored)) == len(live)


def test_restore_refuses_a_database_with_tables_or_a_store_with_uploads_and_changes_nothing(
        app, runner, make, tmp_path, target_url):
    person = make.person()
    make.application(person, ["M03900"])
    dest = tmp_path / "b"
    assert backup(runner, dest).exit_code == 0
    before, files = counts(db.engine), uploads_of(app)

    refused = runner.invoke(args=["backup", "restore", str(dest)])  # into the live, non-empty system
    assert refused.exit_code == 1 and "目标数据库不是空的" in refused.output and "未做任何改动" in refused.output
    assert counts(db.engine) == before and uploads_of(app) == files

    # An empty database but a store that already holds uploads: refused too, unless told to merge.
    with other_app(target_url, tmp_path / "second", MTKIT_UPLOAD_DIR=app.config["MTKIT_UPLOAD_DIR"]) as second:
        cli = second.test_cli_runner()
        refused = cli.invoke(args=["backup", "restore", str(dest)])
        assert refused.exit_code == 1 and "对象存储中已有" in refused.output
        assert database.user_tables(db.engine) == [] and uploads_of(second) == files
        merged = cli.invoke(args=["backup", "restore", "--into-store-with-uploads", str(dest)])
        assert merged.exit_code == 0, merged.output
        assert f"恢复 0 个,已存在且相同 {len(files)} 个" in merged.output and counts(db.engine) == before


def test_set_aside_keeps_the_existing_database_under_another_name(app, runner, make, tmp_path, target_url):
    person = make.person()
    make.application(person, ["M03900"])
    dest = tmp_path / "b"
    assert backup(runner, dest).exit_code == 0
    with other_app(target_url, tmp_path / "restored") as restored:
        cli = restored.test_cli_runner()
        assert cli.invoke(args=["backup", "restore", str(dest)]).exit_code == 0
        again = cli.invoke(args=["backup", "restore", "--set-aside-database", "--into-store-with-uploads", str(dest)])
        assert again.exit_code == 0, again.output
        [aside] = [line.split("改名保留为 ")[1] for line in again.output.splitlines() if "改名保留为" in line]
        if PG_URL:
            kept = db.session.scalar(sa.text(f'SELECT count(*) FROM "{aside}".materials'))
        else:
            engine = sa.create_engine(f"sqlite:///{aside}")
            with engine.connect() as conn:
                kept = conn.scalar(sa.text("SELECT count(*) FROM materials"))
            engine.dispose()
        assert kept == counts(db.engine)["materials"] > 0


def test_a_tampered_backup_fails_verify_and_restore_and_restores_nothing(app, runner, make, tmp_path, target_url):
    person = make.person()
    make.application(person, ["M03900"])
    dest = tmp_path / "b"
    assert backup(runner, dest).exit_code == 0
    [victim] = [p for p in (dest / "objects" / "uploads").rglob("*") if p.is_file()]
    victim.write_bytes(victim.read_bytes().replace(b"%PDF", b"%PDX", 1))

    checked = runner.invoke(args=["backup", "verify", str(dest)])
    assert checked.exit_code == 1 and victim.name in checked.output and "sha256 不符" in checked.output
    with other_app(target_url, tmp_path / "restored") as restored:
        result = restored.test_cli_runner().invoke(args=["backup", "restore", str(dest)])
        assert result.exit_code == 1 and "备份未通过校验,未做任何恢复" in result.output and victim.name in result.output
        assert database.user_tables(db.engine) == [] and uploads_of(restored) == []

    (dest / "manifest.json").unlink()  # what an interrupted copy of a backup looks like
    incomplete = runner.invoke(args=["backup", "verify", str(dest)])
    assert incomplete.exit_code == 1 and "不是一份完整的备份" in incomplete.output


def test_a_corrupted_upload_fails_the_backup_and_leaves_no_folder_that_looks_complete(app, runner, make, tmp_path):
    person = make.person()
    make.application(person, ["M03900"])
    [stored] = uploads_of(app)
    stored.write_bytes(b"not what was uploaded")
    result = backup(runner, tmp_path / "backups" / "b")
    assert result.exit_code == 1 and stored.name in result.output and "已损坏" in result.output
    assert list((tmp_path / "backups").iterdir()) == []


def test_an_s3_store_is_backed_up_to_a_folder_and_restored_to_an_empty_bucket(
        app, runner, client, make, tmp_path, target_url, s3_endpoint, bucket):
    source_bucket, s3 = bucket
    use_s3(app, s3_endpoint, source_bucket)
    person = make.person()
    application = make.application(person, ["M03900"])
    # Plain values: an ORM object of this app's session would reload from the other app's database.
    app_id, username = application.id, person.username
    dest = tmp_path / "b"
    made = backup(runner, dest)
    assert made.exit_code == 0, made.output
    target_bucket = f"{source_bucket}-restored"
    s3.create_bucket(Bucket=target_bucket)
    with other_app(target_url, tmp_path / "restored") as restored:
        use_s3(restored, s3_endpoint, target_bucket)
        result = restored.test_cli_runner().invoke(args=["backup", "restore", str(dest)])
        assert result.exit_code == 0, result.output
        assert keys_in(s3, target_bucket) == keys_in(s3, source_bucket) != []
        other = restored.test_client()
        login(other, username)
        material = db.session.scalars(sa.select(Material).where(Material.application_id == app_id)).first()
        download = other.get(f"/materials/{material.id}")
        assert download.status_code == 200 and download.data == STORED_PDF


def test_the_nightly_unit_runs_a_command_that_makes_a_dated_backup(app, make, tmp_path):
    make.person()
    unit = (ROOT / "deploy" / "systemd" / "mtkit-backup.service").read_text("utf-8")
    [command] = [line.removeprefix("ExecStart=") for line in unit.splitlines() if line.startswith("ExecStart=")]
    words = shlex.split(command)
    assert words[:3] == ["/srv/mtkit/.venv/bin/flask", "--app", "app"]
    args = [str(tmp_path / "nightly") if w == "/var/backups/mtkit" else w for w in words[3:]]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    [made] = (tmp_path / "nightly").iterdir()
    assert made.name.startswith("mtkit-") and (made / "manifest.json").is_file()


def test_a_pg_dump_older_than_the_server_is_refused_with_what_to_install():
    with pytest.raises(BackupError, match="postgresql-client-99"):
        database.pg_tool("pg_dump", 99)
