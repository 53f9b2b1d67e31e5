"""Scheduled jobs: renewal reminders exactly once, expiry sweep, crash and rerun, the lock, the CLI."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from core.applications import review
from core.extensions import db
from core.models import Application, AuditLog, JobLock, JobRun, Notice, Recognition
from core.models.base import utcnow
from core.applications import service as apps
from core.jobs import reminders, runner
from core.jobs.schedule import JOBS
from core.recognitions import service as recs
from tests.conftest import as_


def on(day: date):
    current_app.config["MTKIT_TODAY"] = day


def run(name, force=False):
    out = []
    result = runner.run(as_(origin="job"), JOBS[name], out.append, force)
    return result, "\n".join(out)


def notices(kind=None, user_id=None):
    q = select(Notice).order_by(Notice.id)
    if kind:
        q = q.where(Notice.kind == kind)
    if user_id:
        q = q.where(Notice.user_id == user_id)
    return db.session.scalars(q).all()


def recognition(person, end: date, region="450600", division="450602", inst="O450600001", code="FCG001", name="高血压"):
    """A recognition created directly (history), ending on ``end``."""
    app = Application(person_id=person.id, region_code=region, division_code=division, institution_code=inst,
                      channel="window", kind="new", status="approved", steps=[], step_index=0)
    db.session.add(app)
    db.session.flush()
    rec = Recognition(person_id=person.id, region_code=region, division_code=division, institution_code=inst,
                      disease_code=code, national_code="M03900", disease_name=name, application_id=app.id,
                      start_date=end - timedelta(days=729), end_date=end)
    db.session.add(rec)
    db.session.commit()
    return rec


@pytest.fixture
def fcg_person(make):
    return make.person(region="450600", division="450602", name="韦小红")


# --- renewal reminders ----------------------------------------------------------------------
def test_reminders_on_the_region_days_and_exactly_once(app, fcg_person):
    rec = recognition(fcg_person, date(2027, 1, 9))  # Fangchenggang reminds 90, 30 and 7 days before
    on(date(2026, 10, 10))  # 91 days before: nothing yet
    assert run("renewal_reminders")[0] == "done"
    assert notices("renewal_reminder") == []
    on(date(2026, 10, 11))  # exactly 90 days before
    run("renewal_reminders")
    run("renewal_reminders")  # same day again: not due, skipped
    run("renewal_reminders", force=True)  # forced: runs, sends nothing twice
    sent = notices("renewal_reminder")
    assert [n.dedup_key for n in sent] == [f"renewal:{rec.id}:90"]
    assert "2027-01-09" in sent[0].body and "90 天" in sent[0].body and "广西医保" in sent[0].body
    for day in (date(2026, 10, 12), date(2026, 12, 9)):  # between the reminder days: nothing new
        on(day)
        run("renewal_reminders")
    assert len(notices("renewal_reminder")) == 1
    on(date(2026, 12, 10))  # 30 days before
    run("renewal_reminders")
    assert [n.dedup_key for n in notices("renewal_reminder")][-1] == f"renewal:{rec.id}:30"


def test_a_missed_day_is_caught_up_with_the_current_reminder_only(app, fcg_person):
    rec = recognition(fcg_person, date(2027, 1, 9))
    on(date(2026, 12, 5))  # 35 days before: the 90-day reminder is the current one
    run("renewal_reminders")
    assert [n.dedup_key for n in notices("renewal_reminder")] == [f"renewal:{rec.id}:90"]
    on(date(2027, 1, 4))  # the job did not run for a month; now 5 days before: the 7-day reminder, not 30
    run("renewal_reminders")
    assert [n.dedup_key for n in notices("renewal_reminder")] == [f"renewal:{rec.id}:90", f"renewal:{rec.id}:7"]


def test_inner_mongolia_sets_other_days(app, make):
    person = make.person()
    rec = recognition(person, date(2027, 1, 21), region="150000", division="150100", inst="H150100001", code="M03900", name="高血压病")
    on(date(2026, 11, 22))  # 60 days before (Inner Mongolia: 60, 30, 7)
    run("renewal_reminders")
    sent = notices("renewal_reminder")
    assert [n.dedup_key for n in sent] == [f"renewal:{rec.id}:60"] and "60 天" in sent[0].body


def test_no_reminder_once_a_renewal_is_submitted(app, make, fcg_person):
    rec = recognition(fcg_person, date(2027, 1, 9))
    on(date(2026, 12, 1))
    renewal = apps.start_renewal(as_(fcg_person), rec, channel="online")
    make.upload_required(renewal, fcg_person)
    apps.submit(as_(fcg_person), renewal, renewal.version)
    db.session.commit()
    on(date(2026, 12, 10))
    run("renewal_reminders")
    assert notices("renewal_reminder") == []


def test_crash_midway_then_rerun_completes_without_duplicates(app, make, monkeypatch):
    people = [make.person(region="450600", division="450602", phone=f"1380000{i:04d}") for i in range(7)]
    recs_ = [recognition(p, date(2027, 1, 9)) for p in people]
    on(date(2026, 12, 10))
    monkeypatch.setattr(reminders, "BATCH", 2)
    real_notify, calls = reminders.notify_many, {"n": 0}

    def crashing_notify(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("进程被中断(测试注入)")
        return real_notify(*args, **kwargs)

    monkeypatch.setattr(reminders, "notify_many", crashing_notify)
    result, out = run("renewal_reminders")
    assert result == "failed" and "继续" in out
    from tests.conftest import login

    make.staff("fcg_admin", "admin", region="450600")
    client = app.test_client()
    login(client, "fcg_admin")
    page = client.get("/staff/deliveries").get_data(as_text=True)
    assert "renewal_reminders" in page and "失败" in page and "进程被中断" in page  # staff see the failed run
    db.session.expire_all()
    assert len(notices("renewal_reminder")) == 2  # the first batch was committed, the second rolled back
    assert db.session.scalars(select(JobRun.status).where(JobRun.name == "renewal_reminders")).all() == ["failed"]
    monkeypatch.setattr(reminders, "notify_many", real_notify)
    assert run("renewal_reminders")[0] == "done"  # the failed run does not count: it is still due
    keys = sorted(n.dedup_key for n in notices("renewal_reminder"))
    assert keys == sorted(f"renewal:{r.id}:30" for r in recs_)


def test_a_job_locked_by_another_host_is_skipped_until_its_lease_runs_out(app, fcg_person):
    recognition(fcg_person, date(2027, 1, 9))
    on(date(2026, 12, 10))
    db.session.add(JobLock(name="renewal_reminders", holder="other-host:1", locked_until=utcnow() + timedelta(minutes=10)))
    db.session.commit()
    result, out = run("renewal_reminders")
    assert result == "locked" and "另一台主机" in out and notices("renewal_reminder") == []
    db.session.get(JobLock, "renewal_reminders").locked_until = utcnow() - timedelta(seconds=1)  # that host crashed
    db.session.commit()
    assert run("renewal_reminders")[0] == "done" and len(notices("renewal_reminder")) == 1


def test_a_run_another_host_finished_between_the_check_and_the_claim_is_not_run_again(app, fcg_person, monkeypatch):
    """Two hosts start `jobs run` together: both see the job due; one runs it and releases the lease
    just before the other claims it. The second must not run the day's job again."""
    recognition(fcg_person, date(2027, 1, 9))
    on(date(2026, 12, 10))
    real_claim = runner._claim

    def other_host_finishes_first(name, holder):
        monkeypatch.setattr(runner, "_claim", real_claim)
        assert run("renewal_reminders")[0] == "done"  # the other host, start to finish
        return real_claim(name, holder)

    monkeypatch.setattr(runner, "_claim", other_host_finishes_first)
    result, out = run("renewal_reminders")
    assert result == "skipped" and "另一台主机刚刚完成" in out
    done = db.session.scalars(select(JobRun).where(JobRun.name == "renewal_reminders")).all()
    assert [r.status for r in done] == ["done"] and len(notices("renewal_reminder")) == 1
    assert db.session.get(JobLock, "renewal_reminders").locked_until is None  # released for tomorrow


