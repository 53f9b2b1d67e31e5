"""Recognition and renewal rules end to end through the services, moving 'today' across the edges."""
from __future__ import annotations

from datetime import date

import pytest
from flask import current_app
from sqlalchemy import select

from core.applications import review
from core.extensions import db
from core.models import Notice, Recognition
from core.kernel.errors import Invalid
from core.applications import materials
from core.applications import service as apps
from core.recognitions import service as recs
from tests.conftest import as_


def on(day: date):
    current_app.config["MTKIT_TODAY"] = day


def finish_fcg(app, staff, result="approved", reason=None):
    """Fangchenggang: 受理 -> 初审 decision -> 结果通知."""
    for action, fields in (
        ("accept", {}),
        ("decide", {"results": {ad.disease_code: result for ad in app.diseases}, "reason_code": reason}),
        ("record", {}),
    ):
        review.act(as_(staff), app, action, app.version, **fields)
    db.session.commit()


@pytest.fixture
def recognised(make, fcg_staff):
    """高血压 (FCG001, 24 months) recognised on 2025-01-10: valid to 2027-01-09, renewal from 2026-10-10."""
    on(date(2025, 1, 10))
    person = make.person(region="450600", division="450602")
    app = make.application(person, ["FCG001"])
    finish_fcg(app, fcg_staff["reviewer"])
    rec = db.session.scalars(select(Recognition)).one()
    assert (rec.start_date, rec.end_date) == (date(2025, 1, 10), date(2027, 1, 9))
    return person, rec, fcg_staff["reviewer"]


def renew(person, rec, day):
    on(day)
    app = apps.start_renewal(as_(person), rec, channel="online")
    db.session.commit()
    return app


def submit(make, app, person):
    make.upload_required(app, person)
    apps.submit(as_(person), app, app.version)
    db.session.commit()


def test_renewal_refused_before_the_window(recognised):
    person, rec, _ = recognised
    with pytest.raises(Invalid) as e:
        renew(person, rec, date(2026, 10, 9))
    assert "2026-10-10" in " ".join(e.value.problems)


def test_renewal_is_prefilled_from_the_last_recognition(make, recognised):
    person, rec, _ = recognised
    app = renew(person, rec, date(2026, 10, 10))  # first day of the window
    assert (app.kind, app.region_code, app.division_code, app.institution_code) == ("renewal", "450600", "450602", "O450600001")
    assert [d.disease_code for d in app.diseases] == ["FCG001"] and app.renewal_of_id == rec.id
    # The checklist is the renewal list from the seed, not the new-application one.
    names = " ".join(i.rule.name for i in materials.checklist(as_(), app))
    assert "续办申请表" in names and "原门特认定审批表" in names


def test_timely_renewal_keeps_benefits_and_continues_without_gap(make, recognised):
    person, rec, staff = recognised
    app = renew(person, rec, date(2027, 1, 9))  # last day of validity
    submit(make, app, person)
    on(date(2027, 1, 20))  # decided after the original end date
    assert recs.is_effective(as_(), rec, date(2027, 1, 20))
    assert recs.state(as_(), rec, date(2027, 1, 20)).startswith("续办审核中")
    finish_fcg(app, staff)
    new = db.session.scalars(select(Recognition).where(Recognition.id != rec.id)).one()
    assert (new.start_date, new.end_date, new.previous_id) == (date(2027, 1, 10), date(2029, 1, 9), rec.id)
    assert rec.status == "renewed"


def test_rejected_renewal_stops_benefits_the_day_after_the_original_end(make, recognised):
    person, rec, staff = recognised
    app = renew(person, rec, date(2026, 12, 1))
    submit(make, app, person)
    on(date(2027, 1, 20))
    finish_fcg(app, staff, result="rejected", reason="R03")
    assert rec.stop_date == date(2027, 1, 10) and rec.status == "ended"
    assert recs.is_effective(as_(), rec, date(2027, 1, 9))
    assert not recs.is_effective(as_(), rec, date(2027, 1, 10))
    notice = db.session.scalars(select(Notice).where(Notice.kind == "decision", Notice.user_id == person.id)).all()[-1]
    assert "2027-01-10" in notice.body and "停止" in notice.body


def test_rejection_before_the_end_still_keeps_benefits_to_the_end(make, recognised):
    person, rec, staff = recognised
    app = renew(person, rec, date(2026, 11, 1))
    submit(make, app, person)
    finish_fcg(app, staff, result="rejected", reason="R03")
    assert recs.is_effective(as_(), rec, date(2027, 1, 9)) and not recs.is_effective(as_(), rec, date(2027, 1, 10))


