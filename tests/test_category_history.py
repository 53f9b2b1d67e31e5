"""A change of insured category (在职 → 退休) has an effective date: a visit is settled with the
category in force on the visit date, whenever it is settled; history is kept; the year's single
deductible is not charged again because the category changed. 防城港 sample deductibles: 在职 200,
退休 100, 城乡居民 300; 高血压 (FCG001) 70% 在职, 75% 退休, 60% 居民."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.benefits import service as ben
from core.benefits.inputs import Visit
from core.extensions import db
from core.kernel.errors import Forbidden, Invalid
from core.models import CATEGORY_EARLIEST, AuditLog, InsuredCategoryChange, User
from core.people import categories
from tests.conftest import as_
from tests.test_benefits import on, recognise, settle


@pytest.fixture
def worker(make, fcg_staff):
    """An in-service employee recognised for 高血压 from 2026-01-05."""
    person = make.person(region="450600", division="450602", category="employed")
    recognise(make, fcg_staff["reviewer"], person, ["FCG001"], date(2026, 1, 5))
    return person, fcg_staff["reviewer"]


def retire(staff, person, day: str, **kw):
    row, affected = categories.record_change(as_(staff), person, scheme=kw.pop("scheme", "employee"),
                                             category=kw.pop("category", "retired"), effective_from=day, **kw)
    db.session.commit()
    return row, affected


def history(person):
    return db.session.scalars(select(InsuredCategoryChange).where(InsuredCategoryChange.person_id == person.id)
                              .order_by(InsuredCategoryChange.id)).all()


def test_retirement_recorded_on_07_01_does_not_change_a_june_visit_settled_later(worker):
    person, staff = worker
    on(date(2026, 7, 1))
    retire(staff, person, "2026-07-01", reason="办理退休")
    on(date(2026, 7, 20))
    june = settle(person, staff, "500", date(2026, 6, 20))  # settled 07-20 for a visit of 06-20
    eve = settle(person, staff, "500", date(2026, 6, 30))   # the day before the effective date
    first = settle(person, staff, "500", date(2026, 7, 1))  # on the effective date
    assert [(r.category, r.ratio) for r in (june, eve, first)] == [
        ("employed", "0.70"), ("employed", "0.70"), ("retired", "0.75")]
    # 在职: 200 deductible, 300 × 70% = 210; 500 × 70% = 350; 退休 from 07-01: 500 × 75% = 375.
    assert [(r.deductible_fen, r.reimbursed_fen) for r in (june, eve, first)] == [(20000, 21000), (0, 35000), (0, 37500)]
    assert june.settled_on == date(2026, 7, 20)
    # History: the registered category, then the retirement, both kept; the person's current category mirrors it.
    rows = history(person)
    assert [(r.category, r.effective_from) for r in rows] == [("employed", CATEGORY_EARLIEST), ("retired", date(2026, 7, 1))]
    assert rows[1].recorded_by_id == staff.id and rows[1].reason == "办理退休"
    assert person.insured_category == "retired"
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "person.category")).one()
    assert audit.object_id == str(person.id) and "employed -> retired from 2026-07-01" in audit.detail


def test_the_deductible_met_before_the_change_is_not_charged_again(make, fcg_staff):
    """A retired person (deductible 100) pays it in March; re-employed from May (deductible 200): the
    year's deductible is met, not charged up to 200."""
    staff = fcg_staff["reviewer"]
    person = make.person(region="450600", division="450602", category="retired")
    recognise(make, staff, person, ["FCG001"], date(2026, 1, 5))
    on(date(2026, 3, 10))
    march = settle(person, staff, "300", date(2026, 3, 1))
    assert (march.deductible_fen, march.reimbursed_fen) == (10000, 15000)  # 200 × 75%
    on(date(2026, 5, 10))
    retire(staff, person, "2026-05-01", category="employed", reason="返聘")
    on(date(2026, 6, 10))
    june = settle(person, staff, "300", date(2026, 6, 1))
    assert (june.category, june.deductible_fen, june.reimbursed_fen) == ("employed", 0, 21000)  # 300 × 70%
    est = ben.estimate(as_(staff), Visit(person, "H450602001", "FCG001", date(2026, 6, 2), Decimal("100")))
    assert "不再重复收取" in next(s["detail"] for s in est["steps"] if s["label"] == "起付标准")
    bal = ben.balances(as_(), person, 2026)
    assert bal["category"] == "employed" and bal["deductible"]["left"] == "0.00"


def test_a_deductible_partly_paid_counts_towards_the_new_categorys(worker):
    person, staff = worker
    on(date(2026, 7, 20))
    june = settle(person, staff, "60", date(2026, 6, 20))  # 60 of 在职's 200 deductible
    retire(staff, person, "2026-07-01")
    july = settle(person, staff, "100", date(2026, 7, 2))  # 退休's 100: 40 left, then 60 × 75% = 45
    assert (june.deductible_fen, july.deductible_fen, july.reimbursed_fen) == (6000, 4000, 4500)
    # A later 在职 visit (June, settled now): the year's deductible is met, nothing more charged.
    late = settle(person, staff, "100", date(2026, 6, 25))
    assert (late.category, late.deductible_fen, late.reimbursed_fen) == ("employed", 0, 7000)


