"""Background work on Huey (core/queue): tasks call the real job runner (leases, run records), the
worker's periodic tasks are the job schedule, a task failing on every retry lands in the dead-letter
list an administrator can send back, and the real consumer process delivers a queued SMS."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.jobs import runner
from core.jobs.schedule import JOBS
from core.models import AuditLog, JobRun, QueueFailure
from core.notices.service import notify
from core.queue import setup as queue_setup
from core.queue import tasks
from tests.conftest import as_, login
from tests.test_notices import deliveries, sms_log

ROOT = Path(__file__).resolve().parents[1]


def queue(app):
    return app.extensions["mtkit_queue"]


def test_a_queued_job_sends_the_sms_through_the_real_runner(app, make):
    person = make.person(phone="13812345678")
    notify(as_(), person.id, "test", "审核结果", "您的申请已通过。")
    db.session.commit()
    assert queue(app).huey.immediate
    result = queue(app).enqueue_job("deliver_notices")
    assert result() == "done"
    [d] = deliveries()
    assert (d.status, d.attempts) == ("sent", 1)
    [line] = sms_log(app)
    assert line["to"] == "138****5678" and "审核结果" in line["text"]
    run = db.session.scalars(select(JobRun).where(JobRun.name == "deliver_notices")).one()
    assert (run.status, run.processed, run.changed) == ("done", 1, 1)


def test_a_job_another_host_holds_is_not_run_twice(app, make):
    person = make.person(phone="13812345678")
    notify(as_(), person.id, "test", "标题", "正文")
    db.session.commit()
    assert runner._claim("deliver_notices", "host-b:1")  # host B's worker (or cron) is sending now
    assert queue(app).enqueue_job("deliver_notices")() == "locked"
    assert deliveries()[0].status == "pending" and sms_log(app) == []
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0


def test_the_workers_periodic_tasks_are_the_job_schedule(app):
    periodic = tasks.periodic_jobs(queue(app).huey)
    assert list(periodic) == list(JOBS)
    at = lambda h, m: datetime(2026, 11, 23, h, m)  # noqa: E731
    for name, task in periodic.items():
        fires = [m for m in range(60) if task().validate_datetime(at(10, m))]
        if JOBS[name].every_minutes is not None:  # sending SMS: every minute
            assert fires == list(range(60)), name
        else:  # daily jobs: checked every quarter hour, runner.run runs them once a day
            assert fires == [0, 15, 30, 45], name


def test_the_default_queue_is_a_private_sqlite_file_in_the_instance_folder(tmp_path):
    huey = queue_setup.build_huey({}, str(tmp_path / "inst"))
    assert type(huey).__name__ == "SqliteHuey"
    assert oct((tmp_path / "inst" / "queue.sqlite3").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "inst").stat().st_mode & 0o777) == "0o700"
    assert type(queue_setup.build_huey({"MTKIT_QUEUE_URL": "redis://127.0.0.1:1/0"}, str(tmp_path))).__name__ == "RedisHuey"
    with pytest.raises(ValueError, match="不支持的队列地址"):
        queue_setup.build_huey({"MTKIT_QUEUE_URL": "amqp://x"}, str(tmp_path))


def _run_retries(huey) -> list:
    """Time passes: run every retry Huey scheduled (immediate mode keeps them in memory), each at
    the moment it was due; returns how long after being scheduled each was due (seconds)."""
    moments = []
    for _ in range(10):
        due = huey.read_schedule(datetime(2100, 1, 1))
        if not due:
            return moments
        for task in due:
            moments.append((task.eta - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds())
            huey.execute(task, timestamp=task.eta)
    raise AssertionError("retries never ended")


def test_a_job_failing_every_retry_is_dead_lettered_and_an_admin_sends_it_back(app, client, make, monkeypatch):
    real = JOBS["idempotency_purge"]

    def broken(ctx, run):
        raise ConnectionError("数据库连接中断")

    monkeypatch.setitem(JOBS, "idempotency_purge", replace(real, body=broken))
    make.staff("nmg_admin", "admin")
    make.staff("nmg_reviewer", "agency_reviewer")
    huey = queue(app).huey
    queue(app).enqueue_job("idempotency_purge")
    assert db.session.scalar(select(func.count()).select_from(QueueFailure)) == 0  # retries still to come
    moments = _run_retries(huey)
    assert len(moments) == tasks.RETRIES
    assert all(tasks.RETRY_DELAY - 5 < wait <= tasks.RETRY_DELAY for wait in moments), moments
    [failure] = db.session.scalars(select(QueueFailure)).all()
    assert (failure.task, failure.job, failure.attempts) == ("run_job", "idempotency_purge", tasks.RETRIES + 1)
    assert "数据库连接中断" in failure.error
    runs = db.session.scalars(select(JobRun.status).where(JobRun.name == "idempotency_purge")).all()
    assert runs == ["failed"] * (tasks.RETRIES + 1)

    login(client, "nmg_reviewer")  # not an administrator: neither the list nor the button
    assert client.get("/staff/deliveries").status_code == 403
    assert client.post(f"/staff/deliveries/tasks/{failure.id}/retry").status_code == 403
    client.post("/logout")
    db.session.expire_all()
    assert failure.retried_at is None

    login(client, "nmg_admin")
    page = client.get("/staff/deliveries").get_data(as_text=True)
    assert "失败的后台任务" in page and "数据库连接中断" in page and "清理过期的提交编号" in page
    monkeypatch.setitem(JOBS, "idempotency_purge", real)  # the cause is fixed
    response = client.post(f"/staff/deliveries/tasks/{failure.id}/retry")
    assert response.status_code == 302
    db.session.expire_all()
    assert failure.retried_at is not None and failure.retried_by_id is not None
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "queue.retry")).one()
    assert audit.detail == "idempotency_purge"
    assert db.session.scalars(select(JobRun.status).where(JobRun.name == "idempotency_purge").order_by(JobRun.id.desc())).first() == "done"
    assert "没有失败的后台任务" in client.get("/staff/deliveries").get_data(as_text=True)
    assert client.post(f"/staff/deliveries/tasks/{failure.id}/retry").status_code == 409  # once only
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "queue.retry")) == 1


REDIS_TEST_URL = os.environ.get("MTKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_the_real_worker_process_delivers_a_queued_sms(app, make, db_url, tmp_path, backend):
    if backend == "redis" and not _redis_answers(REDIS_TEST_URL):
        pytest.skip(f"no Redis server answers at {REDIS_TEST_URL} (a system service; set MTKIT_TEST_REDIS_URL)")
    person = make.person(phone="13812345678")
    notify(as_(), person.id, "test", "审核结果", "您的申请已通过。")
    db.session.commit()
    queue_url = f"sqlite:///{tmp_path / 'worker-queue.sqlite3'}" if backend == "sqlite" else REDIS_TEST_URL
    env = {**os.environ, "DATABASE_URL": db_url, "MTKIT_QUEUE_URL": queue_url, "MTKIT_SMS_LOG": app.config["MTKIT_SMS_LOG"],
           "MTKIT_KEY_FILE": app.config["MTKIT_KEY_FILE"], "MTKIT_AUDIT_KEY": app.config["MTKIT_AUDIT_KEY"],
           "MTKIT_SECRET_KEY": "t", "MTKIT_VERIFICATION_KEY": "t", "MTKIT_UPLOAD_DIR": str(tmp_path / "u")}
    # What the web process does: put the job on the shared queue (the worker is not running yet).
    huey = queue_setup.build_huey({"MTKIT_QUEUE_URL": queue_url}, str(tmp_path))
    huey.flush()  # this test's queue only (Redis: the mtkit keys of the test database)
    run_job, *_ = tasks.register(huey, app)
    run_job("deliver_notices")
    assert huey.pending_count() == 1 and deliveries()[0].status == "pending"
    flask = Path(sys.executable).with_name("flask")
    # stderr to a file, not a pipe: a pipe nobody reads fills up and blocks the worker, and reading
    # one before the process ends blocks the test.
    err = tmp_path / "worker.err"
    with err.open("wb") as sink:
        proc = subprocess.Popen([str(flask), "--app", "app", "queue", "worker", "--workers", "1", "--max-delay", "0.5"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        deadline = time.monotonic() + 60  # generous: a loaded CI machine starts Python slowly
        while deliveries()[0].status != "sent":
            assert proc.poll() is None, err.read_text()[-2000:]
            assert time.monotonic() < deadline, "the worker did not send the SMS within 60 s: " + err.read_text()[-2000:]
            time.sleep(0.3)
    finally:
        proc.terminate()
        code = proc.wait(timeout=20)
    assert code == 0, err.read_text()[-2000:]
    [line] = sms_log(app)
    assert line["to"] == "138****5678" and "审核结果" in line["text"]
    # The task put on the queue was taken; only a periodic tick the worker's clock queued as it was
    # stopped (a minute boundary) may still wait.
    assert [t.name for t in huey.pending() if not t.name.startswith("job:")] == []


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of ``pid``'s direct children (Linux /proc)."""
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(k): Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ").decode() for k in kids}