def test_after_the_end_only_a_new_application(make, recognised):
    person, rec, _ = recognised
    with pytest.raises(Invalid) as e:
        renew(person, rec, date(2027, 1, 10))
    assert "重新申请" in " ".join(e.value.problems)
    assert not recs.is_effective(as_(), rec, date(2027, 1, 10))
    assert make.application(person, ["FCG001"]).kind == "new"


def test_renewal_draft_submitted_after_the_end_is_refused(make, recognised):
    person, rec, _ = recognised
    app = renew(person, rec, date(2027, 1, 5))
    make.upload_required(app, person)
    on(date(2027, 1, 10))
    with pytest.raises(Invalid) as e:
        apps.submit(as_(person), app, app.version)
    assert "到期" in " ".join(e.value.problems)


def test_new_application_refused_while_recognised(make, recognised):
    person, rec, _ = recognised
    on(date(2026, 6, 1))
    with pytest.raises(Invalid) as e:
        make.application(person, ["FCG001"])
    assert "续办" in " ".join(e.value.problems)


def test_only_one_open_renewal(make, recognised):
    person, rec, _ = recognised
    renew(person, rec, date(2026, 11, 1))
    with pytest.raises(Invalid):
        renew(person, rec, date(2026, 11, 2))


def test_disease_must_be_in_the_catalogue_of_the_renewal_years(make, fcg_staff):
    """FCG013 is retired after 2026: it cannot be renewed into 2027, even from a window in 2026."""
    on(date(2025, 3, 1))
    person = make.person(region="450600", division="450602")
    app = make.application(person, ["FCG013"])
    finish_fcg(app, fcg_staff["reviewer"])
    rec = db.session.scalars(select(Recognition)).one()
    assert rec.end_date == date(2027, 2, 28)
    assert "2027 年度" in recs.renewal_problem(as_(), rec, date(2026, 12, 15))
    with pytest.raises(Invalid) as e:
        renew(person, rec, date(2027, 1, 15))
    assert "2027 年度" in " ".join(e.value.problems)


def test_renewal_into_a_year_that_keeps_the_disease_is_allowed(make, recognised):
    person, rec, _ = recognised  # FCG001 ends 2027-01-09 and is in both years' catalogues
    assert recs.renewal_problem(as_(), rec, date(2026, 12, 15)) is None


def test_early_renewal_still_blocks_a_new_application(make, recognised):
    """Renewed before the end: the old recognition runs on and the new one starts later. No third."""
    person, rec, staff = recognised
    app = renew(person, rec, date(2026, 11, 1))
    submit(make, app, person)
    finish_fcg(app, staff)
    assert rec.status == "renewed"
    with pytest.raises(Invalid) as e:
        make.application(person, ["FCG001"])
    assert "有效认定" in " ".join(e.value.problems)
    on(date(2029, 1, 10))  # after the successor ends, a new application is possible again
    assert make.application(person, ["FCG001"]).status == "submitted"


def test_returned_timely_renewal_keeps_benefits_only_until_the_supplement_deadline(make, recognised):
    person, rec, staff = recognised
    app = renew(person, rec, date(2026, 12, 20))
    submit(make, app, person)
    review.act(as_(staff), app, "return", app.version, to="applicant", note="请补充近半年用药记录")
    db.session.commit()
    assert app.return_deadline == date(2027, 1, 19)
    assert recs.is_effective(as_(), rec, date(2027, 1, 19))
    assert not recs.is_effective(as_(), rec, date(2027, 1, 20))
    on(date(2027, 1, 20))
    with pytest.raises(Invalid) as e:
        apps.submit(as_(person), app, app.version)
    assert "补正期限" in " ".join(e.value.problems)


def test_an_expired_renewal_draft_says_how_to_start_again(make, recognised):
    person, rec, _ = recognised
    renew(person, rec, date(2027, 1, 5))
    on(date(2027, 1, 12))
    with pytest.raises(Invalid) as e:
        make.application(person, ["FCG001"])
    assert "撤回" in " ".join(e.value.problems)


def test_duplicate_open_application_for_a_disease_is_refused(make):
    person = make.person()
    make.application(person, ["M03900"], submit=False)
    with pytest.raises(Invalid) as e:
        make.application(person, ["M03900", "M01600"])
    assert "未办结" in " ".join(e.value.problems)


def test_submission_refused_while_required_material_missing(make):
    person = make.person()
    app = make.application(person, ["M00503"], upload=False, submit=False)
    with pytest.raises(Invalid) as e:
        apps.submit(as_(person), app, app.version)
    listed = " ".join(e.value.problems)
    assert "病情诊断书" in listed and "病理" in listed
    db.session.rollback()
    assert app.status == "draft"


