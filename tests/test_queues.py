"""Queues: keyset pagination over indexes, filters, and the plugin validation hook."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from core import hookimpl
from core.extensions import db
from core.kernel.errors import Invalid
from core.applications import service as apps
from tests.conftest import login
from tests.conftest import as_


def page_ids(client, **params):
    html = client.get("/staff/queue", query_string=params).get_data(as_text=True)
    ids = [int(x) for x in re.findall(r'href="/applications/(\d+)"', html)]
    nxt = re.search(r'before=(\d+)', html)
    return list(dict.fromkeys(ids)), int(nxt.group(1)) if nxt else None


def test_keyset_pages_cover_every_row_once_newest_first(app, client, make, fcg_staff):
    people = [make.person(region="450600", division="450602", phone=f"138000010{i:02d}") for i in range(45)]
    created = [make.application(p, ["FCG001"]).id for p in people]
    login(client, "fcg_review")
    seen, before, pages = [], None, 0
    while True:
        params = {"view": "all"} | ({"before": before} if before else {})
        ids, before = page_ids(client, **params)
        seen += ids
        pages += 1
        if before is None:
            break
    assert pages == 3 and seen == sorted(created, reverse=True)


def test_filters_narrow_within_scope(app, client, make, fcg_staff):
    a = make.application(make.person(region="450600", division="450602"), ["FCG001"])
    b = make.application(make.person(region="450600", division="450681", phone="13800002222"), ["FCG002"],
                         institution="O450681001")
    login(client, "fcg_review")
    assert page_ids(client, view="all", disease="FCG002")[0] == [b.id]
    assert page_ids(client, view="all", division="450602")[0] == [a.id]
    assert page_ids(client, view="all", status="draft")[0] == []
    assert set(page_ids(client)[0]) == {a.id, b.id}  # both wait for 受理 by an agency reviewer


def test_queue_query_walks_the_index(app, make, nmg_staff):
    """The hospital queue reads ix_applications_queue_inst in id order (no full scan, no sort)."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan check is written for SQLite's EXPLAIN QUERY PLAN; PostgreSQL plans depend on statistics")
    from core.models import Application
    from core.applications.queues import QueueFilter, statement

    stmt = statement(nmg_staff["office"], QueueFilter(view="mine"), before=1000).with_only_columns(Application.id)
    compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
    plan = " ".join(str(r[-1]) for r in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "ix_applications_queue_inst" in plan and "TEMP B-TREE" not in plan, plan


class RefuseWithoutPhone:
    @hookimpl
    def mtkit_validate_application(self, application):
        return ["申请人须登记手机号码。"] if not application.person.phone else []


def test_plugin_validation_problems_stop_submission(app, make):
    app.extensions["mtkit_pm"].register(RefuseWithoutPhone())
    person = make.person()
    application = make.application(person, ["M03900"], submit=False)
    person.phone = None
    with pytest.raises(Invalid) as e:
        apps.submit(as_(person), application, application.version)
    assert "申请人须登记手机号码。" in e.value.problems
    db.session.rollback()
    assert application.status == "draft"
