"""Accounts: registration of insured persons, staff creation, log-in with lockout, passwords,
contact details and notice channels. One function per action; the pages, the API and the CLI call
these, and each writes its audit row."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.errors import Forbidden, Invalid
from core.kernel.roles import DESK_ROLES, HOSPITAL_ROLES, Role
from core.kernel.text import clean_name, clean_text, is_ascii_code
from core.kernel.text import code as normal_code
from core.kernel.time import utcnow
from core.kernel.types import INSURED_CATEGORIES, INSURED_SCHEMES, PHYSICIAN_TITLES
from core.models import User
from core.notices.service import notify
from core.people import categories, login, sessions, tokens
from core.people.identity import id_number_problem, mask_id, normalise_id, normalise_login, normalise_phone, phone_problem
from core.people.passwords import MIN_PASSWORD, password_problem  # noqa: F401  (re-exported)

MAX_ADDRESS = 200
# What a public registration answers, whether the ID number was new or already registered.
REGISTRATION_ACCEPTED = ("注册申请已受理。如该身份证号码此前已注册,我们不会新建账号,并会通过短信和站内消息通知本人。"
                         "新注册的账号请用身份证号码和刚设置的密码登录。")


def mask_login_name(name: str | None) -> str:
    """What the audit trail keeps of a typed user name: ID numbers masked, other text shortened."""
    name = (name or "")[:64]
    if len(name) == 18 and name[:17].isdigit():
        return mask_id(name)
    return name if len(name) <= 3 else name[:3] + "***"


def register_insured(ctx: Context, *, name, id_number, phone, password, region, division, insured_category="employed",
                     insured_scheme="employee", password_repeat: str | None = None, at_window: bool = False,
                     public: bool = False) -> User | None:
    """Self-registration, or (``at_window``) registration by window or 医保科 staff, the acting user, for
    a person who types their own password. They log in with their ID number; the username is a
    random pseudonym (``User.pseudonym``), so no username carries an ID number. Window staff register
    people of their own region and, when they serve one district, of that district only. Who is
    signed in never turns a self-registration into a window one: the caller says which it is.

    ``public`` (the registration page and API): an ID number already registered is not revealed.
    Nothing is created, the account's owner is told (inbox, and SMS if chosen), and None is
    returned; the caller answers as for a new account (``REGISTRATION_ACCEPTED``). Window staff and
    the command line are told the truth."""
    actor = ctx.actor if at_window else None
    if at_window:
        if actor is None or actor.role not in DESK_ROLES:
            raise Forbidden("只有医保经办人员和医院医保科可以在窗口为参保人办理注册。")
        if region != actor.region_code or (actor.division_code and division != actor.division_code):
            raise Forbidden("只能为本辖区的参保人办理注册。")
    if password_repeat is not None and password != password_repeat:
        raise Invalid("两次输入的密码不一致。")
    problems = []
    name = clean_name(name)  # refuses invisible and control characters (U+202E and the like)
    if not (2 <= len(name) <= 30):
        problems.append("请填写2-30个字的真实姓名。")
    idn = normalise_id(id_number)
    pw_problem = password_problem(password, username=idn, id_number=idn, phone=(phone or "").strip())
    for p in (id_number_problem(idn, ctx.today(region)), phone_problem(phone), pw_problem):
        if p:
            problems.append(p)
    info = ctx.regions.get(region)
    if info is None:
        problems.append("请选择参保地区。")
    elif info.division(division) is None:
        problems.append(_division_problem(ctx, info, division))
    if insured_scheme not in INSURED_SCHEMES:
        problems.append("请选择参保险种(职工医保或城乡居民医保)。")
    elif insured_scheme == "resident":
        insured_category = None  # 城乡居民 are not split into 在职/退休: nothing to store or print
    elif insured_category not in INSURED_CATEGORIES:
        problems.append("职工医保参保人请选择人员类别(在职或退休)。")
    owner = None if problems else db.session.scalar(select(User.id).where(User.id_number_is(idn)))
    if owner is not None and not public:
        problems.append("该身份证号码已注册,请直接登录;如忘记密码请到窗口办理。")
    if problems:
        raise Invalid("注册信息有误:", problems)
    if owner is not None:
        _registered_again(ctx, owner, password)
        return None
    user = User(
        username=User.pseudonym(), role=Role.INSURED, name=name, id_number=idn, phone=normalise_phone(phone), region_code=region,
        division_code=division, insured_category=insured_category, insured_scheme=insured_scheme,
        created_by_id=getattr(actor, "id", None),
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    categories.record_initial(user, actor)  # the category history starts with the registered one
    audit(ctx, "user.register", user, user=actor or user)
    return user


def _division_problem(ctx: Context, info, division: str | None) -> str:
    """A division not of the chosen region: name the one chosen when it belongs to another region (a
    form whose region was changed after its division was picked)."""
    other = next((r for r in ctx.regions.all() if division and r.division(division)), None)
    if other is not None:
        return f"所选{other.division_label}「{other.division(division).name}」不属于{info.name},请重新选择{info.division_label}。"
    return f"请选择{info.division_label}。"


def _registered_again(ctx: Context, owner_id: int, password: str) -> None:
    """A public registration with an ID number already registered: spend the time a new account
    takes (one password hash), tell the owner once a day, audit; create nothing."""
    User(password_hash="").set_password(password)  # never added: only the same work as a new account
    key = f"register-again:{owner_id}:{ctx.today(None).isoformat()}"
    body = ("有人在门特服务用您的身份证号码申请注册。您的账号已存在,系统未新建账号,您的账号和资料未受影响。"
            "如果是您本人,请直接登录;如忘记密码,请到医保经办窗口办理。如果不是您本人,请留意。")
    try:
        with db.session.begin_nested():
            notify(ctx, owner_id, "register_again", "注册提醒", body, dedup_key=key)
    except IntegrityError:  # already told today: an attacker cannot flood the owner with SMS
        pass
    audit(ctx, "user.register", ("users", owner_id), result="duplicate", user=None)


def create_staff(ctx: Context, *, username, password, role, name, region=None, division=None, hospital=None, office=None,
                 title=None, practitioner_code=None) -> User:
    problems = []
    username = clean_text(normalise_login(username), "用户名", field="username")
    name = clean_name(name, field="name") if name is not None else None
    if practitioner_code is not None:
        practitioner_code = normal_code(practitioner_code)
    if role not in Role.labels() or role == Role.INSURED:
        problems.append("角色无效。")
    if not username or len(username) > 64:
        problems.append("用户名无效。")
    if password_problem(password, username=username):
        problems.append(password_problem(password, username=username))
    info = ctx.regions.get(region) if region else None
    if region and info is None:
        problems.append("地区编码无效。")
    if role != Role.ADMIN and info is None:
        problems.append("工作人员须指定地区。")
    if info and division and info.division(division) is None:
        problems.append("辖区编码无效。")
    if role in HOSPITAL_ROLES:
        inst = info.institution(hospital) if info else None
        if inst is None or inst.kind != "hospital":
            problems.append("医院工作人员须指定所属医院。")
    if role == Role.PHYSICIAN and title not in PHYSICIAN_TITLES:
        problems.append(f"责任医师须填写职称:{'、'.join(PHYSICIAN_TITLES)}。")
    if office:
        inst = info.institution(office) if info else None
        if inst is None or inst.kind != "office":
            problems.append("经办机构编码无效。")
    if role not in HOSPITAL_ROLES and hospital:
        problems.append("只有医院工作人员(责任医师、医保科)可以指定医院。")
    if not (name or "").strip() or len(name) > 50:
        problems.append("请填写姓名(最多50个字)。")
    if practitioner_code is not None and practitioner_code_problem(practitioner_code):
        problems.append(practitioner_code_problem(practitioner_code))
    if db.session.scalar(select(func.count()).where(User.username == username)):
        problems.append("用户名已存在。")
    if problems:
        raise Invalid("工作人员信息有误:", problems)
    user = User(
        username=username, role=role, name=name, region_code=region, division_code=division,
        hospital_code=hospital, office_code=office, title=title,
        practitioner_code=practitioner_code or None,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit(ctx, "user.create", user, detail=f"role={role} origin={ctx.origin}")
    return user


def practitioner_code_problem(code: str | None) -> str | None:
    if not is_ascii_code(normal_code(code)):
        return "医保医师代码只用于工作人员账号,最多 30 个字符,只能包含英文字母、数字和 . _ -。"
    return None


def set_practitioner_code(ctx: Context, user: User, code: str, *, by: str = "") -> None:
    """A staff member's 医保医师代码 (diag_dr_codg in national-platform filings). ``by`` names who
    changed it outside a session (the CLI passes "cli:<login name>")."""
    if user.role == Role.INSURED or practitioner_code_problem(code):
        raise Invalid("医保医师代码只用于工作人员账号,最多 30 个字符,只能包含英文字母、数字和 . _ -。")
    old, user.practitioner_code = user.practitioner_code, normal_code(code)
    action = "user.practitioner_code.cli" if ctx.origin == "cli" else "user.practitioner_code"
    audit(ctx, action, user, detail=f"{by or ctx.origin} {old or '-'} -> {user.practitioner_code}".strip())


def login_name(username: str | None) -> str:
    """What a person typed as their user name, as stored: NFKC, ID numbers normalised."""
    return normalise_login(username)


def account_named(typed: str | None) -> User | None:
    """The account someone means by what they type to log in: an insured person by ID number
    (found through its HMAC; the number is never stored in clear), anyone else by username."""
    name = login_name(typed)
    if len(name) == 18 and name[:17].isdigit():
        user = db.session.scalar(select(User).where(User.id_number_is(name)))
        if user is not None:
            return user
    return db.session.scalar(select(User).where(User.username == name))


def authenticate(ctx: Context, username: str, password: str, *, device: str | None = None) -> tuple[User | None, str | None]:
    """Check a log-in. Returns (user, None) or (None, Chinese message): one message for an unknown
    user, a wrong password and a throttled or locked account (``core.people.login``), with one
    password-hash check each. ``device`` is the browser's device cookie. Writes audit rows; the
    caller commits either way."""
    username = login_name(username)
    user = account_named(username) if len(username) <= 64 else None
    if user is None:
        audit(ctx, "login", ("users", None), result="fail", detail=f"unknown user {mask_login_name(username)}", user=None)
        db.session.commit()  # as a known account's attempt is claimed and committed before its check
        login.spend(password)
        return None, login.GENERIC
    outcome = login.check(ctx, user, password, cookie=device)
    if outcome != "ok":
        audit(ctx, "login", user, result="locked" if outcome == "throttled" else "fail",
              detail="blocked" if outcome == "blocked" else None, user=user)
        return None, login.GENERIC
    if not user.is_enabled:
        audit(ctx, "login", user, result="disabled", user=user)
        return None, "该账号已停用,请联系管理员。"
    user.last_login_at = utcnow()
    audit(ctx, "login", user, user=user)
    return user, None


PASSWORD_GUESSED = "当前密码多次输入错误,为保护账号已退出登录,请稍后再登录。"


def change_password(ctx: Context, user: User, current: str, new: str, repeat: str, *, session_id: str | None = None,
                    device: str | None = None) -> None:
    """Change a password after checking the current one; every other session of the account (and
    every API token) ends, the one ``session_id`` names goes on. A refusal raises; a wrong current
    password counts like one at log-in (committed at once), and the caller audits the refusal
    (``record_failed_password_change``). Guessed until the client is throttled: 403, and the caller
    ends the session."""
    problems = []
    outcome = login.check(ctx, user, current, cookie=device)
    db.session.commit()  # a failure counts even though the change is refused
    if outcome in ("blocked", "throttled"):
        raise Invalid(PASSWORD_GUESSED, status=403)
    if outcome != "ok":
        problems.append("当前密码不正确。")
    if new != repeat:
        problems.append("两次输入的新密码不一致。")
    problem = password_problem(new, username=user.username, id_number=user.id_number, phone=user.phone)
    if problem:
        problems.append(problem)
    if not problems and current == new:
        problems.append("新密码不能与当前密码相同。")
    if problems:
        raise Invalid("密码未修改:", problems)
    user.set_password(new)
    ended = sessions.end_all(ctx, user, "password", keep=session_id)
    tokens.revoke_all(ctx, user, "password")
    audit(ctx, "user.change_password", user, user=user, detail=f"sessions_ended={ended}")


def record_failed_password_change(ctx: Context, user: User) -> None:
    """After a refused change was rolled back: audit the attempt (a guessed password is worth knowing)."""
    audit(ctx, "user.change_password", user, result="fail", user=user)


def set_enabled(ctx: Context, user: User, enabled: bool, *, detail: str | None = None) -> None:
    """Disable (or re-enable) an account. Disabling ends every session and API token at once."""
    if user.is_enabled == enabled:
        return
    user.is_enabled = enabled
    if not enabled:
        sessions.end_all(ctx, user, "disabled")
        tokens.revoke_all(ctx, user, "disabled")
    audit(ctx, "user.enable" if enabled else "user.disable", user, detail=detail)


def force_logout(ctx: Context, user: User, *, detail: str | None = None) -> int:
    """强制下线: an administrator (or the command line) ends every session and API token of the account."""
    ended = sessions.end_all(ctx, user, "admin")
    revoked = tokens.revoke_all(ctx, user, "admin")
    audit(ctx, "user.force_logout", user, detail=f"{detail or ''} sessions={ended} tokens={revoked}".strip())
    return ended


def update_contact(ctx: Context, user: User, *, phone: str | None, address: str | None, remote_address: str | None) -> None:
    """A person's own phone, address and 异地 address. A blank phone keeps the current one (pages
    never show the full number, so the field comes back empty)."""
    new_phone = normalise_phone(phone) or user.phone
    problems = [p for p in (phone_problem(new_phone),) if p]
    address = clean_text(address, "联系地址", field="address") or None
    remote_address = clean_text(remote_address, "异地居住地址", field="remote_address") or None
    if len(address or "") > MAX_ADDRESS or len(remote_address or "") > MAX_ADDRESS:
        problems.append(f"地址最多 {MAX_ADDRESS} 个字。")
    if problems:
        raise Invalid("联系方式未保存:", problems, status=400)
    changed = [f for f, v in (("address", address), ("remote_address", remote_address)) if getattr(user, f) != v]
    if new_phone != user.phone:
        changed.append("phone")
    user.phone, user.address, user.remote_address = new_phone, address, remote_address
    audit(ctx, "user.update_contact", user, detail=",".join(changed))


def set_notice_channels(ctx: Context, user: User, *, sms: bool, letter: bool) -> None:
    """The channels a person wants notices through besides the in-app inbox (always on)."""
    problems = []
    if sms and not user.phone:
        problems.append("选择短信通知须先登记手机号码。")
    if letter and not (user.address or user.remote_address):
        problems.append("选择纸质信件须先填写联系地址(异地居住的填写异地居住地址),信件寄往该地址。")
    if problems:
        raise Invalid("通知方式未保存:", problems)
    user.notice_sms, user.notice_letter = sms, letter
    audit(ctx, "user.update_notice_prefs", user, detail=f"sms={int(sms)} letter={int(letter)}")


def reveal_own(ctx: Context, user: User) -> User:
    """A person opens their own full ID and phone numbers: a view of full personal data, audited."""
    audit(ctx, "person.view_full", user, detail="self")
    return user


def by_username(username: str) -> User | None:
    """An account by username, or an insured person's by ID number (as they log in)."""
    return account_named(username)


def listing(*, role: str | None = None, region: str | None = None, disabled: bool = False):
    """Accounts for the ``users list`` command, oldest first, streamed."""
    query = select(User).order_by(User.id)
    if role:
        query = query.where(User.role == role)
    if region:
        query = query.where(User.region_code == region)
    if disabled:
        query = query.where(User.is_enabled.is_(False))
    return db.session.scalars(query.execution_options(yield_per=500))
