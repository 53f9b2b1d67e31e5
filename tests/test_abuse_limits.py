"""Issue 12 item 4 (abuse limits and enumeration) and part of item 9 (common passwords).

- Per-client request limits (Flask-Limiter) on log-in and the API token (one budget), registration
  (page and API), verification and uploads: 429, a Chinese message and Retry-After.
- One answer (status, body, time) for an unknown user, a wrong password and a throttled account.
- Throttling per (account, client) with back-off that an attacker cannot turn against the owner:
  the owner's own browser still gets in, an administrator or `flask users unlock` unlocks.
- An atomic attempt counter: 40 concurrent wrong passwords get exactly the allowed tries.
- Registration (page and API) answers the same for a new and a registered ID number, creates
  nothing for the second, and tells the owner (once a day).
- Passwords: no composition rule; common ones and ones built from the account's own data refused.
"""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import create_app
from core.demo import make_id_number
from core.extensions import db
from core.kernel.time import utcnow
from core.models import AuditLog, LoginThrottle, Notice, NoticeDelivery, User
from core.people import login as login_module
from core.people.passwords import password_problem
from tests.conftest import PASSWORD, Factory, base_config, login, serving
from tests.test_api import api

GENERIC = "用户名或密码错误,或账号暂时不能登录。"
TOO_MANY = "请求过于频繁,请稍后再试"
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (test browser)"}


@pytest.fixture
def limited(db_url, tmp_path):
    """An app with the request limits on, as in production (the suite's default app has them off)."""
    yield from serving(create_app({**base_config(db_url, tmp_path), "RATELIMIT_ENABLED": True, "MTKIT_LIMIT_UPLOAD": "3/minute"}))


def from_ip(app, ip: str):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=ip, **BROWSER)
    return client


def tries(result: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "login",
                                                                              AuditLog.result == result))


def body(r, *typed) -> str:
    """A page without what differs per request anyway (the CSRF token, what the person typed)."""
    text = re.sub(r'("X-CSRFToken": "|name="csrf_token" value=")[^"]*', r"\1", r.get_data(as_text=True))
    for value in typed:
        text = text.replace(value, "<typed>")
    return text


# --- request limits ---------------------------------------------------------------------------------
def test_limits_are_on_by_default_in_production():
    from pathlib import Path

    from core.config import default_config

    config = default_config(Path("/tmp/mtkit-config-check"))
    assert config["RATELIMIT_ENABLED"] is True and config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_a_hundred_log_ins_across_a_hundred_user_names_are_cut_off(limited):
    client = from_ip(limited, "198.51.100.7")
    statuses = [client.post("/login", data={"username": f"user{i:03d}", "password": "whatever-9"}).status_code
                for i in range(100)]
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429] * 80
    r = client.post("/login", data={"username": "user100", "password": "whatever-9"})
    assert r.status_code == 429 and TOO_MANY in r.get_data(as_text=True) and int(r.headers["Retry-After"]) > 0
    assert tries("fail") == 20  # refused requests never reached the password check
    # The API token endpoint shares the budget: JSON, 429, Retry-After.
    r = client.post("/api/v1/auth/token", json={"username": "user101", "password": "whatever-9"})
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "too_many_requests"
    assert TOO_MANY in r.get_json()["error"]["message"] and int(r.headers["Retry-After"]) > 0
    # Showing the form is not limited; another client is not affected.
    assert client.get("/login").status_code == 200
    assert from_ip(limited, "198.51.100.8").post("/login", data={"username": "x1", "password": "y-123456"}).status_code == 401


