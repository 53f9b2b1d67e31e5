"""`flask users`: administrators script accounts; bad input is a clear message and creates nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from core.extensions import db
from core.models import AuditLog, User
from tests.conftest import login

GOOD = "Str0ng!Pass"


def users(runner, *args, password=GOOD + "\n"):
    return runner.invoke(args=["users", *args], input=password)


def count_users():
    return db.session.scalar(select(func.count()).select_from(User))


def test_create_each_role_and_log_in(runner, client):
    cases = [
        ("dr_li", ["--role", "physician", "--region", "150000", "--division", "150100", "--hospital", "H150100001",
                   "--title", "副主任医师", "--name", "李医生"]),
        ("yb_zhao", ["--role", "hospital_office", "--region", "150000", "--hospital", "H150100001", "--name", "赵丽"]),
        ("fcg_rev", ["--role", "agency_reviewer", "--region", "450600", "--office", "O450600001"]),
        ("fcg_exp", ["--role", "expert", "--region", "450600"]),
        ("boss", ["--role", "admin"]),
        ("450602195807040268", ["--role", "insured", "--region", "450600", "--division", "450602",
                                "--name", "韦小红", "--phone", "13907700001", "--category", "retired"]),
    ]
    for username, options in cases:
        result = users(runner, "create", username, *options, "--password-stdin")
        assert result.exit_code == 0, result.output
        assert "已创建" in result.output
    assert count_users() == len(cases)
    person = db.session.scalar(select(User).where(User.id_number_is("450602195807040268")))
    assert (person.role, person.id_number, person.insured_category) == ("insured", "450602195807040268", "retired")
    assert "450602195807040268" not in users(runner, "list").output  # ID numbers masked in listings
    r = login(client, "dr_li", GOOD)
    assert r.status_code == 302
    created = db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "user.create.cli"))
    assert created == len(cases)


def test_bad_input_creates_nothing(runner):
    bad = [
        (["x1", "--role", "physician", "--region", "150000", "--hospital", "H150100001"], "职称"),
        (["x2", "--role", "physician", "--region", "150000", "--hospital", "NOPE", "--title", "主任医师"], "所属医院"),
        (["x3", "--role", "agency_reviewer", "--region", "999999"], "地区编码无效"),
        (["x4", "--role", "agency_reviewer", "--region", "450600", "--office", "H150100001"], "经办机构编码无效"),
        (["x5", "--role", "expert", "--region", "450600", "--hospital", "H150100001"], "只有医院工作人员"),
        (["110105194912310021", "--role", "insured", "--region", "150000", "--division", "150100",
          "--name", "张三", "--phone", "13800001111"], "身份证"),  # wrong check character
        (["x6", "--role", "admin"], "密码"),
    ]
    for args, words in bad:
        password = "short\n" if args[0] == "x6" else GOOD + "\n"
        result = users(runner, "create", *args, "--password-stdin", password=password)
        assert result.exit_code != 0, args
        assert words in result.output, (args, result.output)
    assert count_users() == 0
    result = users(runner, "create", "x7", "--role", "superuser", "--password-stdin")
    assert result.exit_code != 0 and count_users() == 0
    result = runner.invoke(args=["users", "create", "x8", "--role", "admin", "--password-stdin"], input="")
    assert result.exit_code != 0 and "标准输入中没有密码" in result.output


def test_duplicate_username_is_refused(runner):
    assert users(runner, "create", "dup", "--role", "admin", "--password-stdin").exit_code == 0
    result = users(runner, "create", "dup", "--role", "admin", "--password-stdin")
    assert result.exit_code != 0 and "用户名已存在" in result.output
    assert count_users() == 1


def test_disable_ends_log_in_and_sessions(runner, client):
    users(runner, "create", "yb", "--role", "hospital_office", "--region", "150000", "--hospital", "H150100001",
          "--password-stdin")
    assert login(client, "yb", GOOD).status_code == 302
    assert client.get("/staff/queue").status_code == 200
    result = users(runner, "disable", "yb", "--reason", "离职")
    assert result.exit_code == 0 and "已停用" in result.output
    assert client.get("/staff/queue").status_code == 302  # the open session is gone
    assert login(client, "yb", GOOD).status_code != 302
    listed = users(runner, "list", "--disabled").output
    assert "yb" in listed and "停用" in listed and "共 1 个账号" in listed
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.disable")).one()
    assert "离职" in row.detail
    assert users(runner, "enable", "yb").exit_code == 0
    assert login(client, "yb", GOOD).status_code == 302
    assert users(runner, "disable", "nobody").exit_code != 0


def test_list_filters(runner):
    users(runner, "create", "a1", "--role", "expert", "--region", "450600", "--password-stdin")
    users(runner, "create", "a2", "--role", "expert", "--region", "150000", "--password-stdin")
    out = users(runner, "list", "--region", "450600").output
    assert "a1" in out and "a2" not in out and "共 1 个账号" in out


def test_practitioner_code_for_national_filings(runner):
    ok = users(runner, "create", "dr_zhou", "--role", "physician", "--region", "150000", "--hospital", "H150100001",
               "--title", "主任医师", "--practitioner-code", "D150100000123", "--password-stdin")
    assert ok.exit_code == 0, ok.output
    assert db.session.scalar(select(User.practitioner_code).where(User.username == "dr_zhou")) == "D150100000123"
    too_long = users(runner, "create", "dr_x", "--role", "physician", "--region", "150000", "--hospital", "H150100001",
                     "--title", "主任医师", "--practitioner-code", "D" * 31, "--password-stdin")
    assert too_long.exit_code != 0 and "医保医师代码" in too_long.output
    assert db.session.scalar(select(User).where(User.username == "dr_x")) is None


def test_set_practitioner_code_later(runner):
    users(runner, "create", "dr_qian", "--role", "physician", "--region", "150000", "--hospital", "H150100001",
          "--title", "主任医师", "--password-stdin")
    ok = runner.invoke(args=["users", "set-practitioner-code", "dr_qian", "D150100000999"])
    assert ok.exit_code == 0, ok.output
    assert db.session.scalar(select(User.practitioner_code).where(User.username == "dr_qian")) == "D150100000999"
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.practitioner_code.cli")).one()
    assert row.detail.startswith("cli") and row.detail.endswith("- -> D150100000999")  # who, from the shell
    assert runner.invoke(args=["users", "set-practitioner-code", "nobody", "D1"]).exit_code != 0
    assert runner.invoke(args=["users", "set-practitioner-code", "dr_qian", "D" * 31]).exit_code != 0
    assert db.session.scalar(select(User.practitioner_code).where(User.username == "dr_qian")) == "D150100000999"
