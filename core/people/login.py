"""Log-in checks that an attacker can neither use to learn who is registered nor turn against a user.

- **One answer.** An unknown user name, a wrong password and a throttled or locked account get the
  same message (``GENERIC``) and status, and each spends one password-hash check, so neither the
  page nor the time it takes tells them apart. The person is told what happened through their inbox
  (and SMS, if they chose it), at most once a day.
- **Per account and client.** Failures are counted per (account, client): the client is the browser
  when it signed in to this account before (a signed device cookie), otherwise the IP address. After
  ``MTKIT_LOCKOUT_ATTEMPTS`` failures that client waits ``MTKIT_LOCKOUT_MINUTES``, twice as long
  after each further block (at most ``MTKIT_LOCKOUT_MAX_MINUTES``); other clients, and the person's
  own browser, are not affected.
- **A ceiling per account.** Clients that never signed in to the account share a much larger budget
  (``MTKIT_LOCKOUT_ACCOUNT_ATTEMPTS``) before they all wait ``MTKIT_LOCKOUT_MINUTES``; the person's
  own browser still gets in. An administrator unlocks (账号管理, ``flask users unlock``).
- **Atomic.** An attempt is claimed by one conditional ``UPDATE ... RETURNING`` before the password
  is checked and committed at once, so concurrent guesses cannot get more tries than the limit.
"""
from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.time import utcnow
from core.models import LoginThrottle, User
from core.notices.service import notify

GENERIC = "用户名或密码错误,或账号暂时不能登录。"
DEVICES_KEPT = 5


# --- device cookies: a browser that signed in to an account before -------------------------------
def _serializer(settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings["SECRET_KEY"], salt="mtkit-device")


def devices(settings, cookie: str | None) -> list[list]:
    """The (user id, nonce) pairs a device cookie carries; [] when absent or forged."""
    if not cookie or len(cookie) > 2000:
        return []
    try:
        value = _serializer(settings).loads(cookie)
    except BadSignature:
        return []
    ok = isinstance(value, list) and all(isinstance(v, list) and len(v) == 2 for v in value)
    return value[:DEVICES_KEPT] if ok else []


def remember_device(settings, cookie: str | None, user: User) -> str:
    """The device cookie after ``user`` signed in with it: this account's entry first, a fresh one
    when it had none."""
    kept = [d for d in devices(settings, cookie) if d[0] != user.id]
    mine = next((d for d in devices(settings, cookie) if d[0] == user.id), [user.id, secrets.token_urlsafe(12)])
    return _serializer(settings).dumps([mine] + kept[: DEVICES_KEPT - 1])


def client_of(ctx: Context, user: User, cookie: str | None) -> tuple[str, bool]:
    """The throttle key for this attempt and whether it is a browser known to the account."""
    nonce = next((d[1] for d in devices(ctx.settings, cookie) if d[0] == user.id), None)
    if isinstance(nonce, str) and nonce:
        return f"device:{nonce[:40]}", True
    return f"ip:{(ctx.ip or '-')[:45]}", False


# --- claims -------------------------------------------------------------------------------------
def _ensure_row(user_id: int, client: str) -> None:
    try:
        with db.session.begin_nested():
            db.session.execute(insert(LoginThrottle).values(user_id=user_id, client=client, attempts=0, blocks=0,
                                                            updated_at=utcnow()))
    except IntegrityError:  # it exists (perhaps created by a concurrent attempt this instant)
        pass


def claim(ctx: Context, user: User, client: str, known: bool) -> tuple[int | None, int | None]:
    """Claim one attempt for (user, client) and, for a client unknown to the account, one of the
    account's; commits. Returns (attempt number, account attempt number); None where refused."""
    s, now = ctx.settings, utcnow()
    stale = now - timedelta(hours=s["MTKIT_LOCKOUT_RESET_HOURS"])
    if not db.session.scalar(select(LoginThrottle.id).where(LoginThrottle.user_id == user.id,
                                                            LoginThrottle.client == client)):
        _ensure_row(user.id, client)
    T = LoginThrottle
    n = db.session.scalar(
        update(T).where(T.user_id == user.id, T.client == client,
                        or_(T.blocked_until.is_(None), T.blocked_until <= now),
                        or_(T.attempts < s["MTKIT_LOCKOUT_ATTEMPTS"], T.updated_at < stale))
        .values(attempts=case((T.updated_at < stale, 1), else_=T.attempts + 1), updated_at=now)
        .returning(T.attempts),
        execution_options={"synchronize_session": False},
    )
    g = 0
    if n is not None and not known:
        g = db.session.scalar(
            update(User).where(User.id == user.id, User.failed_logins < s["MTKIT_LOCKOUT_ACCOUNT_ATTEMPTS"],
                               or_(User.locked_until.is_(None), User.locked_until <= now))
            .values(failed_logins=User.failed_logins + 1).returning(User.failed_logins),
            execution_options={"synchronize_session": False},
        )
    db.session.commit()
    return n, g