def test_registration_verification_and_uploads_are_limited(limited):
    client = from_ip(limited, "198.51.100.9")
    statuses = [client.post("/register", data={"name": "甲"}).status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429]
    r = client.post("/api/v1/persons", json={"name": "甲"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    verify = [client.get(f"/verify/ABCDEFGHJKMNPQ{i:02d}").status_code for i in range(31)]
    assert 429 not in verify[:30] and verify[30] == 429
    assert TOO_MANY in client.post("/verify", data={"code": "x"}).get_data(as_text=True)
    # Uploads: counted per account (3 a minute in this app).
    make = Factory(limited)
    person = make.person()
    draft = make.application(person, ["M03900"], upload=False, submit=False)
    browser = from_ip(limited, "198.51.100.10")
    login(browser, person.username)
    statuses = [browser.post(f"/applications/{draft.id}/materials", data={}).status_code for _ in range(4)]
    assert 429 not in statuses[:3] and statuses[3] == 429


# --- one answer for unknown, wrong and throttled -----------------------------------------------------
def test_unknown_wrong_and_throttled_get_the_same_answer(app, make):
    person = make.person()
    attacker = from_ip(app, "203.0.113.5")
    for _ in range(5):
        login(attacker, person.username, "wrong-password-9")
    unknown = login(attacker, "11010519491231002X", PASSWORD)
    wrong = login(from_ip(app, "203.0.113.6"), person.username, "wrong-password-9")
    throttled = login(attacker, person.username, PASSWORD)  # the right password, from the blocked client
    assert {r.status_code for r in (unknown, wrong, throttled)} == {401}
    shown = [body(r, "11010519491231002X", person.username) for r in (unknown, wrong, throttled)]
    assert shown[0] == shown[1] == shown[2] and GENERIC in shown[0]
    answers = [client.post("/api/v1/auth/token", json={"username": u, "password": p})
               for client, u, p in ((attacker, "11010519491231002X", PASSWORD),
                                    (from_ip(app, "203.0.113.6"), person.username, "wrong-password-9"),
                                    (attacker, person.username, PASSWORD))]
    assert {r.status_code for r in answers} == {401}
    assert all(r.get_json() == answers[0].get_json() for r in answers)
    assert all("Retry-After" not in r.headers for r in answers)


def test_unknown_wrong_and_throttled_do_the_same_work(app, make, monkeypatch):
    """With the production password hash (scrypt's default cost), every refusal spends exactly one
    hash check of the same method and cost as the account's own, so the three take the same time.
    Counted, not timed: a wall-clock comparison fails on a loaded machine."""
    import werkzeug.security

    from core.models import people

    monkeypatch.setattr(people, "generate_password_hash", werkzeug.security.generate_password_hash)
    login_module._dummy_hash.cache_clear()
    checks: list[str] = []

    def counted(real):
        def check(pwhash, password):
            checks.append(pwhash.split("$", 1)[0])  # the method and its cost, e.g. scrypt:32768:8:1
            return real(pwhash, password)
        return check

    monkeypatch.setattr(people, "check_password_hash", counted(people.check_password_hash))
    monkeypatch.setattr(login_module, "check_password_hash", counted(login_module.check_password_hash))
    try:
        person = make.person()
        method = person.password_hash.split("$", 1)[0]
        assert method.startswith("scrypt:")
        attacker, other = from_ip(app, "203.0.113.5"), from_ip(app, "203.0.113.6")
        for _ in range(5):
            login(attacker, person.username, "wrong-password-9")

        def work(client, username, password):
            checks.clear()
            r = client.post("/api/v1/auth/token", json={"username": username, "password": password})
            assert r.status_code == 401
            return list(checks)

        assert work(other, "11010519491231002X", "wrong-password-9") == [method]  # unknown account
        assert work(other, person.username, "wrong-password-9") == [method]  # wrong password
        assert work(attacker, person.username, PASSWORD) == [method]  # right password, but throttled
    finally:
        login_module._dummy_hash.cache_clear()


# --- throttling per account and client ---------------------------------------------------------------
def concurrently(app, n, *, ips, username, password="wrong-password-9"):
    barrier, statuses = threading.Barrier(n), []

    def attempt(i):
        client = from_ip(app, ips(i))
        barrier.wait()
        statuses.append(client.post("/api/v1/auth/token", json={"username": username, "password": password}).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


def test_forty_concurrent_wrong_passwords_get_exactly_the_allowed_tries(app, make):
    """Each attempt is claimed by one conditional UPDATE before the password is checked."""
    person = make.person()
    statuses = concurrently(app, 40, ips=lambda i: "192.0.2.1", username=person.username)
    assert statuses == [401] * 40
    db.session.expire_all()
    assert (tries("fail"), tries("locked")) == (app.config["MTKIT_LOCKOUT_ATTEMPTS"], 35)


def test_forty_concurrent_clients_share_the_accounts_ceiling(app, make):
    app.config["MTKIT_LOCKOUT_ACCOUNT_ATTEMPTS"] = 10
    person = make.person()
    statuses = concurrently(app, 40, ips=lambda i: f"192.0.2.{i + 10}", username=person.username)
    assert statuses == [401] * 40
    db.session.expire_all()
    assert (tries("fail"), tries("locked")) == (10, 30)


def test_an_attacker_cannot_lock_the_owner_out(app, make, runner):
    app.config["MTKIT_LOCKOUT_ACCOUNT_ATTEMPTS"] = 20
    owner = make.staff("admin", "admin", region=None)
    office = from_ip(app, "192.0.2.50")  # the owner's browser, which signed in before
    assert login(office, "admin").status_code == 302
    office.post("/logout")
    # An attacker behind the same address (a hospital's shared exit) and 30 more addresses.
    same_exit = from_ip(app, "192.0.2.50")
    for _ in range(6):
        assert login(same_exit, "admin", "guess-password-1").status_code == 401
    for i in range(30):
        login(from_ip(app, f"192.0.2.{100 + i}"), "admin", "guess-password-1")
    assert login(same_exit, "admin").status_code == 401  # the attacker's copy of the address is blocked
    assert login(from_ip(app, "192.0.2.200"), "admin").status_code == 401  # new clients wait (ceiling)
    assert login(office, "admin").status_code == 302  # the owner's own browser gets in
    # The owner was told, once, in the inbox.
    assert db.session.scalars(select(Notice.kind).where(Notice.user_id == owner.id)).all() == ["login_blocked"]
    # An administrator (here: the command line) unlocks for everyone.
    result = runner.invoke(args=["users", "unlock", "admin", "--reason", "本人来电"])
    assert result.exit_code == 0 and "已解锁" in result.output
    assert login(from_ip(app, "192.0.2.200"), "admin").status_code == 302
    assert login(same_exit, "admin").status_code == 302
    assert db.session.scalar(select(AuditLog.detail).where(AuditLog.action == "user.unlock")).endswith("本人来电")


def test_the_wait_doubles_after_each_block_and_the_administrator_unlocks(app, make, monkeypatch):
    person = make.person()
    now = {"t": utcnow()}
    monkeypatch.setattr(login_module, "utcnow", lambda: now["t"])
    attacker = from_ip(app, "203.0.113.9")

    def block_once():
        for _ in range(5):
            login(attacker, person.username, "wrong-password-9")
        db.session.expire_all()
        row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.user_id == person.id))
        return row.blocked_until - now["t"]

    assert block_once() == timedelta(minutes=15)
    now["t"] += timedelta(minutes=16)
    assert block_once() == timedelta(minutes=30)
    now["t"] += timedelta(minutes=31)
    assert block_once() == timedelta(minutes=60)
    assert db.session.scalar(select(func.count()).select_from(Notice).where(Notice.user_id == person.id)) == 1
    # 账号管理: the blocked account is listed and unlocked by the administrator of its region.
    make.staff("nmg_admin", "admin", region="150000")
    admin = from_ip(app, "192.0.2.9")
    login(admin, "nmg_admin")
    page = admin.get("/staff/users").get_data(as_text=True)
    assert "暂停登录" in page and "解锁" in page
    assert admin.post(f"/staff/users/{person.id}/unlock").status_code == 302
    assert login(attacker, person.username).status_code == 302


# --- registration that does not reveal who is registered ------------------------------------------
def registration(id_number, **over):
    return {"name": "新参保人", "id_number": id_number, "phone": "13900009999", "region": "150000",
            "division": "150100", "insured_category": "employed", "password": "lantern river 42",
            "password2": "lantern river 42", **over}


def test_registration_answers_the_same_for_a_registered_id_number(app, make):
    owner = make.person(name="王秀英", phone="13912345678")
    new_id = make_id_number("150100", "19700101", 77)
    users = db.session.scalar(select(func.count()).select_from(User))
    fresh, again = app.test_client(), app.test_client()
    r_new, r_dup = fresh.post("/register", data=registration(new_id)), again.post("/register", data=registration(owner.id_number))
    assert (r_new.status_code, r_new.headers["Location"]) == (r_dup.status_code, r_dup.headers["Location"])
    assert body(fresh.get(r_new.headers["Location"])) == body(again.get(r_dup.headers["Location"]))
    assert "注册申请已受理" in body(fresh.get("/register/done"))
    a_new = api(app.test_client()).post("/persons", registration(make_id_number("150100", "19700101", 78)))
    a_dup = api(app.test_client()).post("/persons", registration(owner.id_number))
    assert (a_new.status_code, a_new.get_json()) == (a_dup.status_code, a_dup.get_json()) and a_new.status_code == 202
    # Two new accounts; the owner's account untouched, told once today (inbox and SMS queued).
    assert db.session.scalar(select(func.count()).select_from(User)) == users + 2
    db.session.expire_all()
    assert db.session.get(User, owner.id).name == "王秀英" and db.session.get(User, owner.id).check_password(PASSWORD)
    notices = db.session.scalars(select(Notice).where(Notice.user_id == owner.id, Notice.kind == "register_again")).all()
    assert len(notices) == 1 and "未新建账号" in notices[0].body
    assert db.session.scalar(select(NoticeDelivery.channel).where(NoticeDelivery.notice_id == notices[0].id)) == "sms"
    assert [r.result for r in db.session.scalars(select(AuditLog).where(AuditLog.action == "user.register",
                                                                         AuditLog.object_id == str(owner.id)))] == \
        ["ok", "duplicate", "duplicate"]


def test_registration_does_the_same_work_for_a_registered_id_number(app, make, monkeypatch):
    """A registered ID number costs the same one password hash as a new account (counted, not timed)."""
    import werkzeug.security

    from core.models import people

    hashes: list[str] = []

    def counted(password, *args, **kwargs):
        made = werkzeug.security.generate_password_hash(password, *args, **kwargs)
        hashes.append(made.split("$", 1)[0])
        return made

    monkeypatch.setattr(people, "generate_password_hash", counted)
    owner = make.person()

    def work(id_number):
        hashes.clear()
        r = api(app.test_client()).post("/persons", registration(id_number))
        assert r.status_code == 202
        return list(hashes)

    new = work(make_id_number("150100", "19700101", 200))
    assert len(new) == 1 and new[0].startswith("scrypt:")
    assert work(owner.id_number) == new


def test_window_staff_are_still_told_an_id_number_is_registered(app, client, make, fcg_staff):
    owner = make.person(region="450600", division="450602")
    login(client, "fcg_review")
    r = client.post("/staff/register-person", data=registration(owner.id_number, division="450602"))
    assert r.status_code == 422 and "已注册" in r.get_data(as_text=True)


# --- passwords ------------------------------------------------------------------------------------
@pytest.mark.parametrize("password", ["password1", "qwerty123", "Password1", "1qaz2wsx", "12345678", "88888888",
                                      "abcdefgh", "12121212"])
def test_common_passwords_are_refused(app, client, password):
    r = client.post("/register", data=registration(make_id_number("150100", "19700101", 91), password=password,
                                                   password2=password))
    assert r.status_code == 422 and "过于常见" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_no_composition_rule_and_nothing_from_the_account(app, make):
    idn = make_id_number("150100", "19560312", 5)
    assert password_problem("lantern river forty", username=idn, id_number=idn) is None  # letters only: fine
    assert password_problem("40717381956203", username=idn, id_number=idn) is None  # digits only: fine
    assert password_problem("长城长江黄河泰山", username=idn) is None  # any characters
    assert "至少 8 位" in password_problem("a1b2c3")
    for taken in (idn, "ab" + idn[-6:] + "cd", "x" + idn[6:14], "p13912345678"):
        assert "身份证号码" in password_problem(taken, username=idn, id_number=idn, phone="13912345678"), taken
    assert "用户名" in password_problem("nmg_doctor2026", username="nmg_doctor")
    person = make.person()
    client = make.app.test_client()
    login(client, person.username)
    r = client.post("/profile/password", data={"current": PASSWORD, "new": "qwerty123", "repeat": "qwerty123"})
    assert r.status_code == 422 and "过于常见" in r.get_data(as_text=True)
    r = client.post("/profile/password", data={"current": PASSWORD, "new": "lantern river", "repeat": "lantern river"})
    assert r.status_code == 302


def test_the_demo_password_is_still_accepted():
    assert password_problem("Demo1234", username="nmg_doctor") is None


def _redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.mark.skipif(not _redis_answers(REDIS_URL), reason="no Redis answers at 127.0.0.1:6379: the shared-storage "
                    "path (MTKIT_RATELIMIT_STORAGE_URI=redis://...) is not exercised in this run")
def test_limits_counted_in_redis_are_shared_between_app_instances(db_url, tmp_path):
    """Two workers (two apps) with one Redis share one budget; memory storage would give each its own."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    config = {**base_config(db_url, tmp_path), "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": REDIS_URL,
              "MTKIT_LIMIT_LOGIN": "4/minute"}
    workers = [create_app(config), create_app(config)]
    statuses = []
    for i in range(6):
        worker = workers[i % 2]
        with worker.app_context():
            client = from_ip(worker, "198.51.100.77")
            statuses.append(client.post("/login", data={"username": f"u{i}", "password": "whatever-9"}).status_code)
            db.session.remove()
    for worker in workers:
        with worker.app_context():
            db.engine.dispose()
    redis.Redis.from_url(REDIS_URL).flushdb()
    assert statuses == [401] * 4 + [429] * 2
