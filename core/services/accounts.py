"""Accounts: registration of insured persons, staff creation, log-in with lockout."""
from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from core.extensions import db
from core.models import ROLES, User
from core.models.base import utcnow
from core.regions import regions
from core.services import Forbidden, Invalid
from core.services.audit import audit
from core.services.identity import (
    id_number_problem,
    mask_id,
    normalise_id,
    phone_problem,
)
from core.types import INSURED_CATEGORIES, INSURED_SCHEMES, PHYSICIAN_TITLES

MIN_PASSWORD = 8


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def mask_login_name(name: str | None) -> str:
    """What the audit trail keeps of a typed user name: ID numbers masked, other text shortened."""
    name = (name or "")[:64]
    if len(name) == 18 and name[:17].isdigit():
        return mask_id(name)
    return name if len(name) <= 3 else name[:3] + "***"


def password_problem(password: str | None) -> str | None:
    p = password or ""
    if len(p) < MIN_PASSWORD:
        return f"密码至少 {MIN_PASSWORD} 位。"
    if len(p) > 128:
        return "密码过长(最多128位)。"
    if p.isdigit() or p.isalpha():
        return "密码须同时包含字母和数字。"
    return None


def register_insured(*, name, id_number, phone, password, region, division, insured_category="employed", created_by=None,
                     insured_scheme="employee") -> User:
    """Self-registration (or registration at a window). Username is the ID number."""
    problems = []
    name = (name or "").strip()
    if not (2 <= len(name) <= 30):
        problems.append("请填写2-30个字的真实姓名。")
    idn = normalise_id(id_number)
    for p in (id_number_problem(idn), phone_problem(phone), password_problem(password)):
        if p:
            problems.append(p)
    info = regions().get(region)
    if info is None:
        problems.append("请选择参保地区。")
    elif info.division(division) is None:
        problems.append(f"请选择{info.division_label}。")
    if insured_category not in INSURED_CATEGORIES:
        problems.append("请选择人员类别(在职或退休)。")
    if insured_scheme not in INSURED_SCHEMES:
        problems.append("请选择参保险种(职工医保或城乡居民医保)。")
    if not problems and db.session.scalar(select(func.count()).where(User.id_number == idn)):
        problems.append("该身份证号码已注册,请直接登录;如忘记密码请到窗口办理。")
    if problems:
        raise Invalid("注册信息有误:", problems)
    user = User(
        username=idn,
        role="insured",
        name=name,
        id_number=idn,
        phone=phone.strip(),
        region_code=region,
        division_code=division,
        insured_category=insured_category,
        insured_scheme=insured_scheme,
        created_by_id=getattr(created_by, "id", None),
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit("user.register", user, user=created_by or user)
    return user


def set_insured_category(person: User, actor: User, *, scheme: str, category: str) -> None:
    """Agency staff record a change of scheme or category (e.g. retirement). Settlements keep the
    category they were made with; later ones use the new one. Audited."""
    if actor.role != "agency_reviewer" or person.role != "insured" or person.region_code != actor.region_code:
        raise Forbidden("参保类别由本地区经办机构变更。")
    if actor.division_code and person.division_code != actor.division_code:
        raise Forbidden("只能变更本辖区参保人的参保类别。")
    if scheme not in INSURED_SCHEMES or category not in INSURED_CATEGORIES:
        raise Invalid("请选择参保险种和人员类别。")
    before = f"{person.insured_scheme}/{person.insured_category}"
    person.insured_scheme, person.insured_category = scheme, category
    audit("person.category", person, user=actor, detail=f"{before} -> {scheme}/{category}")


def create_staff(*, username, password, role, name, region=None, division=None, hospital=None, office=None, title=None) -> User:
    problems = []
    if role not in ROLES or role == "insured":
        problems.append("角色无效。")
    if not username or len(username) > 64:
        problems.append("用户名无效。")
    if password_problem(password):
        problems.append(password_problem(password))
    info = regions().get(region) if region else None
    if region and info is None:
        problems.append("地区编码无效。")
    if role != "admin" and info is None:
        problems.append("工作人员须指定地区。")
    if info and division and info.division(division) is None:
        problems.append("辖区编码无效。")
    if role in ("physician", "hospital_office"):
        inst = info.institution(hospital) if info else None
        if inst is None or inst.kind != "hospital":
            problems.append("医院工作人员须指定所属医院。")
    if role == "physician" and title not in PHYSICIAN_TITLES:
        problems.append(f"责任医师须填写职称:{'、'.join(PHYSICIAN_TITLES)}。")
    if office:
        inst = info.institution(office) if info else None
        if inst is None or inst.kind != "office":
            problems.append("经办机构编码无效。")
    if role not in ("physician", "hospital_office") and hospital:
        problems.append("只有医院工作人员(责任医师、医保科)可以指定医院。")
    if not (name or "").strip() or len(name) > 50:
        problems.append("请填写姓名(最多50个字)。")
    if db.session.scalar(select(func.count()).where(User.username == username)):
        problems.append("用户名已存在。")
    if problems:
        raise Invalid("工作人员信息有误:", problems)
    user = User(
        username=username, role=role, name=name, region_code=region, division_code=division,
        hospital_code=hospital, office_code=office, title=title,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit("user.create", user, detail=f"role={role}")
    return user


def register_failure(user: User) -> str | None:
    """Count a wrong password; at the limit lock the account and return the message saying so."""
    user.failed_logins = (user.failed_logins or 0) + 1
    limit = current_app.config["MTKIT_LOCKOUT_ATTEMPTS"]
    if user.failed_logins < limit:
        return None
    minutes = current_app.config["MTKIT_LOCKOUT_MINUTES"]
    user.locked_until = utcnow() + timedelta(minutes=minutes)
    user.failed_logins = 0
    return f"密码连续错误 {limit} 次,账号已锁定 {minutes} 分钟。"


def authenticate(username: str, password: str) -> tuple[User | None, str | None]:
    """Check a log-in. Returns (user, None) or (None, Chinese message). Writes audit rows."""
    username = normalise_id(username) if (username or "").strip()[:17].isdigit() else (username or "").strip()
    user = db.session.scalar(select(User).where(User.username == username))
    generic = "用户名或密码错误。"
    if user is None:
        # Spend the same time as a real check, so response times do not reveal who is registered.
        check_password_hash(_dummy_hash(), password or "")
        audit("login", ("users", None), result="fail", detail=f"unknown user {mask_login_name(username)}", user=None)
        return None, generic
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        audit("login", user, result="locked", user=user)
        minutes = int((user.locked_until - now).total_seconds() // 60) + 1
        return None, f"登录失败次数过多,账号已锁定,请 {minutes} 分钟后再试。"
    if not user.check_password(password or ""):
        locked = register_failure(user)
        audit("login", user, result="fail", detail="locked" if locked else None, user=user)
        return None, locked or generic
    if not user.is_enabled:
        audit("login", user, result="disabled", user=user)
        return None, "该账号已停用,请联系管理员。"
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit("login", user, user=user)
    return user, None


def change_password(user: User, current: str, new: str, repeat: str) -> None:
    """Change a password after checking the current one (a refusal raises; the caller audits it)."""
    problems = []
    if not user.check_password(current or ""):
        problems.append("当前密码不正确。")
        locked = register_failure(user)  # guessing here counts like guessing at log-in
        if locked:
            raise Invalid(locked, status=403)
    if new != repeat:
        problems.append("两次输入的新密码不一致。")
    if password_problem(new):
        problems.append(password_problem(new))
    if not problems and current == new:
        problems.append("新密码不能与当前密码相同。")
    if problems:
        raise Invalid("密码未修改:", problems)
    user.set_password(new)
    user.failed_logins = 0
    audit("user.change_password", user, user=user)


def set_enabled(user: User, enabled: bool, *, actor: User | None = None, detail: str | None = None) -> None:
    """Disable (or re-enable) an account. A disabled user's sessions end at their next request."""
    if user.is_enabled == enabled:
        return
    user.is_enabled = enabled
    audit("user.enable" if enabled else "user.disable", user, user=actor, detail=detail)
