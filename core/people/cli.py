"""`flask --app app users ...`: accounts from the command line, as bureau administrators script them.

    flask --app app users create USERNAME --role ROLE --region CODE [--division CODE]
        [--hospital CODE] [--office CODE] [--title TITLE] [--name NAME] [--phone PHONE] --password-stdin
    flask --app app users list [--role ROLE] [--region CODE] [--disabled]
    flask --app app users disable USERNAME [--reason TEXT]
    flask --app app users enable USERNAME
    flask --app app users unlock USERNAME [--reason TEXT]
    flask --app app users logout USERNAME [--reason TEXT]     (强制下线: every session and API token ends)

An insured person is named by their ID number (it is what they log in with; their stored username
is a pseudonym). Every change goes
through the same services as the pages and is audited as done from the command line.
"""
from __future__ import annotations

import getpass
import sys

import click
from flask import Flask, current_app

from core.audit import audit
from core.context import Context, for_app
from core.extensions import db
from core.kernel.errors import ServiceError
from core.kernel.roles import Role
from core.models import User
from core.people import accounts, login
from core.people.identity import mask_id

ROLE_CHOICES = tuple(r.value for r in Role)


def _ctx() -> Context:
    return for_app(current_app, origin="cli")


def _origin() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.ClickException("标准输入中没有密码(--password-stdin 需要从标准输入读一行密码)。")
        return line.rstrip("\r\n")
    return click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")


def _fail(e: ServiceError):
    lines = [e.message] + [f"  - {p}" for p in e.problems]
    raise click.ClickException("\n".join(lines))


def _find(username: str) -> User:
    user = accounts.by_username(username)
    if user is None:
        raise click.ClickException(f"用户 {username} 不存在。")
    return user


def init_app(app: Flask) -> None:
    @app.cli.group("users")
    def users():
        """Create, list and disable accounts."""

    @users.command("create")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice(ROLE_CHOICES), help="角色")
    @click.option("--region", help="地区编码,如 450600(管理员可不填:全部地区)")
    @click.option("--division", help="辖区编码;参保人为参保地区县")
    @click.option("--hospital", help="医院编码(责任医师、医保科)")
    @click.option("--office", help="经办机构编码(经办审核员)")
    @click.option("--title", help="职称(责任医师),如 副主任医师")
    @click.option("--name", help="姓名(默认同用户名;参保人必填)")
    @click.option("--phone", help="手机号(参保人必填)")
    @click.option("--category", default="employed", type=click.Choice(["employed", "retired"]), help="参保人人员类别")
    @click.option("--practitioner-code", help="医保医师代码(国家平台 2503 备案的诊断医师编码)")
    @click.option("--password-stdin", "password_stdin", is_flag=True, help="从标准输入读取密码(一行)")
    def create(username, role, region, division, hospital, office, title, name, phone, category, practitioner_code,
               password_stdin):
        """Create an account. Prints the new account's summary."""
        password = _read_password(password_stdin)
        if practitioner_code is not None and (role == Role.INSURED or accounts.practitioner_code_problem(practitioner_code)):
            raise click.ClickException("医保医师代码只用于工作人员账号,最多 30 个字符。")
        ctx = _ctx()
        try:
            if role == Role.INSURED:
                user = accounts.register_insured(
                    ctx, name=name, id_number=username, phone=phone, password=password, region=region,
                    division=division, insured_category=category,
                )
            else:
                user = accounts.create_staff(
                    ctx, username=username, password=password, role=role, name=name or username, region=region,
                    division=division, hospital=hospital, office=office, title=title, practitioner_code=practitioner_code,
                )
        except ServiceError as e:
            db.session.rollback()
            _fail(e)
        audit(ctx, "user.create.cli", user, detail=_origin())
        db.session.commit()
        click.echo(f"已创建 {Role.label_of(user.role)} 账号 {_shown(user)}(id {user.id})。")

    @users.command("list")
    @click.option("--role", type=click.Choice(ROLE_CHOICES))
    @click.option("--region")
    @click.option("--disabled", is_flag=True, help="只列出已停用的账号")
    def list_(role, region, disabled):
        """List accounts (ID numbers masked)."""
        count = 0
        click.echo(f"{'用户名':<20}\t角色\t姓名\t地区\t辖区\t机构\t状态")
        for user in accounts.listing(role=role, region=region, disabled=disabled):
            place = user.hospital_code or user.office_code or ""
            state = "启用" if user.is_enabled else "停用"
            click.echo(f"{_shown(user):<20}\t{Role.label_of(user.role)}\t{user.name}\t{user.region_code or '全部'}"
                       f"\t{user.division_code or ''}\t{place}\t{state}")
            count += 1
        click.echo(f"共 {count} 个账号。")

    @users.command("disable")
    @click.argument("username")
    @click.option("--reason", default="", help="停用原因(记入审计日志)")
    def disable(username, reason):
        """Disable an account: it can no longer log in and its open sessions end."""
        user = _find(username)
        if not user.is_enabled:
            click.echo(f"账号 {_shown(user)} 已是停用状态。")
            return
        accounts.set_enabled(_ctx(), user, False, detail=f"{_origin()} {reason}".strip())
        db.session.commit()
        click.echo(f"已停用账号 {_shown(user)}。")

    @users.command("enable")
    @click.argument("username")
    def enable(username):
        """Re-enable a disabled account."""
        user = _find(username)
        accounts.set_enabled(_ctx(), user, True, detail=_origin())
        db.session.commit()
        click.echo(f"账号 {_shown(user)} 已启用。")

    @users.command("unlock")
    @click.argument("username")
    @click.option("--reason", default="", help="解锁原因(记入审计日志)")
    def unlock(username, reason):
        """End every log-in block of an account (after failed passwords), e.g. when its owner asks."""
        user = _find(accounts.login_name(username))
        login.unlock(_ctx(), user, detail=f"{_origin()} {reason}".strip())
        db.session.commit()
        click.echo(f"账号 {_shown(user)} 已解锁,可以立即登录。")

    @users.command("logout")
    @click.argument("username")
    @click.option("--reason", default="", help="原因(记入审计日志)")
    def logout(username, reason):
        """强制下线: end every browser session and API token of an account now."""
        user = _find(accounts.login_name(username))
        ended = accounts.force_logout(_ctx(), user, detail=f"{_origin()} {reason}".strip())
        db.session.commit()
        click.echo(f"账号 {_shown(user)} 已强制下线(结束 {ended} 个登录会话,接口令牌均已失效)。")

    @users.command("set-practitioner-code")
    @click.argument("username")
    @click.argument("code")
    def set_practitioner_code(username, code):
        """Set a staff member's 医保医师代码 (used as diag_dr_codg in national-platform filings)."""
        user = _find(username)
        try:
            accounts.set_practitioner_code(_ctx(), user, code, by=_origin())
        except ServiceError as e:
            db.session.rollback()
            _fail(e)
        db.session.commit()
        click.echo(f"已设置 {user.username} 的医保医师代码为 {user.practitioner_code}。")


def _shown(user: User) -> str:
    return mask_id(user.id_number) if user.role == Role.INSURED and user.id_number else user.username
