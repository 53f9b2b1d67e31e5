"""Issue 12, items 6 and 9: a repeated submit takes effect once; a race is a 409, never a 500.

- The settlement form posted twice in a row and four times at once records ONE settlement, and
  every response shows it (the same redirect). The same for hospital stays, new applications
  (page and API with ``Idempotency-Key``) and an imported file (its rows' digest).
- The same key with other content is refused; a key is per user; an expired key is free again.
- Two (four) simultaneous identical new applications without a key: one draft, the others 409 in
  Chinese; the error page no longer touches a failed transaction (PendingRollbackError).

Threads run against a file-backed SQLite database, or PostgreSQL with MTKIT_TEST_DATABASE_URL.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, inspect, select

from core import idempotency
from core.benefits import service as ben
from core.extensions import db
from core.kernel.errors import Invalid
from core.models import Application, AuditLog, BenefitSettlement, IdempotencyKey, InpatientStay, User
from tests.conftest import TODAY, as_, login
from tests.test_api import api
from tests.test_benefits import FCG_HOSPITAL, on, recognise

KEY_FIELD = re.compile(r'name="idempotency_key" value="([0-9a-f]{32})"')


def count(model, *where) -> int:
    db.session.rollback()  # see what the other threads committed
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@dataclass(frozen=True)
class Person:
    """The insured person by value: the tests' threads each have their own session."""

    id: int
    id_number: str

    def row(self) -> User:
        return db.session.get(User, self.id)


@pytest.fixture
def scene(make, fcg_staff):
    person = make.person(region="450600", division="450602", name="韦小红")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001"], date(2026, 1, 5))
    on(TODAY)
    make.staff("fcg_yibao", "hospital_office", region="450600", division="450602", hospital=FCG_HOSPITAL)
    return Person(person.id, person.id_number)


def desk(app, person):
    """fcg_yibao's browser: logged in, the person looked up, the person page drawn; returns the
    client and the settlement form's hidden one-time key."""
    client = app.test_client()
    login(client, "fcg_yibao")
    r = client.post("/staff/benefits", data={"id_number": person.id_number})
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    keys = KEY_FIELD.findall(html)
    assert len(keys) == 2 and keys[0] != keys[1]  # the visit form's and the stay form's, each its own
    return client, keys[0]


def same_browser(app, client, n):
    """``n`` clients sharing ``client``'s session cookie: the same browser's tabs."""
    cookie = client.get_cookie("session")
    tabs = []
    for _ in range(n):
        tab = app.test_client()
        tab.set_cookie("session", cookie.value)
        tabs.append(tab)
    return tabs