def test_a_retroactive_change_lists_the_settlements_made_with_the_old_category(worker):
    person, staff = worker
    on(date(2026, 9, 1))
    before = settle(person, staff, "1000", date(2026, 6, 30))
    after = settle(person, staff, "1000", date(2026, 7, 15))
    _, affected = retire(staff, person, "2026-07-01")
    assert [r.id for r in affected] == [after.id]  # the 06-30 visit keeps 在职 rightly
    assert before.category == after.category == "employed"  # settled rows are never edited
    ben.reverse(as_(staff), after, "退休后按退休比例重新结算")
    again = settle(person, staff, "1000", date(2026, 7, 15))
    assert (again.category, again.reimbursed_fen) == ("retired", 75000)


def test_a_correction_is_a_new_row_and_a_resident_has_no_in_service_category(worker):
    person, staff = worker
    on(date(2026, 9, 1))
    retire(staff, person, "2026-07-01")
    retire(staff, person, "2026-07-01", category="employed", reason="登记有误,更正")  # same date: the later row wins
    assert settle(person, staff, "1000", date(2026, 7, 2)).category == "employed"
    retire(staff, person, "2026-08-01", scheme="resident", category="retired")
    rows = history(person)
    assert len(rows) == 4 and (rows[-1].scheme, rows[-1].category) == ("resident", None)
    r = settle(person, staff, "1000", date(2026, 8, 2))
    assert (r.category, r.ratio) == ("resident", "0.60")
    assert (person.insured_scheme, person.insured_category) == ("resident", None)


@pytest.mark.parametrize("fields,message", [
    ({"effective_from": "2026-09-02"}, "不能晚于今天"),
    ({"effective_from": "2000-01-01"}, "2000-01-01 之后"),
    ({"effective_from": "2026/07/01"}, "请按 年-月-日 填写生效日期"),
    ({"effective_from": ""}, "请按 年-月-日 填写生效日期"),
    ({"category": "pensioner"}, "请选择人员类别"),
    ({"scheme": "farmer"}, "请选择参保险种"),
    ({"category": "employed"}, "已是职工在职"),
    ({"reason": "x" * 201}, "最多 200 字"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_changes(worker, fields, message):
    person, staff = worker
    on(date(2026, 9, 1))
    args = {"scheme": "employee", "category": "retired", "effective_from": "2026-07-01", "reason": ""} | fields
    with pytest.raises(Invalid) as e:
        categories.record_change(as_(staff), person, **args)
    assert message in e.value.message
    db.session.rollback()
    assert len(history(person)) == 1 and db.session.get(User, person.id).insured_category == "employed"


def test_only_the_agency_of_the_persons_district_records_a_change(make, worker, fcg_staff):
    person, _ = worker
    on(date(2026, 9, 1))
    hospital = make.staff("fcg_yibao2", "hospital_office", region="450600", division="450602", hospital="H450602001")
    for actor in (hospital, fcg_staff["dx_reviewer"], person):
        with pytest.raises(Forbidden):
            categories.record_change(as_(actor), person, scheme="employee", category="retired", effective_from="2026-07-01")
    db.session.rollback()
    assert len(history(person)) == 1


def test_people_without_history_keep_their_registered_category_until_a_change(app, worker):
    """People written in bulk (or before history was kept): the registered category applies; the first
    change records it as the starting row."""
    person, staff = worker
    db.session.execute(InsuredCategoryChange.__table__.delete())
    db.session.commit()
    on(date(2026, 9, 1))
    assert settle(person, staff, "100", date(2026, 6, 1)).category == "employed"
    retire(staff, person, "2026-07-01")
    assert [(r.category, r.effective_from) for r in history(person)] == [("employed", CATEGORY_EARLIEST), ("retired", date(2026, 7, 1))]
    assert settle(person, staff, "100", date(2026, 6, 2)).category == "employed"


def test_the_migration_backfills_existing_people(tmp_path):
    """Upgrading a database holding people: each insured person gets their current category from the start."""
    import flask_migrate

    from app import create_app
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'live.sqlite3'}", tmp_path))
    with app.app_context():
        flask_migrate.upgrade(revision="i12_audit_chain")
        with db.engine.begin() as conn:
            for i, (role, scheme, category) in enumerate((("insured", "employee", "retired"), ("insured", "resident", "employed"),
                                                         ("agency_reviewer", "employee", None)), start=1):
                conn.exec_driver_sql(
                    "INSERT INTO users (id, username, password_hash, role, name, is_enabled, failed_logins, insured_scheme,"
                    f" insured_category) VALUES ({i}, 'u{i}', 'x', '{role}', '张三', 1, 0, '{scheme}', "
                    + ("NULL" if category is None else f"'{category}'") + ")")
        flask_migrate.upgrade(revision="i13_rules")
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT person_id, scheme, category, effective_from FROM insured_category_changes"
                                        " ORDER BY person_id").all()
        assert [tuple(r[:3]) for r in rows] == [(1, "employee", "retired"), (2, "resident", None)]  # no 在职/退休 for residents
        assert {str(r[3])[:10] for r in rows} == {"2000-01-01"}
        flask_migrate.downgrade(revision="i12_audit_chain")
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == 3
        db.engine.dispose()


def test_count_of_history_rows_for_a_new_registration(make):
    person = make.person(region="450600", division="450602", category="retired")
    assert db.session.scalar(select(func.count()).where(InsuredCategoryChange.person_id == person.id)) == 1