# --- expiry sweep ---------------------------------------------------------------------------
def test_expiry_sweep_expires_once_with_audit_and_notice(app, fcg_person):
    rec = recognition(fcg_person, date(2027, 1, 9))
    on(date(2027, 1, 9))  # last valid day: nothing happens
    run("expiry_sweep")
    assert db.session.get(Recognition, rec.id).status == "active"
    on(date(2027, 1, 10))
    run("expiry_sweep")
    run("expiry_sweep", force=True)
    rec = db.session.get(Recognition, rec.id)
    assert rec.status == "expired" and recs.state(as_(), rec, date(2027, 1, 10)) == "已到期"
    sent = notices("expired")
    assert len(sent) == 1 and "2027-01-10 起停止" in sent[0].body
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "recognition.expire")) == 1
    assert "到期" in recs.renewal_problem(as_(), rec, date(2027, 1, 10))


def _submitted_renewal(make, person, rec, day):
    on(day)
    renewal = apps.start_renewal(as_(person), rec, channel="online")
    make.upload_required(renewal, person)
    apps.submit(as_(person), renewal, renewal.version)
    db.session.commit()
    return renewal


def test_a_timely_renewal_keeps_the_recognition_effective_until_decided(app, make, fcg_person, fcg_staff):
    rec = recognition(fcg_person, date(2027, 1, 9))
    renewal = _submitted_renewal(make, fcg_person, rec, date(2027, 1, 8))
    on(date(2027, 1, 20))
    run("expiry_sweep")
    rec = db.session.get(Recognition, rec.id)
    assert rec.status == "active" and recs.is_effective(as_(), rec, date(2027, 1, 20)) and notices("expired") == []
    # Rejected: ends the day after the original end; the sweep leaves it as decided.
    renewal = db.session.get(Application, renewal.id)
    staff = fcg_staff["reviewer"]
    review.act(as_(staff), renewal, "accept", renewal.version)
    review.act(as_(staff), renewal, "decide", renewal.version, results={"FCG001": "rejected"}, reason_code="R03")
    review.act(as_(staff), renewal, "record", renewal.version)
    db.session.commit()
    on(date(2027, 1, 21))
    run("expiry_sweep")
    rec = db.session.get(Recognition, rec.id)
    assert (rec.status, rec.stop_date) == ("ended", date(2027, 1, 10)) and notices("expired") == []