def record_failure(ctx: Context, user: User, client: str, n: int, g: int | None) -> bool:
    """After a wrong password on claimed attempt ``n`` (account attempt ``g``): block the client at
    its limit (and the unknown clients at the account's). Returns whether something was blocked."""
    s, now = ctx.settings, utcnow()
    blocked = False
    if n >= s["MTKIT_LOCKOUT_ATTEMPTS"]:
        row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.user_id == user.id,
                                                            LoginThrottle.client == client))
        minutes = min(s["MTKIT_LOCKOUT_MINUTES"] * 2 ** min(row.blocks, 16), s["MTKIT_LOCKOUT_MAX_MINUTES"])
        row.blocked_until, row.blocks, row.attempts = now + timedelta(minutes=minutes), row.blocks + 1, 0
        blocked = True
    if g and g >= s["MTKIT_LOCKOUT_ACCOUNT_ATTEMPTS"]:
        db.session.execute(update(User).where(User.id == user.id).values(
            locked_until=now + timedelta(minutes=s["MTKIT_LOCKOUT_MINUTES"]), failed_logins=0),
            execution_options={"synchronize_session": False})
        blocked = True
    if blocked:
        _tell(ctx, user)
    return blocked


def _tell(ctx: Context, user: User) -> None:
    """The person learns of it in their inbox (and by SMS if they chose it), once a day at most."""
    key = f"login-blocked:{user.id}:{ctx.today(user.region_code).isoformat()}"
    body = ("您的账号今天多次输入了错误的密码,为保护账号安全,已暂停从该设备(或网络)登录一段时间。"
            "您在平时使用的浏览器上仍可正常登录。如果不是您本人操作,他人并未登录成功,请留意并考虑修改密码;"
            "如需立即解除,请联系医保经办窗口或系统管理员。")
    try:
        with db.session.begin_nested():
            notify(ctx, user.id, "login_blocked", "登录保护提醒", body, dedup_key=key)
    except IntegrityError:  # already told today
        pass


def succeeded(user: User, client: str) -> None:
    """The right password: this client's and the account's counts start again."""
    db.session.execute(update(LoginThrottle).where(LoginThrottle.user_id == user.id, LoginThrottle.client == client)
                       .values(attempts=0, blocks=0, blocked_until=None, updated_at=utcnow()),
                       execution_options={"synchronize_session": False})
    user.failed_logins, user.locked_until = 0, None


def check(ctx: Context, user: User, password: str, *, cookie: str | None) -> str:
    """Claim an attempt, check ``password`` and count the outcome: "ok", "wrong", "blocked" (wrong,
    and this client, or the account, must now wait) or "throttled" (refused unchecked). Always
    spends one password-hash check."""
    client, known = client_of(ctx, user, cookie)
    n, g = claim(ctx, user, client, known)
    if n is None or g is None:
        spend(password)
        return "throttled"
    if user.check_password(password or ""):
        succeeded(user, client)
        return "ok"
    return "blocked" if record_failure(ctx, user, client, n, g) else "wrong"


# --- the answer is the same for everyone -----------------------------------------------------------
def spend(password: str | None) -> None:
    """One password-hash check against nothing: as long as a real one."""
    check_password_hash(_dummy_hash(), password or "")


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    probe = User(password_hash="")  # never added to the session
    probe.set_password(secrets.token_hex(16))  # the same method and cost as real hashes
    return probe.password_hash


def unlock(ctx: Context, user: User, *, detail: str | None = None) -> None:
    """Administrators: end every block and count of the account (after the person asked, say)."""
    db.session.execute(update(LoginThrottle).where(LoginThrottle.user_id == user.id)
                       .values(attempts=0, blocks=0, blocked_until=None, updated_at=utcnow()),
                       execution_options={"synchronize_session": False})
    user.failed_logins, user.locked_until = 0, None
    audit(ctx, "user.unlock", user, detail=detail)


def locked_ids(user_ids) -> set[int]:
    """Which of these accounts are blocked now, for everyone or for some client."""
    ids, now = list(user_ids), utcnow()
    if not ids:
        return set()
    found = set(db.session.scalars(select(User.id).where(User.id.in_(ids), User.locked_until > now)))
    found |= set(db.session.scalars(select(LoginThrottle.user_id).where(LoginThrottle.user_id.in_(ids),
                                                                        LoginThrottle.blocked_until > now)))
    return found