def at_once(app, calls):
    """Run the callables in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        with app.app_context():
            barrier.wait()
            try:
                results[i] = call()
            except Exception as e:  # pragma: no cover - reported by the assertions
                results[i] = e

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture
def slow_settlement(monkeypatch):
    """Widen the window in which a second submit could slip past the first (0.3 s inside settling)."""
    real = ben.load_ledgers

    def slow(*args):
        ledgers = real(*args)
        time.sleep(0.3)
        return ledgers

    monkeypatch.setattr(ben, "load_ledgers", slow)


def visit(key, **changes):
    return {"disease": "FCG001", "visit_date": "2026-11-20", "eligible": "1000.00", "items": "", "note": "",
            "idempotency_key": key, **changes}


# --- the settlement form --------------------------------------------------------------------------
def test_the_settlement_form_posted_six_times_records_one_settlement(app, scene, slow_settlement):
    person = scene
    client, key = desk(app, person)
    url = f"/staff/benefits/people/{person.id}/visits"
    db.session.commit()
    db.session.remove()
    # Twice in a row (a double click)...
    first = client.post(url, data=visit(key))
    again = client.post(url, data=visit(key))
    # ...then four at once (four tabs of the same browser).
    tabs = same_browser(app, client, 4)
    answers = at_once(app, [lambda t=t: t.post(url, data=visit(key)) for t in tabs])
    rows = db.session.scalars(select(BenefitSettlement)).all()
    assert len(rows) == 1 and rows[0].reimbursed_fen == 56000
    where = f"/benefits/settlements/{rows[0].id}"
    for r in [first, again, *answers]:
        assert not isinstance(r, Exception), r
        assert r.status_code == 302 and r.headers["Location"].endswith(where)
    assert count(AuditLog, AuditLog.action == "benefit.settle") == 1
    page = client.get(where).get_data(as_text=True)
    assert "该表单已提交过,未重复结算" in page and "报销 560.00 元" in page
    # A newly drawn form is a new settlement (a second visit on the same day is real).
    _, fresh = desk(app, person)
    assert fresh != key
    assert client.post(url, data=visit(fresh)).status_code == 302 and count(BenefitSettlement) == 2


def test_the_same_key_with_other_content_is_refused(app, scene):
    person = scene
    client, key = desk(app, person)
    url = f"/staff/benefits/people/{person.id}/visits"
    assert client.post(url, data=visit(key)).status_code == 302
    r = client.post(url, data=visit(key, eligible="2000.00"))
    assert r.status_code == 422 and "已用于另一笔内容不同的提交" in r.get_data(as_text=True)
    assert count(BenefitSettlement) == 1


def test_a_settlement_form_without_its_key_is_refused(app, scene):
    """A page drawn before the key existed (or a hand-made post) must be reloaded: money moves once."""
    person = scene
    client, _ = desk(app, person)
    url = f"/staff/benefits/people/{person.id}/visits"
    r = client.post(url, data={k: v for k, v in visit("x").items() if k != "idempotency_key"})
    assert r.status_code == 400 and "页面已过期" in r.get_data(as_text=True)
    r = client.post(url, data=visit("not a key!"))
    assert r.status_code == 400 and "提交编号(Idempotency-Key)无效" in r.get_data(as_text=True)
    assert count(BenefitSettlement) == 0


def test_keys_belong_to_whoever_used_them(app, scene, fcg_staff):
    """Another clerk sending a key someone used does not see (or repeat) the first one's settlement."""
    person = scene
    client, key = desk(app, person)
    client.post(f"/staff/benefits/people/{person.id}/visits", data=visit(key))
    other = ben.settle(as_(fcg_staff["reviewer"]), ben_visit(person), key=key)
    db.session.commit()
    assert not idempotency.is_repeat(other) and count(BenefitSettlement) == 2


def ben_visit(person):
    from core.benefits.inputs import make_visit

    return make_visit(person.row(), TODAY, institution_code=FCG_HOSPITAL, disease_code="FCG001", visit_date="2026-11-20",
                      eligible="1000.00")


def test_an_expired_key_may_be_used_again_and_the_daily_job_purges_it(app, scene, fcg_staff, runner):
    person, staff = scene, fcg_staff["reviewer"]
    first = ben.settle(as_(staff), ben_visit(person), key="k" * 20)
    db.session.commit()
    assert ben.settle(as_(staff), ben_visit(person), key="k" * 20).id == first.id
    db.session.commit()
    row = db.session.scalar(select(IdempotencyKey))
    row.expires_at = row.created_at - timedelta(seconds=1)
    db.session.commit()
    second = ben.settle(as_(staff), ben_visit(person), key="k" * 20)
    db.session.commit()
    assert second.id != first.id and count(IdempotencyKey) == 1
    db.session.scalar(select(IdempotencyKey)).expires_at = row.created_at
    db.session.commit()
    result = runner.invoke(args=["jobs", "run", "idempotency_purge"])
    assert result.exit_code == 0, result.output
    assert count(IdempotencyKey) == 0 and count(BenefitSettlement) == 2  # only the key goes, never a record


