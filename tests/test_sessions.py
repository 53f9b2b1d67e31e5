"""Issue 12 item 3: server-side, revocable browser sessions.

A cookie saved before log-out opens nothing afterwards; a password change ends the account's other
sessions and tokens; disabling an account and an administrator's 强制下线 end all of them (and they
stay ended when the account is enabled again); every session ends after its absolute lifetime
however active it is, and after the idle timeout; a copy presented by another browser ends it.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from core.kernel.time import utcnow
from core.models import ApiToken, AuditLog, User, UserSession
from core.people import sessions as sessions_module
from tests.conftest import PASSWORD, login
from tests.test_api import api

PERSON_PAGES = ("/benefits", "/profile")  # 我的待遇, 个人信息


def saved_cookie(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str, user_agent: str | None = None):
    """Another client presenting a saved session cookie (as `curl -b` would)."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    if user_agent:
        other.environ_base["HTTP_USER_AGENT"] = user_agent
    return other


def opens(client, url) -> bool:
    r = client.get(url)
    assert r.status_code in (200, 302), (url, r.status_code)
    return r.status_code == 200


def open_sessions(user) -> list[UserSession]:
    db.session.expire_all()
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id,
                                                        UserSession.ended_at.is_(None))).all()


def ended_reasons(user) -> list[str]:
    db.session.expire_all()
    return db.session.scalars(select(UserSession.end_reason).where(UserSession.user_id == user.id,
                                                                   UserSession.ended_at.is_not(None))
                              .order_by(UserSession.id)).all()


@pytest.fixture
def clock(monkeypatch):
    """Move the sessions' clock (the real UTC moment they are stamped with) forward."""
    state = {"now": utcnow()}
    monkeypatch.setattr(sessions_module, "utcnow", lambda: state["now"])

    def move(**delta):
        state["now"] = state["now"] + timedelta(**delta)
    return move


def test_a_cookie_saved_before_logout_opens_nothing_afterwards(app, client, make):
    person = make.person()
    assert login(client, person.username).status_code == 302
    assert all(opens(client, url) for url in PERSON_PAGES)
    cookie = saved_cookie(client)
    assert client.post("/logout").status_code == 302
    attacker = replay(app, cookie)
    for url in PERSON_PAGES:
        r = attacker.get(url)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login"), url
    assert ended_reasons(person) == ["logout"]
    assert open_sessions(person) == []


def test_password_change_ends_the_other_sessions_and_tokens_and_keeps_this_one(app, make):
    person = make.person()
    phone, laptop = app.test_client(), app.test_client()
    login(phone, person.username)
    login(laptop, person.username)
    token = api(app.test_client()).login(person.username)
    r = phone.post("/profile/password", data={"current": PASSWORD, "new": "lantern river 42", "repeat": "lantern river 42"})
    assert r.status_code == 302
    assert opens(phone, "/profile")
    assert not opens(laptop, "/profile")
    assert token.get("/me").status_code == 401
    assert ended_reasons(person) == ["password"] and len(open_sessions(person)) == 1
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken.revoked_at)) is not None
    detail = db.session.scalar(select(AuditLog.detail).where(AuditLog.action == "user.change_password",
                                                             AuditLog.result == "ok"))
    assert detail == "sessions_ended=1"


def test_disabling_an_account_ends_its_sessions_and_tokens_for_good(app, client, make, runner):
    person = make.person()
    login(client, person.username)
    cookie = saved_cookie(client)
    token = api(app.test_client()).login(person.username)
    assert runner.invoke(args=["users", "disable", person.username]).exit_code == 0
    assert not opens(client, "/profile") and token.get("/me").status_code == 401
    # Enabled again: the old cookie and token stay dead (the person logs in anew).
    assert runner.invoke(args=["users", "enable", person.username]).exit_code == 0
    assert not opens(replay(app, cookie), "/profile")
    assert token.get("/me").status_code == 401
    assert ended_reasons(person) == ["disabled"]


def test_an_administrator_ends_every_session_of_an_account(app, make):
    person = make.person()  # 内蒙古 150000
    browser = app.test_client()
    login(browser, person.username)
    token = api(app.test_client()).login(person.username)
    make.staff("fcg_admin", "admin", region="450600")
    make.staff("nmg_admin", "admin", region="150000")
    other_region = app.test_client()
    login(other_region, "fcg_admin")
    assert other_region.post(f"/staff/users/{person.id}/logout").status_code == 404  # not theirs
    assert opens(browser, "/profile")
    admin = app.test_client()
    login(admin, "nmg_admin")
    page = admin.post("/staff/users", data={"q": person.id_number}).get_data(as_text=True)
    assert "强制下线" in page and person.id_number not in page  # found by ID number, shown masked
    r = admin.post(f"/staff/users/{person.id}/logout", data={"reason": "手机丢失"})
    assert r.status_code == 302
    assert not opens(browser, "/profile") and token.get("/me").status_code == 401
    assert ended_reasons(person) == ["admin"]
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.force_logout")).one()
    assert row.object_id == str(person.id) and "手机丢失" in row.detail and "tokens=1" in row.detail
    assert opens(admin, "/staff/users")  # the administrator's own session goes on


def test_the_users_logout_command_ends_every_session(app, client, make, runner):
    person = make.person()
    login(client, person.username)
    result = runner.invoke(args=["users", "logout", person.username, "--reason", "离职"])
    assert result.exit_code == 0 and "强制下线" in result.output
    assert not opens(client, "/profile")
    assert ended_reasons(person) == ["admin"]


