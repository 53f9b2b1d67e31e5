"""Tamper-evident audit trail (issue 12 item 7): every audit row is chained to the previous one with a
keyed hash, `flask --app app audit verify` names the first row that was edited, deleted or forged,
daily anchors (kept outside the system) catch even a chain recomputed with the key, and on
PostgreSQL the application's role can neither change the audit tables nor drop their triggers.

The attacks are played as an attacker with DDL rights on the database would: triggers dropped (or
disabled), rows edited, deleted or inserted with raw SQL.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from core.audit import audit
from core.audit_chain import anchors as anchor_service
from core.audit_chain.seal import GENESIS, canonical, key_id, keyring
from core.audit_chain.verify import db_anchors, verify
from core.extensions import db
from core.kernel.time import local_date, utcnow
from core.models import AuditAnchor, AuditLog
from tests.conftest import PG_URL, as_, base_config, login

ROOT = Path(__file__).resolve().parents[1]
TZ = "Asia/Shanghai"


# ---------------------------------------------------------------- helpers

def write(n: int, action: str = "test.action", user=None, at=None, ip=None) -> list[AuditLog]:
    """``n`` audit rows in one transaction, committed."""
    ctx = replace(as_(user), ip=ip)
    rows = [audit(ctx, action, ("applications", i + 1), detail=f"第 {i + 1} 条") for i in range(n)]
    if at is not None:
        for r in rows:
            r.at = at
    db.session.commit()
    return rows


def chain() -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))


def raw(sql: str, **params) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(sql), params)


def audit_cli(runner, *args):
    return runner.invoke(args=["audit", *args])


@pytest.fixture
def attacker(app):
    """Lifts the append-only triggers as someone with DDL rights would; on PostgreSQL (one database for
    the whole run) they are put back afterwards."""
    def lift():
        if db.engine.dialect.name == "postgresql":
            raw("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            raw("ALTER TABLE audit_anchors DISABLE TRIGGER audit_anchors_append_only")
        else:
            for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_anchors_no_update", "audit_anchors_no_delete"):
                raw(f"DROP TRIGGER IF EXISTS {trigger}")

    yield lift
    if db.engine.dialect.name == "postgresql":
        db.session.rollback()
        raw("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        raw("ALTER TABLE audit_anchors ENABLE TRIGGER audit_anchors_append_only")


def day_start(day) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(TZ)).astimezone(timezone.utc)


# ---------------------------------------------------------------- the chain

def test_every_audit_row_is_chained_in_order_and_the_chain_verifies(app, client, runner, make):
    user = make.person()
    assert login(client, "nobody").status_code == 401
    assert login(client, user.username).status_code == 302
    write(3, user=user)  # several rows in one transaction: consecutive, in the order they were written
    rows = chain()
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in zip(rows, rows[1:]))
    assert [r.detail for r in rows[-3:]] == ["第 1 条", "第 2 条", "第 3 条"]
    ring = keyring(app.config)
    assert {(r.hash_alg, r.key_id) for r in rows} == {("hmac-sha256", ring.current)}
    # the stored hash is the keyed hash of what reads back from the database
    assert all(r.row_hash == ring.sign(canonical(r)) for r in rows)
    assert all(r.row_hash != hashlib.sha256(canonical(r)).hexdigest() for r in rows)

    result = audit_cli(runner, "verify")
    assert result.exit_code == 0, result.output
    assert f"审计链完整:核验 {len(rows)} 条记录(#1–#{len(rows)})" in result.output


def test_the_hash_covers_the_time_as_the_database_returns_it(app):
    moments = [datetime(2026, 11, 20, 1, 2, 3, 456789, tzinfo=timezone.utc),
               datetime(2026, 11, 20, 1, 2, 3, 0, tzinfo=timezone.utc),
               datetime(2026, 11, 20, 9, 2, 3, 1, tzinfo=ZoneInfo(TZ))]
    for at in moments:
        write(1, at=at)
    db.session.remove()  # a new session: nothing cached, every value read back from the database
    rows = chain()
    assert [r.at for r in rows] == moments
    assert [json.loads(canonical(r))["at"] for r in rows] == [
        "2026-11-20T01:02:03.456789Z", "2026-11-20T01:02:03.000000Z", "2026-11-20T01:02:03.000001Z"]
    assert verify(as_()).ok


def test_an_audit_row_commits_with_its_action_and_goes_with_a_rollback(app):
    write(2)
    audit(as_(), "rolled.back")
    db.session.rollback()
    audit(as_(), "after.rollback")
    db.session.commit()
    rows = chain()
    assert [(r.id, r.action) for r in rows] == [(1, "test.action"), (2, "test.action"), (3, "after.rollback")]
    assert verify(as_()).ok


def test_concurrent_writers_keep_one_linear_chain(app):
    """Four workers write audit rows at once (1-3 per transaction, some with other writes before them):
    ids, times and the chain follow one order, with no fork and nothing lost."""
    from core.models import CalendarDay

    errors, per_thread, batches = [], 12, (1, 3, 2)

    def worker(n):
        try:
            with app.app_context():
                for i in range(per_thread):
                    if i % 2:  # half the transactions write something else first, half only audit rows
                        db.session.add(CalendarDay(region_code="150000", day=datetime(2030, 1, 1).date() + timedelta(days=n * 100 + i),
                                                   is_working=False, note=f"t{n}"))
                        db.session.flush()
                    for j in range(batches[i % 3]):
                        audit(as_(), f"worker.{n}", ("calendar_days", i), detail=str(j))
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    rows = chain()
    expected = 4 * sum(batches[i % 3] for i in range(per_thread))
    assert [r.id for r in rows] == list(range(1, expected + 1))
    assert all(b.prev_hash == a.row_hash and b.at >= a.at for a, b in zip(rows, rows[1:]))
    for n in range(4):  # each transaction's rows stay together and in order
        mine = [r.detail for r in rows if r.action == f"worker.{n}"]
        assert mine == [str(j) for i in range(per_thread) for j in range(batches[i % 3])]
    assert verify(as_()).ok


# ---------------------------------------------------------------- tampering, detected and named

def test_editing_a_rows_address_or_user_is_detected_and_named(app, runner, make, attacker):
    user = make.person()
    write(5, user=user, ip="10.0.0.5")
    attacker()
    raw("UPDATE audit_log SET ip = '192.0.2.66' WHERE id = 3")
    result = audit_cli(runner, "verify")
    assert result.exit_code == 1
    assert "记录 #3(" in result.output and "test.action" in result.output and "被修改过" in result.output

    raw("UPDATE audit_log SET ip = '10.0.0.5' WHERE id = 3")  # put back: the chain is whole again
    assert audit_cli(runner, "verify").exit_code == 0
    raw("UPDATE audit_log SET user_id = NULL, username = 'someone_else' WHERE id = 4")
    result = audit_cli(runner, "verify")
    assert result.exit_code == 1 and "记录 #4(" in result.output


def test_a_forged_view_full_row_is_detected_and_named(app, runner, make, attacker):
    staff = make.staff("yibao", "hospital_office", hospital="H150100001", division="150100")
    write(4, user=staff)
    last = chain()[-1]
    # The forger knows the canonical form and links to the real tail, but has not got the audit key.
    forged = AuditLog(id=last.id + 1, at=utcnow(), user_id=staff.id, username=staff.username, action="person.view_full",
                      object_type="users", object_id="1", result="ok", ip="10.0.0.9", detail=None,
                      prev_hash=last.row_hash, hash_alg="hmac-sha256", key_id=last.key_id)
    forged_hash = hashlib.sha256(canonical(forged)).hexdigest()
    raw("INSERT INTO audit_log (id, at, user_id, username, action, object_type, object_id, result, ip, prev_hash, row_hash,"
        " hash_alg, key_id) VALUES (:id, :at, :uid, :un, 'person.view_full', 'users', '1', 'ok', '10.0.0.9', :prev, :h,"
        " 'hmac-sha256', :kid)", id=forged.id, at=forged.at.replace(tzinfo=None) if db.engine.dialect.name == "sqlite" else forged.at,
        uid=staff.id, un=staff.username, prev=last.row_hash, h=forged_hash, kid=last.key_id)
    write(1, action="after.forgery")  # the application goes on writing on top of it
    result = audit_cli(runner, "verify")
    assert result.exit_code == 1
    assert f"记录 #{forged.id}(" in result.output and "person.view_full" in result.output and "伪造" in result.output

    # a forged row that does not even try (no hash) is named too
    raw("INSERT INTO audit_log (id, action, result) VALUES (1000, 'person.view_full', 'ok')")
    report = verify(as_())
    assert report.problem.row_id == forged.id  # the first problem in the chain's order


def test_a_deleted_row_is_detected_naming_the_gap(app, runner, attacker):
    write(6)
    attacker()
    raw("DELETE FROM audit_log WHERE id = 4")
    result = audit_cli(runner, "verify")
    assert result.exit_code == 1
    assert "记录 #5(" in result.output and "上一条记录 #3" in result.output and "#4 缺失" in result.output
    assert "删除" in result.output


def test_deleting_the_first_rows_or_the_last_anchored_rows_is_detected(app, runner, attacker):
    yesterday = local_date(utcnow(), TZ) - timedelta(days=1)
    write(3, at=day_start(yesterday) + timedelta(hours=9))
    anchor_service.make_due(as_())
    db.session.commit()
    write(2)
    attacker()
    raw("DELETE FROM audit_log WHERE id >= 3")  # the anchored tail and everything after it
    result = audit_cli(runner, "verify")
    assert result.exit_code == 1 and "#3 不存在" in result.output
    raw("DELETE FROM audit_log WHERE id = 1")
    assert verify(as_(), anchors=db_anchors()).problem.reason.startswith("链的第一条记录不是从头开始的")


# ---------------------------------------------------------------- anchors

def test_anchors_are_written_per_finished_day_and_shown_to_the_administrator(app, client, runner, make):
    today = local_date(utcnow(), TZ)
    d3, d1 = today - timedelta(days=3), today - timedelta(days=1)
    write(2, at=day_start(d3) + timedelta(hours=23, minutes=59, seconds=59, microseconds=999999))
    write(3, at=day_start(d1) + timedelta(hours=8))
    write(1)  # today: not anchored until the day is over
    result = runner.invoke(args=["jobs", "run", "audit_anchors"])
    assert result.exit_code == 0, result.output
    anchors = anchor_service.listing()
    rows = chain()
    assert [(a.day, a.last_id, a.rows, a.total) for a in reversed(anchors)] == [
        (d3, 2, 2, 2), (d3 + timedelta(days=1), 2, 0, 2), (d1, 5, 3, 5)]
    assert [a.last_hash for a in reversed(anchors)] == [rows[1].row_hash, rows[1].row_hash, rows[4].row_hash]
    assert runner.invoke(args=["jobs", "run", "audit_anchors", "--force"]).exit_code == 0
    assert len(anchor_service.listing()) == 3  # each day once

    out = audit_cli(runner, "anchors", "--format", "csv")
    assert out.exit_code == 0 and f"{d1.isoformat()},5,{rows[4].row_hash},3,5" in out.output

    make.staff("root", "admin", region=None)
    make.staff("nmg_admin", "admin", region="150000")
    login(client, "nmg_admin")
    assert client.get("/staff/audit/anchors").status_code == 403
    assert client.get("/staff/audit/anchors?format=csv").status_code == 403
    client.post("/logout")
    login(client, "root")
    page = client.get("/staff/audit").get_data(as_text=True)
    assert "每日锚点" in page and rows[4].row_hash in page and "导出 CSV" in page
    printable = client.get("/staff/audit/anchors")
    assert printable.status_code == 200 and "data-print" in printable.get_data(as_text=True)
    exported = client.get("/staff/audit/anchors?format=csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    parsed = anchor_service.parse(exported.get_data(as_text=True), "anchors.csv")
    assert [(a.day, a.last_id, a.last_hash, a.total) for a in parsed] == [
        (a.day, a.last_id, a.last_hash, a.total) for a in reversed(anchors)]
    as_json = client.get("/staff/audit/anchors?format=json")
    assert as_json.mimetype == "application/json"
    assert anchor_service.parse(as_json.get_data(as_text=True), "anchors.json") == [
        a.__class__(a.day, a.last_id, a.last_hash, a.total, "anchors.json") for a in parsed]


def test_a_chain_recomputed_with_the_key_is_caught_by_an_exported_anchor(app, runner, attacker, tmp_path):
    """The strongest attacker: holds the audit key and the database. They edit a row, re-sign it and
    every later row, and rewrite the anchors in the database. Only the anchors exported earlier and
    kept outside the system tell."""
    yesterday = local_date(utcnow(), TZ) - timedelta(days=1)
    write(4, at=day_start(yesterday) + timedelta(hours=10), ip="10.0.0.1")
    exported = tmp_path / "anchors.csv"
    result = audit_cli(runner, "anchors", "--output", str(exported))  # CSV, from the file name
    assert result.exit_code == 0, result.output
    write(2)

    attacker()
    raw("UPDATE audit_log SET ip = '198.51.100.7' WHERE id = 2")
    ring = keyring(app.config)
    prev = chain()[0].row_hash
    for row in chain()[1:]:
        row_hash = ring.sign(canonical(type("R", (), {**{c: getattr(row, c) for c in (
            "id", "at", "user_id", "username", "action", "object_type", "object_id", "result", "ip", "detail",
            "hash_alg", "key_id")}, "prev_hash": prev})()))
        raw("UPDATE audit_log SET prev_hash = :p, row_hash = :h WHERE id = :id", p=prev, h=row_hash, id=row.id)
        prev = row_hash
    new_tail_hash = chain()[3].row_hash
    raw("UPDATE audit_anchors SET last_hash = :h", h=new_tail_hash)

    assert audit_cli(runner, "verify").exit_code == 0  # consistent in itself: the attacker had the key
    result = audit_cli(runner, "verify", "--anchor", str(exported))
    assert result.exit_code == 1
    assert "记录 #4(" in result.output and "anchors.csv" in result.output and "重新计算" in result.output


def test_no_anchor_is_written_over_a_broken_chain(app, runner, attacker):
    yesterday = local_date(utcnow(), TZ) - timedelta(days=1)
    write(3, at=day_start(yesterday) + timedelta(hours=10))
    attacker()
    raw("UPDATE audit_log SET action = 'login' WHERE id = 2")
    result = runner.invoke(args=["jobs", "run", "audit_anchors"])
    assert result.exit_code == 1
    assert "记录 #2" in result.output
    assert db.session.scalar(select(AuditAnchor.id)) is None
    refused = db.session.scalars(select(AuditLog).where(AuditLog.action == "audit.anchor_refused")).one()
    assert refused.result == "failed" and "#2" in refused.detail
    assert audit_cli(runner, "anchors").exit_code == 1


def test_verify_from_a_date_and_a_bad_anchor_file(app, runner, tmp_path):
    today = local_date(utcnow(), TZ)
    write(2, at=day_start(today - timedelta(days=2)) + timedelta(hours=1))
    write(3)
    result = audit_cli(runner, "verify", "--from-date", today.isoformat())
    assert result.exit_code == 0 and "核验 3 条记录(#3–#5)" in result.output
    assert audit_cli(runner, "verify", "--from-date", "2026-13-01").exit_code == 2
    bad = tmp_path / "anchors.json"
    bad.write_text('{"format": "something else"}')
    result = audit_cli(runner, "verify", "--anchor", str(bad))
    assert result.exit_code == 1 and "无法读取" in result.output


# ---------------------------------------------------------------- keys

def test_rotated_keys_verify_old_rows_and_a_missing_key_is_reported(app, runner):
    old = app.config["MTKIT_AUDIT_KEY"]
    write(2)
    app.config["MTKIT_AUDIT_KEY"] = "new-key-0123456789abcdef\n" + old
    write(2)
    rows = chain()
    assert [r.key_id for r in rows] == [key_id(old)] * 2 + [key_id("new-key-0123456789abcdef")] * 2
    assert audit_cli(runner, "verify").exit_code == 0
    app.config["MTKIT_AUDIT_KEY"] = "new-key-0123456789abcdef"
    result = audit_cli(runner, "verify")
    assert result.exit_code == 1 and "记录 #1(" in result.output and key_id(old) in result.output


def test_sm3_can_sign_the_chain(app, runner):
    assert hashlib.new("sm3", b"abc").hexdigest() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    write(1)
    app.config["MTKIT_AUDIT_HASH"] = "sm3"
    write(2)
    assert [r.hash_alg for r in chain()] == ["hmac-sha256", "hmac-sm3", "hmac-sm3"]
    assert audit_cli(runner, "verify").exit_code == 0
    app.config["MTKIT_AUDIT_HASH"] = "md5"
    with pytest.raises(ValueError, match="sha256 或 sm3"):
        write(1)


# ---------------------------------------------------------------- the migration

def _insert_legacy_rows(conn, sqlite: bool):
    rows = [
        (1, "2026-11-20 01:02:03.456789", 7, "doctor", "login", None, None, "ok", "10.0.0.1", None),
        (2, "2026-11-20 01:02:04", None, None, "login", None, None, "fail", "10.0.0.2", "用户名或密码错误"),
        (5, "2026-11-21 16:00:00.000001", 7, "doctor", "person.view_full", "users", "3", "ok", "10.0.0.1", "查看完整身份证号"),
    ]
    for r in rows:
        at = r[1] if sqlite else r[1] + "+00"
        conn.exec_driver_sql(
            "INSERT INTO audit_log (id, at, user_id, username, action, object_type, object_id, result, ip, detail)"
            f" VALUES ({'?, ' * 9}?)" if sqlite else
            "INSERT INTO audit_log (id, at, user_id, username, action, object_type, object_id, result, ip, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", (r[0], at, *r[2:]))


@pytest.fixture
def scratch_url(tmp_path):
    """An empty database of its own: a SQLite file, or a PostgreSQL database beside the test one."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'live.sqlite3'}"
        return
    url = make_url(PG_URL)
    name = f"{url.database}_i12mig"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_the_migration_chains_the_rows_a_database_already_holds(scratch_url, tmp_path):
    import flask_migrate

    from app import create_app

    app = create_app(base_config(scratch_url, tmp_path) | {"MTKIT_AUDIT_KEY": "k" * 64})
    with app.app_context():
        flask_migrate.upgrade(revision="c4677ae4804c")
        sqlite = db.engine.dialect.name == "sqlite"
        with db.engine.begin() as conn:
            _insert_legacy_rows(conn, sqlite)
        flask_migrate.upgrade()
        report = verify(as_())
        assert report.ok and report.checked == 3 and (report.first_id, report.last_id) == (1, 5)
        rows = chain()
        assert rows[0].prev_hash == GENESIS and rows[2].prev_hash == rows[1].row_hash
        assert rows[2].at == datetime(2026, 11, 21, 16, 0, 0, 1, tzinfo=timezone.utc)
        write(1, action="after.upgrade")  # the application chains on from the migrated tail
        assert [(r.id, r.prev_hash) for r in chain()][-1] == (6, rows[2].row_hash)
        assert verify(as_()).ok
        db.session.add(AuditAnchor(day=datetime(2026, 11, 20).date(), last_id=1, last_hash=rows[0].row_hash, rows=1, total=1))
        db.session.commit()
        for statement in ("UPDATE audit_log SET ip = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1",
                          "UPDATE audit_anchors SET rows = 0", "DELETE FROM audit_anchors"):
            with pytest.raises(Exception, match="append-only"):
                raw(statement)
        if not sqlite:
            with pytest.raises(Exception, match="append-only"):
                raw("TRUNCATE audit_log")
        flask_migrate.downgrade(revision="c4677ae4804c")
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_log").scalar() == 4
            columns = conn.exec_driver_sql("SELECT * FROM audit_log").keys()
            assert "row_hash" not in columns and "prev_hash" not in columns
        with pytest.raises(Exception, match="append-only"):
            raw("UPDATE audit_log SET ip = 'x' WHERE id = 1")
        db.session.remove()
        db.engine.dispose()