def test_a_returned_renewal_past_its_deadline_lapses_and_ends_benefits(app, make, fcg_person, fcg_staff):
    rec = recognition(fcg_person, date(2027, 1, 9))
    renewal = _submitted_renewal(make, fcg_person, rec, date(2026, 12, 28))
    review.act(as_(fcg_staff["reviewer"]), renewal, "return", renewal.version, to="applicant", note="请补充用药记录")
    db.session.commit()
    assert renewal.return_deadline == date(2027, 1, 27)
    on(date(2027, 1, 27))  # the deadline day: still open
    run("expiry_sweep")
    assert db.session.get(Application, renewal.id).status == "returned"
    on(date(2027, 1, 28))
    run("expiry_sweep")
    renewal, rec = db.session.get(Application, renewal.id), db.session.get(Recognition, rec.id)
    assert renewal.status == "lapsed" and not any(ad.is_open for ad in renewal.diseases)
    assert (rec.status, rec.stop_date) == ("ended", date(2027, 1, 10))
    assert [e.action for e in renewal.events][-1] == "lapse"
    assert len(notices("lapsed")) == 1 and "2027-01-27" in notices("lapsed")[0].body
    # The person may apply anew at once.
    assert make.application(fcg_person, ["FCG001"]).kind == "new"


# --- deadline reminders and the CLI -------------------------------------------------------------
def test_reviewers_get_one_digest_a_day_of_overdue_and_due_soon_work(app, make, fcg_staff):
    on(date(2026, 11, 23))
    a = make.application(make.person(region="450600", division="450602"), ["FCG001"])  # 受理 due 11-24
    assert a.step_due == date(2026, 11, 24)
    run("sla_reminders")
    run("sla_reminders", force=True)
    digest = notices("sla_digest", fcg_staff["reviewer"].id)
    assert len(digest) == 1 and "0 件已超时,1 件即将到期" in digest[0].title and f"第 {a.id} 号" in digest[0].body
    assert notices("sla_digest", fcg_staff["dx_reviewer"].id) == []  # 东兴 reviewer: not in scope
    assert notices("sla_digest", fcg_staff["expert"].id) == []  # not the expert's step
    on(date(2026, 11, 25))
    run("sla_reminders")
    assert "1 件已超时" in notices("sla_digest", fcg_staff["reviewer"].id)[-1].title


def test_result_notice_overdue_goes_to_the_region_administrator(app, make, fcg_staff):
    admin = make.staff("fcg_admin", "admin", region="450600")
    on(date(2026, 11, 23))
    a = make.application(make.person(region="450600", division="450602"), ["FCG001"])
    review.act(as_(fcg_staff["reviewer"]), a, "accept", a.version)
    review.act(as_(fcg_staff["reviewer"]), a, "decide", a.version, results={"FCG001": "approved"})
    db.session.commit()
    assert a.step_due == date(2026, 11, 26)  # 结果通知: 3 working days
    on(date(2026, 11, 26))
    run("result_notice_deadline")
    on(date(2026, 11, 27))
    run("result_notice_deadline")
    sent = notices("result_due", admin.id)
    assert len(sent) == 2 and f"第 {a.id} 号" in sent[0].body


def test_cli_runs_all_due_jobs_and_lists_them(app, runner, fcg_person):
    recognition(fcg_person, date(2026, 11, 22))  # ended yesterday
    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 0, result.output
    assert "expiry_sweep: 完成" in result.output and "已处理" in result.output
    assert len(notices("expired")) == 1
    again = runner.invoke(args=["jobs", "run"])
    assert "今天已运行,跳过" in again.output and len(notices("expired")) == 1
    listed = runner.invoke(args=["jobs", "list"])
    assert "renewal_reminders" in listed.output and "deliver_notices" in listed.output
    assert runner.invoke(args=["jobs", "run", "nope"]).exit_code != 0


def test_an_expiry_found_long_after_the_end_is_recorded_without_a_notice(app, fcg_person):
    """Recognitions imported at go-live that ended months ago become 已到期 quietly."""
    old = recognition(fcg_person, date(2026, 6, 30))
    on(date(2026, 11, 23))
    run("expiry_sweep")
    assert db.session.get(Recognition, old.id).status == "expired" and notices("expired") == []


def test_the_person_sees_where_a_notice_was_sent(app, client, fcg_person):
    from tests.conftest import login

    recognition(fcg_person, date(2026, 11, 22))
    run("expiry_sweep")
    run("deliver_notices")
    login(client, fcg_person.username)
    html = client.get("/inbox").get_data(as_text=True)
    assert "门特待遇已到期" in html and "同时发送:短信(已发送)" in html
