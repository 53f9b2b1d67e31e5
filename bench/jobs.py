"""Daily jobs at scale: seeds N recognitions and times `jobs run` (reminders, expiry sweep, ...).

    .venv/bin/python bench/jobs.py                      # 1,000,000 recognitions, SQLite in a temp file
    .venv/bin/python bench/jobs.py --rows 200000
    .venv/bin/python bench/jobs.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mtkit_time

Scenarios, each after "yesterday's run finished" (the watermark every daily job keeps):
  1. nothing due: no end date reaches a reminder day today and nothing has ended;
  2. 1% due: N/100 recognitions reach their 90-, 30- or 7-day reminder or ended yesterday
     (every one gets an inbox notice and a queued SMS, which deliver_notices then sends to a log file);
  3. 3% due, to show that memory does not grow with the work (batches are committed and dropped).
It prints the daily run's wall time (every daily job) and Python heap peak (tracemalloc), then the
time deliver_notices takes to send the SMS the run queued, and the process's max RSS. On PostgreSQL it works
in a schema of its own (mtkit_bench_jobs), dropped afterwards. Not a test: figures depend on the machine.
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flask_migrate  # noqa: E402
from sqlalchemy import create_engine, delete, func, insert, select, text  # noqa: E402

from app import create_app  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Application, JobRun, Notice, NoticeDelivery, Recognition, User  # noqa: E402
from flask import current_app  # noqa: E402

from core.context import for_app  # noqa: E402
from core.jobs import runner  # noqa: E402
from core.jobs.schedule import JOBS  # noqa: E402

ECHO = (lambda line: None) if "--verbose" not in sys.argv else print
SCHEMA = "mtkit_bench_jobs"
CHUNK = 50_000
TODAY = date(2026, 11, 23)
PEOPLE = 20_000
# region, division, institution, disease, reminder days of the region
PLACES = [("450600", "450602", "O450600001", "FCG001", (90, 30, 7)), ("150000", "150100", "H150100001", "M03900", (60, 30, 7))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--database-url")
    ap.add_argument("--verbose", action="store_true", help="print each job's progress")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
    options = {}
    if url.startswith("postgresql"):
        with create_engine(url).begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        options = {"connect_args": {"options": f"-csearch_path={SCHEMA}"}}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options, "SECRET_KEY": "bench",
                      "MTKIT_TODAY": TODAY, "MTKIT_SMS_LOG": f"{tmp}/sms.log"})
    try:
        with app.app_context():
            flask_migrate.upgrade()
            seed(args.rows)
            print(f"\ndaily `jobs run` over {args.rows:,} recognitions on {db.engine.dialect.name}:")
            scenario("nothing due", 0)
            scenario("1% due", args.rows // 100)
            scenario("3% due", args.rows * 3 // 100)
    finally:
        if url.startswith("postgresql"):
            with create_engine(url).begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


def quiet_end(rnd: random.Random) -> date:
    """An end date that reaches no reminder day today and has not passed."""
    while True:
        d = TODAY + timedelta(days=rnd.randint(1, 730))
        if (d - TODAY).days not in (90, 60, 30, 7):
            return d


def seed(rows: int) -> None:
    rnd = random.Random(11)
    started = time.perf_counter()
    db.session.execute(insert(User), [
        {"username": f"p{i}", "password_hash": "x", "role": "insured", "name": "参保人", "region_code": "450600",
         "division_code": "450602", "phone": f"138{i:08d}", "is_enabled": True, "failed_logins": 0,
         "notice_sms": True, "notice_letter": False} for i in range(PEOPLE)
    ])
    db.session.execute(insert(Application), [{"id": 1, "person_id": 1, "region_code": "450600", "division_code": "450602",
                                              "kind": "new", "institution_code": "O450600001", "channel": "window",
                                              "status": "approved", "step_index": 0, "steps": [], "fast_track": False, "version": 1}])
    db.session.commit()
    for start in range(0, rows, CHUNK):
        batch = []
        for _ in range(start, min(rows, start + CHUNK)):
            region, division, inst, disease, _days = rnd.choice(PLACES)
            end = quiet_end(rnd)
            batch.append({"person_id": rnd.randint(1, PEOPLE), "region_code": region, "division_code": division,
                          "institution_code": inst, "disease_code": disease, "national_code": "M03900", "disease_name": "高血压",
                          "application_id": 1, "start_date": end - timedelta(days=729), "end_date": end, "status": "active"})
        db.session.execute(insert(Recognition), batch)
        db.session.commit()
        print(f"\rseeded {min(rows, start + CHUNK):>9,} recognitions", end="", flush=True)
    analyze()
    print(f"  ({time.perf_counter() - started:.0f} s)")


def analyze():
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
    else:
        db.session.execute(text("ANALYZE"))
    db.session.commit()


def make_due(count: int) -> None:
    """Move ``count`` recognitions onto today's reminder days or to yesterday's end."""
    if not count:
        return
    rnd = random.Random(count)
    ids = db.session.scalars(select(Recognition.id).where(Recognition.status == "active").order_by(func.random()).limit(count)).all()
    for i in range(0, len(ids), 5000):
        for rec_id in ids[i:i + 5000]:
            offset = rnd.choice((90, 30, 7, -1))
            db.session.execute(
                Recognition.__table__.update().where(Recognition.id == rec_id).values(end_date=TODAY + timedelta(days=offset)))
        db.session.commit()


def yesterday_done() -> None:
    """Every job finished yesterday: today's run is due, and its watermark is yesterday."""
    db.session.execute(delete(JobRun))
    for name in JOBS:
        db.session.add(JobRun(name=name, run_date=TODAY - timedelta(days=1), status="done", processed=0, changed=0))
    db.session.commit()


def scenario(label: str, due: int) -> None:
    ctx = for_app(current_app, origin="job")
    make_due(due)
    analyze()
    yesterday_done()
    notices_before = db.session.scalar(select(func.count()).select_from(Notice))
    db.session.expunge_all()
    # The daily run: reminders, expiry sweep, deadline digests, result-notice deadline.
    tracemalloc.start()
    t = time.perf_counter()
    results = {name: runner.run(ctx, job, ECHO, force=True) for name, job in JOBS.items() if name != "deliver_notices"}
    daily = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sent = db.session.scalar(select(func.count()).select_from(Notice)) - notices_before
    # Then the SMS the run queued, through the default log-file adapter (deliver_notices, every 5 min).
    t = time.perf_counter()
    results["deliver_notices"] = runner.run(ctx, JOBS["deliver_notices"], ECHO, force=True)
    sms_time = time.perf_counter() - t
    sms = db.session.scalar(select(func.count()).select_from(NoticeDelivery).where(NoticeDelivery.status == "sent"))
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bad = {k: v for k, v in results.items() if v != "done"}
    print(f"  {label:<12} {due:>7,} due  daily run {daily:6.2f} s, +{sent:,} notices  heap peak {peak / 2**20:5.1f} MiB  "
          f"| SMS sending {sms_time:6.2f} s ({sms:,} sent so far)  max RSS {maxrss:4.0f} MiB"
          f"{'  NOT DONE: ' + str(bad) if bad else ''}")


if __name__ == "__main__":
    main()
