"""SLA clocks: due dates on queue rows, overdue/due-soon filters with keyset pages, the pause while
returned for supplement, and the supervisors' view per office and per reviewer."""
from __future__ import annotations

import re
from datetime import date

from flask import current_app

from core.applications import review
from core.extensions import db
from core.applications import service as apps
from tests.conftest import login
from tests.conftest import as_


def on(day):
    current_app.config["MTKIT_TODAY"] = day


def ids(html):
    return list(dict.fromkeys(int(x) for x in re.findall(r'href="/applications/(\d+)"', html)))


def fcg_app(make, day, division="450602"):
    on(day)
    inst = "O450600001" if division == "450602" else "O450681001"
    return make.application(make.person(region="450600", division=division, phone=f"1390000{make._seq:04d}"), ["FCG001"], institution=inst)


def test_due_dates_and_filters_in_the_queue(app, client, make, fcg_staff):
    late = fcg_app(make, date(2026, 11, 18))  # 受理 due 11-19: overdue on 11-23
    soon = fcg_app(make, date(2026, 11, 23))  # due 11-24: the next working day
    later = fcg_app(make, date(2026, 11, 23))
    review.act(as_(fcg_staff["reviewer"]), later, "accept", later.version)  # 初审 due 11-30
    db.session.commit()
    on(date(2026, 11, 23))
    login(client, "fcg_review")
    html = client.get("/staff/queue").get_data(as_text=True)
    assert "时限 2026-11-19" in html and "已超时" in html and "即将到期" in html
    assert ids(client.get("/staff/queue?due=overdue").get_data(as_text=True)) == [late.id]
    assert ids(client.get("/staff/queue?due=soon").get_data(as_text=True)) == [soon.id]
    assert set(ids(client.get("/staff/queue?view=all").get_data(as_text=True))) == {late.id, soon.id, later.id}
    assert ids(client.get("/staff/queue?due=bogus").get_data(as_text=True))  # unknown filter: ignored, not an error


def test_overdue_pages_walk_most_urgent_first(app, client, make, fcg_staff):
    created = [fcg_app(make, date(2026, 11, d)).id for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13) for _ in range(3)]
    on(date(2026, 11, 23))
    login(client, "fcg_review")
    seen, url = [], "/staff/queue?due=overdue"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += ids(html)
        nxt = re.search(r'href="(/staff/queue\?[^"]*after=[^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert seen == created  # oldest deadline first, each once, across two pages
    assert client.get("/staff/queue?due=overdue&after=junk").status_code == 200


def test_the_clock_pauses_while_returned_and_resumes_with_what_was_left(app, make, fcg_staff):
    a = fcg_app(make, date(2026, 11, 23))
    staff, person = fcg_staff["reviewer"], a.person
    review.act(as_(staff), a, "accept", a.version)
    assert a.step_due == date(2026, 11, 30)  # 初审: 5 working days from Monday 11-23
    on(date(2026, 11, 25))  # two working days used
    review.act(as_(staff), a, "return", a.version, to="applicant", note="请补充检查报告")
    assert (a.step_due, a.sla_remaining) == (None, 3)
    on(date(2026, 12, 7))  # twelve days later the person resubmits
    apps.submit(as_(person), a, a.version)
    assert (a.status, a.step_due, a.sla_remaining) == ("in_review", date(2026, 12, 10), None)  # 3 working days left


def test_a_return_on_the_due_day_resumes_due_on_the_day_of_resubmission(app, make, fcg_staff):
    a = fcg_app(make, date(2026, 11, 23))
    review.act(as_(fcg_staff["reviewer"]), a, "accept", a.version)
    on(date(2026, 11, 30))
    review.act(as_(fcg_staff["reviewer"]), a, "return", a.version, to="applicant", note="请补充")
    assert a.sla_remaining == 0
    on(date(2026, 12, 2))
    apps.submit(as_(a.person), a, a.version)
    assert a.step_due == date(2026, 12, 2)


def test_returned_rows_show_the_paused_clock(app, client, make, fcg_staff):
    a = fcg_app(make, date(2026, 11, 23))
    review.act(as_(fcg_staff["reviewer"]), a, "accept", a.version)
    review.act(as_(fcg_staff["reviewer"]), a, "return", a.version, to="applicant", note="请补充")
    db.session.commit()
    login(client, "fcg_review")
    html = client.get("/staff/queue?view=all&status=returned").get_data(as_text=True)
    assert "时限暂停" in html and "剩余 5 个工作日" in html


def test_supervisors_see_overdue_work_per_office_and_per_reviewer(app, client, make, fcg_staff):
    make.staff("fcg_admin", "admin", region="450600")
    make.staff("nmg_admin", "admin", region="150000")
    a = fcg_app(make, date(2026, 11, 16))
    review.act(as_(fcg_staff["reviewer"]), a, "accept", a.version)  # 初审 due 11-23 -> due soon... today
    b = fcg_app(make, date(2026, 11, 10), division="450681")
    review.act(as_(fcg_staff["dx_reviewer"]), b, "accept", b.version)  # 初审 due 11-17: overdue
    fcg_app(make, date(2026, 11, 12))  # waiting for 受理, due 11-13: overdue, nobody has touched it
    db.session.commit()
    on(date(2026, 11, 23))
    login(client, "fcg_admin")
    html = client.get("/staff/overdue").get_data(as_text=True)
    assert "<strong>2</strong> 件已超过办理时限,1 件将在下一个工作日" in html
    by_reviewer = html.split("按经办人")[1]
    assert "东兴市医疗保障服务中心" in html
    assert "dx_review" in by_reviewer and "fcg_review" in by_reviewer  # who accepted b, and a
    assert "未分配" in by_reviewer  # the one still waiting for 受理
    client.post("/logout")
    login(client, "nmg_admin")
    assert "<strong>0</strong> 件已超过办理时限" in client.get("/staff/overdue").get_data(as_text=True)
    client.post("/logout")
    login(client, "fcg_review")
    assert client.get("/staff/overdue").status_code == 403


def test_overdue_filter_walks_the_due_index(app, make, nmg_staff):
    """已超时 reads ix_applications_due_inst in (step_due, id) order: no scan of the whole scope, no sort."""
    import pytest
    from sqlalchemy import text

    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan check is written for SQLite's EXPLAIN QUERY PLAN")
    from core.models import Application
    from core.applications.queues import DueWindow, QueueFilter, statement

    window = DueWindow(date(2026, 11, 23), date(2026, 11, 24))
    stmt = statement(nmg_staff["office"], QueueFilter(due="overdue"), window=window,
                     after=(date(2026, 11, 2), 1000)).with_only_columns(Application.id)
    compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
    plan = " ".join(str(r[-1]) for r in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "ix_applications_due_inst" in plan and "TEMP B-TREE" not in plan, plan
