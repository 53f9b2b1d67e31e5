"""SMS handed to the worker when the transaction that queued them commits (core/queue/commit.py):
sent at once (Huey's immediate mode runs the task in the test's process), nothing for a rollback,
never twice with the sweep, a commit that succeeds when the queue is down, and a task that keeps
failing in the dead-letter list."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import JobRun, NoticeDelivery, QueueFailure
from core.notices import delivery
from core.notices.service import notify
from core.queue import commit, tasks
from tests.conftest import as_
from tests.test_notices import deliveries, sms_log
from tests.test_queue import _run_retries


@pytest.fixture
def at_commit(app):
    queue = app.extensions["mtkit_queue"]
    queue.send_at_commit = True  # as in production (the other tests wait for the sweep)
    return queue


def test_a_committed_notice_is_sent_at_once_not_at_the_next_tick(app, make, at_commit):
    person = make.person(phone="13812345678")
    notify(as_(), person.id, "test", "审核结果", "您的申请已通过。")
    assert deliveries()[0].status == "pending" and sms_log(app) == []  # not before the commit
    db.session.commit()
    [d] = deliveries()
    assert (d.status, d.attempts) == ("sent", 1)
    [line] = sms_log(app)
    assert "审核结果" in line["text"]
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0  # no sweep ran
    # The sweep later finds nothing to send: never twice.
    assert at_commit.enqueue_job("deliver_notices")() == "done"
    assert len(sms_log(app)) == 1 and deliveries()[0].attempts == 1


def test_a_rolled_back_notice_enqueues_nothing(app, make, at_commit, monkeypatch):
    person = make.person(phone="13812345678")
    db.session.commit()
    sent = []
    monkeypatch.setattr(at_commit, "send_sms", lambda ids: sent.append(ids))
    notify(as_(), person.id, "test", "标题", "正文")
    db.session.rollback()
    assert deliveries() == []
    person.phone = "13900000000"  # another transaction on the same session commits
    db.session.commit()
    assert sent == [] and sms_log(app) == []


def test_the_queue_being_down_does_not_fail_the_commit_and_the_sweep_sends(app, make, at_commit, monkeypatch):
    person = make.person(phone="13812345678")

    def down(ids):
        raise ConnectionError("队列无法连接")

    logged = []
    monkeypatch.setattr(at_commit, "send_sms", down)
    monkeypatch.setattr(commit.log, "exception", lambda msg, *args: logged.append(msg % args))
    notify(as_(), person.id, "test", "标题", "正文")
    db.session.commit()
    assert logged == ["could not hand 1 SMS to the queue; the per-minute sweep will send them"]
    assert deliveries()[0].status == "pending"
    assert at_commit.enqueue_job("deliver_notices")() == "done"
    assert deliveries()[0].status == "sent" and len(sms_log(app)) == 1


def test_a_row_another_sender_claimed_is_not_sent_again(app, make):
    person = make.person(phone="13812345678")
    notify(as_(), person.id, "test", "标题", "正文")
    db.session.commit()
    [d] = deliveries()
    now = db.session.scalar(select(NoticeDelivery.next_attempt_at).where(NoticeDelivery.id == d.id))
    assert delivery._claim([d.id], now) == [d.id]  # the sweep took it ("sending", not yet sent)
    assert delivery._claim([d.id], now) == []  # the hand-over's claim of the same row: nothing
    db.session.commit()
    assert tasks.send_now(app, [d.id]) == 0 and sms_log(app) == []
    assert deliveries()[0].status == "sending"


def test_a_send_task_failing_every_retry_is_dead_lettered(app, make, at_commit, monkeypatch):
    person = make.person(phone="13812345678")

    def broken(ctx, **kwargs):
        raise ConnectionError("数据库连接中断")

    monkeypatch.setattr(tasks, "deliver_due", broken)
    notify(as_(), person.id, "test", "标题", "正文")
    db.session.commit()  # the first attempt fails inside the commit's hand-over: the commit stands
    assert deliveries()[0].status == "pending"
    moments = _run_retries(at_commit.huey)
    assert len(moments) == tasks.RETRIES
    assert all(tasks.SEND_RETRY_DELAY - 5 < wait <= tasks.SEND_RETRY_DELAY for wait in moments), moments
    [failure] = db.session.scalars(select(QueueFailure)).all()
    # Sent back by an administrator as the sweep, which sends every due delivery.
    assert (failure.task, failure.job, failure.attempts) == ("send_sms", "deliver_notices", tasks.RETRIES + 1)
    assert "数据库连接中断" in failure.error
    assert deliveries()[0].status == "pending" and sms_log(app) == []