def _answers(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("stop", ["worker dies", "Ctrl-C"])
def test_make_run_starts_web_and_worker_together_and_stops_them_together(db_url, tmp_path, stop):
    """scripts/run-all.sh (what `make run` executes): one of the two ending, or Ctrl-C, ends both."""
    import signal
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": db_url, "MTKIT_QUEUE_URL": f"sqlite:///{tmp_path / 'q.sqlite3'}",
           "MTKIT_SECRET_KEY": "t", "MTKIT_VERIFICATION_KEY": "t", "MTKIT_UPLOAD_DIR": str(tmp_path / "u"),
           "MTKIT_SMS_LOG": str(tmp_path / "sms.log"), "VENV": str(Path(sys.executable).parent.parent)}
    err = tmp_path / "run-all.err"  # a file, not a pipe (see above)
    with err.open("wb") as sink:
        proc = subprocess.Popen(["bash", "scripts/run-all.sh", "127.0.0.1", str(port), "1"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True)
    kids = {}
    try:
        deadline = time.monotonic() + 90
        while not _answers(port):
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()[-2000:]
            time.sleep(0.3)
        kids = _children(proc.pid)
        assert sorted("queue worker" in cmd for cmd in kids.values()) == [False, True], kids
        if stop == "worker dies":
            os.kill(next(pid for pid, cmd in kids.items() if "queue worker" in cmd), signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)  # run-all.sh stops what is left hard after 20 s
    finally:
        if proc.poll() is None:  # a failed run: stop the whole group, not only the script
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
    for pid in kids:  # both gone, not orphaned
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower(), kids[pid]
    assert not _answers(port)
