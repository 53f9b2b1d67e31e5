"""Heavy work a user asks for, done by the worker (core/queue/results.py): a letter batch is
queued by the request, its page polls until it is ready, the file is in the object store and only
its owner (or an administrator of the owner's region) downloads it, audited; a batch that fails on
every retry changes nothing, is dead-lettered and its page says so."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.context import for_app
from core.extensions import db
from core.models import AuditLog, BackgroundTask, QueueFailure
from core.notices.service import notify
from core.queue import results, tasks
from tests.conftest import as_, login
from tests.test_notices import deliveries
from tests.test_queue import _run_retries


@pytest.fixture
def letter(app, make):
    person = make.person(region="450600", division="450602", name="韦小红")
    person.notice_letter, person.address = True, "防城港市港口区某路1号"
    db.session.commit()
    notify(as_(), person.id, "expired", "门特待遇已到期", "您的高血压门特待遇已于 2026-11-22 到期。")
    db.session.commit()
    return person


@pytest.fixture
def handed(app, monkeypatch):
    """Task ids handed to the queue after a commit, kept here instead of running (a busy worker)."""
    ids: list[int] = []
    queue = app.extensions["mtkit_queue"]
    real = queue.run_task
    monkeypatch.setattr(queue, "run_task", ids.append)
    return ids, real


def test_a_letter_batch_is_queued_polled_and_downloaded_only_by_its_owner_or_an_admin(
        app, client, make, fcg_staff, letter, handed):
    handed, run_task = handed
    make.staff("fcg_admin", "admin", region="450600")
    make.staff("nmg_admin", "admin", region="150000")
    login(client, "fcg_review")
    r = client.post("/staff/letters/print")
    [task_id] = handed  # handed over once, after the commit
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/tasks/{task_id}")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "正在排队" in page and 'hx-trigger="every 2s"' in page  # the page polls the status block
    fragment = client.get(f"/tasks/{task_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="task-status"') and "<html" not in fragment
    assert deliveries("letter")[0].status == "pending"  # nothing printed by the request itself
    assert client.get(f"/tasks/{task_id}/download").status_code == 404

    assert run_task.call_local(task_id) == "done"  # what the worker runs
    assert results.run(for_app(app, origin="job"), task_id, tasks.KINDS) == "done"  # a second run: left alone
    task = db.session.get(BackgroundTask, task_id)
    assert (task.status, task.attempts, task.content_type) == ("done", 1, "application/pdf")
    assert deliveries("letter")[0].status == "sent"
    assert results.store_of(for_app(app)).get(task.object_key).startswith(b"%PDF")

    fragment = client.get(f"/tasks/{task_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in fragment and f"/tasks/{task_id}/download" in fragment
    assert f"/tasks/{task_id}/download" in client.get("/staff/letters").get_data(as_text=True)  # found later too
    r = client.get(f"/tasks/{task_id}/download")
    assert r.status_code == 200 and r.data.startswith(b"%PDF") and r.headers["Cache-Control"] == "no-store"
    assert "attachment" in r.headers["Content-Disposition"] and task.filename in r.headers["Content-Disposition"]
    downloads = select(func.count()).select_from(AuditLog).where(AuditLog.action == "task.download")
    assert db.session.scalar(downloads) == 1
    for other in ("dx_review", "nmg_admin", letter.username):  # a colleague, another region's admin, the insured
        client.post("/logout")
        login(client, other)
        assert client.get(f"/tasks/{task_id}").status_code == 404
        assert client.get(f"/tasks/{task_id}/download").status_code == 404
    assert db.session.scalar(downloads) == 1
    client.post("/logout")
    login(client, "fcg_admin")  # the administrator of the owner's region
    assert client.get(f"/tasks/{task_id}/download").data.startswith(b"%PDF")
    assert db.session.scalar(downloads) == 2


def test_a_rolled_back_request_hands_nothing_over(app, make, fcg_staff, letter, handed):
    from core.notices import letters

    letters.request_print(as_(fcg_staff["reviewer"]))
    db.session.rollback()
    db.session.commit()
    assert handed[0] == [] and db.session.scalar(select(func.count()).select_from(BackgroundTask)) == 0


def test_a_batch_failing_every_retry_marks_nothing_and_is_dead_lettered(app, client, fcg_staff, letter, monkeypatch):
    def broken(ctx, params):
        from core.notices import letters

        letters.print_batch(ctx)  # the letters are marked printed, then rendering the PDF breaks
        raise OSError("字体文件缺失")

    monkeypatch.setitem(tasks.KINDS, "letters", broken)
    login(client, "fcg_review")
    r = client.post("/staff/letters/print")  # the first attempt runs at the commit (immediate mode)
    assert r.status_code == 302
    task = db.session.scalars(select(BackgroundTask)).one()
    assert task.status == "queued" and task.attempts == 1  # waiting for Huey's retry
    assert len(_run_retries(app.extensions["mtkit_queue"].huey)) == tasks.RETRIES
    db.session.expire_all()
    assert (task.status, task.attempts) == ("failed", tasks.RETRIES + 1)
    assert deliveries("letter")[0].status == "pending"  # every attempt rolled back
    [failure] = db.session.scalars(select(QueueFailure)).all()
    assert failure.task == "run_task" and "字体文件缺失" in failure.error
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "生成失败" in page and "hx-trigger" not in page


def test_a_task_whose_hand_over_was_lost_is_run_by_the_minute_tick(app, client, fcg_staff, letter, handed):
    from datetime import timedelta

    from core.kernel.time import utcnow

    handed, _ = handed
    login(client, "fcg_review")
    client.post("/staff/letters/print")
    [task_id] = handed  # ... and lost: the queue was down
    requeue = next(t for t in app.extensions["mtkit_queue"].huey._registry._periodic_tasks if t.__name__ == "requeue_tasks")
    assert requeue().execute() == 0  # a fresh task may still be in the queue: left alone
    task = db.session.get(BackgroundTask, task_id)
    task.created_at = utcnow() - results.STRANDED - timedelta(seconds=1)
    db.session.commit()
    assert requeue().execute() == 1  # handed over again (immediate mode: run at once)
    db.session.expire_all()
    assert task.status == "done" and deliveries("letter")[0].status == "sent"
    assert requeue().execute() == 0


def test_made_files_are_deleted_after_their_keeping_period_and_the_row_says_so(app, client, runner, fcg_staff, letter, handed):
    """Letter batches hold names and addresses: ``result_purge`` deletes files older than
    MTKIT_RESULT_DAYS, audited; the row stays and its pages say the file expired; newer files stay."""
    from datetime import timedelta

    from core.kernel.time import utcnow

    handed, run_task = handed
    login(client, "fcg_review")
    client.post("/staff/letters/print")
    [old_id] = handed
    run_task.call_local(old_id)
    notify(as_(), letter.id, "expired", "门特待遇已到期", "又一封信。")
    db.session.commit()
    client.post("/staff/letters/print")
    new_id = handed[-1]
    run_task.call_local(new_id)
    old, new = db.session.get(BackgroundTask, old_id), db.session.get(BackgroundTask, new_id)
    store = results.store_of(for_app(app))
    old.finished_at = utcnow() - timedelta(days=8)  # the default keeps 7 days
    new.finished_at = utcnow() - timedelta(days=6)
    db.session.commit()
    old_key = old.object_key

    result = runner.invoke(args=["jobs", "run", "result_purge"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    old, new = db.session.get(BackgroundTask, old_id), db.session.get(BackgroundTask, new_id)
    assert not store.exists(old_key) and store.exists(new.object_key)
    assert (old.status, new.status) == ("expired", "done") and old.object_key == old_key  # the row keeps what it was
    expired = db.session.scalars(select(AuditLog).where(AuditLog.action == "task.expire")).all()
    assert [(a.object_id, a.detail.split()[0]) for a in expired] == [(str(old_id), "letters")]
    r = client.get(f"/tasks/{old_id}/download")
    assert r.status_code == 410 and "保存期限" in r.get_data(as_text=True)
    assert "保存期限" in client.get(f"/tasks/{old_id}").get_data(as_text=True)
    page = client.get("/staff/letters").get_data(as_text=True)
    assert "已过保存期限" in page and f"/tasks/{old_id}/download" not in page and f"/tasks/{new_id}/download" in page
    # Run again: nothing more to do; 0 days keeps everything.
    assert results.purge(for_app(app)) == 0
    app.config["MTKIT_RESULT_DAYS"] = 0
    new.finished_at = utcnow() - timedelta(days=400)
    db.session.commit()
    assert results.purge(for_app(app)) == 0 and store.exists(new.object_key)