def test_rejected_renewal_still_blocks_a_new_application_until_the_end(make, recognised):
    person, rec, staff = recognised
    app = renew(person, rec, date(2026, 11, 1))
    submit(make, app, person)
    finish_fcg(app, staff, result="rejected", reason="R03")
    assert recs.state(as_(), rec, date(2026, 11, 2)) == "有效"
    assert "续办未通过" in recs.renewal_problem(as_(), rec, date(2026, 11, 2))
    with pytest.raises(Invalid):
        make.application(person, ["FCG001"])  # would overlap the validity that runs to 2027-01-09
    on(date(2027, 1, 10))
    assert make.application(person, ["FCG001"]).status == "submitted"


def test_withdrawing_a_timely_renewal_after_the_end_stops_benefits_like_a_rejection(make, recognised):
    person, rec, _ = recognised
    app = renew(person, rec, date(2027, 1, 5))
    submit(make, app, person)
    on(date(2027, 1, 20))
    assert recs.is_effective(as_(), rec, date(2027, 1, 20))
    apps.withdraw(as_(person), app, app.version)
    db.session.commit()
    assert (rec.status, rec.stop_date) == ("ended", date(2027, 1, 10))
    assert not recs.is_effective(as_(), rec, date(2027, 1, 20))


def test_renewal_explains_what_is_already_open(make, recognised):
    person, rec, _ = recognised
    draft = renew(person, rec, date(2026, 11, 1))
    assert f"续办草稿(第 {draft.id} 号)" in recs.renewal_problem(as_(), rec, date(2026, 11, 2))
    submit(make, draft, person)
    assert f"续办申请(第 {draft.id} 号)正在办理中" in recs.renewal_problem(as_(), rec, date(2026, 11, 2))


def test_coverage_on_a_date_names_the_recognition_or_the_reason(make, recognised):
    person, rec, staff = recognised
    rows = recs.for_person(person.id, "450600", "FCG001")
    assert recs.coverage(as_(), rows, date(2026, 5, 1)) == (rec, None)
    assert recs.coverage(as_(), [], date(2026, 5, 1))[1] == "参保人没有该病种的门特认定。"
    assert "2025-01-10" in recs.coverage(as_(), rows, date(2025, 1, 9))[1]  # not started yet
    assert "已于 2027-01-09 到期" in recs.coverage(as_(), rows, date(2027, 1, 10))[1]
    # A timely renewal under review keeps benefits after the end; once approved, the successor covers.
    app = renew(person, rec, date(2027, 1, 2))
    submit(make, app, person)
    assert recs.coverage(as_(), rows, date(2027, 1, 15)) == (rec, None)
    on(date(2027, 1, 20))
    finish_fcg(app, staff)
    rows = recs.for_person(person.id, "450600", "FCG001")
    successor, why = recs.coverage(as_(), rows, date(2027, 1, 15))
    assert why is None and successor.previous_id == rec.id


def test_a_renewal_submitted_on_a_pinned_day_is_judged_by_that_day(make, fcg_staff):
    """Clock fix: the submission moment is stamped from the project's clock (MTKIT_TODAY), in the
    region's time zone, so a renewal submitted in time on a pinned date is timely. It used to be the
    wall clock: with today pinned in the past (here: before the real date), a renewal submitted on
    the last day of its window was judged late and the benefits stopped."""
    from core.kernel.time import local_date

    on(date(2025, 1, 10))
    person = make.person(region="450600", division="450602")
    app = make.application(person, ["FCG003"])  # 12 months
    finish_fcg(app, fcg_staff["reviewer"])
    rec = db.session.scalars(select(Recognition)).one()
    assert rec.end_date == date(2026, 1, 9)
    renewal = renew(person, rec, date(2026, 1, 9))  # the last day of the window
    submit(make, renewal, person)
    assert local_date(renewal.submitted_at, "Asia/Shanghai") == date(2026, 1, 9)
    assert local_date(rec.created_at, "Asia/Shanghai") == date(2025, 1, 10)  # recognitions too
    on(date(2026, 1, 20))  # after the end, the renewal still under review
    assert recs.timely_renewal_pending(as_(), rec, date(2026, 1, 20))
    assert recs.is_effective(as_(), rec, date(2026, 1, 20))
    assert recs.state(as_(), rec, date(2026, 1, 20)) == "续办审核中(待遇继续)"


def test_the_open_application_look_up_walks_the_partial_index(app):
    """我的认定 asks, per recognition, whether the person has an application open for the disease:
    at a million applications a full scan of their diseases made the page take ~100 ms (bench/pages.py)."""
    from sqlalchemy import event

    if db.engine.dialect.name != "sqlite":
        pytest.skip("checks SQLite's query plan; PostgreSQL picks its plan from table statistics")
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert recs.open_application(1, "150000", "M04600") is None
        plan = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + seen[-1][0], seen[-1][1]).all()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    steps = " / ".join(str(row[-1]) for row in plan)
    assert "uq_open_disease_per_person" in steps and "SCAN application_diseases" not in steps, steps