@pytest.mark.parametrize("role,hours", [("staff", 12), ("insured", 8)])
def test_a_session_ends_at_its_absolute_lifetime_however_active(app, client, make, clock, role, hours):
    user = make.person() if role == "insured" else make.staff("yibao", "hospital_office", hospital="H150100001",
                                                               division="150100")
    login(client, user.username)
    url = "/profile"
    used = timedelta()
    while used + timedelta(minutes=25) < timedelta(hours=hours):
        clock(minutes=25)  # active: a request every 25 minutes, inside the 30-minute idle timeout
        used += timedelta(minutes=25)
        assert opens(client, url), used
    clock(minutes=25)
    assert not opens(client, url)
    assert ended_reasons(user) == ["expired"]


def test_a_session_ends_after_the_idle_timeout_on_the_server(app, client, make, clock):
    person = make.person()
    login(client, person.username)
    cookie = saved_cookie(client)
    clock(minutes=29)
    assert opens(client, "/profile")
    clock(minutes=31)
    # Even a copy of the cookie that the browser had not let expire opens nothing.
    assert not opens(replay(app, cookie), "/profile")
    assert ended_reasons(person) == ["idle"]


def test_last_use_is_written_at_most_once_a_minute(app, client, make, clock):
    person = make.person()
    login(client, person.username)
    first = open_sessions(person)[0].last_seen_at
    clock(seconds=30)
    client.get("/profile")
    assert open_sessions(person)[0].last_seen_at == first
    clock(seconds=40)
    client.get("/profile")
    assert open_sessions(person)[0].last_seen_at > first


def session_cookie_sent(response) -> bool:
    return any(c.startswith("session=") for c in response.headers.getlist("Set-Cookie"))


def test_the_cookie_is_renewed_when_the_last_use_is_written_not_on_every_page(app, client, make, clock):
    """The signed cookie's expiry moves on with the server's record of the last use (once a minute)."""
    person = make.person()
    login(client, person.username)
    client.get("/profile")
    clock(seconds=30)
    assert not session_cookie_sent(client.get("/profile"))
    clock(seconds=40)
    r = client.get("/profile")
    assert r.status_code == 200 and session_cookie_sent(r)
    assert not session_cookie_sent(client.get("/profile"))
    # Still checked on every request: an idle session ends on the server whatever the cookie says.
    cookie = saved_cookie(client)
    clock(minutes=31)
    assert not opens(replay(app, cookie), "/profile")
    assert ended_reasons(person) == ["idle"]


def test_a_copy_of_the_cookie_in_another_browser_ends_the_session(app, client, make):
    """session_protection that applies: the session is bound to the browser it began in."""
    person = make.person()
    login(client, person.username)
    stolen = replay(app, saved_cookie(client), user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    assert not opens(stolen, "/profile")
    assert not opens(client, "/profile")  # ended for everyone: the person notices and logs in again
    assert ended_reasons(person) == ["client"]


def test_a_person_sees_their_sessions_and_ends_another_one(app, make):
    person = make.person()
    phone, laptop = app.test_client(), app.test_client()
    login(phone, person.username)
    login(laptop, person.username)
    page = phone.get("/profile").get_data(as_text=True)
    assert "登录设备" in page and page.count("本设备") == 1 and "退出</button>" in page
    mine = {s.id for s in open_sessions(person)}
    laptop_id = max(mine)  # logged in second
    assert phone.post(f"/profile/sessions/{laptop_id}/end").status_code == 302
    assert not opens(laptop, "/profile") and opens(phone, "/profile")
    assert ended_reasons(person) == ["self"]
    # Somebody else's session id does nothing.
    intruder = make.person()
    login(laptop, intruder.username)
    assert laptop.post(f"/profile/sessions/{min(mine)}/end").status_code == 302
    assert opens(phone, "/profile")


def test_the_session_table_migration_upgrades_and_downgrades_a_database_holding_data(tmp_path):
    import flask_migrate
    from sqlalchemy import text

    from app import create_app
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'live.sqlite3'}", tmp_path))
    with app.app_context():
        flask_migrate.upgrade(revision="c4677ae4804c")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, username, password_hash, role, name, is_enabled, failed_logins,"
                              " insured_scheme, notice_sms, notice_letter) VALUES (1, 'someone', 'x', 'insured', '张三',"
                              " 1, 3, 'employee', 1, 0)"))
        flask_migrate.upgrade(revision="i12_sessions")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO user_sessions (token_hash, user_id, created_at, last_seen_at, expires_at,"
                              " agent_hash) VALUES ('h', 1, '2026-11-23 08:00:00', '2026-11-23 08:00:00',"
                              " '2026-11-23 20:00:00', 'a')"))
            conn.execute(text("INSERT INTO login_throttles (user_id, client, attempts, blocks, updated_at)"
                              " VALUES (1, 'ip:127.0.0.1', 2, 0, '2026-11-23 08:00:00')"))
            assert conn.execute(text("SELECT failed_logins FROM users")).scalar() == 3
        flask_migrate.downgrade(revision="c4677ae4804c")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM users")).scalar() == "张三"
            tables = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars())
            assert not {"user_sessions", "login_throttles"} & tables
        db.engine.dispose()


def test_user_rows_never_hold_a_session_id(app, client, make):
    """Only the session id's hash is stored: a copy of the table opens nothing."""
    person = make.person()
    login(client, person.username)
    cookie = saved_cookie(client)
    from flask.sessions import SecureCookieSessionInterface

    raw = SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie)["sid"]
    row = open_sessions(person)[0]
    assert raw not in (row.token_hash, row.user_agent) and len(row.token_hash) == 64
    assert db.session.get(User, person.id).last_login_at is not None
