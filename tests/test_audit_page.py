"""The audit page reads in Chinese and filters by person, staff member, action and date (issue 13)."""
from __future__ import annotations

import ast
import pathlib
import re
from datetime import datetime, timezone

from core import audit_labels
from core.audit import audit
from core.extensions import db
from core.kernel.status import Action
from tests.conftest import as_, login

CORE = pathlib.Path(__file__).resolve().parent.parent / "core"


def _strings(node, assignments) -> list[str | re.Pattern]:
    """The action strings an ``audit()`` argument can hold: constants, both arms of ``a if c else b``,
    a name's assigned values in the module, and f-strings as patterns."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body, assignments) + _strings(node.orelse, assignments)
    if isinstance(node, ast.Name):
        return [s for value in assignments.get(node.id, []) for s in _strings(value, {})]
    if isinstance(node, ast.JoinedStr):
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else r"[a-z0-9_]+" for v in node.values]
        return [re.compile("".join(parts))]
    raise AssertionError(f"cannot tell the action of audit({ast.unparse(node)}, ...)")


def audit_actions() -> list[tuple[str, str | re.Pattern]]:
    found = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assignments: dict[str, list] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assignments.setdefault(target.id, []).append(node.value)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "audit"
                    and len(node.args) >= 2):
                found += [(f"{path.relative_to(CORE.parent)}:{node.lineno}", s) for s in _strings(node.args[1], assignments)]
    return found


def test_every_audit_action_in_core_has_a_chinese_label():
    found = audit_actions()
    assert len(found) > 50  # the walk found the calls (about 60 today)
    missing = []
    for where, action in found:
        if isinstance(action, re.Pattern):
            if not any(action.fullmatch(code) for code in audit_labels.ACTIONS):
                missing.append(f"{where}: {action.pattern}")
        elif action not in audit_labels.ACTIONS:
            missing.append(f"{where}: {action}")
    assert missing == [], "add these to core/audit_labels.py ACTIONS: " + ", ".join(missing)
    # the f-string families are fully covered: every application action has its label
    assert all(f"application.{a.value}" in audit_labels.ACTIONS for a in Action)
    assert all(re.search(r"[\u4e00-\u9fff]", label) for label in audit_labels.ACTIONS.values())


def test_every_table_has_an_object_label(app):
    assert set(db.metadata.tables) - {"alembic_version"} <= set(audit_labels.OBJECT_TYPES)


def _page(client, **params):
    r = client.get("/staff/audit", query_string=params)
    return r.status_code, r.get_data(as_text=True)


def test_rows_read_in_chinese_with_readable_objects_and_links(app, client, make, nmg_staff):
    make.staff("root", "admin", region=None)
    person = make.person(name="张桂英")
    application = make.application(person, ["M03900"])
    audit(as_(nmg_staff["office"]), "person.view_full", ("users", person.id), detail="reason=核对")
    db.session.commit()
    login(client, "root", "wrong-password")
    login(client, "root")
    status, page = _page(client)
    assert status == 200
    for text in ("登录", "失败", "成功", "查看完整个人信息", "申请提交", "用户 张**(参保人)", "yibao(医院医保科)"):
        assert text in page, text
    assert f'<a href="/applications/{application.id}">申请 #{application.id}</a>' in page
    cells = re.findall(r'data-label="(?:操作|结果)">([^<]*)<', page)
    assert cells and not {"login", "ok", "fail", "person.view_full", "application.submit"} & set(cells)
    assert "张桂英" not in page  # names of insured people stay masked
    # the filter offers Chinese labels, not codes
    assert '<option value="benefit.settle">门特结算</option>' in page and "如 login" not in page


def test_person_filter_takes_the_id_number_in_the_body(app, client, make, nmg_staff):
    make.staff("root", "admin", region=None)
    one, other = make.person(name="张三"), make.person(name="李四", phone="13800002222")
    mine = make.application(one, ["M03900"])
    theirs = make.application(other, ["M03900"])
    audit(as_(nmg_staff["office"]), "person.view_full", ("users", one.id))
    db.session.commit()
    login(client, "root")
    r = client.post("/staff/audit", data={"id_number": one.id_number, "action": ""})
    assert r.status_code == 302 and one.id_number not in r.headers["Location"]
    assert r.headers["Location"].endswith(f"person={one.id}")
    status, page = _page(client, person=one.id)
    assert status == 200 and f"申请 #{mine.id}" in page and f"申请 #{theirs.id}" not in page
    assert "查看完整个人信息" in page  # a staff member's view of the person's data is about the person
    # with an action chosen too, both apply
    r = client.post("/staff/audit", data={"id_number": "", "person_keep": one.id, "action": "person.view_full"})
    _, page = _page(client, **dict(p.split("=") for p in r.headers["Location"].split("?")[1].split("&")))
    assert "查看完整个人信息" in page and f"申请 #{mine.id}" not in page
    r = client.post("/staff/audit", data={"id_number": "150102195503120251"})
    assert r.status_code == 422 and "没有找到该身份证号码的参保人" in r.get_data(as_text=True)


def test_staff_action_and_date_filters(app, client, make, nmg_staff):
    make.staff("root", "admin", region=None)
    person = make.person()
    make.application(person, ["M03900"])
    audit(as_(nmg_staff["office"]), "person.view_full", ("users", person.id))
    # 2026-01-10 23:30 Beijing time: the local day, not the UTC one (2026-01-10 15:30Z)
    audit(as_(nmg_staff["doctor"]), "person.view_full", ("users", person.id)).at = datetime(2026, 1, 10, 15, 30, tzinfo=timezone.utc)
    db.session.commit()
    login(client, "root")
    _, page = _page(client, staff="yibao")
    assert "yibao(医院医保科)" in page and "doctor(责任医师)" not in page
    _, page = _page(client, action="person.view_full")
    assert set(re.findall(r'data-label="操作">([^<]*)<', page)) == {"查看完整个人信息"}
    _, page = _page(client, date_from="2026-01-10", date_to="2026-01-10")
    assert "doctor(责任医师)" in page and "yibao(医院医保科)" not in page
    _, page = _page(client, date_to="2026-01-09")
    assert "doctor(责任医师)" not in page
    _, page = _page(client, date_from="2026-01-11", date_to="2026-01-11")
    assert "doctor(责任医师)" not in page
    for params, message in (({"action": "drop table"}, "请从列表中选择操作"),
                            ({"date_from": "2026-13-01"}, "开始日期格式应为"),
                            ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "开始日期不能晚于结束日期")):
        status, page = _page(client, **params)
        assert status == 422 and message in page, params
    status, page = _page(client, date_from="0001-01-01", date_to="9999-12-31")  # the calendar's ends: no overflow
    assert status == 422 and "开始日期超出范围" in page and "结束日期超出范围" in page
    for odd in ("abc", "0", "99999999999999999999"):
        status, page = _page(client, person=odd)
        assert status == 422 and "参保人无效" in page, odd