# --- stays ------------------------------------------------------------------------------------------
def test_the_stay_form_posted_again_records_one_stay(app, scene):
    person = scene
    client, _ = desk(app, person)
    html = client.get(f"/staff/benefits/people/{person.id}").get_data(as_text=True)
    stay_key = KEY_FIELD.findall(html)[1]
    form = {"admitted_on": "2026-11-01", "discharged_on": "2026-11-05", "idempotency_key": stay_key}
    url = f"/staff/benefits/people/{person.id}/stays"
    db.session.commit()
    db.session.remove()
    answers = at_once(app, [lambda t=t: t.post(url, data=form) for t in same_browser(app, client, 3)])
    assert [r.status_code for r in answers] == [302, 302, 302]
    assert count(InpatientStay) == 1  # the overlap rule would have refused a second, as a 422 to some tab
    assert client.post(url, data={k: v for k, v in form.items() if k != "idempotency_key"}).status_code == 400


# --- applications: page and API ---------------------------------------------------------------------
NEW = {"region": "150000", "division": "150100", "kind": "new", "diseases": ["M00504"], "hospital": "H150100001",
       "channel": "online"}


def test_the_api_honours_idempotency_key(app, client, make):
    person = make.person()
    me = api(client).login(person.username)
    headers = {**me.headers(), "Idempotency-Key": "app-2026-11-23-0001"}
    first = client.post("/api/v1/applications", json=NEW, headers=headers)
    again = client.post("/api/v1/applications", json=NEW, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json()
    db.session.commit()
    db.session.remove()
    answers = at_once(app, [lambda: app.test_client().post("/api/v1/applications", json=NEW, headers=headers)
                            for _ in range(4)])
    assert [r.status_code for r in answers] == [201] * 4
    assert all(r.get_json() == first.get_json() for r in answers)
    assert count(Application) == 1
    other = client.post("/api/v1/applications", json={**NEW, "channel": "window"}, headers=headers)
    assert other.status_code == 422 and "已用于另一笔内容不同的提交" in other.get_json()["error"]["message"]
    bad = client.post("/api/v1/applications", json=NEW, headers={**me.headers(), "Idempotency-Key": "短"})
    assert bad.status_code == 400 and bad.get_json()["error"]["fields"] == {"idempotency_key": "格式无效"}
    assert count(Application) == 1


def test_the_new_application_form_posted_twice_makes_one_draft(app, client, make):
    person = make.person()
    login(client, person.username)
    html = client.get("/applications/new").get_data(as_text=True)
    key = KEY_FIELD.search(html).group(1)
    form = {"division": "150100", "institution": "H150100001", "channel": "online", "diseases": ["M00504"],
            "idempotency_key": key}
    first, again = client.post("/applications/new", data=form), client.post("/applications/new", data=form)
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"] and count(Application) == 1


@pytest.mark.parametrize("door", ["page", "api"])
def test_simultaneous_identical_new_applications_are_one_draft_and_409s(app, make, door):
    """No key (an older client): the partial unique index decides, and the losers get a 409 in Chinese.
    It used to be a 500: the autoflush inside the audit row raised outside the handler, and the
    error page then read the failed session (PendingRollbackError)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does, with the error pages
    person = make.person()
    username = person.username
    db.session.commit()
    db.session.remove()
    form = {"division": "150100", "institution": "H150100001", "channel": "online", "diseases": ["M00504"]}
    clients = []
    for _ in range(4):
        c = app.test_client()
        if door == "page":
            login(c, username)
            clients.append(lambda c=c: c.post("/applications/new", data=form))
        else:
            headers = api(c).login(username).headers()
            clients.append(lambda c=c, h=headers: c.post("/api/v1/applications", json=NEW, headers=h))
    answers = at_once(app, clients)
    ok = 302 if door == "page" else 201
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(ok) == 1 and set(statuses) <= {ok, 409, 422}, statuses
    for r in answers:
        if r.status_code in (409, 422):
            text = r.get_json()["error"]["message"] if door == "api" else r.get_data(as_text=True)
            assert "未办结申请" in text and "请勿重复申请" in text
    assert count(Application) == 1


# --- the import batch --------------------------------------------------------------------------------
def test_the_same_import_file_is_settled_once(app, runner, scene, tmp_path):
    person = scene
    staff = "fcg_yibao"
    day = tmp_path / "day.csv"
    day.write_text("id_number,institution,disease,visit_date,eligible\n"
                   f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-20,1000.00\n", encoding="utf-8")
    assert runner.invoke(args=["benefits", "import", str(day), "--by", staff]).exit_code == 0
    # The same rows saved again by Excel (a BOM, a comment, CRLF) are the same file.
    resaved = tmp_path / "day-again.csv"
    resaved.write_bytes(("\ufeffid_number,institution,disease,visit_date,eligible\r\n# 再次导出\r\n"
                         f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-20,1000.00\r\n").encode("utf-8"))
    again = runner.invoke(args=["benefits", "import", str(resaved), "--by", staff])
    assert again.exit_code != 0 and "同样内容的文件已于" in again.output and "fcg_yibao 导入过(1 笔" in again.output
    assert "--force" in again.output and count(BenefitSettlement) == 1
    dry = runner.invoke(args=["benefits", "import", str(resaved), "--by", staff, "--dry-run"])
    assert dry.exit_code != 0 and count(BenefitSettlement) == 1
    forced = runner.invoke(args=["benefits", "import", str(resaved), "--by", staff, "--force"])
    assert forced.exit_code == 0, forced.output
    assert count(BenefitSettlement) == 2
    assert db.session.scalars(select(AuditLog.detail).where(AuditLog.action == "benefit.import_file")
                              .order_by(AuditLog.id)).all()[-1].endswith("forced=1")


def test_two_imports_of_one_file_at_once_settle_it_once(app, scene, tmp_path):
    from core.benefits.importer import import_file

    person = scene
    day = tmp_path / "day.csv"
    day.write_text("id_number,institution,disease,visit_date,eligible\n"
                   f"{person.id_number},{FCG_HOSPITAL},FCG001,2026-11-20,1000.00\n", encoding="utf-8")
    db.session.commit()
    db.session.remove()

    def run():
        try:
            summary = import_file(as_(origin="cli"), day, "fcg_yibao")
            db.session.commit()
            return summary["count"]
        except ValueError as e:
            db.session.rollback()
            return str(e)

    results = at_once(app, [run, run])
    assert sorted(map(str, results))[0] == "1" and "导入过" in sorted(map(str, results))[1], results
    assert count(BenefitSettlement) == 1


def test_claim_refuses_malformed_keys():
    for key in ("short", "x" * 101, "空格 key 12345", "４５０６８１１９７２"):
        with pytest.raises(Invalid):
            idempotency.check_key(key)
    assert idempotency.check_key("2f1c0a9e-1b2c-4d5e-8f90-a1b2c3d4e5f6")


def test_the_migration_upgrades_and_downgrades_a_database_holding_data(tmp_path):
    import flask_migrate

    from app import create_app
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'live.sqlite3'}", tmp_path))
    with app.app_context():
        flask_migrate.upgrade(revision="c4677ae4804c")
        with db.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO users (id, username, password_hash, role, name, is_enabled, failed_logins)"
                                 " VALUES (1, 'fcg_yibao', 'x', 'hospital_office', '医保科', 1, 0)")
        flask_migrate.upgrade(revision="i12_idempotency")
        with db.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO idempotency_keys (scope, key, fingerprint, actor_id, result)"
                                 " VALUES ('benefits.settle:u1', 'k1234567', 'f', 1, '{\"table\": \"x\", \"ids\": [1]}')")
            with pytest.raises(Exception):  # the constraint that makes four submits one
                conn.exec_driver_sql("INSERT INTO idempotency_keys (scope, key, fingerprint)"
                                     " VALUES ('benefits.settle:u1', 'k1234567', 'g')")
        flask_migrate.downgrade(revision="c4677ae4804c")
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT name FROM users").all() == [("医保科",)]
            assert "idempotency_keys" not in inspect(conn).get_table_names()
        db.engine.dispose()