# ---------------------------------------------------------------- PostgreSQL roles, retention

@pytest.mark.skipif(not PG_URL, reason="PostgreSQL roles: run with MTKIT_TEST_DATABASE_URL")
def test_the_application_role_cannot_change_or_unprotect_the_audit_tables(app, tmp_path):
    """scripts/pg-roles.sql run over the test database: the application's role writes audit rows
    through the application, but cannot update, delete, truncate, drop the triggers or disable them."""
    from app import create_app

    if not shutil.which("psql"):
        pytest.fail("psql is needed to run scripts/pg-roles.sql")
    url = make_url(PG_URL)
    owner, app_role = f"mtkit_t_owner_{os.getpid()}", f"mtkit_t_app_{os.getpid()}"
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    psql = ["psql", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username, "-d", url.database,
            "-v", f"owner_role={owner}", "-v", f"app_role={app_role}", "-f", str(ROOT / "scripts" / "pg-roles.sql")]
    try:
        out = subprocess.run(psql, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert re.search(r"audit_log\s*\|\s*INSERT, SELECT", out.stdout), out.stdout
        as_app = create_app(base_config(url.set(username=app_role, password=None).render_as_string(hide_password=False),
                                        tmp_path) | {"MTKIT_AUDIT_KEY": app.config["MTKIT_AUDIT_KEY"]})
        with as_app.app_context():
            client = as_app.test_client()
            assert login(client, "nobody").status_code == 401  # audited by the application's role
            write(2, action="as.app.role")
            assert [r.action for r in chain()] == ["login", "as.app.role", "as.app.role"]
            for statement, refusal in (
                    ("UPDATE audit_log SET ip = 'x'", "permission denied"),
                    ("DELETE FROM audit_log", "permission denied"),
                    ("TRUNCATE audit_log", "permission denied"),
                    ("UPDATE audit_anchors SET rows = 0", "permission denied"),
                    ("DROP TRIGGER audit_log_append_only ON audit_log", "must be owner"),
                    ("ALTER TABLE audit_log DISABLE TRIGGER ALL", "must be owner"),
                    ("DROP TABLE audit_log", "must be owner"),
                    ("SET session_replication_role = replica", "permission denied")):
                with pytest.raises(Exception, match=refusal):
                    raw(statement)
            assert verify(as_()).ok
            db.session.remove()
            db.engine.dispose()
    finally:
        with db.engine.begin() as conn:
            for role in (owner, app_role):
                if conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").scalar():
                    conn.exec_driver_sql(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
                    conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
                    conn.exec_driver_sql(f'DROP ROLE "{role}"')


def test_nothing_in_the_code_deletes_or_truncates_audit_rows():
    """Retention: audit rows are kept (at least 6 months; by default for ever). No code path removes them."""
    pattern = re.compile(r"delete\(\s*(AuditLog|AuditAnchor)|(DELETE\s+FROM|TRUNCATE)\s+(TABLE\s+)?audit_(log|anchors)|"
                         r"drop_table\(\s*['\"]audit_log", re.IGNORECASE)
    offenders = [str(p.relative_to(ROOT)) for base in ("core", "regions", "plugins", "scripts", "bench")
                 for p in (ROOT / base).rglob("*") if p.suffix in (".py", ".sql", ".sh") and pattern.search(p.read_text("utf-8"))]
    assert offenders == []
