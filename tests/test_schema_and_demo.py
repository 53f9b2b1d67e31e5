"""The migrations match the models, the audit trail is append-only, and the demo covers every status."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from core.extensions import db
from core.kernel.status import Status
from core.models import Application, AuditLog, Recognition, User
from tests.conftest import as_


def test_migrations_match_the_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_audit_rows_cannot_be_changed_even_with_raw_sql(app):
    db.session.add(AuditLog(action="test"))
    db.session.commit()
    for statement in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(statement))
    assert db.session.scalar(select(AuditLog.action)) == "test"


def test_audit_rows_cannot_be_changed_through_the_orm(app):
    row = AuditLog(action="test")
    db.session.add(row)
    db.session.commit()
    row.action = "forged"
    with pytest.raises(PermissionError):
        db.session.commit()


def test_demo_has_every_status_in_both_regions(app, runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    for region in ("150000", "450600"):
        present = set(db.session.scalars(select(Application.status).where(Application.region_code == region)))
        assert present == set(Status.labels()), (region, present)
        assert db.session.scalar(select(func.count()).select_from(Recognition).where(Recognition.region_code == region))
    roles = set(db.session.scalars(select(User.role)))
    assert roles == {"insured", "physician", "hospital_office", "agency_reviewer", "expert", "admin"}
    # Refuses to seed twice: demo data never overwrites real data.
    again = runner.invoke(args=["demo"])
    assert again.exit_code != 0 and "空数据库" in again.output


def test_holiday_hook_moves_due_dates(app, make, nmg_staff):
    """A region's extra non-working day (mtkit_holidays) pushes the SLA due date."""
    from datetime import date

    from core import hookimpl

    class LocalHoliday:
        @hookimpl
        def mtkit_holidays(self, region, year):
            return {date(2026, 11, 24): False} if region == "150000" else None

    app.extensions["mtkit_pm"].register(LocalHoliday())
    application = make.application(make.person(), ["M03900"])
    assert application.step_due == date(2026, 11, 26)  # 2 working days, Tuesday 11-24 off


def test_sqlite_runs_with_wal_busy_timeout_and_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite settings; this pass runs on PostgreSQL")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_migrations_downgrade_and_upgrade_again(tmp_path):
    """Every migration can be undone and redone: a bureau can roll back a bad upgrade."""
    import flask_migrate

    from app import create_app
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'roundtrip.sqlite3'}", tmp_path))
    with app.app_context():
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="base")
        with db.engine.connect() as conn:
            tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'").scalars())
        assert tables <= {"alembic_version"}
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        db.engine.dispose()


def test_unexpected_errors_show_a_plain_chinese_page(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    r = client.get("/boom")
    page = r.get_data(as_text=True)
    assert r.status_code == 500 and "系统出现错误" in page and "secret internals" not in page


def test_demo_people_can_renew_today(app, runner):
    from core.recognitions import service as recs

    runner.invoke(args=["demo"])
    for username, disease in (("150102195503120244", "M03900"), ("450602195807040268", "FCG001")):  # 张桂英, 韦小红
        person = db.session.scalars(select(User).where(User.id_number_is(username))).one()
        rec = db.session.scalars(
            select(Recognition).where(Recognition.person_id == person.id, Recognition.disease_code == disease)
        ).one()
        assert recs.renewal_problem(as_(), rec, as_().today(rec.region_code)) is None, username


def test_upgrading_a_database_that_holds_data(tmp_path):
    """A bureau upgrades a live database: every migration must work with rows (and foreign keys) in place,
    not only on an empty schema. Rows go in at the first revision, then every later migration runs over them."""
    import flask_migrate
    from alembic.script import ScriptDirectory

    from app import create_app
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'live.sqlite3'}", tmp_path))
    with app.app_context():
        flask_migrate.upgrade(revision="8822b3001c96")  # the first schema
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (id, username, password_hash, role, name, is_enabled, failed_logins)"
                " VALUES (1, 'someone', 'x', 'insured', '张三', 1, 0)")
            conn.exec_driver_sql(
                "INSERT INTO applications (id, person_id, region_code, division_code, kind, institution_code, channel,"
                " status, step_index, steps, fast_track, version) VALUES (1, 1, '150000', '150100', 'new', 'H150100001',"
                " 'online', 'draft', 0, '[]', 0, 1)")
            conn.exec_driver_sql(
                "INSERT INTO notices (id, user_id, kind, title, body, application_id)"
                " VALUES (1, 1, 'submit', '已提交', '您的申请已提交', 1)")
        flask_migrate.upgrade()
        head = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_current_head()
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
            assert conn.exec_driver_sql("SELECT name, psn_no FROM users").all() == [("张三", None)]
        flask_migrate.downgrade(revision="caac8895c76e")  # and the newest one can be undone with rows in place
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM applications").scalar() == 1
            assert conn.exec_driver_sql("SELECT count(*) FROM notices").scalar() == 1
        db.engine.dispose()
